// The graphql-http package's server audit (GraphQL over HTTP spec) against the gateway's HTTP endpoint.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serverAudits } from 'graphql-http';
import { afterAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { createAuthenticator } from '../../gateway/auth.ts';
import { createGatewayServer } from '../../gateway/server.ts';
import { createLogger } from '../../platform/logger.ts';
import { useGateway } from './fixture.ts';

const gw = useGateway('gateway_audit');
const JWT_SECRET = 'client-jwt-secret-for-the-http-audit-0123456789';
let close: (() => Promise<void>) | undefined;
afterAll(async () => close?.());

describe('GraphQL over HTTP', () => {
  it('passes the graphql-http server audit without errors', async () => {
    const { schema, directory } = gw.guarded();
    const server = await createGatewayServer({
      schema,
      directory,
      authenticate: createAuthenticator({ jwtSecret: JWT_SECRET, lookup: directory }),
      logger: createLogger({ level: 'silent' }),
      production: false,
    });
    const http = createServer((req, res) => void server.handle(req, res).then((handled) => handled || res.writeHead(404).end()));
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    close = async () => {
      await new Promise<void>((r) => http.close(() => r()));
      await server.stop();
    };
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/graphql`;
    // Every audit request carries a valid client token, as a real client's would.
    const token = await new SignJWT({ roles: ['AUDITOR'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('auditor-http').setExpirationTime('5m').sign(new TextEncoder().encode(JWT_SECRET));
    const fetchFn: typeof fetch = (input, init) => {
      const headers = new Headers(init?.headers);
      headers.set('authorization', `Bearer ${token}`);
      return fetch(input, { ...init, headers });
    };
    const results = await Promise.all(serverAudits({ url, fetchFn }).map((audit) => audit.fn()));
    const errors = results.filter((r) => r.status === 'error').map((r) => `${r.name}: ${'reason' in r ? r.reason : ''}`);
    expect(errors).toEqual([]);
    expect(results.filter((r) => r.status === 'ok').length).toBeGreaterThan(20);

    // One operation per request: a batch (a JSON array of operations) is refused before anything runs.
    const batch = await fetchFn(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ query: '{ departments { id } }' }, { query: '{ departments { code } }' }]) });
    expect(batch.status).toBe(400);
    expect(await batch.text()).toMatch(/batch/i);
  }, 60_000);
});

// The internal identity as it travels (issue 14, point 3): identities captured from real gateway→subgraph calls
// are worth nothing elsewhere (another subgraph, another body, a second time, 11 s later), forged algorithms and
// secrets are refused, and the oa port masks sensitive fields for user identities by the gateway's own rules.
import { hkdfSync } from 'node:crypto';
import { type ExecutionResult, type GraphQLSchema, graphql, parse } from 'graphql';
import { SignJWT, decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_SERVICE, oaDirectoryLookup } from '../../gateway/directory.ts';
import { applyPermissions } from '../../gateway/permissions.ts';
import { buildSupergraphSchema, loadSupergraphSdl } from '../../gateway/supergraph.ts';
import { INTERNAL_IDENTITY_HEADER, type Principal, bodyDigest, signPrincipal } from '../../platform/identity.ts';
import { subgraphClient } from '../../platform/integration/subgraph-client.ts';
import { createLogger } from '../../platform/logger.ts';
import { type RunningSubgraph, Subgraph } from '../../platform/subgraph.ts';
import type { Connection } from 'mongoose';
import type { RunningEngine } from '../../engine/index.ts';
import { signedGraphql } from '../helpers/graphql.ts';
import { startBothSubgraphs } from './fixture.ts';
import { ADMIN, type OaFixture, SECRET, ok } from '../oa/fixture.ts';
import { type Org, seedOrg } from '../oa/seed.ts';

/** One signed request as it left the gateway (after signing, before the network). */
interface Captured {
  subgraph: string;
  url: string;
  method: string;
  token: string;
  body: string;
}

let engine: RunningEngine;
let connection: Connection;
const running: RunningSubgraph[] = [];
let oaUrl: string;
let archiveUrl: string;
let schema: GraphQLSchema;
let directory: ReturnType<typeof oaDirectoryLookup>;
const captured: Captured[] = [];
let org: Org;

const capture = (subgraph: string): typeof fetch =>
  (async (input: string | URL | Request, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    captured.push({ subgraph, url: String(input), method: init?.method ?? 'GET', token: headers.get(INTERNAL_IDENTITY_HEADER) ?? '', body: String(init?.body ?? '') });
    return fetch(input, init);
  }) as typeof fetch;

beforeAll(async () => {
  ({ engine, connection } = await startBothSubgraphs('internal_identity', running));
  [oaUrl, archiveUrl] = [running[0].url, running[1].url];
  schema = applyPermissions(buildSupergraphSchema({ supergraphSdl: loadSupergraphSdl(), urls: { oa: oaUrl, archive: archiveUrl }, internalSecret: SECRET, timeoutMs: 5000, fetchFor: capture }));
  directory = oaDirectoryLookup({ oaUrl, internalSecret: SECRET, timeoutMs: 5000 });
  const client = { gql: (who: Principal | null, query: string, variables?: Record<string, unknown>) => signedGraphql({ url: oaUrl, audience: 'oa' }, SECRET, who, query, variables) } as OaFixture;
  org = await seedOrg(client, '-id');
  ok(
    await client.gql(ADMIN, 'mutation($id: ID!) { updateEmployee(id: $id, input: { phone: "13800138000", bankAccount: "6222021234567890128", idNumber: "11010519491231002X" }) { id } }', {
      id: org.ids.alice,
    }),
  );
}, 60_000);

afterAll(async () => {
  for (const r of running) await r.close().catch(() => {});
  await connection?.close();
  await engine?.close();
});

/** Runs an operation at the gateway as `principal`, as a client request with this origin. */
const atGateway = async (principal: Principal, source: string, variables?: Record<string, unknown>, origin = { requestId: 'req-1', clientAddress: '198.51.100.7', operationName: 'Op' }) =>
  (await graphql({ schema, source, variableValues: variables, contextValue: { principal, directory, origin } })) as ExecutionResult<Record<string, unknown>>;

/** Sends a captured identity again, with the given body, to the given URL. */
const replay = async (c: Captured, url: string, body = c.body) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', [INTERNAL_IDENTITY_HEADER]: c.token }, body });

const auditor = (): Principal => org.as.auditor;

describe('identities captured from gateway calls', () => {
  it('are minted per call for that subgraph and body, with the client request origin', async () => {
    captured.length = 0;
    const result = await atGateway(auditor(), 'query Both { departments { id } verifyArchiveChain { ok } }');
    expect(result.errors).toBeUndefined();
    expect(captured.map((c) => c.subgraph).sort()).toEqual(['archive', 'oa']);
    for (const c of captured) {
      expect(c.method).toBe('POST');
      expect(decodeJwt(c.token)).toMatchObject({ sub: org.ids.auditor, kind: 'user', aud: c.subgraph, htm: 'POST', bh: bodyDigest(c.body), rid: 'req-1', addr: '198.51.100.7', op: 'Op' });
      const { iat, exp } = decodeJwt(c.token);
      expect(exp! - iat!).toBeLessThanOrEqual(10);
    }
    // Two calls, two ids.
    expect(new Set(captured.map((c) => decodeJwt(c.token).jti)).size).toBe(2);
  });

  it('are refused by another subgraph, with another body, and a second time', async () => {
    captured.length = 0;
    expect((await atGateway(auditor(), '{ departments { id name } }')).errors).toBeUndefined();
    const [oaCall] = captured;
    expect(oaCall.subgraph).toBe('oa');
    const archiveQuery = JSON.stringify({ query: '{ archiveRecords(first: 50) { totalCount } }' });
    const toArchive = await replay(oaCall, archiveUrl, archiveQuery);
    expect(toArchive.status).toBe(401);
    const otherBody = await replay(oaCall, oaUrl, JSON.stringify({ query: '{ employee(id: "x") { bankAccount } }' }));
    expect(otherBody.status).toBe(401);
    const sameAgain = await replay(oaCall, oaUrl);
    expect(sameAgain.status).toBe(401);
    expect(await sameAgain.json()).toEqual({ errors: [{ message: 'Unauthenticated: a valid internal identity is required', extensions: { code: 'UNAUTHENTICATED' } }] });
  });

  it("are refused when they are the gateway's own service identity, replayed to the archive or to a write", async () => {
    captured.length = 0;
    const lookup = subgraphClient({ name: 'oa', url: oaUrl, as: GATEWAY_SERVICE, internalSecret: SECRET, timeoutMs: 5000, fetch: capture('oa') });
    await lookup('query($id: ID!) { employee(id: $id) { roles } }', { id: org.ids.alice });
    const [service] = captured;
    expect(decodeJwt(service.token)).toMatchObject({ sub: 'gateway', kind: 'service', aud: 'oa' });
    expect((await replay(service, archiveUrl, JSON.stringify({ query: '{ archiveRecords(first: 50) { edges { node { archiveNo } } } }' }))).status).toBe(401);
    expect((await replay(service, oaUrl, JSON.stringify({ query: 'mutation { createDepartment(input: { code: "EVIL", name: "Evil" }) { id } }' }))).status).toBe(401);
    expect((await replay(service, oaUrl)).status).toBe(401);
  });

  it('are refused 11 s after they were issued (a subgraph with a moved clock)', async () => {
    // A subgraph named oa whose identity clock the test moves; the captured token is unspent there.
    let now = Date.now();
    const demo = new Subgraph({
      name: 'oa',
      typeDefs: parse('type Query { departments: [String!]! }'),
      resolvers: { Query: { departments: () => ['HQ'] } } as never,
      secret: SECRET,
      logger: createLogger({ level: 'silent' }),
      production: false,
      context: () => ({}),
      identityClock: () => now,
    });
    const r = await demo.listen(0, '127.0.0.1');
    try {
      captured.length = 0;
      await atGateway(auditor(), '{ departments { id } }');
      const [call] = captured;
      const issuedAt = decodeJwt(call.token).iat! * 1000;
      const body = JSON.stringify({ query: '{ departments }' });
      const fresh = await signPrincipal(auditor(), SECRET, { audience: 'oa', method: 'POST', body }, { now: issuedAt });
      const send = (token: string, b = body) => fetch(r.url, { method: 'POST', headers: { 'content-type': 'application/json', [INTERNAL_IDENTITY_HEADER]: token }, body: b });
      now = issuedAt + 11_000;
      expect((await send(fresh)).status).toBe(401);
      expect((await send(call.token, call.body)).status).toBe(401);
      now = issuedAt + 9_000;
      expect((await send(fresh)).status).toBe(200); // the same token, in time: it was the clock that refused it
    } finally {
      await r.close();
    }
  });
});

describe('forged identities at the oa port', () => {
  const body = JSON.stringify({ query: '{ departments { id } }' });
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const claims = () => {
    const iat = Math.floor(Date.now() / 1000);
    return { sub: 'admin-bootstrap', roles: ['ADMIN'], dept: null, kind: 'user', aud: 'oa', htm: 'POST', bh: bodyDigest(body), iat, exp: iat + 10, jti: Buffer.alloc(16, 7).toString('base64url') };
  };
  const send = (token: string) => fetch(oaUrl, { method: 'POST', headers: { 'content-type': 'application/json', [INTERNAL_IDENTITY_HEADER]: token }, body });

  it('refuses alg none, HS512, another secret and the raw secret as key; accepts the real thing', async () => {
    const none = `${b64({ alg: 'none', typ: 'internal-identity+jwt' })}.${b64(claims())}.`;
    const key = (secret: string, length: number) => new Uint8Array(hkdfSync('sha256', secret, 'oa-archive-federation', 'internal identity v2 HS256', length));
    const hs512 = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS512', typ: 'internal-identity+jwt' }).sign(key(SECRET, 64));
    const otherSecret = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', typ: 'internal-identity+jwt' }).sign(key('another-secret-of-sufficient-length-000000', 32));
    const rawSecret = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', typ: 'internal-identity+jwt' }).sign(new TextEncoder().encode(SECRET));
    for (const token of [none, hs512, otherSecret, rawSecret]) expect((await send(token)).status).toBe(401);
    const genuine = await new SignJWT({ ...claims(), jti: Buffer.alloc(16, 9).toString('base64url') }).setProtectedHeader({ alg: 'HS256', typ: 'internal-identity+jwt' }).sign(key(SECRET, 32));
    expect((await send(genuine)).status).toBe(200);
  });

  it('serves GraphQL over POST only (a GET carries its operation in the URL, which no identity binds)', async () => {
    const token = await signPrincipal(ADMIN, SECRET, { audience: 'oa', method: 'GET' });
    const res = await fetch(`${oaUrl}?query=${encodeURIComponent('{ departments { id } }')}`, { headers: { [INTERNAL_IDENTITY_HEADER]: token, 'apollo-require-preflight': 'true' } });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
  });
});

describe('sensitive fields at the oa port', () => {
  const Q = 'query($id: ID!) { employee(id: $id) { id name phone bankAccount idNumber } }';
  type Read = { employee: Record<string, string | null> };
  const direct = (who: Principal) => signedGraphql<Read>({ url: oaUrl, audience: 'oa' }, SECRET, who, Q, { id: org.ids.alice });
  const codes = (r: { errors?: ReadonlyArray<{ path?: ReadonlyArray<string | number>; extensions?: { code?: unknown } }> }) =>
    (r.errors ?? []).map((e) => `${e.path?.join('.')}:${String(e.extensions?.code)}`).sort();

  it('masks for user identities exactly as the gateway does, and serves services in full', async () => {
    const manager = await direct(org.as.salesManager);
    expect(manager.errors).toBeUndefined();
    expect(manager.data!.employee).toMatchObject({ phone: '*******8000', bankAccount: '***************0128', idNumber: '**************002X' });
    const auditorRead = await direct(org.as.auditor);
    expect(auditorRead.data!.employee).toMatchObject({ phone: '*******8000', bankAccount: '***************0128', idNumber: '**************002X' });
    // A plain employee's identity on the oa port: no bank or ID number of a colleague, masked or not.
    const colleague = await direct(org.as.bob);
    expect(colleague.data!.employee).toMatchObject({ name: 'Alice', phone: null, bankAccount: null, idNumber: null });
    expect(codes(colleague)).toEqual(['employee.bankAccount:FORBIDDEN', 'employee.idNumber:FORBIDDEN', 'employee.phone:FORBIDDEN']);
    expect((await direct(org.as.alice)).data!.employee).toMatchObject({ phone: '13800138000', bankAccount: '6222021234567890128', idNumber: '11010519491231002X' });
    const service = await direct(GATEWAY_SERVICE);
    expect(service.errors).toBeUndefined();
    expect(service.data!.employee).toMatchObject({ bankAccount: '6222021234567890128', idNumber: '11010519491231002X' });

    // Every user principal: the oa port answers what the gateway answers.
    for (const who of Object.values(org.as)) {
      const [viaOa, viaGateway] = [await direct(who), await atGateway(who, Q, { id: org.ids.alice })];
      expect(viaOa.data, who.sub).toEqual(viaGateway.data);
      expect(codes(viaOa), who.sub).toEqual(codes(viaGateway as never));
    }
  }, 60_000);
});

// The signed client for calls between services, against a real node:http server on loopback.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { INTERNAL_IDENTITY_HEADER, ReplayCache, servicePrincipal, verifyPrincipal } from '../../platform/identity.ts';
import { SubgraphCallError, probeSubgraph, subgraphClient } from '../../platform/integration/subgraph-client.ts';

const SECRET = 'subgraph-client-internal-secret-0123456789';
const GATEWAY = servicePrincipal('gateway');

interface Seen {
  method: string;
  identity: string;
  contentType: string;
  body: string;
}

let server: Server;
let url: string;
let answer: (req: IncomingMessage, res: ServerResponse) => void;
let seen: Seen[] = [];

const json = (status: number, body: unknown) => (_req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};
const graphqlError = (code: string | undefined, message = 'refused') => json(200, { errors: [{ message, ...(code ? { extensions: { code } } : {}) }], data: null });

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', identity: String(req.headers[INTERNAL_IDENTITY_HEADER] ?? ''), contentType: String(req.headers['content-type'] ?? ''), body });
      answer(req, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

beforeEach(() => {
  seen = [];
  answer = json(200, { data: { ok: true } });
});

/** A loopback port nobody listens on. */
async function closedPort(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}/graphql`;
}

/** Who a seen request was signed as, checked as the archive subgraph checks it (audience, method, body). */
const signedAs = async (request: Seen) => (await verifyPrincipal(request.identity, SECRET, { audience: 'archive', method: request.method, body: request.body }, new ReplayCache())).principal;

const client = (timeoutMs = 2000, target = url) => subgraphClient({ name: 'archive', url: target, as: GATEWAY, internalSecret: SECRET, timeoutMs });

async function failure(call: Promise<unknown>): Promise<SubgraphCallError> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SubgraphCallError);
  return err as SubgraphCallError;
}

describe('subgraphClient', () => {
  it('posts the operation signed as the given service and resolves with data', async () => {
    answer = json(200, { data: { employee: { id: 'e1' } } });
    const data = await client()<{ employee: { id: string } }>('query($id: ID!) { employee(id: $id) { id } }', { id: 'e1' });
    expect(data).toEqual({ employee: { id: 'e1' } });
    expect(seen).toHaveLength(1);
    expect(seen[0].method).toBe('POST');
    expect(seen[0].contentType).toBe('application/json');
    expect(JSON.parse(seen[0].body)).toEqual({ query: 'query($id: ID!) { employee(id: $id) { id } }', variables: { id: 'e1' } });
    expect(await signedAs(seen[0])).toEqual(GATEWAY);
  });

  it('signs the moment it stops waiting into the identity, so the subgraph does no work for it after that', async () => {
    const before = Date.now();
    await client(3000)('{ a }', {});
    const after = Date.now();
    const { origin } = await verifyPrincipal(seen[0].identity, SECRET, { audience: 'archive', method: seen[0].method, body: seen[0].body }, new ReplayCache());
    expect(origin.deadline).toBeGreaterThanOrEqual(before + 3000);
    expect(origin.deadline).toBeLessThanOrEqual(after + 3000);
  });

  it('signs every call anew, for its target and its body', async () => {
    const call = client();
    await call('{ a }', {});
    await call('{ a }', {});
    await call('{ b }', { x: 1 });
    expect(new Set(seen.map((r) => r.identity)).size).toBe(3);
    for (const r of seen) expect(await signedAs(r)).toEqual(GATEWAY);
    // Bound to the archive and to its own body: not to another subgraph, nor to the next call's body.
    await expect(verifyPrincipal(seen[0].identity, SECRET, { audience: 'oa', method: 'POST', body: seen[0].body }, new ReplayCache())).rejects.toMatchObject({ reason: 'wrong audience' });
    await expect(verifyPrincipal(seen[0].identity, SECRET, { audience: 'archive', method: 'POST', body: seen[2].body }, new ReplayCache())).rejects.toMatchObject({ reason: 'body mismatch' });
  });

  it('uses the fetch it is given', async () => {
    let calls = 0;
    const counting: typeof fetch = (input, init) => {
      calls += 1;
      return fetch(input, init);
    };
    await subgraphClient({ name: 'archive', url, as: GATEWAY, internalSecret: SECRET, timeoutMs: 2000, fetch: counting })('{ ok }', {});
    expect(calls).toBe(1);
  });

  it('refuses permanently on a GraphQL error whose code refuses the request', async () => {
    for (const code of ['BAD_USER_INPUT', 'FORBIDDEN', 'UNAUTHENTICATED', 'GRAPHQL_VALIDATION_FAILED']) {
      answer = graphqlError(code, 'voucher refused: the claim has no items');
      const err = await failure(client()('{ ok }', {}));
      expect(err.message).toBe(`archive: ${code}: voucher refused: the claim has no items`);
      expect(err).toMatchObject({ retryable: false, target: 'archive', failure: 'graphql', status: 200, code });
    }
  });

  it('may retry on a GraphQL error with any other code, or none', async () => {
    answer = graphqlError('SERVICE_UNAVAILABLE', 'try later');
    expect(await failure(client()('{ ok }', {}))).toMatchObject({ message: 'archive: SERVICE_UNAVAILABLE: try later', retryable: true, code: 'SERVICE_UNAVAILABLE' });
    answer = graphqlError(undefined, 'something broke');
    expect(await failure(client()('{ ok }', {}))).toMatchObject({ message: 'archive: INTERNAL_SERVER_ERROR: something broke', retryable: true, code: 'INTERNAL_SERVER_ERROR' });
  });

  it('cuts a long GraphQL error message', async () => {
    answer = graphqlError('BAD_USER_INPUT', 'x'.repeat(5000));
    expect((await failure(client()('{ ok }', {}))).message).toHaveLength(500);
  });

  it('names the HTTP status of an answer without GraphQL, never its body', async () => {
    answer = (_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('Error: boom\n    at secretFunction (/srv/app.js:1:1)');
    };
    const err = await failure(client()('{ ok }', {}));
    expect(err.message).toBe('archive subgraph answered HTTP 500 without GraphQL');
    expect(err).toMatchObject({ retryable: true, failure: 'http', status: 500, code: null });

    answer = json(503, {});
    expect(await failure(client()('{ ok }', {}))).toMatchObject({ message: 'archive subgraph answered HTTP 503', retryable: true, failure: 'http', status: 503 });
  });

  it('gives up after the timeout', async () => {
    answer = () => undefined; // never answers
    const err = await failure(client(150)('{ ok }', {}));
    expect(err.message).toBe('archive subgraph no answer within 150 ms');
    expect(err).toMatchObject({ retryable: true, failure: 'timeout', status: null });
  });

  it('says so when nothing listens', async () => {
    const err = await failure(client(2000, await closedPort())('{ ok }', {}));
    expect(err.message).toBe('archive subgraph unreachable');
    expect(err).toMatchObject({ retryable: true, failure: 'unreachable', status: null });
  });

  it('puts neither the token nor the secret in a message', async () => {
    const answers = [graphqlError('UNAUTHENTICATED'), json(401, { nope: true }), json(500, {}), () => undefined];
    const messages: string[] = [];
    for (const a of answers) {
      answer = a;
      messages.push((await failure(client(150)('{ ok }', {}))).message);
    }
    const tokens = seen.map((s) => s.identity);
    expect(tokens.every((t) => t.length > 20)).toBe(true);
    for (const m of messages) {
      expect(m).not.toContain(SECRET);
      for (const t of tokens) for (const part of t.split('.').slice(1)) expect(m).not.toContain(part);
    }
  });
});

describe('probeSubgraph', () => {
  it('is up when a signed { __typename } gets 200', async () => {
    answer = json(200, { data: { __typename: 'Query' } });
    const r = await probeSubgraph({ name: 'archive', url }, GATEWAY, SECRET, 2000);
    expect(r).toEqual({ up: true, latencyMs: expect.any(Number), reason: null });
    expect(r.latencyMs).toBeGreaterThanOrEqual(0);
    expect(JSON.parse(seen[0].body)).toEqual({ query: '{ __typename }' });
    expect(await signedAs(seen[0])).toEqual(GATEWAY);
  });

  it('is down with the HTTP status of any other answer', async () => {
    answer = json(401, { errors: [{ message: 'Unauthenticated', extensions: { code: 'UNAUTHENTICATED' } }] });
    expect(await probeSubgraph({ name: 'archive', url }, GATEWAY, SECRET, 2000)).toEqual({ up: false, latencyMs: expect.any(Number), reason: 'HTTP 401' });
  });

  it('is down with timeout when it does not answer in time, unreachable when nothing listens', async () => {
    answer = () => undefined;
    const slow = await probeSubgraph({ name: 'archive', url }, GATEWAY, SECRET, 150);
    expect(slow).toEqual({ up: false, latencyMs: expect.any(Number), reason: 'timeout' });
    expect(slow.latencyMs).toBeGreaterThanOrEqual(100);
    expect(await probeSubgraph({ name: 'archive', url: await closedPort() }, GATEWAY, SECRET, 2000)).toEqual({ up: false, latencyMs: expect.any(Number), reason: 'unreachable' });
  });
});

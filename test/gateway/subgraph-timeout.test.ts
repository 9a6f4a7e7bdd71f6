// A subgraph that does not answer in time fails its own fields with DEADLINE_EXCEEDED, whether it never sends its
// headers or stalls in its body, and the call is cut; an answer read in time leaves no timer behind to abort it.
// A mutation is answered as its subgraph answers it, even late (within the grace), and OUTCOME_UNKNOWN only without.
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ExecutionResult, execute, parse } from 'graphql';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { buildSupergraphSchema, isMutationCall, loadSupergraphSdl, timedFetch } from '../../gateway/supergraph.ts';
import type { Principal } from '../../platform/identity.ts';

const SECRET = 'subgraph-timeout-test-secret-0123456789';
const admin: Principal = { sub: 'admin-t', roles: ['ADMIN'], departmentId: null, kind: 'user' };
const servers: Server[] = [];

/** A subgraph that takes requests and, as told, never answers or sends headers and part of a body, then stalls. */
async function stallingSubgraph(mode: 'no-headers' | 'stalled-body') {
  const cut: string[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    res.on('close', () => cut.push(mode));
    if (mode === 'stalled-body') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"data":{"departments":[');
    }
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`, cut };
}

const waitFor = async (what: string, pred: () => boolean) => {
  for (const deadline = Date.now() + 10_000; !pred(); await new Promise((r) => setTimeout(r, 10))) if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
};

afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

describe('a subgraph call past its time limit', () => {
  for (const mode of ['no-headers', 'stalled-body'] as const) {
    it(`fails its fields with DEADLINE_EXCEEDED and cuts the call (${mode})`, async () => {
      const oa = await stallingSubgraph(mode);
      const schema = buildSupergraphSchema({ supergraphSdl: loadSupergraphSdl(), urls: { oa: oa.url }, internalSecret: SECRET, timeoutMs: 300 });
      const started = Date.now();
      const result = (await execute({ schema, document: parse('{ departments { id } }'), contextValue: { principal: admin } })) as ExecutionResult;
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
      expect(result.data?.departments ?? null).toBeNull();
      expect(result.errors?.map((e) => [e.message, e.extensions.code])).toEqual([['The oa service did not answer in time', 'DEADLINE_EXCEEDED']]);
      await waitFor('the subgraph to see its call cut', () => oa.cut.length === 1);
    });
  }
});

describe('timedFetch', () => {
  afterEach(() => vi.useRealTimers());

  it('leaves no timer behind once the answer is read, and follows the caller’s own signal', async () => {
    vi.useFakeTimers();
    const signals: AbortSignal[] = [];
    const inner = (async (_url: string | URL | Request, init?: RequestInit) => {
      signals.push(init!.signal!);
      return new Response('{"data":{}}', { status: 200 });
    }) as typeof fetch;
    const fetchWithin = timedFetch('oa', 1_000, inner);

    const res = await fetchWithin('http://oa/graphql', { method: 'POST', body: '{}' });
    expect(await res.text()).toBe('{"data":{}}');
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(signals[0].aborted).toBe(false);

    const outer = new AbortController();
    await fetchWithin('http://oa/graphql', { method: 'POST', body: '{}', signal: outer.signal });
    outer.abort(new Error('gateway stopping'));
    expect(signals[1].aborted).toBe(true);
    expect((signals[1].reason as Error).message).toBe('gateway stopping');
  });
});

describe('a mutation past its time limit', () => {
  const MUTATION = JSON.stringify({ query: 'mutation Approve($id: ID!) { decideApproval(id: $id) { status } }', variables: { id: '1' } });

  /** A subgraph that answers each call only once told to (`answer`), as a loaded one commits late. */
  async function lateSubgraph() {
    const waiting: ServerResponse[] = [];
    let cut = 0;
    const server = createServer((req, res) => {
      req.resume();
      res.on('close', () => !res.writableFinished && cut++);
      waiting.push(res);
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const answer = (body: string) => waiting.shift()!.writeHead(200, { 'content-type': 'application/json' }).end(body);
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`, waiting, answer, cut: () => cut };
  }

  it('is answered as the subgraph answers it after the limit, within the grace: applied is applied', async () => {
    const oa = await lateSubgraph();
    const started = Date.now();
    const call = timedFetch('oa', 200, fetch, 10_000)(oa.url, { method: 'POST', body: MUTATION }).then((r) => r.text());
    await waitFor('the call to arrive', () => oa.waiting.length === 1);
    // Past the limit (waiting for the condition): a query would have failed by now.
    while (Date.now() - started < 400) await new Promise((r) => setTimeout(r, 20));
    oa.answer('{"data":{"decideApproval":{"status":"APPROVED"}}}');
    expect(await call).toBe('{"data":{"decideApproval":{"status":"APPROVED"}}}');
  });

  it('fails with OUTCOME_UNKNOWN when no answer came within the grace either, and the call is cut', async () => {
    const oa = await lateSubgraph();
    const started = Date.now();
    const call = timedFetch('oa', 200, fetch, 300)(oa.url, { method: 'POST', body: MUTATION }).then((r) => r.text());
    await expect(call).rejects.toMatchObject({ extensions: { code: 'OUTCOME_UNKNOWN' } });
    expect(Date.now() - started).toBeGreaterThanOrEqual(490);
    await expect(call).rejects.toThrow(/may or may not have been applied: retry it with the same Idempotency-Key/);
    await waitFor('the subgraph to see its call cut', () => oa.cut() === 1);
  });

  it('a query is still cut at the limit', async () => {
    const oa = await lateSubgraph();
    const call = timedFetch('oa', 200, fetch, 10_000)(oa.url, { method: 'POST', body: JSON.stringify({ query: '{ departments { id } }' }) });
    await expect(call).rejects.toMatchObject({ extensions: { code: 'DEADLINE_EXCEEDED' } });
  });

  it('tells mutations from queries by the operation run, not by the word', () => {
    expect(isMutationCall(MUTATION)).toBe(true);
    expect(isMutationCall(JSON.stringify({ query: '# a comment\n  mutation { a }' }))).toBe(true);
    const both = 'query Q { a } mutation M { b }';
    expect(isMutationCall(JSON.stringify({ query: both, operationName: 'M' }))).toBe(true);
    expect(isMutationCall(JSON.stringify({ query: both, operationName: 'Q' }))).toBe(false);
    expect(isMutationCall(JSON.stringify({ query: '{ claims(filter: { title: "mutation" }) { id } }' }))).toBe(false);
    expect(isMutationCall('{"query":"mutation {')).toBe(false);
  });
});

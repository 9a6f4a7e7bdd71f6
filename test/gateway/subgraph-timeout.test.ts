// A subgraph that does not answer in time fails its own fields with DEADLINE_EXCEEDED, whether it never sends its
// headers or stalls in its body, and the call is cut; an answer read in time leaves no timer behind to abort it.
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ExecutionResult, execute, parse } from 'graphql';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { buildSupergraphSchema, loadSupergraphSdl, timedFetch } from '../../gateway/supergraph.ts';
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

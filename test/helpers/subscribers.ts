// Real subscription clients for tests: graphql-ws over a WebSocket and graphql-sse over fetch, each collecting
// what it receives.
import { createClient as createSseClient } from 'graphql-sse';
import { createClient as createWsClient } from 'graphql-ws';
import WebSocket from 'ws';

export interface Received {
  results: { data?: Record<string, unknown> | null; errors?: { message: string; extensions?: { code?: string } }[] }[];
  /** Set once the stream has ended. */
  completed: boolean;
  error?: unknown;
  /** WebSocket close event, when the server closed the socket. */
  closed?: { code: number; reason: string };
  dispose(): Promise<void>;
  /** Resolves once `predicate` holds for the results so far (polls; fails after `timeoutMs`). */
  until(predicate: (r: Received) => boolean, timeoutMs?: number): Promise<void>;
}

function received(): Received {
  const r: Received = {
    results: [],
    completed: false,
    dispose: async () => {},
    until: async (predicate, timeoutMs = 10_000) => {
      const started = Date.now();
      while (!predicate(r)) {
        if (Date.now() - started > timeoutMs) throw new Error(`timed out; received ${JSON.stringify(r.results).slice(0, 2000)} closed=${JSON.stringify(r.closed)} error=${String(r.error)}`);
        await new Promise((res) => setTimeout(res, 20));
      }
    },
  };
  return r;
}

export function wsSubscribe(url: string, connectionParams: Record<string, unknown>, query: string, variables?: Record<string, unknown>): Received {
  const r = received();
  const client = createWsClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams,
    retryAttempts: 0,
    lazy: false,
    on: {
      closed: (event) => {
        const e = event as { code: number; reason: string };
        r.closed = { code: e.code, reason: String(e.reason) };
      },
    },
    onNonLazyError: (err) => {
      r.error = err;
    },
  });
  const unsubscribe = client.subscribe(
    { query, variables },
    {
      next: (value) => void r.results.push(value as Received['results'][number]),
      error: (err) => {
        r.error = err;
        r.completed = true;
      },
      complete: () => {
        r.completed = true;
      },
    },
  );
  r.dispose = async () => {
    unsubscribe();
    await client.dispose();
  };
  return r;
}

export function sseSubscribe(url: string, headers: Record<string, string>, query: string, variables?: Record<string, unknown>): Received {
  const r = received();
  const client = createSseClient({ url, headers, retryAttempts: 0, singleConnection: false });
  const unsubscribe = client.subscribe(
    { query, variables },
    {
      next: (value) => void r.results.push(value as Received['results'][number]),
      error: (err) => {
        r.error = err;
        r.completed = true;
      },
      complete: () => {
        r.completed = true;
      },
    },
  );
  r.dispose = async () => {
    unsubscribe();
    client.dispose();
  };
  return r;
}

/** The syncEvents payloads among the results. */
export const events = (r: Received): Record<string, unknown>[] =>
  r.results.map((x) => (x.data as { syncEvents?: Record<string, unknown> } | null | undefined)?.syncEvents).filter((e): e is Record<string, unknown> => !!e);

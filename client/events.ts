// Resumable event subscriptions for OA plugins and other clients of the gateway: `syncEvents` over graphql-ws or
// SSE that reconnects for ever, with backoff, and resumes after the last `seq` it delivered, so a gateway restart
// or a network cut loses nothing and repeats nothing. Importable on its own: it needs only `graphql-ws` or
// `graphql-sse` and a runtime with fetch and WebSocket (Node 22 or later, browsers).
//
// One loop owns the retries, over single attempts of either client (retryAttempts: 0): the clients' own retries
// re-send the variables captured when subscribing, so they would resume from the first position, and each counts
// other failures as retryable (graphql-ws in Node gives up on a refused connection; graphql-sse ends for good when
// the server completes a stream at shutdown). A syncEvents stream never ends by itself: any end is a reconnect.
import { createClient as createSseClient } from 'graphql-sse';
import { createClient as createWsClient } from 'graphql-ws';

export type Transport = 'graphql-ws' | 'sse';

/** What an event must carry: its position in the log, a 12-digit string (so positions compare as text). */
export interface Positioned {
  seq: string;
}

export interface EventStreamOptions<E extends Positioned> {
  /** graphql-ws: ws(s)://host/graphql; SSE: http(s)://host/graphql/stream. */
  url: string;
  transport: Transport;
  /** Asked at every connection, so a token that expired is replaced by a fresh one. */
  token: () => string | Promise<string>;
  /** A subscription whose root field is `syncEvents(after: $after, …)` selecting `seq`. */
  query: string;
  /** Other variables of the query (`types`, …); `after` is the module's. */
  variables?: Record<string, unknown>;
  /** Start after this seq (a position saved by an earlier run); null or absent: from now on. */
  after?: string | null;
  /** Called once per event, in order; the next waits for it. */
  onEvent: (event: E) => void | Promise<void>;
  /** A connection failed or ended; the next try is in `retryInMs`. */
  onRetry?: (reason: unknown, retryInMs: number) => void;
  /** First wait and longest wait between tries (default 250 ms and 30 s), doubled per failed try, with jitter. */
  backoff?: { initialMs?: number; maxMs?: number };
}

export interface EventStream {
  /** The seq of the last event delivered (what a restart passes as `after`). */
  readonly lastSeq: string | null;
  /** Stops for good; resolves once the connection is closed. */
  stop(): Promise<void>;
}

class StreamEnded extends Error {}

export function subscribeToEvents<E extends Positioned>(o: EventStreamOptions<E>): EventStream {
  let lastSeq = o.after ?? null;
  let stopped = false;
  let cancel: (() => void) | null = null;
  let wake: (() => void) | null = null;
  const initialMs = o.backoff?.initialMs ?? 250;
  const maxMs = o.backoff?.maxMs ?? 30_000;

  /** Events delivered by the current connection. */
  let delivered = 0;

  /** One connection: resolves (stopped) or rejects when it ends; events delivered meanwhile moved lastSeq on. */
  const attempt = async (): Promise<void> => {
    delivered = 0;
    let chain = Promise.resolve();
    const headers = async () => ({ authorization: `Bearer ${await o.token()}` });
    const client =
      o.transport === 'graphql-ws'
        ? createWsClient({ url: o.url, connectionParams: headers, retryAttempts: 0, lazy: true })
        : createSseClient({ url: o.url, headers, retryAttempts: 0 });
    try {
      await new Promise<void>((resolve, reject) => {
        const unsubscribe = client.subscribe<{ syncEvents?: E }>(
          { query: o.query, variables: { ...o.variables, after: lastSeq } },
          {
            next: (result) => {
              const event = result.data?.syncEvents;
              if (!event) return reject(new Error(result.errors?.map((e) => e.message).join('; ') || 'a result without an event'));
              chain = chain.then(async () => {
                // A repeat (the server's replay overlapping what was delivered) is dropped.
                if (lastSeq !== null && event.seq <= lastSeq) return;
                await o.onEvent(event);
                lastSeq = event.seq;
                delivered++;
              });
              chain.catch(reject);
            },
            error: reject,
            complete: () => reject(new StreamEnded('the server ended the stream')),
          },
        );
        cancel = () => {
          unsubscribe();
          resolve();
        };
      });
    } finally {
      cancel = null;
      await chain.catch(() => undefined);
      await client.dispose();
    }
  };

  const run = (async () => {
    let failures = 0;
    while (!stopped) {
      try {
        await attempt();
        if (stopped) return;
      } catch (err) {
        if (stopped) return;
        // A connection that delivered events was a good one: the next waits the shortest time again.
        failures = delivered > 0 ? 1 : failures + 1;
        const ceiling = Math.min(maxMs, initialMs * 2 ** (failures - 1));
        const waitMs = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
        o.onRetry?.(err, waitMs);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, waitMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = null;
      }
    }
  })();

  return {
    get lastSeq() {
      return lastSeq;
    },
    async stop() {
      stopped = true;
      cancel?.();
      wake?.();
      await run;
    },
  };
}

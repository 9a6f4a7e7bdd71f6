// The client side of the sync benchmark's `connections` part (bench/sync.ts), in a process of its own so that the
// bench's process (engine, subgraphs, gateway) holds only the gateway's side of the sockets and its memory can be
// read per connection. Started with the parent's Node and exec arguments and an IPC channel; over IPC:
//
//   ← { type: 'open', wsUrl, tokens, perToken, after, query }   opens tokens.length × perToken raw
//                                                               graphql-transport-ws connections (`ws`), at most
//                                                               OPENING at once: connection_init with the token,
//                                                               subscribe once acknowledged with { after }, pong
//   → { type: 'opened', acked, failed, firstError }             once every one is acknowledged or has failed
//   ← { type: 'waitFor', seq, count, timeoutMs }
//   → { type: 'arrived', seq, count, firstAt, p50At, lastAt, errors }   once `count` connections have `seq`, or at the
//                                                               timeout; times are Date.now() on arrival; errors:
//                                                               connections that saw any error so far
//   ← { type: 'close' }                                         closes every socket with 1000, then exits 0
//
// Per connection: the socket and an error flag. Arrival times are kept per seq, in one Float64Array indexed by
// connection (0 = not yet), so a connection costs 8 bytes per seq seen, not a Map of its own.
import WebSocket from 'ws';

/** Handshakes in flight at once, at most (the gateway's listen backlog is finite). */
const OPENING = 200;

export type ToClients =
  | { type: 'open'; wsUrl: string; tokens: string[]; perToken: number; after: string; query: string }
  | { type: 'waitFor'; seq: string; count: number; timeoutMs: number }
  | { type: 'close' };

export type FromClients =
  | { type: 'opened'; acked: number; failed: number; firstError: string | null }
  | { type: 'arrived'; seq: string; count: number; firstAt: number | null; p50At: number | null; lastAt: number | null; errors: number };

interface SeqArrivals {
  at: Float64Array;
  count: number;
}

const sockets: WebSocket[] = [];
/** Connection index → it saw an error (an error message, an errored payload, an unexpected close). */
let errored = new Uint8Array(0);
let errorCount = 0;
let firstError: string | null = null;
/** Set once the bench asks to close: the closes that follow are ours. */
let closing = false;
const arrivals = new Map<string, SeqArrivals>();
const waiters: { seq: string; count: number; resolve: () => void }[] = [];

const send = (m: FromClients) => process.send!(m);

function markError(i: number, what: string): void {
  firstError ??= what.slice(0, 300);
  if (errored[i]) return;
  errored[i] = 1;
  errorCount++;
}

function arrived(i: number, seq: string, at: number): void {
  let a = arrivals.get(seq);
  if (!a) arrivals.set(seq, (a = { at: new Float64Array(sockets.length), count: 0 }));
  if (a.at[i] !== 0) return; // counted once per connection
  a.at[i] = at;
  a.count++;
  for (let k = waiters.length - 1; k >= 0; k--) {
    const w = waiters[k];
    if (w.seq === seq && a.count >= w.count) {
      waiters.splice(k, 1);
      w.resolve();
    }
  }
}

/** Opens connection `i`; resolves true once acknowledged, false if it failed first. */
function connect(i: number, wsUrl: string, token: string, after: string, query: string): Promise<boolean> {
  return new Promise((resolve) => {
    const ws = new WebSocket(wsUrl, 'graphql-transport-ws', { perMessageDeflate: false });
    sockets[i] = ws;
    let acked = false;
    const fail = (what: string) => {
      markError(i, what);
      if (!acked) resolve(false);
    };
    ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })));
    ws.on('message', (data: Buffer) => {
      const at = Date.now();
      const msg = JSON.parse(data.toString('utf8')) as { type: string; payload?: { data?: { syncEvents?: { seq: string } }; errors?: unknown[] } };
      if (msg.type === 'next') {
        if (msg.payload?.errors?.length) markError(i, JSON.stringify(msg.payload.errors));
        const seq = msg.payload?.data?.syncEvents?.seq;
        if (seq) arrived(i, seq, at);
      } else if (msg.type === 'ping') {
        ws.send('{"type":"pong"}');
      } else if (msg.type === 'connection_ack') {
        acked = true;
        ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query, variables: { after } } }));
        resolve(true);
      } else if (msg.type === 'error' || msg.type === 'complete') {
        markError(i, `${msg.type}: ${JSON.stringify(msg.payload ?? null)}`);
      }
    });
    ws.on('error', (err) => fail(err.message));
    ws.on('close', (code, reason) => {
      if (!acked) fail(`closed before ack: ${code} ${reason.toString()}`);
      else if (code !== 1000 && !closing) markError(i, `closed ${code} ${reason.toString()}`);
    });
  });
}

async function open(m: Extract<ToClients, { type: 'open' }>): Promise<void> {
  const total = m.tokens.length * m.perToken;
  errored = new Uint8Array(total);
  sockets.length = total;
  let next = 0;
  let acked = 0;
  let failed = 0;
  // Connection i uses token i mod tokens.length: each identity's connections are spread over the run.
  await Promise.all(
    Array.from({ length: Math.min(OPENING, total) }, async () => {
      while (next < total) {
        const i = next++;
        if (await connect(i, m.wsUrl, m.tokens[i % m.tokens.length], m.after, m.query)) acked++;
        else failed++;
      }
    }),
  );
  send({ type: 'opened', acked, failed, firstError });
}

function report(seq: string): void {
  const a = arrivals.get(seq);
  if (!a || a.count === 0) {
    send({ type: 'arrived', seq, count: 0, firstAt: null, p50At: null, lastAt: null, errors: errorCount });
    return;
  }
  const times = Array.from(a.at.filter((t) => t !== 0)).sort((x, y) => x - y);
  send({ type: 'arrived', seq, count: a.count, firstAt: times[0], p50At: times[Math.ceil(times.length / 2) - 1], lastAt: times[times.length - 1], errors: errorCount });
}

function waitFor(m: Extract<ToClients, { type: 'waitFor' }>): void {
  if ((arrivals.get(m.seq)?.count ?? 0) >= m.count) return report(m.seq);
  const waiter = {
    seq: m.seq,
    count: m.count,
    resolve: () => {
      clearTimeout(timer);
      report(m.seq);
    },
  };
  const timer = setTimeout(() => {
    waiters.splice(waiters.indexOf(waiter), 1);
    report(m.seq);
  }, m.timeoutMs);
  waiters.push(waiter);
}

async function close(): Promise<void> {
  closing = true;
  const open = sockets.filter((ws) => ws && ws.readyState !== WebSocket.CLOSED);
  const closed = Promise.all(open.map((ws) => new Promise<void>((r) => ws.once('close', () => r()))));
  for (const ws of open) ws.close(1000);
  // The gateway answers each close frame; sockets that do not finish in time are cut.
  await Promise.race([closed, new Promise((r) => setTimeout(r, 10_000))]);
  for (const ws of open) if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
  process.exit(0);
}

process.on('message', (raw) => {
  const m = raw as ToClients;
  if (m.type === 'open') void open(m);
  else if (m.type === 'waitFor') waitFor(m);
  else if (m.type === 'close') void close();
});
// The bench went away: nothing to report to.
process.on('disconnect', () => process.exit(0));

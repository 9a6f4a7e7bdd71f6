// The sync benchmark's connections part (BENCH_SYNC_PARTS=connections, bench/sync.ts): BENCH_SYNC_CONNECTIONS
// (10,000) graphql-ws connections of BENCH_SYNC_IDENTITIES (1,000) AUDITOR identities held by the one gateway, their
// clients in a child process (bench/ws-clients.ts) so this process holds only the gateway's side: memory per
// connection, then three approvals and when the last connection has each one's ARCHIVE_FILED.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { type BenchOrg, type BenchStack, approve, submittedClaim } from './sync-stack.ts';
import { EVENT_TYPES, SUBSCRIPTION, ms, n, seqOf, sleep, subgraphCalls, until } from './sync-measure.ts';
import type { FromClients, ToClients } from './ws-clients.ts';

const CONNECTIONS = Number(process.env.BENCH_SYNC_CONNECTIONS ?? 10_000);
const IDENTITIES = Number(process.env.BENCH_SYNC_IDENTITIES ?? 1_000);
const CONNECTION_ROUNDS = 3;
/** Idle time between the connections being open and the second memory reading (a reading at rest, not a wait for an outcome). */
const SETTLE_MS = 5_000;
const WS_CLIENTS = fileURLToPath(new URL('./ws-clients.ts', import.meta.url));


/** A full collection before a memory reading: global.gc with --expose-gc, else V8's gc exposed now (the flag set at run time). */
let collectGarbage: (() => void) | null | undefined;
const exposeGc = (): (() => void) | null => {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  try {
    v8.setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return null;
  }
};

interface Memory {
  rss: number;
  heapUsed: number;
  /** Subscriptions open on the gateway (WebSocket and SSE). */
  open: number;
}

function memory(stack: BenchStack): Memory {
  // Exposed only when this part runs: the flag is set at run time.
  if (collectGarbage === undefined) collectGarbage = exposeGc();
  collectGarbage?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, open: stack.gateway.streams.open };
}

/** bench/ws-clients.ts, started with this process's Node and exec arguments; one question at a time per reply type. */
function startWsClients() {
  const proc = spawn(process.execPath, [...process.execArgv, WS_CLIENTS], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting: { type: FromClients['type']; resolve: (m: FromClients) => void; reject: (e: Error) => void }[] = [];
  const exited = new Promise<void>((resolve) =>
    proc.once('exit', (code, signal) => {
      for (const w of waiting.splice(0)) w.reject(new Error(`ws-clients exited (${code ?? signal}) before answering ${w.type}`));
      resolve();
    }),
  );
  proc.on('message', (raw) => {
    const m = raw as FromClients;
    const k = waiting.findIndex((w) => w.type === m.type);
    if (k >= 0) waiting.splice(k, 1)[0].resolve(m);
  });
  return {
    ask<T extends FromClients['type']>(message: ToClients, reply: T): Promise<Extract<FromClients, { type: T }>> {
      return new Promise((resolve, reject) => {
        waiting.push({ type: reply, resolve: resolve as (m: FromClients) => void, reject });
        proc.send(message);
      });
    },
    async close(): Promise<void> {
      if (proc.exitCode === null && proc.signalCode === null) proc.send({ type: 'close' } satisfies ToClients);
      await Promise.race([exited, sleep(30_000)]);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill();
    },
  };
}

interface ConnectionRound {
  round: number;
  /** Connections that had the claim's CLAIM_SUBMITTED before it was approved. */
  submitted: number;
  /** …and its ARCHIVE_FILED within the timeout. */
  filed: number;
  /** From the approval call's return to the last (and the median) connection having ARCHIVE_FILED. */
  approvalToLast: number;
  approvalToP50: number;
  /** ARCHIVE_FILED's occurredAt (stamped in its transaction) → first / last connection having it. */
  occurredToFirst: number;
  occurredToLast: number;
}

interface ConnectionsResult {
  identities: number;
  perIdentity: number;
  acked: number;
  failed: number;
  firstError: string | null;
  openSeconds: number;
  /** From the 'opened' report until the gateway counts every subscription open. */
  liveSeconds: number | null;
  before: Memory;
  after: Memory;
  rounds: ConnectionRound[];
  readsPerEvent: number;
  errors: number;
  incomplete?: string;
}

export async function connections(stack: BenchStack, org: BenchOrg, counter: { i: number }): Promise<ConnectionsResult> {
  const perIdentity = Math.max(1, Math.round(CONNECTIONS / IDENTITIES));
  const tokens = await Promise.all(Array.from({ length: IDENTITIES }, (_, i) => stack.token(`bench-conn-auditor-${i}`, ['AUDITOR'])));
  // Subscribed from the head: nothing is replayed, each connection only gets what happens from now on.
  const { syncEventHead: after } = await stack.gql<{ syncEventHead: string }>(tokens[0], '{ syncEventHead }');
  const before = memory(stack);
  const result: ConnectionsResult = { identities: IDENTITIES, perIdentity, acked: 0, failed: 0, firstError: null, openSeconds: NaN, liveSeconds: null, before, after: before, rounds: [], readsPerEvent: NaN, errors: 0 };
  const clients = startWsClients();
  const { events } = stack.sync.services.events;
  try {
    const t0 = performance.now();
    const opened = await clients.ask({ type: 'open', wsUrl: stack.wsUrl, tokens, perToken: perIdentity, after, query: SUBSCRIPTION }, 'opened');
    result.openSeconds = (performance.now() - t0) / 1000;
    Object.assign(result, { acked: opened.acked, failed: opened.failed, firstError: opened.firstError });
    const t1 = performance.now();
    await until(`${opened.acked} subscriptions open on the gateway`, () => stack.gateway.streams.open >= before.open + opened.acked, 60_000, 50)
      .then(() => (result.liveSeconds = (performance.now() - t1) / 1000))
      .catch(() => undefined);
    // The one fixed sleep: idle memory is read once the opening's garbage, buffers and timers have settled.
    await sleep(SETTLE_MS);
    result.after = memory(stack);
    const reads0 = await subgraphCalls(stack, 'sync');
    for (let round = 1; round <= CONNECTION_ROUNDS; round++) {
      const claim = await submittedClaim(stack, org, counter.i++);
      // Every connection has the submission before the approval, so the approval's delivery is timed alone.
      const submitted = await clients.ask({ type: 'waitFor', seq: await seqOf(stack, claim, 'CLAIM_SUBMITTED', 30_000), count: opened.acked, timeoutMs: 60_000 }, 'arrived');
      await approve(stack, org, claim);
      const approvedAt = Date.now();
      const seq = await seqOf(stack, claim, 'ARCHIVE_FILED', 60_000);
      const filed = await clients.ask({ type: 'waitFor', seq, count: opened.acked, timeoutMs: 60_000 }, 'arrived');
      const occurred = new Date((await events.findOne({ seq: Number(seq) }, { occurredAt: 1, _id: 0 }).lean<{ occurredAt: Date }>())!.occurredAt).getTime();
      result.rounds.push({
        round,
        submitted: submitted.count,
        filed: filed.count,
        approvalToLast: (filed.lastAt ?? NaN) - approvedAt,
        approvalToP50: (filed.p50At ?? NaN) - approvedAt,
        occurredToFirst: (filed.firstAt ?? NaN) - occurred,
        occurredToLast: (filed.lastAt ?? NaN) - occurred,
      });
      result.errors = filed.errors;
    }
    result.readsPerEvent = ((await subgraphCalls(stack, 'sync')) - reads0) / (CONNECTION_ROUNDS * EVENT_TYPES.length);
  } catch (err) {
    result.incomplete = (err as Error).message;
  } finally {
    await clients.close();
    await until('subscriptions to close', () => stack.gateway.streams.open <= before.open, 30_000).catch(() => undefined);
  }
  return result;
}

export function printConnections(r: ConnectionsResult): void {
  const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
  const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  const per = (a: number, b: number) => (r.acked ? kib((b - a) / r.acked) : '-');
  console.log('');
  console.log(
    `Connections held by the one gateway: ${n(r.identities * r.perIdentity)} graphql-ws connections of ${n(r.identities)} identities, ALL with the AUDITOR role (${r.perIdentity} connections each; an AUDITOR reads every row and the selection has no sensitive field, so all of them share one read per event: gateway/subscriptions/view.ts). Clients in a child process (bench/ws-clients.ts); this process (engine, subgraphs, pipeline, gateway) holds the server side. Each subscribes from the head (\`seq type claim { claimNo } voucher { voucherNo }\`).`,
  );
  console.log(
    `Opened: ${n(r.acked)} acknowledged, ${n(r.failed)} failed${r.firstError ? ` (first error: ${r.firstError})` : ''}, in ${r.openSeconds.toFixed(1)} s (at most 200 handshakes at once); gateway counted them all open ${r.liveSeconds === null ? 'NOT within 60 s' : `${r.liveSeconds.toFixed(1)} s later`} (subscriptions open: ${n(r.before.open)} before, ${n(r.after.open)} after).`,
  );
  console.log(
    `Memory of this process (${collectGarbage ? 'after a full GC' : 'no GC available, raw readings'}; the second reading ${SETTLE_MS / 1000} s after they were open): RSS ${mib(r.before.rss)} → ${mib(r.after.rss)} = ${per(r.before.rss, r.after.rss)} per connection; heap used ${mib(r.before.heapUsed)} → ${mib(r.after.heapUsed)} = ${per(r.before.heapUsed, r.after.heapUsed)} per connection.`,
  );
  console.log('');
  console.log(`Each round: a claim submitted (every connection has its CLAIM_SUBMITTED first), then approved; times are the client's Date.now() on arrival, in the other process (same machine clock).`);
  console.log('');
  console.log('| round | connections with CLAIM_SUBMITTED | connections with ARCHIVE_FILED | approval returned → median / last connection | ARCHIVE_FILED occurredAt → first / last connection |');
  console.log('|---|---|---|---|---|');
  for (const x of r.rounds) {
    console.log(`| ${x.round} | ${n(x.submitted)} of ${n(r.acked)} | ${n(x.filed)} of ${n(r.acked)} | ${ms(x.approvalToP50)} / ${ms(x.approvalToLast)} | ${ms(x.occurredToFirst)} / ${ms(x.occurredToLast)} |`);
  }
  console.log(
    `Sync subgraph reads by the gateway during the rounds: ${Number.isNaN(r.readsPerEvent) ? '-' : r.readsPerEvent.toFixed(1)} per event (${CONNECTION_ROUNDS} rounds × ${EVENT_TYPES.length} events, polls included); ${n(r.errors)} connections with errors${r.incomplete ? `; INCOMPLETE: ${r.incomplete}` : ''}.`,
  );
}

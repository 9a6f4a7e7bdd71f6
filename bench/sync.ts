// Sync benchmark, one run, everything in this process (engine, oa, archive, sync pipeline, gateway and the load
// generator share the machine's cores):
// 1. claim approvals driven at a fixed offered rate through the oa subgraph (signed identities, as the gateway
//    calls it), and how fast the pipeline files them: approvals/s, filed claims/s, and the sync lag (approval to
//    filing) from the jobs, cross-checked with the syncStatus query through the gateway; then the pipeline alone,
//    paused while claims are approved, timed from its start until all are filed;
// 2. delivery of single events to 1,000 graphql-ws subscribers (raw graphql-transport-ws over `ws`), all with one
//    token (the gateway shares one fetch among them), then with 1,000 AUDITOR identities (one view: one read), then
//    with 1,000 EMPLOYEE identities of whom each event concerns one (the others pass over its announcement);
// 3. only when named (BENCH_SYNC_PARTS=connections): BENCH_SYNC_CONNECTIONS (10,000) graphql-ws connections of
//    BENCH_SYNC_IDENTITIES (1,000) AUDITOR identities held by the one gateway, their clients in a child process
//    (bench/ws-clients.ts) so this process holds only the gateway's side: memory per connection (RSS and heap before
//    and after opening them), then three approvals and when the last connection has each one's ARCHIVE_FILED.
import os from 'node:os';
import WebSocket from 'ws';
import { type BenchOrg, type BenchStack, type SubmittedClaim, approve, seedBenchOrg, startBenchStack, submittedClaim } from './sync-stack.ts';
import { connections, printConnections } from './sync-connections.ts';
import { EVENT_TYPES, SUBSCRIPTION, ms, n, pct, seqOf, sleep, subgraphCalls, until } from './sync-measure.ts';

const RATES = (process.env.BENCH_SYNC_RATES ?? '3,10,25').split(',').map(Number);
const STEADY_SECONDS = Number(process.env.BENCH_SYNC_SECONDS ?? 10);
/** Approved while the pipeline is paused, then filed by it alone. */
const BURST = Number(process.env.BENCH_SYNC_BURST ?? 300);
const SUBSCRIBERS = Number(process.env.BENCH_SYNC_SUBSCRIBERS ?? 1000);
const ROUNDS = 10;
/** Idle time measured after subscribing: longer than the gateway's poll interval (5 s). */
const IDLE_MS = 6_000;
/** Parts to run (steady, burst, shared, distinct, employees, connections); all but connections by default. */
const PARTS = new Set((process.env.BENCH_SYNC_PARTS ?? 'steady,burst,shared,distinct,employees').split(','));
/** How long a steady run may take to file its claims after its window. */
const DRAIN_TIMEOUT_MS = 60_000;
/** The unshared case stops starting rounds after this long. */
const DISTINCT_BUDGET_MS = 60_000;


// ---------------------------------------------------------------------------------------------------------------
// 1. approvals at a steady rate, and the pipeline alone
// ---------------------------------------------------------------------------------------------------------------

interface SteadyRow {
  rate: number;
  offered: number;
  /** Starts skipped because MAX_OUTSTANDING claims were still on their way (the generator does not pile up more). */
  skipped: number;
  failed: number;
  approvedInWindow: number;
  filedInWindow: number;
  flowP50: number;
  flowP99: number;
  /** Event-loop utilisation during the window (everything runs on this one loop). */
  elu: number;
  writeConflicts: number;
  lag: { p50: number; p95: number; p99: number; max: number };
  backlogAtEnd: number;
  drainedAfterMs: number | null;
  unfiled: number;
  dead: number;
  /** Why the DEAD jobs died (`claimNo: lastError`). */
  deadReasons: string[];
}

/** Claims on their way at once, at most: beyond it the generator skips a start rather than queue without bound. */
const MAX_OUTSTANDING = 32;

async function jobsOf(stack: BenchStack, claimIds: string[]) {
  return stack.sync.services.models.SyncJob.find({ claimId: { $in: claimIds } }, { status: 1, lagMs: 1, completedAt: 1, claimNo: 1, lastError: 1, _id: 0 }).lean<{ status: string; lagMs: number | null; completedAt: Date | null; claimNo: string; lastError: string | null }[]>();
}

async function steady(stack: BenchStack, org: BenchOrg, rate: number, seconds: number, counter: { i: number }): Promise<SteadyRow> {
  const offered = Math.round(rate * seconds);
  const interval = 1000 / rate;
  const windowMs = seconds * 1000;
  const ids: string[] = [];
  const flowTimes: number[] = [];
  const flows: Promise<void>[] = [];
  let approvedInWindow = 0;
  let outstanding = 0;
  let skipped = 0;
  let failed = 0;
  const conflicts0 = stack.writeConflicts();
  const elu0 = performance.eventLoopUtilization();
  const wallStart = Date.now();
  const t0 = performance.now();
  // Open loop: a claim starts every 1/rate s whatever the earlier ones are doing (up to MAX_OUTSTANDING).
  for (let k = 0; k < offered; k++) {
    const wait = t0 + k * interval - performance.now();
    if (wait > 1) await sleep(wait);
    if (outstanding >= MAX_OUTSTANDING) {
      skipped++;
      continue;
    }
    const i = counter.i++;
    const started = performance.now();
    outstanding++;
    flows.push(
      (async () => {
        try {
          const claim = await submittedClaim(stack, org, i);
          await approve(stack, org, claim);
          const done = performance.now();
          flowTimes.push(done - started);
          if (done - t0 <= windowMs) approvedInWindow++;
          ids.push(claim.id);
        } catch {
          failed++;
        } finally {
          outstanding--;
        }
      })(),
    );
  }
  const windowLeft = t0 + windowMs - performance.now();
  if (windowLeft > 0) await sleep(windowLeft);
  const elu = performance.eventLoopUtilization(elu0).utilization;
  const wallEnd = wallStart + windowMs;
  const { SyncJob } = stack.sync.services.models;
  const filedInWindow = await SyncJob.countDocuments({ status: 'SUCCEEDED', completedAt: { $gte: new Date(wallStart), $lte: new Date(wallEnd) } });
  const backlogAtEnd = await SyncJob.countDocuments({ status: { $in: ['PENDING', 'RUNNING', 'FAILED'] } });
  await Promise.all(flows);
  let drainedAfterMs: number | null = null;
  try {
    await until(`${ids.length} claims filed`, async () => (await jobsOf(stack, ids)).every((j) => j.status === 'SUCCEEDED' || j.status === 'DEAD'), DRAIN_TIMEOUT_MS, 250);
    drainedAfterMs = Math.max(0, Date.now() - wallEnd);
  } catch {
    // reported as not drained
  }
  const jobs = await jobsOf(stack, ids);
  const lags = jobs.filter((j) => j.status === 'SUCCEEDED').map((j) => j.lagMs!);
  return {
    rate,
    offered,
    skipped,
    failed,
    approvedInWindow,
    filedInWindow,
    flowP50: pct(flowTimes, 50),
    flowP99: pct(flowTimes, 99),
    elu,
    writeConflicts: stack.writeConflicts() - conflicts0,
    lag: { p50: pct(lags, 50), p95: pct(lags, 95), p99: pct(lags, 99), max: lags.length ? Math.max(...lags) : NaN },
    backlogAtEnd,
    drainedAfterMs,
    unfiled: ids.length - lags.length,
    dead: jobs.filter((j) => j.status === 'DEAD').length,
    deadReasons: jobs.filter((j) => j.status === 'DEAD').map((j) => `${j.claimNo}: ${j.lastError ?? ''}`),
  };
}

interface StatusCheck {
  computed: { p50: number; p95: number; p99: number; jobs: number };
  reported: { backlog: number; failed: number; dead: number; lagP50Ms: number | null; lagP95Ms: number | null; lagP99Ms: number | null; position: string; head: string };
}

/** syncStatus through the gateway against the same percentiles computed here over every succeeded job. */
async function statusCheck(stack: BenchStack, token: string): Promise<StatusCheck> {
  const { syncStatus } = await stack.gql<{ syncStatus: StatusCheck['reported'] }>(token, '{ syncStatus { backlog failed dead lagP50Ms lagP95Ms lagP99Ms position head } }');
  const all = await stack.sync.services.models.SyncJob.find({ status: 'SUCCEEDED' }, { lagMs: 1, _id: 0 }).lean<{ lagMs: number }[]>();
  const lags = all.map((j) => j.lagMs);
  return { computed: { p50: pct(lags, 50), p95: pct(lags, 95), p99: pct(lags, 99), jobs: lags.length }, reported: syncStatus };
}

async function pipelineAlone(stack: BenchStack, org: BenchOrg, count: number, counter: { i: number }) {
  const { pipeline, models } = stack.sync.services;
  await pipeline.stop();
  // Approved with 8 flows at once while nothing consumes the log.
  const ids: string[] = [];
  let next = 0;
  const approvingStarted = performance.now();
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < count) {
        next++;
        const claim = await submittedClaim(stack, org, counter.i++);
        await approve(stack, org, claim);
        ids.push(claim.id);
      }
    }),
  );
  const approvingSeconds = (performance.now() - approvingStarted) / 1000;
  const conflicts0 = stack.writeConflicts();
  const head = (await stack.sync.services.events.events.findOne({}, { seq: 1, _id: 0 }).sort({ seq: -1 }).lean<{ seq: number }>())!.seq;
  const t0 = performance.now();
  let consumedMs = NaN;
  pipeline.start(200); // SYNC_POLL_MS default
  // Done once the log is consumed and no job is left unfinished: a count of the unfinished jobs (the status index,
  // a shrinking set). Counting the SUCCEEDED ones every 20 ms read every job filed so far and took a third of the
  // engine's time from the pipeline it measures, once a thousand claims were filed.
  await until(
    `${count} claims filed by the pipeline`,
    async () => {
      if (Number.isNaN(consumedMs) && (await pipeline.consumedUpTo()) >= head) consumedMs = performance.now() - t0;
      return !Number.isNaN(consumedMs) && (await models.SyncJob.countDocuments({ status: { $in: ['PENDING', 'RUNNING', 'FAILED'] } })) === 0;
    },
    180_000,
    50,
  );
  const seconds = (performance.now() - t0) / 1000;
  return { count, seconds, perSecond: count / seconds, consumedMs, approvingSeconds, writeConflicts: stack.writeConflicts() - conflicts0 };
}

// ---------------------------------------------------------------------------------------------------------------
// 2. delivery to 1,000 graphql-ws subscribers
// ---------------------------------------------------------------------------------------------------------------

interface SyncEventMsg {
  seq: string;
  type: string;
  claim: { claimNo: string } | null;
  voucher: { voucherNo: string } | null;
}

/** Counts arrivals per key (`seq:…`) across all subscribers, and wakes whoever waits for a count. */
class Arrivals {
  private readonly counts = new Map<string, number>();
  private readonly waiters = new Map<string, { n: number; resolve: () => void }[]>();

  add(key: string): void {
    const c = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, c);
    const ws = this.waiters.get(key);
    if (!ws) return;
    for (const w of ws.filter((w) => w.n <= c)) {
      w.resolve();
      ws.splice(ws.indexOf(w), 1);
    }
  }

  count(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  wait(key: string, count: number, timeoutMs: number): Promise<void> {
    if (this.count(key) >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out: ${this.count(key)} of ${count} subscribers received ${key}`)), timeoutMs);
      const list = this.waiters.get(key) ?? [];
      list.push({ n: count, resolve: () => (clearTimeout(timer), resolve()) });
      this.waiters.set(key, list);
    });
  }
}

interface Subscriber {
  ws: WebSocket;
  /** seq → Date.now() when the message arrived. */
  received: Map<string, number>;
  errors: string[];
}

/** A graphql-transport-ws client by hand: init with the token, subscribe once acknowledged, record arrivals. */
function subscribe(url: string, token: string, after: string, arrivals: Arrivals): Promise<Subscriber> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'graphql-transport-ws', { perMessageDeflate: false });
    const sub: Subscriber = { ws, received: new Map(), errors: [] };
    let acked = false;
    ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })));
    ws.on('message', (data: Buffer) => {
      const at = Date.now();
      const msg = JSON.parse(data.toString('utf8')) as { type: string; payload?: { data?: { syncEvents?: SyncEventMsg }; errors?: unknown[] } | unknown[] };
      if (msg.type === 'connection_ack') {
        acked = true;
        ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: SUBSCRIPTION, variables: { after } } }));
        resolve(sub);
      } else if (msg.type === 'next') {
        const payload = msg.payload as { data?: { syncEvents?: SyncEventMsg }; errors?: unknown[] };
        const e = payload.data?.syncEvents;
        if (payload.errors?.length) sub.errors.push(JSON.stringify(payload.errors).slice(0, 200));
        if (e) {
          sub.received.set(e.seq, at);
          arrivals.add(`seq:${e.seq}`);
        }
      } else if (msg.type === 'ping') {
        ws.send('{"type":"pong"}');
      } else if (msg.type === 'error' || msg.type === 'complete') {
        sub.errors.push(`${msg.type}: ${JSON.stringify(msg.payload ?? null).slice(0, 200)}`);
      }
    });
    ws.on('error', (err) => (acked ? sub.errors.push(err.message) : reject(err)));
    ws.on('close', (code, reason) => {
      if (!acked) reject(new Error(`closed before ack: ${code} ${reason.toString()}`));
      else if (code !== 1000) sub.errors.push(`closed ${code} ${reason.toString()}`);
    });
  });
}


interface FanOutResult {
  label: string;
  subscribers: number;
  /** Every socket open and acknowledged. */
  connectedSeconds: number;
  /** …and every subscriber has its first (replayed) event. */
  connectSeconds: number;
  /** Sync subgraph reads per second the gateway makes for these subscribers while no event happens (polls). */
  idleReadsPerSecond: number;
  rounds: number;
  /** Per event type, then 'all': receipt − occurredAt over every delivery. */
  latency: Map<string, number[]>;
  /** occurredAt → the pipeline's announcement on the bus, per event. */
  announce: Map<string, number[]>;
  /** Sync subgraph calls made by the gateway per event delivered (to all subscribers). */
  fetchesPerEvent: number;
  /** Wall time from the approval to the last subscriber receiving ARCHIVE_FILED, per round. */
  roundMs: number[];
  errors: string[];
  incomplete?: string;
}

/**
 * `receivers`: how many of the subscribers each event is for (all of them by default; with employees, the one
 * whose claims they are: the first token). The others stay subscribed all along.
 */
async function fanOut(stack: BenchStack, org: BenchOrg, counter: { i: number }, label: string, tokens: string[], warmupRounds: number, rounds: number, budgetMs: number, receivers = tokens.length): Promise<FanOutResult> {
  const arrivals = new Arrivals();
  const announcedAt = new Map<number, number>();
  const unhook = stack.bus.subscribe((events) => {
    const at = Date.now();
    for (const e of events) if (!announcedAt.has(Number(e.seq))) announcedAt.set(Number(e.seq), at);
  });
  const result: FanOutResult = { label, subscribers: tokens.length, connectedSeconds: 0, connectSeconds: 0, idleReadsPerSecond: NaN, rounds: 0, latency: new Map(), announce: new Map(), fetchesPerEvent: NaN, roundMs: [], errors: [] };
  // Subscribed from just before the newest event: each subscriber's first read replays that one event, so the
  // client knows when its subscription is live (and no later event can be missed: replay and live are one loop).
  const { syncEventHead: head } = await stack.gql<{ syncEventHead: string }>(tokens[0], '{ syncEventHead }');
  const after = String(Number(head) - 1).padStart(12, '0');
  const subs: Subscriber[] = [];
  const started = performance.now();
  const deadline = started + budgetMs;
  try {
    // Connected 50 at a time (the listen backlog is finite); each subscribes as soon as it is acknowledged.
    for (let i = 0; i < tokens.length; i += 50) subs.push(...(await Promise.all(tokens.slice(i, i + 50).map((t) => subscribe(stack.wsUrl, t, after, arrivals)))));
    result.connectedSeconds = (performance.now() - started) / 1000;
    await arrivals.wait(`seq:${head}`, receivers, Math.max(1000, deadline - performance.now()));
    result.connectSeconds = (performance.now() - started) / 1000;
    // Nothing happens for one poll interval and a bit: what do idle subscribers cost?
    const idle0 = await subgraphCalls(stack, 'sync');
    const idleStarted = performance.now();
    await sleep(IDLE_MS);
    result.idleReadsPerSecond = ((await subgraphCalls(stack, 'sync')) - idle0) / ((performance.now() - idleStarted) / 1000);
    const total = receivers;
    const claims: SubmittedClaim[] = [];
    const syncCallsBefore = await subgraphCalls(stack, 'sync');
    for (let round = 0; round < warmupRounds + rounds; round++) {
      if (performance.now() > deadline) break;
      const remaining = () => Math.max(1000, deadline - performance.now() + 15_000);
      const claim = await submittedClaim(stack, org, counter.i++);
      await arrivals.wait(`seq:${await seqOf(stack, claim, 'CLAIM_SUBMITTED', remaining())}`, total, remaining());
      const t = performance.now();
      await approve(stack, org, claim);
      for (const type of EVENT_TYPES.slice(1)) await arrivals.wait(`seq:${await seqOf(stack, claim, type, remaining())}`, total, remaining());
      result.roundMs.push(performance.now() - t);
      claims.push(claim);
      result.rounds++;
    }
    const syncCalls = (await subgraphCalls(stack, 'sync')) - syncCallsBefore;
    result.fetchesPerEvent = syncCalls / (result.rounds * EVENT_TYPES.length);
    // occurredAt of the events of the measured claims (every one names its claim as subject), from the log.
    const measured = claims.slice(warmupRounds);
    const logged = await stack.sync.services.events.events
      .find({ 'subject.type': 'ExpenseClaim', 'subject.id': { $in: measured.map((c) => c.id) }, type: { $in: [...EVENT_TYPES] } }, { seq: 1, type: 1, occurredAt: 1, _id: 0 })
      .lean<{ seq: number; type: string; occurredAt: Date }[]>();
    const push = (map: Map<string, number[]>, type: string, value: number) => {
      for (const key of [type, 'all']) map.set(key, [...(map.get(key) ?? []), value]);
    };
    for (const e of logged) {
      const occurred = new Date(e.occurredAt).getTime();
      const a = announcedAt.get(e.seq);
      if (a !== undefined) push(result.announce, e.type, a - occurred);
      const seq = String(e.seq).padStart(12, '0');
      const list = result.latency.get(e.type) ?? [];
      const all = result.latency.get('all') ?? [];
      for (const s of subs) {
        const at = s.received.get(seq);
        if (at === undefined) continue;
        list.push(at - occurred);
        all.push(at - occurred);
      }
      result.latency.set(e.type, list);
      result.latency.set('all', all);
    }
    result.rounds = measured.length;
    result.roundMs = result.roundMs.slice(warmupRounds);
  } catch (err) {
    result.incomplete = (err as Error).message;
  } finally {
    unhook();
    for (const s of subs) result.errors.push(...s.errors);
    for (const s of subs) s.ws.close(1000);
    await until('subscriptions to close', () => stack.gateway.streams.open === 0, 30_000).catch(() => undefined);
  }
  return result;
}

// ---------------------------------------------------------------------------------------------------------------

export async function benchSync(): Promise<void> {
  const wallStart = performance.now();
  const stack = await startBenchStack();
  try {
    const org = await seedBenchOrg(stack);
    const auditor = await stack.token('bench-sync-auditor', ['AUDITOR']);
    const counter = { i: 0 };
    // Warm-up: JIT, connection pools, the directory cache.
    for (let i = 0; i < 20; i++) await approve(stack, org, await submittedClaim(stack, org, counter.i++));
    await until('warm-up claims filed', async () => (await stack.sync.services.models.SyncJob.countDocuments({ status: 'SUCCEEDED' })) >= 20, 60_000);
    await stack.sync.services.models.SyncJob.deleteMany({}); // syncStatus percentiles from the measured jobs only

    console.log(`\n## Sync pipeline and subscriptions (ONE process on ${os.cpus().length} cores: the engine (in memory, no journal), oa, archive, the sync pipeline, the gateway AND the load generator and subscriber clients all share one event loop${PARTS.has('connections') ? "; the connections part's clients excepted, they run in a child process" : ''})`);
    if (PARTS.has('steady')) {
      const rows: SteadyRow[] = [];
      const checks: StatusCheck[] = [];
      for (const rate of RATES) {
        rows.push(await steady(stack, org, rate, STEADY_SECONDS, counter));
        checks.push(await statusCheck(stack, auditor));
      }
      printSteady(rows, checks);
    }
    if (PARTS.has('burst')) {
      const alone = await pipelineAlone(stack, org, BURST, counter);
      console.log(
        `Pipeline alone: ${alone.count} claims approved while it was paused, then filed in ${alone.seconds.toFixed(2)} s = ${alone.perSecond.toFixed(1)} claims/s (log consumed and jobs queued after ${ms(alone.consumedMs)}; ${n(alone.writeConflicts)} write conflicts). Approving them took ${alone.approvingSeconds.toFixed(1)} s with 8 at once (${(alone.count / alone.approvingSeconds).toFixed(1)} approvals/s with no filing alongside).`,
      );
    }
    const results: FanOutResult[] = [];
    // One warm-up round first (not counted): the delivery path's first run.
    if (PARTS.has('shared')) results.push(await fanOut(stack, org, counter, `${n(SUBSCRIBERS)}, one token`, Array(SUBSCRIBERS).fill(auditor) as string[], 1, ROUNDS, 60_000));
    if (PARTS.has('distinct')) {
      const tokens = await Promise.all(Array.from({ length: SUBSCRIBERS }, (_, i) => stack.token(`bench-sync-auditor-${i}`, ['AUDITOR'])));
      results.push(await fanOut(stack, org, counter, `${n(SUBSCRIBERS)}, ${n(SUBSCRIBERS)} identities`, tokens, 0, ROUNDS, DISTINCT_BUDGET_MS));
    }
    if (PARTS.has('employees')) {
      // The applicant and 999 other employees (each sees only their own claims' events): each event is for one of them.
      const others = await Promise.all(Array.from({ length: SUBSCRIBERS - 1 }, (_, i) => stack.token(`bench-sync-employee-${i}`, ['EMPLOYEE'])));
      const tokens = [await stack.token(org.alice.sub, ['EMPLOYEE']), ...others];
      results.push(await fanOut(stack, org, counter, `${n(SUBSCRIBERS)}, ${n(SUBSCRIBERS)} employees (events for 1)`, tokens, 0, ROUNDS, DISTINCT_BUDGET_MS, 1));
    }
    if (results.length) printFanOut(results);
    if (PARTS.has('connections')) printConnections(await connections(stack, org, counter));
    console.log(`Sync bench wall time: ${((performance.now() - wallStart) / 1000).toFixed(0)} s.`);
  } finally {
    await stack.close();
  }
}

function printSteady(rows: SteadyRow[], checks: StatusCheck[]): void {
  console.log(`Approvals: create, submit, approve by the manager and by the accountant through the oa subgraph with signed identities; open loop at the offered rate for ${STEADY_SECONDS} s. Lag = approval to filing, from the sync jobs (lagMs).`);
  console.log(`At most ${MAX_OUTSTANDING} claims on their way at once (a start due beyond that is skipped, not queued). Filed claims/s: jobs that completed inside the window. Event loop busy: utilisation of the one event loop everything runs on. Write conflicts: transactions the engine aborted (the driver retries them with backoff).`);
  console.log('');
  console.log('| offered | achieved approvals/s | filed claims/s | approval flow p50 / p99 | event loop busy | write conflicts | lag p50 | lag p95 | lag p99 | lag max | backlog at window end | all filed after window |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const notes = [r.skipped ? `${r.skipped} starts skipped (${MAX_OUTSTANDING} outstanding)` : '', r.failed ? `${r.failed} FAILED` : ''].filter(Boolean).join(', ');
    const drained = r.drainedAfterMs === null ? `NOT within ${DRAIN_TIMEOUT_MS / 1000} s (${r.unfiled} unfiled)` : `${(r.drainedAfterMs / 1000).toFixed(1)} s${r.dead ? ` (${r.dead} DEAD)` : ''}`;
    console.log(
      `| ${r.rate}/s (${r.offered} claims${notes ? `; ${notes}` : ''}) | ${(r.approvedInWindow / STEADY_SECONDS).toFixed(1)} | ${(r.filedInWindow / STEADY_SECONDS).toFixed(1)} | ${ms(r.flowP50)} / ${ms(r.flowP99)} | ${Math.round(r.elu * 100)}% | ${n(r.writeConflicts)} | ${ms(r.lag.p50)} | ${ms(r.lag.p95)} | ${ms(r.lag.p99)} | ${ms(r.lag.max)} | ${r.backlogAtEnd} | ${drained} |`,
    );
  }
  for (const r of rows) for (const reason of r.deadReasons) console.log(`DEAD job in the ${r.rate}/s run: ${reason}`);
  for (const [i, c] of checks.entries()) {
    const same = c.reported.lagP50Ms === c.computed.p50 && c.reported.lagP95Ms === c.computed.p95 && c.reported.lagP99Ms === c.computed.p99;
    console.log(
      `syncStatus after the ${rows[i].rate}/s run (all ${c.computed.jobs} jobs so far): p50/p95/p99 ${c.reported.lagP50Ms}/${c.reported.lagP95Ms}/${c.reported.lagP99Ms} ms, backlog ${c.reported.backlog}, failed ${c.reported.failed}, dead ${c.reported.dead}, position ${Number(c.reported.position)} of head ${Number(c.reported.head)}; from the jobs: ${c.computed.p50}/${c.computed.p95}/${c.computed.p99} ms ${same ? '(match)' : '(MISMATCH)'}`,
    );
  }
}

function printFanOut(results: FanOutResult[]): void {
  console.log('');
  console.log('Delivery of single events to graphql-ws subscribers (raw graphql-transport-ws clients over ws in this process; selection `seq type claim { claimNo } voucher { voucherNo }`).');
  console.log('Each round: a claim is submitted (CLAIM_SUBMITTED, alone), then approved (CLAIM_APPROVED, then the pipeline files it: VOUCHER_CREATED, ARCHIVE_FILED); the next round starts once every subscriber has all four.');
  console.log("Latency = receipt by the client (Date.now()) − the event's occurredAt (stamped in the committing transaction), per subscriber and event; ms resolution.");
  console.log('');
  console.log('| subscribers | event | deliveries | p50 | p99 | max | of which occurredAt → bus announcement, p50 / max | sync subgraph reads per event (polls included) |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    for (const type of [...EVENT_TYPES, 'all']) {
      const l = r.latency.get(type) ?? [];
      const a = r.announce.get(type) ?? [];
      console.log(`| ${r.label} | ${type} | ${n(l.length)} | ${ms(pct(l, 50))} | ${ms(pct(l, 99))} | ${ms(l.length ? Math.max(...l) : NaN)} | ${ms(pct(a, 50))} / ${ms(a.length ? Math.max(...a) : NaN)} | ${type === 'all' ? r.fetchesPerEvent.toFixed(1) : ''} |`);
    }
  }
  for (const r of results) {
    console.log(
      `${r.label}: sockets acknowledged after ${r.connectedSeconds.toFixed(1)} s, all live (first event replayed to each) after ${r.connectSeconds.toFixed(1)} s; idle, the gateway reads the sync subgraph ${r.idleReadsPerSecond.toFixed(0)} times/s for them (polls); ${r.rounds} measured round(s)${r.label.includes('one token') ? ' after one warm-up round' : ''}, approval → last subscriber has ARCHIVE_FILED p50 ${ms(pct(r.roundMs, 50))}, max ${ms(r.roundMs.length ? Math.max(...r.roundMs) : NaN)}; ${r.errors.length} deliveries with errors${r.errors.length ? ` (first: ${r.errors[0]})` : ''}${r.incomplete ? `; INCOMPLETE: ${r.incomplete}` : ''}`,
    );
  }
}

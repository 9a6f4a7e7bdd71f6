// Soak (`npm run bench -- soak`, run only when named): the real system under a realistic mixed load for
// BENCH_SOAK_SECONDS (default 300), measured against issue 18's targets (BENCH_SOAK_FLOWS and BENCH_SOAK_LISTS, default
// 5 and 30 per second, change the mix).
//
//   system      `scripts/start.ts` (the supervisor of `npm start`: database, oa, archive, sync and gateway in processes
//               of their own) as a child of this process, with this process's Node and exec arguments (tsx), in
//               production on the embedded database, a fresh DATA_DIR and free ports
//   seed        through the gateway: one department, an applicant, its manager and an accountant (an ADMIN token
//               whose sub is no employee acts as a service account)
//   load        an open-loop schedule (each request starts on time, not after the previous one: a slow system shows
//               as latency, never as less offered load):
//                 5 claim flows/s     createExpenseClaim → submitExpenseClaim → decideApproval APPROVE as the manager
//                                     → as the accountant (each step after the previous of its flow; every mutation
//                                     with its own Idempotency-Key)
//                 30 list queries/s   expenseClaims(first: 20, after: <a cursor seen earlier, or none>) as the accountant
//                 55 subscribers      graphql-ws clients (19 accountant, 18 manager, 18 applicant tokens), each
//                                     `subscription { syncEvents(after: <head before the load>) { seq type claim { id } } }`
//               BENCH_SOAK_APPROVALS=1: the flows are only the accountant's final approvals, of claims prepared (created,
//               submitted, approved by the manager) before the load: the sync pipeline's capacity, issue 18's 50/s;
//               a warm-up of 10 s at the same rate (BENCH_SOAK_WARMUP_SECONDS), filed before the measured load
//               begins and in none of its figures
//   measured    flows started and acknowledged; errors by code (GraphQL extensions.code, HTTP status, network);
//               mutation and list latency; filing lag (accountant's approval answered → first subscriber has the
//               claim's ARCHIVE_FILED); events per subscriber (equal? gaps?); RSS of every process before the load,
//               at its end and 30 s after the last request was answered; CPU seconds of every process and of this one;
//               with BENCH_SOAK_APPROVALS, the sync jobs' own lag (syncStatus) and claims filed more than once.
//               BENCH_SOAK_LOG=<file> keeps every line the system printed (its JSON log) in that file.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { CREATE, DECIDE, ErrorCounts, type Outcome, SUBMIT, gql, must, prepareClaims, token } from './soak-client.ts';
import { lagTimeline, mib, ms, pct, signedPct, slowCommands, topMessages } from './soak-report.ts';
import { type System, cpuSeconds, rssKb, startSystem, stopSystem } from './soak-system.ts';

const SECONDS = Number(process.env.BENCH_SOAK_SECONDS ?? 300);
/** The mix of issue 18's soak; BENCH_SOAK_FLOWS / BENCH_SOAK_LISTS probe other rates (e.g. the sync pipeline's capacity). */
const FLOWS_PER_SECOND = Number(process.env.BENCH_SOAK_FLOWS ?? 5);
const LISTS_PER_SECOND = Number(process.env.BENCH_SOAK_LISTS ?? 30);
const SUBSCRIBERS = 55;
/**
 * BENCH_SOAK_APPROVALS=1: the sync pipeline's capacity (issue 18: 50 approvals/s for 5 minutes, lag p99 ≤ 1 s, every
 * claim filed once). Claims are prepared before the load (created, submitted and approved by the manager, 16 at a
 * time); the load is the accountant's final approval of BENCH_SOAK_FLOWS of them per second, so the OA's claim
 * creation (a gap-free number per claim, one at a time) is not in the window that measures the pipeline.
 */
const APPROVALS_ONLY = process.env.BENCH_SOAK_APPROVALS === '1';
/**
 * BENCH_SOAK_WARMUP_SECONDS (default 10 with BENCH_SOAK_APPROVALS, else 0): before the measured load, approvals at the
 * same rate for this long, until each is filed; none of it is in the figures. A system fresh from its start has never
 * booked or filed a voucher (the preparation does not reach the accountant), so the measured load would begin with
 * code never run. It is not the whole of the slow start: with the warm-up the first 10 s of two 5-minute runs still
 * had p99 1.5-1.7 s against 0.4-0.9 s in most later windows (README.md, the soak).
 */
const WARMUP_SECONDS = Number(process.env.BENCH_SOAK_WARMUP_SECONDS ?? (APPROVALS_ONLY ? 10 : 0));
const SYNC_TARGETS = { lagP99Ms: 1000 };
/** After the last request is answered: how long RSS may settle and ARCHIVE_FILED may still arrive. */
const SETTLE_MS = 30_000;
const TARGETS = { mutationP99Ms: 1000, filingLagP99Ms: 2000, rssGrowth: 0.1 };


const LIST = 'query List($after: String) { expenseClaims(first: 20, after: $after) { edges { cursor node { id claimNo title total status createdAt } } pageInfo { hasNextPage endCursor } } }';
const SUBSCRIPTION = 'subscription Soak($after: String) { syncEvents(after: $after) { seq type claim { id } } }';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------------------------
// subscribers

interface Subscriber {
  identity: string;
  client: Client;
  seqs: number[];
  outOfOrder: number;
  duplicates: number;
  errors: number;
  completed: boolean;
  lastSeq: number;
}

// ---------------------------------------------------------------------------------------------------------------

export async function benchSoak(): Promise<void> {
  const what = APPROVALS_ONLY ? `${FLOWS_PER_SECOND} final approvals/s of claims prepared before the load` : `${FLOWS_PER_SECOND} claim flows/s`;
  console.log(
    `\n## Soak: the real system (scripts/start.ts: database, oa, archive, sync, gateway in separate processes; production, embedded database on disk) for ${SECONDS} s at ${what}, ${LISTS_PER_SECOND} list queries/s and ${SUBSCRIBERS} graphql-ws subscribers, open loop; load generator and subscribers in this process (${os.cpus().length} cores)`,
  );
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-soak-'));
  let system: System | undefined;
  const subscribers: Subscriber[] = [];
  try {
    const t0 = performance.now();
    system = await startSystem(dir);
    const listening = system.listening;
    const pids = { supervisor: system.child.pid!, ...(listening.processes as Record<string, number>) };
    const port = listening.port as number;
    const url = `http://127.0.0.1:${port}/graphql`;
    const wsUrl = `ws://127.0.0.1:${port}/graphql`;
    console.log(`System listening after ${((performance.now() - t0) / 1000).toFixed(1)} s: ${String(listening.url)}, pids ${JSON.stringify(pids)}`);

    // ---- seed ----
    const admin = await token('soak-admin', ['ADMIN']);
    const dept = (await must(gql<{ createDepartment: { id: string } }>(url, admin, 'mutation($i: CreateDepartmentInput!) { createDepartment(input: $i) { id } }', { i: { code: 'SOAK', name: 'Soak' } }), 'createDepartment')).createDepartment.id;
    const employee = async (no: string, roles: string[]) =>
      (await must(gql<{ createEmployee: { id: string } }>(url, admin, 'mutation($i: CreateEmployeeInput!) { createEmployee(input: $i) { id } }', { i: { employeeNo: no, name: `Soak ${no}`, departmentId: dept, roles } }), `createEmployee ${no}`)).createEmployee.id;
    const applicantId = await employee('S1', ['EMPLOYEE']);
    const managerId = await employee('S2', ['MANAGER']);
    const accountantId = await employee('S3', ['ACCOUNTANT']);
    await must(gql(url, admin, 'mutation($d: ID!, $e: ID!) { setDepartmentManager(departmentId: $d, employeeId: $e) { id } }', { d: dept, e: managerId }), 'setDepartmentManager');
    const tokens = {
      applicant: await token(applicantId, ['EMPLOYEE']),
      manager: await token(managerId, ['EMPLOYEE', 'MANAGER']),
      accountant: await token(accountantId, ['EMPLOYEE', 'ACCOUNTANT']),
    };
    const occurredOn = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const runId = randomUUID().slice(0, 8);
    const claimInput = (n: number) => ({
      title: `Soak ${runId} claim ${n}`,
      category: 'TRAVEL',
      items: [{ description: `train ${n}`, amount: `${(n % 4999) + 1}.${String(n % 100).padStart(2, '0')}`, occurredOn }],
    });
    const warmupFlows = APPROVALS_ONLY ? Math.ceil(FLOWS_PER_SECOND * WARMUP_SECONDS) : 0;
    const prepared = APPROVALS_ONLY ? await prepareClaims(url, tokens, warmupFlows + Math.ceil(FLOWS_PER_SECOND * SECONDS), claimInput) : [];
    const head = (await must(gql<{ syncEventHead: string }>(url, admin, '{ syncEventHead }', {}), 'syncEventHead')).syncEventHead;

    // ---- subscribers ----
    const errors = new ErrorCounts();
    /** claim id → when the first subscriber received its ARCHIVE_FILED (performance.now()). */
    const filedAt = new Map<string, number>();
    /** claim id → ARCHIVE_FILED events the first subscriber (an accountant, who reads every claim) received for it. */
    const filings = new Map<string, number>();
    let eventsWithoutClaim = 0;
    const identities = ['accountant', 'manager', 'applicant'] as const;
    let connected = 0;
    for (let i = 0; i < SUBSCRIBERS; i++) {
      const identity = identities[i % identities.length];
      const sub: Subscriber = { identity, client: undefined as never, seqs: [], outOfOrder: 0, duplicates: 0, errors: 0, completed: false, lastSeq: -1 };
      sub.client = createClient({
        url: wsUrl,
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Bearer ${tokens[identity]}` },
        lazy: true,
        retryAttempts: 0,
        on: { connected: () => connected++ },
      });
      sub.client.subscribe<{ syncEvents: { seq: string; type: string; claim: { id: string } | null } }>(
        { query: SUBSCRIPTION, variables: { after: head } },
        {
          next: (result) => {
            const at = performance.now();
            if (result.errors?.length) {
              sub.errors++;
              errors.add('subscription payload', String((result.errors[0] as { extensions?: { code?: string } }).extensions?.code ?? 'NO_CODE'));
            }
            const e = result.data?.syncEvents;
            if (!e) return;
            const seq = Number(e.seq);
            if (seq === sub.lastSeq) sub.duplicates++;
            else if (seq < sub.lastSeq) sub.outOfOrder++;
            sub.lastSeq = Math.max(sub.lastSeq, seq);
            sub.seqs.push(seq);
            if (e.type === 'ARCHIVE_FILED') {
              if (sub === subscribers[0] && e.claim) filings.set(e.claim.id, (filings.get(e.claim.id) ?? 0) + 1);
              if (!e.claim) eventsWithoutClaim++;
              else if (!filedAt.has(e.claim.id)) filedAt.set(e.claim.id, at);
            }
          },
          error: (err) => {
            sub.errors++;
            const code = Array.isArray(err) ? String((err[0] as { extensions?: { code?: string } })?.extensions?.code ?? 'GRAPHQL') : err instanceof Error ? err.message : `close ${(err as { code?: number }).code ?? '?'}`;
            errors.add('subscription', code);
          },
          complete: () => (sub.completed = true),
        },
      );
      subscribers.push(sub);
    }
    const connectDeadline = Date.now() + 30_000;
    while (connected < SUBSCRIBERS && Date.now() < connectDeadline) await sleep(50);
    console.log(`${connected} of ${SUBSCRIBERS} subscribers acknowledged (19 accountant, 18 manager, 18 applicant tokens), subscribed after seq ${head}`);
    await sleep(2000); // every subscription started and idle

    // ---- load ----
    const mutationMs: number[] = [];
    const stepMs: Record<string, number[]> = { create: [], submit: [], manager: [], accountant: [] };
    const listMs: number[] = [];
    const approvedAt = new Map<string, number>(); // claim id → accountant's approval answered (performance.now())
    const approvalFailedClaims = new Set<string>(); // the accountant's approval answered with an error that says "not applied"
    const approvalUnknownClaims = new Set<string>(); // … answered OUTCOME_UNKNOWN (the gateway could not tell)
    let flowsStarted = 0;
    let flowsAcknowledged = 0;
    let listsStarted = 0;
    let listsOk = 0;
    let inFlight = 0;
    const cursors: string[] = [];

    /** While the warm-up runs: its requests are in no figure, but an error is. */
    let warming = false;
    const step = async <T>(name: string, tok: string, query: string, variables: Record<string, unknown>): Promise<Outcome<T>> => {
      const start = performance.now();
      const r = await gql<T>(url, tok, query, variables, randomUUID());
      const took = performance.now() - start;
      if (!r.ok) errors.add(`mutation ${name}`, r.code);
      if (warming) return r;
      mutationMs.push(took);
      stepMs[name].push(took);
      return r;
    };
    const flow = async (n: number) => {
      n += warmupFlows;
      if (APPROVALS_ONLY && n >= prepared.length) return;
      inFlight++;
      try {
        let id: string;
        if (APPROVALS_ONLY) id = prepared[n];
        else {
          const created = await step<{ createExpenseClaim: { id: string } }>('create', tokens.applicant, CREATE, { input: claimInput(n) });
          if (!created.ok) return;
          id = created.data.createExpenseClaim.id;
          if (!(await step('submit', tokens.applicant, SUBMIT, { id })).ok) return;
          if (!(await step('manager', tokens.manager, DECIDE, { id })).ok) return;
        }
        const approved = await step<{ decideApproval: { status: string } }>('accountant', tokens.accountant, DECIDE, { id });
        if (!approved.ok) {
          (approved.code === 'OUTCOME_UNKNOWN' ? approvalUnknownClaims : approvalFailedClaims).add(id);
          return;
        }
        approvedAt.set(id, performance.now());
        flowsAcknowledged++;
      } finally {
        inFlight--;
      }
    };
    const list = async () => {
      inFlight++;
      try {
        const after = cursors.length && Math.random() < 0.8 ? cursors[Math.floor(Math.random() * cursors.length)] : null;
        const start = performance.now();
        const r = await gql<{ expenseClaims: { pageInfo: { endCursor: string | null } } }>(url, tokens.accountant, LIST, { after });
        listMs.push(performance.now() - start);
        if (!r.ok) return errors.add('list', r.code);
        listsOk++;
        const c = r.data.expenseClaims.pageInfo.endCursor;
        if (c) {
          if (cursors.length < 500) cursors.push(c);
          else cursors[Math.floor(Math.random() * cursors.length)] = c;
        }
      } finally {
        inFlight--;
      }
    };

    if (warmupFlows) {
      // The warm-up: the first prepared claims approved at the load's rate, then a wait until every one is filed.
      warming = true;
      const warmed: string[] = prepared.slice(0, warmupFlows);
      const begun = performance.now();
      let started = 0;
      const approve = async (id: string) => {
        inFlight++;
        try {
          await step('accountant', tokens.accountant, DECIDE, { id });
        } finally {
          inFlight--;
        }
      };
      while (started < warmed.length) {
        const due = Math.min(warmed.length, Math.floor(((performance.now() - begun) / 1000) * FLOWS_PER_SECOND) + 1);
        while (started < due) void approve(warmed[started++]);
        await sleep(5);
      }
      const deadline = performance.now() + 60_000;
      while ((inFlight > 0 || warmed.some((id) => !filedAt.has(id))) && performance.now() < deadline) await sleep(50);
      const filedWarm = warmed.filter((id) => filedAt.has(id)).length;
      console.log(`Warm-up: ${warmed.length} approvals at ${FLOWS_PER_SECOND}/s for ${WARMUP_SECONDS} s, ${filedWarm} filed ${((performance.now() - begun) / 1000).toFixed(1)} s after it began; not in the figures below`);
      warming = false;
      await sleep(1000);
    }

    const rssBefore: Record<string, number> = {};
    for (const [name, pid] of Object.entries(pids)) rssBefore[name] = rssKb(pid);
    const cpuBefore: Record<string, number> = {};
    for (const [name, pid] of Object.entries(pids)) cpuBefore[name] = cpuSeconds(pid);
    const rssPeak: Record<string, number> = { ...rssBefore };
    const rssSamples: Record<string, Array<[number, number]>> = Object.fromEntries(Object.keys(pids).map((n) => [n, []]));
    const loadAvgBefore = os.loadavg();
    // This process (load generator and subscribers) shares the machine's cores with the system.
    const benchCpuBefore = process.cpuUsage();

    let maxInFlight = 0;
    const loadStart = performance.now();
    const loadStartedAt = Date.now();
    const loadEnd = loadStart + SECONDS * 1000;
    let lastSample = 0;
    let lastReport = loadStart;
    // The schedule: at every tick, start whatever should have started by now (timer drift never lowers the rate).
    while (performance.now() < loadEnd) {
      const elapsed = (performance.now() - loadStart) / 1000;
      while (flowsStarted < Math.floor(elapsed * FLOWS_PER_SECOND) + 1) void flow(flowsStarted++);
      while (listsStarted < Math.floor(elapsed * LISTS_PER_SECOND) + 1) (listsStarted++, void list());
      maxInFlight = Math.max(maxInFlight, inFlight);
      const now = performance.now();
      if (now - lastSample >= 1000) {
        lastSample = now;
        for (const [name, pid] of Object.entries(pids)) {
          const kb = rssKb(pid);
          rssSamples[name].push([(now - loadStart) / 1000, kb]);
          if (!(kb <= rssPeak[name])) rssPeak[name] = kb;
        }
      }
      if (now - lastReport >= 30_000) {
        lastReport = now;
        console.log(
          `  t=${Math.round((now - loadStart) / 1000)} s: flows ${flowsStarted} started, ${flowsAcknowledged} acknowledged; lists ${listsOk}/${listsStarted}; ${errors.total()} errors; ${inFlight} requests in flight; ${filedAt.size} claims filed (seen by subscribers)`,
        );
      }
      await sleep(5);
    }
    const rssEnd: Record<string, number> = {};
    for (const [name, pid] of Object.entries(pids)) rssEnd[name] = rssKb(pid);
    const cpuEnd: Record<string, number> = {};
    for (const [name, pid] of Object.entries(pids)) cpuEnd[name] = cpuSeconds(pid);
    const loadSeconds = (performance.now() - loadStart) / 1000;
    const benchCpu = process.cpuUsage(benchCpuBefore);
    const inFlightAtEnd = inFlight;

    // ---- drain, then settle ----
    while (inFlight > 0) await sleep(50);
    const drainedAt = performance.now();
    const settleEnd = drainedAt + SETTLE_MS;
    // The full period, even once every approved claim is filed: RSS is read at its end.
    while (performance.now() < settleEnd) await sleep(250);
    const rssAfter: Record<string, number> = {};
    for (const [name, pid] of Object.entries(pids)) rssAfter[name] = rssKb(pid);

    // ---- figures ----
    const lags: number[] = [];
    /** [lag, seconds into the load the approval was answered]: where the slowest filings were. */
    const timedLags: [number, number][] = [];
    let unfiled = 0;
    for (const [id, at] of approvedAt) {
      const f = filedAt.get(id);
      if (f === undefined) unfiled++;
      else {
        lags.push(f - at);
        timedLags.push([f - at, (at - loadStart) / 1000]);
      }
    }
    const filedAfterFailedApproval = [...approvalFailedClaims].filter((id) => filedAt.has(id)).length;
    const negativeLags = lags.filter((l) => l < 0).length;

    console.log(`\nLoad: ${loadSeconds.toFixed(1)} s, load average before ${loadAvgBefore.map((l) => l.toFixed(2)).join(' ')}; at most ${maxInFlight} requests in flight, ${inFlightAtEnd} still in flight when the schedule ended (drained ${((drainedAt - loadEnd) / 1000).toFixed(1)} s later)`);
    console.log('\n| figure | value |');
    console.log('|---|---|');
    console.log(`| claim flows started / acknowledged (${APPROVALS_ONLY ? 'the final approval' : 'all 4 steps'} answered OK) | ${flowsStarted} / ${flowsAcknowledged} (${(flowsStarted / loadSeconds).toFixed(2)}/s offered) |`);
    console.log(`| list queries started / answered OK | ${listsStarted} / ${listsOk} (${(listsStarted / loadSeconds).toFixed(1)}/s offered) |`);
    console.log(`| mutations answered | ${mutationMs.length} |`);
    console.log(`| mutation latency p50 / p99 / max (all steps) | ${ms(pct(mutationMs, 50))} / ${ms(pct(mutationMs, 99))} / ${ms(mutationMs.length ? Math.max(...mutationMs) : NaN)} |`);
    for (const [name, values] of Object.entries(stepMs)) if (values.length) console.log(`| … ${name} p50 / p99 (${values.length}) | ${ms(pct(values, 50))} / ${ms(pct(values, 99))} |`);
    console.log(`| list latency p50 / p99 / max | ${ms(pct(listMs, 50))} / ${ms(pct(listMs, 99))} / ${ms(listMs.length ? Math.max(...listMs) : NaN)} |`);
    console.log(`| filing lag (approval answered → first subscriber has ARCHIVE_FILED) p50 / p99 / max | ${ms(pct(lags, 50))} / ${ms(pct(lags, 99))} / ${ms(lags.length ? Math.max(...lags) : NaN)} (${lags.length} claims${negativeLags ? `; ${negativeLags} filed before their approval was answered, counted negative` : ''}) |`);
    console.log(`| filing lag p99 per 10 s of the load (by when the approval was answered) | ${lagTimeline(timedLags, loadSeconds)} |`);
    const slowest = timedLags.sort((a, b) => b[0] - a[0]).slice(0, 5);
    console.log(`| … the 5 slowest filings (lag at seconds into the load) | ${slowest.map(([lag, t]) => `${ms(lag)} at ${t.toFixed(0)} s`).join(', ') || '–'} |`);
    console.log(`| approved claims without ARCHIVE_FILED ${SETTLE_MS / 1000} s after the last answer | ${unfiled} of ${approvedAt.size} |`);
    console.log(`| claims whose accountant approval answered an error (not OUTCOME_UNKNOWN), filed anyway | ${filedAfterFailedApproval} of ${approvalFailedClaims.size} |`);
    console.log(`| claims whose accountant approval answered OUTCOME_UNKNOWN, filed | ${[...approvalUnknownClaims].filter((id) => filedAt.has(id)).length} of ${approvalUnknownClaims.size} |`);
    // The pipeline's own view: approval committed → record filed, over every job (syncStatus, as an operator sees it).
    const status = await gql<{ syncStatus: { lagP50Ms: number | null; lagP95Ms: number | null; lagP99Ms: number | null; backlog: number; dead: number } }>(url, admin, '{ syncStatus { lagP50Ms lagP95Ms lagP99Ms backlog dead } }', {});
    if (status.ok) {
      const st = status.data.syncStatus;
      console.log(`| sync jobs' lag (approval committed → record filed; syncStatus over every job) p50 / p95 / p99 | ${ms(st.lagP50Ms ?? NaN)} / ${ms(st.lagP95Ms ?? NaN)} / ${ms(st.lagP99Ms ?? NaN)} (backlog ${st.backlog}, dead ${st.dead}) |`);
    } else console.log(`| sync jobs' lag (syncStatus) | ${status.code} |`);
    const filedTwice = [...filings.values()].filter((k) => k > 1).length;
    console.log(`| claims with more than one ARCHIVE_FILED (the first accountant subscriber's count) | ${filedTwice} of ${filings.size} |`);
    if (eventsWithoutClaim) console.log(`| ARCHIVE_FILED events delivered with claim: null | ${eventsWithoutClaim} |`);

    // ---- subscribers ----
    const union = new Set<number>();
    for (const s of subscribers) for (const q of s.seqs) union.add(q);
    console.log('\n| subscribers | events received min / max | missing vs the union of their identity group (sum) | duplicates | out of order | errors | ended early |');
    console.log('|---|---|---|---|---|---|---|');
    let totalGaps = 0;
    for (const identity of identities) {
      const group = subscribers.filter((s) => s.identity === identity);
      const groupUnion = new Set<number>();
      for (const s of group) for (const q of s.seqs) groupUnion.add(q);
      let missing = 0;
      for (const s of group) {
        const own = new Set(s.seqs);
        for (const q of groupUnion) if (!own.has(q)) missing++;
      }
      totalGaps += missing;
      const counts = group.map((s) => s.seqs.length);
      console.log(`| ${group.length} × ${identity} | ${Math.min(...counts)} / ${Math.max(...counts)} | ${missing} | ${group.reduce((n, s) => n + s.duplicates, 0)} | ${group.reduce((n, s) => n + s.outOfOrder, 0)} | ${group.reduce((n, s) => n + s.errors, 0)} | ${group.filter((s) => s.completed).length} |`);
    }
    const allCounts = subscribers.map((s) => s.seqs.length);
    const allEqual = allCounts.every((c) => c === allCounts[0]);
    console.log(`Events: ${union.size} distinct seqs delivered; every subscriber received ${allEqual ? `the same number (${allCounts[0]})` : `NOT the same number (${Math.min(...allCounts)}–${Math.max(...allCounts)})`}; ${totalGaps} missing within identity groups.`);

    // ---- errors ----
    console.log(`\nErrors: ${errors.total()}`);
    if (errors.total()) {
      console.log('| request | code | count |');
      console.log('|---|---|---|');
      for (const [kind, m] of errors.byKind) for (const [code, n] of [...m].sort((a, b) => b[1] - a[1])) console.log(`| ${kind} | ${code} | ${n} |`);
    }
    const warn = system.warnings.filter((l) => l.msg !== 'listening');
    console.log(`System log: ${system.lineCount()} lines, ${warn.filter((l) => l.level >= 50).length} at error level, ${warn.filter((l) => l.level === 40).length} warnings${warn.length ? `; most frequent: ${topMessages(warn)}` : ''}`);
    console.log(slowCommands(system.slow, loadStartedAt));
    const firstError = warn.find((l) => l.level >= 50);
    if (firstError) {
      const { level: _l, time: _t, hostname: _h, ...rest } = firstError;
      console.log(`First error line: ${JSON.stringify(rest).slice(0, 400)}`);
    }

    // ---- RSS ----
    console.log(`\nRSS (VmRSS) per process: before the load, its peak (sampled every second), at its end, and ${SETTLE_MS / 1000} s after the last request was answered; CPU seconds used during the load.`);
    console.log(
      `"Flat" here: for every process, RSS after settling at most ${TARGETS.rssGrowth * 100}% above the larger of its value at the end of the load and its peak during the load (memory does not keep growing once the load stops; a garbage collector's swing below the load's peak is no growth). "after vs at end" and the 2nd-half slope are printed to judge growth during the load.`,
    );
    console.log('| process | before | peak | at end | after settling | after vs at end | after vs max(end, peak) | end vs before | growth over the 2nd half of the load | CPU s (% of one core) |');
    console.log('|---|---|---|---|---|---|---|---|---|---|');
    let rssFlat = true;
    for (const name of Object.keys(pids)) {
      const ratio = rssAfter[name] / rssEnd[name];
      const flatRatio = rssAfter[name] / Math.max(rssEnd[name], rssPeak[name]);
      if (!(flatRatio <= 1 + TARGETS.rssGrowth)) rssFlat = false;
      const samples = rssSamples[name];
      const half = samples.filter(([t]) => t >= loadSeconds / 2);
      const slope = half.length >= 2 ? ((half[half.length - 1][1] - half[0][1]) / 1024 / (half[half.length - 1][0] - half[0][0])) * 60 : NaN;
      const cpu = cpuEnd[name] - cpuBefore[name];
      console.log(
        `| ${name} (${pids[name as keyof typeof pids]}) | ${mib(rssBefore[name])} | ${mib(rssPeak[name])} | ${mib(rssEnd[name])} | ${mib(rssAfter[name])} | ${signedPct(ratio)} | ${signedPct(flatRatio)} | ${signedPct(rssEnd[name] / rssBefore[name])} | ${Number.isNaN(slope) ? '–' : `${slope >= 0 ? '+' : ''}${slope.toFixed(1)} MiB/min`} | ${cpu.toFixed(1)} (${((cpu / loadSeconds) * 100).toFixed(0)}%) |`,
      );
    }

    const benchCpuSeconds = (benchCpu.user + benchCpu.system) / 1e6;
    console.log(`| this process: load generator and ${SUBSCRIBERS} subscribers (${process.pid}) | | | | | | | | | ${benchCpuSeconds.toFixed(1)} (${((benchCpuSeconds / loadSeconds) * 100).toFixed(0)}%) |`);

    // ---- targets ----
    const mutationP99 = pct(mutationMs, 99);
    const lagP99 = pct(lags, 99);
    const verdict = (ok: boolean) => (ok ? 'OK' : 'MISSED');
    console.log('\n| target (issue 18, point 4) | measured | |');
    console.log('|---|---|---|');
    console.log(`| 0 errors | ${errors.total()}${unfiled ? ` (+ ${unfiled} approved claims never filed)` : ''} | ${verdict(errors.total() === 0 && unfiled === 0)} |`);
    console.log(`| no failure answered was applied (issue 18, point 5) | ${filedAfterFailedApproval} of ${approvalFailedClaims.size} failed approvals filed | ${verdict(filedAfterFailedApproval === 0)} |`);
    console.log(`| mutation p99 ≤ 1 s | ${ms(mutationP99)} | ${verdict(mutationP99 <= TARGETS.mutationP99Ms)} |`);
    console.log(`| filing lag p99 ≤ 2 s | ${ms(lagP99)}${unfiled ? ` (${unfiled} never filed)` : ''} | ${verdict(lagP99 <= TARGETS.filingLagP99Ms && unfiled === 0)} |`);
    console.log(
      `| RSS flat after the load (each process ${SETTLE_MS / 1000} s after ≤ +${TARGETS.rssGrowth * 100}% vs max(at end, load peak)) | ${Object.keys(pids).map((n) => `${n} ${signedPct(rssAfter[n] / Math.max(rssEnd[n], rssPeak[n]))}`).join(', ')} | ${verdict(rssFlat)} |`,
    );
    if (APPROVALS_ONLY) {
      const achieved = flowsAcknowledged / loadSeconds;
      console.log(`| sync: ${FLOWS_PER_SECOND} approvals/s sustained (acknowledged per second of load) | ${achieved.toFixed(1)}/s | ${verdict(achieved >= FLOWS_PER_SECOND * 0.99 && FLOWS_PER_SECOND >= 50)} |`);
      console.log(`| sync: lag p99 ≤ 1 s | ${ms(lagP99)} | ${verdict(lagP99 <= SYNC_TARGETS.lagP99Ms && unfiled === 0)} |`);
      console.log(`| sync: every claim filed once | ${approvedAt.size - unfiled} of ${approvedAt.size} filed, ${filedTwice} more than once | ${verdict(unfiled === 0 && filedTwice === 0)} |`);
    }
    if (SECONDS < 300) console.log(`(BENCH_SOAK_SECONDS=${SECONDS}: the target is for 300 s.)`);
    if (APPROVALS_ONLY) console.log(`(BENCH_SOAK_APPROVALS=1: the soak's targets are for full flows; the sync targets are for 50 approvals/s.)`);
    else if (FLOWS_PER_SECOND !== 5 || LISTS_PER_SECOND !== 30) console.log(`(${FLOWS_PER_SECOND} flows/s and ${LISTS_PER_SECOND} lists/s: the targets are for 5 and 30.)`);
  } finally {
    await Promise.all(subscribers.map((s) => s.client.dispose()));
    if (system) {
      const stopped = await stopSystem(system);
      console.log(`\nSystem stopped with SIGINT: ${stopped}`);
      // Why it did not stop cleanly: the last lines it logged at warn or above.
      if (stopped !== 'exit code 0') for (const line of system.warnings.slice(-8)) console.log(`  ${JSON.stringify(line).slice(0, 400)}`);
    }
    await rm(dir, { recursive: true, force: true });
  }
}

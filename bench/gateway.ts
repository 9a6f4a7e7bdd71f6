// Gateway benchmark (`npm run bench -- gateway`), one run, same machine and data, every party in its own process:
//
//   subgraphs         as `npm start` runs them, each in its own process: the embedded engine (in memory), the oa
//                     and the archive subgraph (bench/gateway-child.ts database, oa, archive); seeded by this
//                     process with BENCH_GATEWAY_CLAIMS (default 1,000) approved claims with vouchers and archive
//                     records (bench/gateway-seed.ts); their CPU is reported summed
//   this gateway      gateway/server.ts, authentication + graphql-shield, production   (… ours; with a second server
//                     without the intake's limits, to price them)
//   @apollo/gateway   on the same supergraph                                           (… apollo)
//   Hive Gateway      @graphql-hive/gateway-runtime on the same supergraph             (… hive)
//   Hive + router     the same with Hive Router's query planner (@graphql-hive/router-runtime), which this gateway
//                     runs for queries across subgraphs the caller may read whole  (… hive-router)
//   load generator    this process
//
// Each gateway authenticates the client's JWT and signs the caller's internal identity for every subgraph request,
// over the exact body sent (platform/identity.ts). Requests carry distinct variables (a page after another cursor
// each time); one row sends identical requests and says so. Per row: requests/s, p50, p99, the CPU time each
// process spent per request (process.cpuUsage() of the child, asked over IPC before and after), the subgraph HTTP
// requests per operation, the ratios to this gateway, and the load average before the row.
// Children run with this process's Node and exec arguments (tsx's loader; `--cpu-prof` if given: one profile each).
import { type ChildProcess, spawn } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import { AUDITOR, type ChildMessage, type Headers, JWT_SECRET, type ParentMessage, type StatsMessage, call, signed } from './gateway-common.ts';
import { seedGatewayBench } from './gateway-seed.ts';

/** BENCH_GATEWAY_CLAIMS: fewer claims for a quick look (the figures in the README are with 1,000). */
const CLAIMS = Number(process.env.BENCH_GATEWAY_CLAIMS ?? 1000);
const CONCURRENCY = 16;
const SECONDS = Number(process.env.BENCH_GATEWAY_SECONDS ?? 5);
/** BENCH_GATEWAY_ROWS: a comma-separated subset of page, list, latency, identical (default all), e.g. to profile one. */
const ROWS = new Set((process.env.BENCH_GATEWAY_ROWS ?? 'page,list,latency,identical').split(',').map((r) => r.trim()));
/** Before each row, the same load for this long (JIT, caches and connection pools warm), not measured. */
const WARMUP_SECONDS = 1.5;
const PAIRS = 1500;

const CHILD = fileURLToPath(new URL('./gateway-child.ts', import.meta.url));

const SINGLE = '{ departments { id code name } }';
/** One subgraph: a page of 20 claims, oa only. */
const PAGE = 'query Page($after: String) { expenseClaims(first: 20, after: $after) { edges { cursor node { id claimNo title category total status createdAt approvedAt } } } }';
/** Across subgraphs: applicant and department (oa), voucher and archive record (archive). */
const LIST = 'query List($first: Int!, $after: String) { expenseClaims(first: $first, after: $after) { edges { node { claimNo total applicant { name } department { name } voucher { voucherNo debitTotal } archiveRecord { archiveNo } } } } }';

interface Child {
  role: string;
  urls: Record<string, string>;
  stats(): Promise<StatsMessage>;
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** Starts bench/gateway-child.ts `role` with this process's Node and exec arguments; resolves once it listens. */
function startChild(role: string, env: Record<string, string> = {}): Promise<Child & { pid: number }> {
  const proc = spawn(process.execPath, [...process.execArgv, CHILD, role], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, ...env } });
  children.add(proc);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  let nextId = 0;
  const waiting = new Map<number, (m: StatsMessage) => void>();
  return new Promise((resolve, reject) => {
    proc.once('exit', (code, signal) => reject(new Error(`${role} process exited (${code ?? signal}) before it was ready`)));
    proc.on('message', (raw) => {
      const m = raw as ChildMessage;
      if (m.t === 'error') reject(new Error(`${role} process: ${m.message}`));
      else if (m.t === 'stats') waiting.get(m.id)?.(m);
      else if (m.t === 'ready') {
        resolve({
          role,
          pid: proc.pid!,
          urls: m.urls,
          stats: () =>
            new Promise((res) => {
              const id = nextId++;
              waiting.set(id, (s) => {
                waiting.delete(id);
                res(s);
              });
              proc.send({ t: 'stats', id } satisfies ParentMessage);
            }),
          stop: async () => {
            if (proc.connected) proc.send({ t: 'stop' } satisfies ParentMessage);
            const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
            await exited;
            clearTimeout(timer);
          },
        });
      }
    });
  });
}

/** Several processes measured as one: their CPU summed, their request counts merged. */
function together(role: string, parts: Child[]): Child {
  return {
    role,
    urls: Object.assign({}, ...parts.map((p) => p.urls)) as Record<string, string>,
    stats: async () => {
      const all = await Promise.all(parts.map((p) => p.stats()));
      return {
        t: 'stats',
        id: 0,
        user: all.reduce((n, s) => n + s.user, 0),
        system: all.reduce((n, s) => n + s.system, 0),
        maxRss: Math.max(...all.map((s) => s.maxRss)),
        requests: Object.assign({}, ...all.map((s) => s.requests ?? {})) as Record<string, number>,
      };
    },
    stop: async () => {
      await Promise.all(parts.map((p) => p.stop()));
    },
  };
}

interface Target {
  name: string;
  url: string;
  headers: Headers;
  /** The gateway's process; none for the subgraph called directly. */
  child?: Child;
}

interface Row {
  row: string;
  target: string;
  load: number[];
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /** CPU ms per request: the gateway's process, the subgraphs' process, the load generator (this process). */
  gatewayCpu: number | null;
  subgraphsCpu: number;
  loadCpu: number;
  subgraphCalls: number;
}

const cpuMs = (s: StatsMessage) => (s.user + s.system) / 1000;
const totalRequests = (s: StatsMessage) => Object.values(s.requests ?? {}).reduce((a, b) => a + b, 0);
const pct = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))];

export async function benchGateway(): Promise<void> {
  const started = Date.now();
  const running: Array<Child & { pid: number }> = [];
  try {
    // As `npm start` runs them: the database, the oa and the archive subgraph each in a process of its own.
    const database = await startChild('database');
    const [oa, archive] = await Promise.all(['oa', 'archive'].map((role) => startChild(role, { BENCH_ENGINE_URI: database.urls.uri })));
    running.push(database, oa, archive);
    const subgraphs = together('subgraphs', [database, oa, archive]);
    await seedGatewayBench(oa.urls.oa, archive.urls.archive, CLAIMS);
    const seeded = Date.now();
    const env = { BENCH_OA_URL: oa.urls.oa, BENCH_ARCHIVE_URL: archive.urls.archive };
    const [ours, apollo, hive] = await Promise.all([
      startChild('ours', env),
      startChild('apollo', env),
      startChild('hive', env).catch((err: Error) => err),
    ]);
    // The Hive Gateway runtime again with Hive Router's query planner (@graphql-hive/router-runtime), which this
    // gateway runs for the queries across subgraphs that the caller may read whole (gateway/planned.ts).
    const router = await startChild('hive-router', env);
    running.push(ours, apollo, router);
    if (!(hive instanceof Error)) running.push(hive);

    const token = await new SignJWT({ roles: AUDITOR.roles }).setProtectedHeader({ alg: 'HS256' }).setSubject(AUDITOR.sub).setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(JWT_SECRET));
    const bearer = { authorization: `Bearer ${token}` };
    const targets: Target[] = [
      { name: 'this gateway (auth + shield)', url: ours.urls.gateway, headers: bearer, child: ours },
      { name: '@apollo/gateway', url: apollo.urls.gateway, headers: bearer, child: apollo },
      ...(hive instanceof Error ? [] : [{ name: 'Hive Gateway runtime', url: hive.urls.gateway, headers: bearer, child: hive }]),
      { name: 'Hive Gateway, router runtime', url: router.urls.gateway, headers: bearer, child: router },
    ];
    const direct: Target = { name: 'oa subgraph directly', url: oa.urls.oa, headers: signed(AUDITOR) };

    // ---- the cursors every claim has, so that each request can ask for another page ----
    const cursors: string[] = [];
    for (let after: string | null = null; ; ) {
      const data = await call(direct.url, { query: 'query($after: String) { expenseClaims(first: 100, after: $after) { edges { cursor } pageInfo { hasNextPage endCursor } } }', variables: { after } }, direct.headers);
      const page = data.expenseClaims as { edges: Array<{ cursor: string }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
      cursors.push(...page.edges.map((e) => e.cursor));
      if (!page.pageInfo.hasNextPage || !page.pageInfo.endCursor) break;
      after = page.pageInfo.endCursor;
    }
    /** Pages of `size` full ones where there are enough claims: after nothing, or after any claim but the last `size`. */
    const afters = (size: number): Array<string | null> => [null, ...cursors.slice(0, Math.max(0, cursors.length - size))];
    const cycle = <T>(xs: T[]) => {
      let i = 0;
      return () => xs[i++ % xs.length];
    };

    const rows: Row[] = [];
    const fmt = (x: number | null, digits = 1) => (x === null || !Number.isFinite(x) ? '–' : x.toFixed(digits));
    console.log(`\n## Gateway (every party in its own process; ${CLAIMS} approved claims, seeded in ${((seeded - started) / 1000).toFixed(0)} s; ${SECONDS} s per row after ${WARMUP_SECONDS} s of the same load unmeasured; ${CONCURRENCY} concurrent clients unless said)`);
    console.log(`Distinct variables: each 20-claim page starts after another of ${afters(20).length} cursors, each 100-claim list after another of ${afters(100).length}, in turn; the IDENTICAL row repeats one request.`);
    console.log(`Processes: ${running.map((c) => `${c.role} pid ${c.pid}`).join(', ')}, load generator pid ${process.pid}; CPU ms/op = the process's process.cpuUsage() (user + system) over the row / requests.`);
    if (hive instanceof Error) console.log(`Hive Gateway runtime LEFT OUT: it did not start (${hive.message.split('\n')[0]})`);
    console.log('| row | target | load avg before (1/5/15 min) | requests/s | p50 | p99 | errors | gateway CPU ms/op | subgraphs CPU ms/op | load generator CPU ms/op | subgraph requests/op | requests/s vs this gateway | gateway CPU vs this gateway |');
    console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');

    /** `clients` loops sending requests for `seconds`: the latencies of the answered ones, and the failures. */
    const run = async (target: Target, clients: number, seconds: number, body: () => { query: string; variables?: Record<string, unknown> }) => {
      const latencies: number[] = [];
      let errors = 0;
      const until = Date.now() + seconds * 1000;
      await Promise.all(
        Array.from({ length: clients }, async () => {
          while (Date.now() < until) {
            const t = process.hrtime.bigint();
            try {
              await call(target.url, body(), target.headers);
              latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
            } catch {
              errors++;
            }
          }
        }),
      );
      return { latencies, errors };
    };

    const measure = async (row: string, target: Target, clients: number, body: () => { query: string; variables?: Record<string, unknown> }): Promise<void> => {
      const load = os.loadavg();
      await call(target.url, body(), target.headers); // fails loudly if the target cannot answer at all
      await run(target, clients, WARMUP_SECONDS, body);
      const before = await Promise.all([target.child?.stats(), subgraphs.stats()]);
      const loadBefore = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      const { latencies, errors } = await run(target, clients, SECONDS, body);
      const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
      const loadCpu = process.cpuUsage(loadBefore);
      const after = await Promise.all([target.child?.stats(), subgraphs.stats()]);
      const n = Math.max(1, latencies.length + errors);
      const r: Row = {
        row,
        target: target.name,
        load,
        rps: latencies.length / elapsed,
        p50: pct(latencies, 0.5),
        p99: pct(latencies, 0.99),
        errors,
        gatewayCpu: before[0] && after[0] ? (cpuMs(after[0]) - cpuMs(before[0])) / n : null,
        subgraphsCpu: (cpuMs(after[1]) - cpuMs(before[1])) / n,
        loadCpu: (loadCpu.user + loadCpu.system) / 1000 / n,
        subgraphCalls: (totalRequests(after[1]) - totalRequests(before[1])) / n,
      };
      rows.push(r);
      const base = rows.find((x) => x.row === row && x.target === targets[0].name);
      const vs = base && base !== r ? `${(r.rps / base.rps).toFixed(2)}x` : '–';
      const cpuVs = base && base !== r && r.gatewayCpu !== null && base.gatewayCpu ? `${(r.gatewayCpu / base.gatewayCpu).toFixed(2)}x` : '–';
      console.log(
        `| ${row} | ${r.target} | ${load.map((x) => x.toFixed(2)).join(' / ')} | ${r.rps.toFixed(1)} | ${fmt(r.p50)} ms | ${fmt(r.p99)} ms | ${errors} | ${fmt(r.gatewayCpu, 2)} | ${fmt(r.subgraphsCpu, 2)} | ${fmt(r.loadCpu, 2)} | ${fmt(r.subgraphCalls, 2)} | ${vs} | ${cpuVs} |`,
      );
    };

    // One round of the list through every target before any row: the first target measured would otherwise meet
    // colder subgraphs and database than the others.
    for (const t of [...targets, direct]) {
      const next = cycle(afters(100));
      await run(t, CONCURRENCY, WARMUP_SECONDS, () => ({ query: t === direct ? PAGE : LIST, variables: t === direct ? { after: next() } : { first: 100, after: next() } }));
    }

    const ROW_PAGE = '20 claims, one subgraph, 16 clients';
    const ROW_LIST = '100 claims with applicant, department, voucher, archive record, 16 clients';
    const ROW_ONE = '20 claims, one client (latency)';
    const ROW_SAME = '20 claims, one subgraph, 16 clients, IDENTICAL requests (no variables differ)';
    if (ROWS.has('page')) for (const t of [...targets, direct]) {
      const next = cycle(afters(20));
      await measure(ROW_PAGE, t, CONCURRENCY, () => ({ query: PAGE, variables: { after: next() } }));
    }
    if (ROWS.has('list')) for (const t of targets) {
      const next = cycle(afters(100));
      await measure(ROW_LIST, t, CONCURRENCY, () => ({ query: LIST, variables: { first: 100, after: next() } }));
    }
    if (ROWS.has('latency')) for (const t of [...targets, direct]) {
      const next = cycle(afters(20));
      await measure(ROW_ONE, t, 1, () => ({ query: PAGE, variables: { after: next() } }));
    }
    if (ROWS.has('identical')) for (const t of [...targets, direct]) await measure(ROW_SAME, t, CONCURRENCY, () => ({ query: PAGE, variables: { after: null } }));

    // ---- the same figures as the issue's table: one line per query, one column per target ----
    const cell = (row: string, target: string, latency: boolean) => {
      const r = rows.find((x) => x.row === row && x.target === target);
      if (!r) return '–';
      if (latency) return `p50 ${fmt(r.p50)} ms`;
      return `${r.rps.toFixed(1)} req/s${r.gatewayCpu !== null ? `, gateway CPU ${fmt(r.gatewayCpu, 2)} ms/op` : ''}`;
    };
    const names = [...targets.map((t) => t.name), direct.name];
    console.log(`\n| query | ${names.join(' | ')} |`);
    console.log(`|---|${names.map(() => '---|').join('')}`);
    for (const row of [ROW_PAGE, ROW_LIST, ROW_ONE, ROW_SAME]) console.log(`| ${row} | ${names.map((n) => cell(row, n, row === ROW_ONE)).join(' | ')} |`);

    // ---- the intake priced: the same single-subgraph query through this gateway with it and without it, one
    // client, the two interleaved request by request (A, B, B, A, …) so that the machine's drift falls on both alike ----
    const timed = async (url: string) => {
      const t = process.hrtime.bigint();
      await call(url, { query: SINGLE }, bearer);
      return Number(process.hrtime.bigint() - t) / 1e6;
    };
    for (let i = 0; i < 100; i++) await Promise.all([timed(ours.urls.gateway), timed(ours.urls.bare)]);
    const withIntake: number[] = [];
    const withoutIntake: number[] = [];
    for (let i = 0; i < PAIRS; i++) {
      if (i % 2 === 0) {
        withIntake.push(await timed(ours.urls.gateway));
        withoutIntake.push(await timed(ours.urls.bare));
      } else {
        withoutIntake.push(await timed(ours.urls.bare));
        withIntake.push(await timed(ours.urls.gateway));
      }
    }
    const intakeRatio = pct(withIntake, 0.5) / pct(withoutIntake, 0.5);
    console.log(`\nintake (body, token and operation limits) on / off, single subgraph field set, one client, ${PAIRS} interleaved pairs: p50 ${pct(withIntake, 0.5).toFixed(2)} / ${pct(withoutIntake, 0.5).toFixed(2)} ms = ${intakeRatio.toFixed(3)}x, p90 ${pct(withIntake, 0.9).toFixed(2)} / ${pct(withoutIntake, 0.9).toFixed(2)} ms ${intakeRatio <= 1.05 ? '(no measurable cost: within 5%)' : '(COSTS MORE THAN 5%)'}`);

    // ---- subgraph requests of one claim list through this gateway as it grows (batched: constant) ----
    const subgraphCalls = async (first: number) => {
      const before = totalRequests(await subgraphs.stats());
      await call(ours.urls.gateway, { query: LIST, variables: { first, after: null } }, bearer);
      return totalRequests(await subgraphs.stats()) - before;
    };
    await subgraphCalls(10); // warm the directory cache
    const counts: Array<[number, number]> = [];
    for (const n of [10, 100, CLAIMS]) counts.push([n, await subgraphCalls(n)]);
    console.log(`subgraph requests per list operation (first: ${counts.map((c) => c[0]).join(', ')}): ${counts.map((c) => c[1]).join(', ')} ${new Set(counts.map((c) => c[1])).size === 1 ? '(constant)' : '(NOT constant)'}`);

    const peaks = await Promise.all(running.map(async (c) => `${c.role} ${((await c.stats()).maxRss / 1024).toFixed(0)} MiB`));
    console.log(`peak RSS per process: ${peaks.join(', ')} (ours holds two gateways: with and without the intake); gateway section took ${((Date.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    await Promise.all(running.map((c) => c.stop().catch(() => {})));
  }
}

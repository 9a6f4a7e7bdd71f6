// Reports benchmark (`npm run bench -- reports`): 100,000 approved claims, inserted directly in batches (12 months,
// 20 departments, 5 categories, integer fen), then expenseSummary for each groupBy and claimCycleTimes through the
// oa subgraph over HTTP with a signed ACCOUNTANT identity: median time of a few runs, row counts, and how much this
// process's heap and RSS grew during a query. The database runs in a child process (`npm run db`), so this process
// holds only the oa subgraph: what it would hold if it loaded the claims is measured alongside for comparison.
// One total is cross-checked against a sum computed here while the claims were generated.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import mongoose from 'mongoose';
import { connectionString, parseReadyLine, readCredentialsFile } from '../engine/index.ts';
import { dayStartIn } from '../platform/business-time.ts';
import { formatMoney, parseMoney } from '../platform/money.ts';
import { type Principal, INTERNAL_IDENTITY_HEADER, signPrincipal } from '../platform/identity.ts';
import { createLogger } from '../platform/logger.ts';
import { createOaSubgraph } from '../subgraphs/oa/index.ts';
import { CATEGORIES } from '../subgraphs/oa/models.ts';

const CLAIMS = Number(process.env.BENCH_REPORTS_CLAIMS ?? 100_000);
const DEPARTMENTS = 20;
const APPLICANTS = 2_000;
const BATCH = 5_000;
const RUNS = Number(process.env.BENCH_REPORTS_RUNS ?? 5);
const TZ = 'Asia/Shanghai';
const FROM = '2025-12-01';
const TO = '2026-11-30';
const SECRET = 'bench-internal-secret-0123456789abcdef0123';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The engine CLI in a child process; resolves with its URI (credentials from the file its ready line names) once it is ready. */
export function startDatabase(): Promise<{ proc: ChildProcess; uri: string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'engine/cli.ts', '--port', '0', '--memory'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let ready = false;
  return new Promise((resolve, reject) => {
    proc.stdout!.on('data', (chunk: Buffer) => {
      // Once ready, later output (its shutdown) is not read again: the credentials file is gone by then.
      if (ready) return;
      out += chunk.toString('utf8');
      const line = parseReadyLine(out);
      if (!line) return;
      ready = true;
      resolve({ proc, uri: connectionString(readCredentialsFile(line.credentialsPath), line.host, line.port) });
    });
    proc.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    proc.on('exit', (code) => reject(new Error(`database exited (${code}) before it was ready:\n${out}`)));
  });
}

/** Resident memory of another process (Linux), or NaN. */
export function rssOf(pid: number | undefined): number {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return kb ? Number(kb[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Runs `fn`, sampling this process's heap and RSS meanwhile: the growth over the state after a full GC. */
async function measured<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number; heap: number; rss: number }> {
  gc();
  const base = process.memoryUsage();
  let heap = 0;
  let rss = 0;
  const sample = () => {
    const m = process.memoryUsage();
    heap = Math.max(heap, m.heapUsed - base.heapUsed);
    rss = Math.max(rss, m.rss - base.rss);
  };
  const timer = setInterval(sample, 2);
  const started = performance.now();
  const value = await fn();
  const ms = performance.now() - started;
  clearInterval(timer);
  sample();
  return { value, ms, heap, rss };
}

export async function benchReports(): Promise<void> {
  const db = await startDatabase();
  const connection = await mongoose.createConnection(db.uri, { dbName: 'bench_reports' }).asPromise();
  const logger = createLogger({ level: 'silent' });
  const oa = await createOaSubgraph({ connection, logger, internalSecret: SECRET, production: true, settings: { approvalThresholdFen: 500_000, timeZone: TZ } });
  const server = await oa.subgraph.listen(0, '127.0.0.1');
  try {
    // ---- data ----
    const { models } = oa.services;
    const departments = await models.Department.insertMany(Array.from({ length: DEPARTMENTS }, (_, i) => ({ code: `D${String(i + 1).padStart(2, '0')}`, name: `Department ${i + 1}`, managerId: null, parentId: null })));
    const deptIds = departments.map((d) => d._id.toHexString());
    const start = dayStartIn(TZ, FROM).getTime();
    const span = Math.min(Date.now(), dayStartIn(TZ, '2026-12-01').getTime()) - start;
    // Independent figures: totals per category and in all, from the generated amounts.
    const byCategory = new Map<string, { count: number; fen: number }>(CATEGORIES.map((c) => [c, { count: 0, fen: 0 }]));
    let allFen = 0;
    // mulberry32: the same claims on every run.
    let seed = 42;
    const random = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
    };
    const inserting = performance.now();
    for (let b = 0; b < CLAIMS; b += BATCH) {
      const docs = [];
      for (let i = b; i < Math.min(CLAIMS, b + BATCH); i++) {
        const approvedAt = new Date(start + Math.floor(random() * span));
        const submittedAt = new Date(approvedAt.getTime() - Math.floor(random() * 10 * 86_400_000));
        // 0.01 to 20,000.00 yuan, most below 1,000.
        const amountFen = 1 + Math.floor(random() ** 3 * 2_000_000);
        const category = CATEGORIES[i % CATEGORIES.length];
        const c = byCategory.get(category)!;
        c.count++;
        c.fen += amountFen;
        allFen += amountFen;
        const applicant = Math.floor(random() * APPLICANTS);
        docs.push({
          claimNo: `BX-2026-${String(i + 1).padStart(6, '0')}`,
          applicantId: `applicant-${applicant}`,
          departmentId: deptIds[applicant % DEPARTMENTS],
          title: `Claim ${i + 1}`,
          category,
          items: [{ description: 'expense', amountFen, occurredOn: submittedAt.toISOString().slice(0, 10), invoiceNo: null }],
          totalFen: amountFen,
          status: 'APPROVED',
          approvalId: null,
          createdAt: submittedAt,
          submittedAt,
          approvedAt,
          decidedAt: approvedAt,
          external: null,
        });
      }
      await models.ExpenseClaim.collection.insertMany(docs, { ordered: false });
    }
    const insertSeconds = (performance.now() - inserting) / 1000;

    // ---- queries over HTTP, as the gateway calls the subgraph ----
    const accountant: Principal = { sub: 'bench-accountant', roles: ['EMPLOYEE', 'ACCOUNTANT'], departmentId: null, kind: 'user' };
    const call = async (query: string): Promise<Record<string, unknown>> => {
      const body = JSON.stringify({ query });
      const res = await fetch(server.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [INTERNAL_IDENTITY_HEADER]: await signPrincipal(accountant, SECRET, { audience: 'oa', method: 'POST', body }) },
        body,
      });
      const json = (await res.json()) as { data?: Record<string, unknown>; errors?: unknown[] };
      if (json.errors?.length || !json.data) throw new Error(`${query}: ${JSON.stringify(json.errors ?? json).slice(0, 300)}`);
      return json.data;
    };
    const queries: Array<[string, string]> = [
      ['expenseSummary(DEPARTMENT)', `{ r: expenseSummary(groupBy: DEPARTMENT, from: "${FROM}", to: "${TO}") { key label count total } }`],
      ['expenseSummary(CATEGORY)', `{ r: expenseSummary(groupBy: CATEGORY, from: "${FROM}", to: "${TO}") { key count total } }`],
      ['expenseSummary(MONTH)', `{ r: expenseSummary(groupBy: MONTH, from: "${FROM}", to: "${TO}") { key count total } }`],
      ['claimCycleTimes (all)', `{ r: claimCycleTimes(from: "${FROM}", to: "${TO}") { key count submissionToApprovalAvgMs submissionToApprovalP50Ms submissionToApprovalP95Ms submissionToApprovalMaxMs } }`],
      ['claimCycleTimes(DEPARTMENT)', `{ r: claimCycleTimes(groupBy: DEPARTMENT, from: "${FROM}", to: "${TO}") { key count submissionToApprovalP50Ms submissionToApprovalP95Ms } }`],
    ];
    const results: Array<{ name: string; rows: unknown[]; times: number[]; heap: number; rss: number; dbRss: number }> = [];
    for (const [name, query] of queries) {
      await call(query); // warm: plans, JIT
      const times: number[] = [];
      let heap = 0;
      let rss = 0;
      let dbRss = 0;
      let rows: unknown[] = [];
      for (let i = 0; i < RUNS; i++) {
        const dbBefore = rssOf(db.proc.pid);
        const m = await measured(() => call(query));
        dbRss = Math.max(dbRss, rssOf(db.proc.pid) - dbBefore);
        times.push(m.ms);
        heap = Math.max(heap, m.heap);
        rss = Math.max(rss, m.rss);
        rows = m.value.r as unknown[];
      }
      results.push({ name, rows, times, heap, rss, dbRss });
    }
    // For comparison: what the process holds when it reads the claims instead (lean documents, no mongoose models).
    const loading = await measured(() => models.ExpenseClaim.find({ status: 'APPROVED' }).lean().then((docs) => docs.length));

    // ---- cross-checks ----
    const category = results[1].rows as Array<{ key: string; count: number; total: string }>;
    const travel = category.find((r) => r.key === 'TRAVEL');
    const expected = byCategory.get('TRAVEL')!;
    const travelOk = travel?.count === expected.count && travel?.total === formatMoney(expected.fen);
    const months = results[2].rows as Array<{ count: number; total: string }>;
    const monthCount = months.reduce((s, r) => s + r.count, 0);
    const monthFen = months.reduce((s, r) => s + parseMoney(r.total), 0);
    const allOk = monthCount === CLAIMS && monthFen === allFen;

    console.log(`\n## Reports (${CLAIMS.toLocaleString('en')} approved claims, ${DEPARTMENTS} departments, ${CATEGORIES.length} categories, ${FROM}..${TO}; database in a child process)`);
    console.log(`inserted in ${insertSeconds.toFixed(1)} s (insertMany, batches of ${BATCH.toLocaleString('en')})`);
    console.log(`| query (oa subgraph over HTTP, ACCOUNTANT) | rows | median of ${RUNS} | min | max | heap growth (this process) | RSS growth (this process) | RSS growth (database process) |`);
    console.log('|---|---|---|---|---|---|---|---|');
    for (const r of results) {
      console.log(`| ${r.name} | ${r.rows.length} | ${median(r.times).toFixed(0)} ms | ${Math.min(...r.times).toFixed(0)} ms | ${Math.max(...r.times).toFixed(0)} ms | ${mb(r.heap)} | ${mb(r.rss)} | ${mb(r.dbRss)} |`);
    }
    console.log(`for comparison, reading the ${loading.value.toLocaleString('en')} claims into this process (find().lean()): ${loading.ms.toFixed(0)} ms, heap +${mb(loading.heap)}, RSS +${mb(loading.rss)}`);
    console.log(`cross-check TRAVEL: ${travel?.count} claims, ${travel?.total} (computed while generating: ${expected.count}, ${formatMoney(expected.fen)}) ${travelOk ? 'OK' : 'MISMATCH'}`);
    console.log(`cross-check all months: ${monthCount} claims, ${formatMoney(monthFen)} (generated: ${CLAIMS}, ${formatMoney(allFen)}) ${allOk ? 'OK' : 'MISMATCH'}`);
    const cycle = (results[3].rows as Array<Record<string, number>>)[0];
    if (cycle) console.log(`cycle times (all): avg ${(cycle.submissionToApprovalAvgMs / 3_600_000).toFixed(1)} h, p50 ${(cycle.submissionToApprovalP50Ms / 3_600_000).toFixed(1)} h, p95 ${(cycle.submissionToApprovalP95Ms / 3_600_000).toFixed(1)} h, max ${(cycle.submissionToApprovalMaxMs / 3_600_000).toFixed(1)} h`);
  } finally {
    await server.close();
    await connection.close();
    db.proc.kill('SIGTERM');
  }
}

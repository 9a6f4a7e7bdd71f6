// Period close benchmark (`npm run bench -- close`, issue 19 "Figures"): a month of BENCH_CLOSE_VOUCHERS vouchers
// (default 50,000; 5 expense accounts, 20 departments, integer fen) after two earlier months of a tenth of that each
// (the openings and the year to date), inserted directly; then the books and reports of the month generated from them
// (subgraphs/archive/close/generate.ts: one streamed read, PDF/A files written to disk): the time it takes, this
// process's heap and RSS growth over its state after a full collection (the vouchers are streamed and summed, not
// loaded: what loading them would hold is printed beside it), the database's RSS growth, and the documents' sizes;
// then the same month closed through the archive (closePeriod, two approvals, the documents filed) and verified.
// The database runs in a child process (`npm run db`), so this process holds only the close.
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ObjectId } from 'mongodb';
import mongoose from 'mongoose';
import { archiveModels } from '../subgraphs/archive/models.ts';
import { trialBalance } from '../subgraphs/archive/close/books.ts';
import { generatePeriodDocuments } from '../subgraphs/archive/close/generate.ts';
import { accountingPeriods, closePeriod, decidePeriodClose, generateClose } from '../subgraphs/archive/close/periods.ts';
import type { Principal } from '../platform/identity.ts';
import { createLogger } from '../platform/logger.ts';
import { type ArchiveContext, DEFAULT_CHART } from '../subgraphs/archive/context.ts';
import { createArchiveSubgraph } from '../subgraphs/archive/index.ts';
import { verifyArchive } from '../subgraphs/archive/integrity.ts';
import { createArchiveLoaders } from '../subgraphs/archive/loaders.ts';
import { prng } from './fixtures.ts';
import { rssOf, startDatabase } from './reports.ts';

const VOUCHERS = Number(process.env.BENCH_CLOSE_VOUCHERS ?? 50_000);
const YEAR = 2026;
const PERIOD = 3;
const DEPARTMENTS = 20;
const BATCH = 5_000;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/**
 * The same month closed as the archive does it (close/periods.ts): closePeriod by an ACCOUNTANT, then what the worker
 * loop's pass does for a month that large (the books generated into the archive's bucket, the voucher count checked in
 * the transaction that starts the approval), the two
 * approvals, the last one filing every document in one records transaction; then the archive verified end to end. The
 * sync module's readiness is answered "nothing blocks" (there are no claims or jobs in this database; the readiness
 * queries are the sync tests' subject).
 */
async function closeThroughTheArchive(connection: mongoose.Connection): Promise<void> {
  const person = (sub: string, role: 'ACCOUNTANT' | 'MANAGER' | 'FINANCE_DIRECTOR'): Principal => ({ sub, roles: ['EMPLOYEE', role], departmentId: 'dept-finance', kind: 'user' });
  const { services } = await createArchiveSubgraph({
    connection,
    logger: createLogger({ level: 'silent' }),
    internalSecret: 'bench-internal-secret-0123456789abcdef',
    production: false,
    settings: { fonds: 'Q001', timeZone: 'Asia/Shanghai', ...DEFAULT_CHART, financeDepartmentId: 'dept-finance', unitHeadId: null, itDepartmentId: null, companyName: '基准测试有限公司' },
    directory: { managerOf: async (d) => (d === 'dept-finance' ? 'finance-head' : null), parentOf: async () => null, departmentOf: async () => null, employeesWithRole: async (r) => (r === 'FINANCE_DIRECTOR' ? ['director-1'] : []) },
    // The month has ended.
    clock: () => new Date(Date.UTC(YEAR, PERIOD, 5, 2)),
    closeReadiness: { closeBlockers: async () => [] },
  });
  const ctxOf = (p: Principal): ArchiveContext => ({ ...services, principal: p, loaders: createArchiveLoaders(services, p) });
  const timed = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
    const started = performance.now();
    const value = await fn();
    return [value, (performance.now() - started) / 1000];
  };
  const [asked, askSeconds] = await timed(() => closePeriod(ctxOf(person('accountant-1', 'ACCOUNTANT')), YEAR, PERIOD));
  // 50,000 vouchers are past the inline limit: the worker loop generates; here the bench does what its pass does.
  const [, requestSeconds] = await timed(() => generateClose(services, `${YEAR}-${String(PERIOD).padStart(2, '0')}`));
  const requested = (await accountingPeriods(ctxOf(person('accountant-1', 'ACCOUNTANT')), YEAR)).find((p) => p.period === PERIOD)!;
  const [, firstSeconds] = await timed(() => decidePeriodClose(ctxOf(person('finance-head', 'MANAGER')), YEAR, PERIOD, 'APPROVE'));
  const [closed, filingSeconds] = await timed(() => decidePeriodClose(ctxOf(person('director-1', 'FINANCE_DIRECTOR')), YEAR, PERIOD, 'APPROVE'));
  const [verified, verifySeconds] = await timed(() => verifyArchive(connection, services.models));
  console.log(`\n### The close through the archive (close/periods.ts)`);
  console.log('| step | time | result |');
  console.log('|---|---|---|');
  console.log(`| closePeriod (readiness, the month GENERATING) | ${askSeconds.toFixed(2)} s | ${asked.status} |`);
  console.log(`| the worker loop's pass: generate into the bucket, count the month's vouchers, start the approval | ${requestSeconds.toFixed(1)} s | ${requested.status}, ${requested.vouchers.toLocaleString('en')} vouchers, ${requested.documents.length} documents |`);
  console.log(`| first approval (head of accounting) | ${firstSeconds.toFixed(1)} s | |`);
  console.log(`| last approval: every document filed with the period's CLOSED state | ${filingSeconds.toFixed(1)} s | ${closed.status}: ${closed.documents.filter((d) => d.archiveNo).length} records, ${closed.documents[0]?.archiveNo} … |`);
  console.log(`| verify the archive (chains, records against their histories, files against their digests) | ${verifySeconds.toFixed(1)} s | ${verified.ok ? 'ok' : `NO: ${verified.problem} at ${verified.firstBrokenArchiveNo}`} |`);
}

export async function benchClose(): Promise<void> {
  console.log(`\n## Period close: the books and reports of a month of ${VOUCHERS.toLocaleString('en')} vouchers (${os.cpus().length} cores; database in a child process)`);
  const db = await startDatabase();
  const connection = await mongoose.createConnection(db.uri, { dbName: 'bench_close' }).asPromise();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-close-'));
  try {
    const { Voucher } = archiveModels(connection);
    await Voucher.init();
    const accounts = Object.entries(DEFAULT_CHART.expenseAccounts);
    const payable = DEFAULT_CHART.creditAccount;
    // The same vouchers every run.
    const random = prng(19);
    let serial = 0;
    let monthFen = 0n;
    const inserting = performance.now();
    for (const [period, count] of [[1, VOUCHERS / 10], [2, VOUCHERS / 10], [PERIOD, VOUCHERS]] as const) {
      for (let b = 0; b < count; b += BATCH) {
        const docs = [];
        for (let i = b; i < Math.min(count, b + BATCH); i++) {
          const n = ++serial;
          const [category, account] = accounts[n % accounts.length];
          const fen = 1 + Math.floor(random() ** 3 * 2_000_000);
          if (period === PERIOD) monthFen += BigInt(fen);
          const month = String(period).padStart(2, '0');
          const summary = `BX-${YEAR}-${String(n).padStart(6, '0')} 差旅报销 第 ${n} 号`;
          docs.push({
            _id: new ObjectId(),
            voucherNo: `记-${YEAR}-${month}-${String(n).padStart(6, '0')}`,
            claimId: `claim-${n}`,
            claimNo: `BX-${YEAR}-${String(n).padStart(6, '0')}`,
            fiscalYear: YEAR,
            period,
            date: `${YEAR}-${month}-${String(1 + Math.floor(random() * 28)).padStart(2, '0')}`,
            entries: [
              { summary, accountCode: account.code, accountName: account.name, debitFen: fen, creditFen: 0 },
              { summary: `BX-${YEAR}-${String(n).padStart(6, '0')} 应付报销款`, accountCode: payable.code, accountName: payable.name, debitFen: 0, creditFen: fen },
            ],
            debitTotalFen: fen,
            creditTotalFen: fen,
            source: { title: summary, category, applicantId: `e${n % 2000}`, applicantName: null, departmentId: `D${String(n % DEPARTMENTS).padStart(2, '0')}`, approvedAt: new Date(), invoiceNumbers: [], totalFen: fen },
            createdAt: new Date(),
          });
        }
        await Voucher.collection.insertMany(docs, { ordered: false });
      }
    }
    const insertSeconds = (performance.now() - inserting) / 1000;

    // ---- the close ----
    gc();
    const base = process.memoryUsage();
    const dbBefore = rssOf(db.proc.pid);
    let heap = 0;
    let rss = 0;
    let dbRss = 0;
    let live = 0;
    // What stays reachable as the close goes on (the peak above counts garbage not yet collected).
    const collect = setInterval(() => {
      gc();
      live = Math.max(live, process.memoryUsage().heapUsed - base.heapUsed);
    }, 1000);
    const timer = setInterval(() => {
      const m = process.memoryUsage();
      heap = Math.max(heap, m.heapUsed - base.heapUsed);
      rss = Math.max(rss, m.rss - base.rss);
      dbRss = Math.max(dbRss, rssOf(db.proc.pid) - dbBefore);
    }, 20);
    const started = performance.now();
    const { books, documents } = await generatePeriodDocuments(Voucher, { fiscalYear: YEAR, period: PERIOD }, { company: '基准测试有限公司', sink: (name) => createWriteStream(path.join(dir, name)), departmentName: (id) => `部门 ${id}` });
    const seconds = (performance.now() - started) / 1000;
    clearInterval(timer);
    clearInterval(collect);

    // What holding the month's vouchers would take, for comparison (not what the close does).
    gc();
    const beforeLoad = process.memoryUsage().heapUsed;
    const loaded = await Voucher.find({ fiscalYear: YEAR, period: PERIOD }).lean();
    const loadHeap = process.memoryUsage().heapUsed - beforeLoad;

    const payableRow = trialBalance(books).find((r) => r.code === payable.code)!;
    console.log(`Inserted ${(serial).toLocaleString('en')} vouchers (${VOUCHERS.toLocaleString('en')} in ${YEAR}-${String(PERIOD).padStart(2, '0')}, ${(VOUCHERS / 5).toLocaleString('en')} before it) in ${insertSeconds.toFixed(1)} s`);
    console.log('| figure | value |');
    console.log('|---|---|');
    console.log(`| generating the books and reports of the month (${books.vouchers.toLocaleString('en')} vouchers, ${books.lines.toLocaleString('en')} entry lines, ${documents.length} documents) | ${seconds.toFixed(1)} s (${Math.round(books.vouchers / seconds).toLocaleString('en')} vouchers/s) |`);
    console.log(`| this process: heap / RSS growth during the close (over its state after a full GC) | ${mib(heap)} / ${mib(rss)} |`);
    console.log(`| … of which live (heap after a forced full GC, each second of the close, at most) | ${mib(live)} |`);
    console.log(`| … holding the month's ${loaded.length.toLocaleString('en')} vouchers instead (lean documents, heap) | ${mib(loadHeap)} |`);
    console.log(`| database process: RSS growth during the close | ${mib(dbRss)} |`);
    console.log(`| payable's credit movement = the month's total generated here | ${payableRow.credit === monthFen ? 'equal' : `DIFFERENT: ${payableRow.credit} vs ${monthFen}`} (${monthFen} fen) |`);
    console.log('\n| document | kind | pages | size |');
    console.log('|---|---|---|---|');
    for (const d of documents) console.log(`| ${d.name} | ${d.kind} | ${d.pages.toLocaleString('en')} | ${mib(d.size)} |`);
    console.log(`| all | | ${documents.reduce((s, d) => s + d.pages, 0).toLocaleString('en')} | ${mib(documents.reduce((s, d) => s + d.size, 0))} |`);
    await closeThroughTheArchive(connection);
  } finally {
    await connection.close();
    db.proc.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  }
}

// Year handover benchmark (`npm run bench -- handover`): a fiscal year of BENCH_HANDOVER_RECORDS archive records
// (default 120,000: more than a register held in one document could list, the database's limit being 16 MiB) filed
// through the archive's own filing (fixity, chain, four-properties check, a batch of 500 per transaction), then the
// handover as an ARCHIVIST and an ACCOUNTANT do it: the register prepared (a line per record, streamed), both
// signatures, the register printed as PDF/A and filed, and custody passed in batches of 500; then the
// archive is verified end to end (both chains, each record against its history). Prints the time of each step, this process's live heap (after a
// forced full GC, sampled each second: the lines are streamed, not held), the database's RSS growth and the sizes.
// The database runs in a child process (`npm run db`).
import os from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { BSON } from 'mongodb';
import mongoose from 'mongoose';
import type { Principal } from '../platform/identity.ts';
import { createLogger } from '../platform/logger.ts';
import { type ArchiveContext, DEFAULT_CHART } from '../subgraphs/archive/context.ts';
import { type RecordDraft, fileManyInTransaction } from '../subgraphs/archive/filing.ts';
import { recordsTransaction } from '../subgraphs/archive/history.ts';
import { createArchiveSubgraph } from '../subgraphs/archive/index.ts';
import { verifyArchive } from '../subgraphs/archive/integrity.ts';
import { createArchiveLoaders } from '../subgraphs/archive/loaders.ts';
import { prepareHandover, signHandover } from '../subgraphs/archive/close/handover.ts';
import { continueHandover } from '../subgraphs/archive/close/handover-transfer.ts';
import { rssOf, startDatabase } from './reports.ts';

const RECORDS = Number(process.env.BENCH_HANDOVER_RECORDS ?? 120_000);
const YEAR = 2025;
const FILING_BATCH = 500;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const person = (sub: string, role: 'ARCHIVIST' | 'ACCOUNTANT'): Principal => ({ sub, roles: ['EMPLOYEE', role], departmentId: 'dept-finance', kind: 'user' });

/** Runs `fn` and reports its time, the live heap growth (forced full GC each second) and the database's RSS growth. */
async function step<T>(dbPid: number | undefined, fn: () => Promise<T>): Promise<{ value: T; seconds: number; live: number; dbRss: number }> {
  gc();
  const base = process.memoryUsage().heapUsed;
  const dbBefore = rssOf(dbPid);
  let live = 0;
  let dbRss = 0;
  const sample = setInterval(() => {
    gc();
    live = Math.max(live, process.memoryUsage().heapUsed - base);
    dbRss = Math.max(dbRss, rssOf(dbPid) - dbBefore);
  }, 1000);
  const started = performance.now();
  try {
    const value = await fn();
    return { value, seconds: (performance.now() - started) / 1000, live, dbRss };
  } finally {
    clearInterval(sample);
  }
}

export async function benchHandover(): Promise<void> {
  console.log(`\n## Year handover: ${RECORDS.toLocaleString('en')} records of ${YEAR} handed to the archive department (${os.cpus().length} cores; database in a child process)`);
  const db = await startDatabase();
  const connection = await mongoose.createConnection(db.uri, { dbName: 'bench_handover' }).asPromise();
  try {
    // The clock says 2026: 2025 has ended and may be handed over.
    const clock = () => new Date(Date.UTC(2026, 2, 1, 2));
    const settings = { fonds: 'Q001', timeZone: 'Asia/Shanghai', ...DEFAULT_CHART, financeDepartmentId: null, unitHeadId: null, itDepartmentId: null, companyName: '基准测试有限公司' };
    const directory = { managerOf: async () => null, parentOf: async () => null, departmentOf: async () => null, employeesWithRole: async () => [] };
    const { services } = await createArchiveSubgraph({ connection, logger: createLogger({ level: 'silent' }), internalSecret: 'bench-internal-secret-0123456789abcdef', production: false, settings, directory, clock });
    const ctxOf = (principal: Principal): ArchiveContext => ({ ...services, principal, loaders: createArchiveLoaders(services, principal) });
    const accountant = ctxOf(person('accountant-1', 'ACCOUNTANT'));
    const archivist = ctxOf(person('archivist-1', 'ARCHIVIST'));

    const filing = await step(db.proc.pid, async () => {
      for (let b = 0; b < RECORDS; b += FILING_BATCH) {
        const drafts: RecordDraft[] = [];
        for (let i = b; i < Math.min(RECORDS, b + FILING_BATCH); i++) {
          drafts.push({ kind: 'BANK_STATEMENT', title: `${YEAR} 年银行对账单 第 ${i + 1} 号`, fiscalYear: YEAR, mediaType: 'application/json', content: JSON.stringify({ statement: i + 1, account: '6222 0000 0000 0000', lines: 12 }) });
        }
        await recordsTransaction(connection, (session) => fileManyInTransaction(archivist, session, drafts));
      }
    });
    console.log(`Filed ${RECORDS.toLocaleString('en')} records in ${filing.seconds.toFixed(1)} s (${Math.round(RECORDS / filing.seconds).toLocaleString('en')} records/s, ${FILING_BATCH} per transaction)`);

    const prepared = await step(db.proc.pid, () => prepareHandover(accountant, YEAR));
    const register = prepared.value;
    await signHandover(accountant, register._id.toHexString(), 'ACCOUNTING');
    // A register this large goes on in the background after the second signature: no worker loop here, the bench
    // runs its two steps as the loop would (the printing and filing of the register, then the batches).
    const signed = await step(db.proc.pid, () => signHandover(archivist, register._id.toHexString(), 'ARCHIVES'));
    const filed = await step(db.proc.pid, () => continueHandover(services, register._id, { maxBatches: 0 }));
    const transfer = await step(db.proc.pid, () => continueHandover(services, register._id));
    const verified = await step(db.proc.pid, () => verifyArchive(connection, services.models));

    const after = await connection.collection('archive_transfer_registers').findOne({ _id: register._id });
    const registerRecord = await services.models.ArchiveRecord.findById(after?.recordId).lean();
    const pdf = registerRecord?.files?.[0];
    const handed = await services.models.ArchiveRecord.countDocuments({ fiscalYear: YEAR, custody: 'ARCHIVES' });
    // The lines as stored (BSON), summed as they are read: what one register document would have had to hold.
    let lineBytes = 0;
    for await (const line of connection.collection('archive_transfer_register_lines').find({ registerId: register._id })) lineBytes += BSON.calculateObjectSize(line);
    console.log('| step | time | live heap (at most) | database RSS growth |');
    console.log('|---|---|---|---|');
    console.log(`| prepare the register (${register.recordCount.toLocaleString('en')} lines) | ${prepared.seconds.toFixed(1)} s | ${mib(prepared.live)} | ${mib(prepared.dbRss)} |`);
    console.log(`| second signature (answers ${signed.value.status}) | ${signed.seconds.toFixed(2)} s | ${mib(signed.live)} | ${mib(signed.dbRss)} |`);
    console.log(`| print the register (PDF/A, its lines checked against their digest) and file it | ${filed.seconds.toFixed(1)} s | ${mib(filed.live)} | ${mib(filed.dbRss)} |`);
    console.log(`| pass custody (batches of 500: custody, history, progress) | ${transfer.seconds.toFixed(1)} s (${Math.round(RECORDS / transfer.seconds).toLocaleString('en')} records/s) | ${mib(transfer.live)} | ${mib(transfer.dbRss)} |`);
    console.log(`| verify the chains end to end | ${verified.seconds.toFixed(1)} s | ${mib(verified.live)} | ${mib(verified.dbRss)} |`);
    console.log('\n| figure | value |');
    console.log('|---|---|');
    console.log(`| register status / handed over / excluded | ${after?.status} / ${Number(after?.handedOver).toLocaleString('en')} / ${after?.excluded} |`);
    console.log(`| records of ${YEAR} in the archive department's custody (the register's own record included) | ${handed.toLocaleString('en')} |`);
    console.log(`| the archive verifies (records' chain, history chain, each record against its history) | ${verified.value.ok ? 'yes' : `NO: ${verified.value.problem} at ${verified.value.firstBrokenArchiveNo}`} (${verified.value.checked.toLocaleString('en')} records) |`);
    console.log(`| stored lines (${register.recordCount.toLocaleString('en')} documents) | ${mib(lineBytes)}: as one register document, ${(lineBytes / (16 * 1024 * 1024)).toFixed(1)}× the 16 MiB limit |`);
    console.log(`| printed register | ${pdf ? `${mib(pdf.size)}` : 'missing'}; filed as ${after?.archiveNo} |`);
  } finally {
    await connection.close();
    db.proc.kill('SIGTERM');
  }
}

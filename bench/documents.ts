// Documents benchmark (`npm run bench -- documents`, issue 17 "Figures"): BENCH_DOCUMENTS_CLAIMS claims (default
// 10,000) with three BENCH_DOCUMENTS_FILE_KB originals each (default 200 KB, JPEG receipt photos of random bytes)
// uploaded, filed and packaged on the real system (scripts/start.ts as bench/soak-system.ts starts it: database, oa,
// archive, sync and gateway in processes of their own; production; embedded database on disk), all through the
// gateway over HTTP:
//   upload    POST /files, BENCH_DOCUMENTS_CONCURRENCY (default 8) at a time, as the applicants (one per 30 claims,
//             under the pending-upload quota): MB/s and files/s
//   claims    created with the uploads, submitted, approved by the manager (bench/soak-client.ts prepareClaims; not timed)
//   filing    the accountant's final approvals, 16 at a time, until every claim's ARCHIVE_FILED (its originals copied
//             into the archive's bucket and checked): claims/s, files/s, MB/s; first the package's records, then the rest
//   export    GET /archive/packages/<year>.zip as ARCHIVIST once exactly BENCH_DOCUMENTS_PACKAGE (default 1,000) claims
//             are filed, saved to disk: records/s and MB/s; then checked offline (subgraphs/archive/handover/verify.ts)
//   memory    RSS of every process sampled every 250 ms: before, peak per phase, after: uploads, copies and packages
//             are streamed, so no process should grow with the bytes moved
// Disk: the originals are stored twice (oa's bucket and the archive's) plus the package: about 2 × claims × 3 × file
// size (12 GB at the defaults) under the system's temporary DATA_DIR, removed at the end.
import { randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { verifyPackage } from '../subgraphs/archive/handover/verify.ts';
import { DECIDE, PREPARE_CONCURRENCY, gql, must, prepareClaims, token } from './soak-client.ts';
import { type System, rssKb, startSystem, stopSystem } from './soak-system.ts';

const CLAIMS = Number(process.env.BENCH_DOCUMENTS_CLAIMS ?? 10_000);
const FILE_KB = Number(process.env.BENCH_DOCUMENTS_FILE_KB ?? 200);
const PACKAGE_RECORDS = Math.min(CLAIMS, Number(process.env.BENCH_DOCUMENTS_PACKAGE ?? 1_000));
const CONCURRENCY = Number(process.env.BENCH_DOCUMENTS_CONCURRENCY ?? 8);
/** 30 claims' 90 uploads stay under the pending-upload quota of 100 files an employee may hold. */
const CLAIMS_PER_APPLICANT = 30;
const FILES_PER_CLAIM = 3;
const FILED_POLL_MS = 250;
const FILED_TIMEOUT_MS = 30 * 60_000;

const mib = (bytes: number) => bytes / 1024 / 1024;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.max(0, Math.ceil((p / 100) * xs.length) - 1))];

/** A receipt photo of `bytes` bytes: JPEG's magic and a JFIF header, a unique tag, random bytes (as incompressible as a photo), EOI. */
function photo(filler: Buffer, tag: string): Buffer {
  const head = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00]);
  const label = Buffer.from(tag.padEnd(48, ' '));
  return Buffer.concat([head, label, filler.subarray(0, filler.length - head.length - label.length - 2), Buffer.from([0xff, 0xd9])]);
}

/** Runs `work(i)` for i < count, `concurrency` at a time. */
async function pool(count: number, concurrency: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) await work(next++);
  }));
}

/** RSS of each process, sampled in the background; peaks per named phase. */
class RssSampler {
  readonly peaks = new Map<string, Record<string, number>>();
  private phase = 'idle';
  private readonly timer: NodeJS.Timeout;
  constructor(private readonly pids: Record<string, number>) {
    this.timer = setInterval(() => this.sample(), 250);
  }
  now(): Record<string, number> {
    return Object.fromEntries(Object.entries(this.pids).map(([n, pid]) => [n, rssKb(pid)]));
  }
  enter(phase: string): void {
    this.sample();
    this.phase = phase;
    this.sample();
  }
  private sample(): void {
    const peak = this.peaks.get(this.phase) ?? {};
    for (const [n, kb] of Object.entries(this.now())) peak[n] = Math.max(peak[n] ?? 0, kb);
    this.peaks.set(this.phase, peak);
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

export async function benchDocuments(): Promise<void> {
  console.log(
    `\n## Documents: ${CLAIMS.toLocaleString('en')} claims with ${FILES_PER_CLAIM} originals of ${FILE_KB} KB each uploaded, filed and packaged (package of ${PACKAGE_RECORDS.toLocaleString('en')} records) on the real system (scripts/start.ts: database, oa, archive, sync, gateway in separate processes; production, embedded database on disk), through the gateway over HTTP (${os.cpus().length} cores)`,
  );
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-documents-'));
  let system: System | undefined;
  let sampler: RssSampler | undefined;
  // Interrupted (Ctrl-C, or a time limit's SIGTERM), the system it started and its data stop and go with it.
  const interrupted = (signal: NodeJS.Signals) => {
    console.log(`\n${signal}: stopping the system`);
    sampler?.stop();
    void (system ? stopSystem(system) : Promise.resolve(''))
      .then((how) => console.log(`System stopped: ${how}`))
      .finally(() => rm(dir, { recursive: true, force: true }).finally(() => process.exit(130)));
  };
  process.once('SIGINT', interrupted).once('SIGTERM', interrupted);
  try {
    system = await startSystem(dir);
    const pids = { ...(system.listening.processes as Record<string, number>) };
    const origin = `http://127.0.0.1:${system.listening.port as number}`;
    const url = `${origin}/graphql`;

    // ---- seed: a department, its applicant, manager and accountant; an archivist (a service identity) ----
    const admin = await token('bench-admin', ['ADMIN']);
    const dept = (await must(gql<{ createDepartment: { id: string } }>(url, admin, 'mutation($i: CreateDepartmentInput!) { createDepartment(input: $i) { id } }', { i: { code: 'DOCS', name: 'Documents' } }), 'createDepartment')).createDepartment.id;
    const employee = async (no: string, roles: string[]) =>
      (await must(gql<{ createEmployee: { id: string } }>(url, admin, 'mutation($i: CreateEmployeeInput!) { createEmployee(input: $i) { id } }', { i: { employeeNo: no, name: `Docs ${no}`, departmentId: dept, roles } }), `createEmployee ${no}`)).createEmployee.id;
    // Applicants of CLAIMS_PER_APPLICANT claims each: an employee may hold 100 uploads no claim references yet
    // (UPLOADS_PENDING_MAX_FILES), and the bench uploads every claim's files before it creates the claims.
    const applicantIds: string[] = new Array(Math.ceil(CLAIMS / CLAIMS_PER_APPLICANT));
    await pool(applicantIds.length, CONCURRENCY, async (a) => {
      applicantIds[a] = await employee(`D1-${a}`, ['EMPLOYEE']);
    });
    const managerId = await employee('D2', ['MANAGER']);
    const accountantId = await employee('D3', ['ACCOUNTANT']);
    await must(gql(url, admin, 'mutation($d: ID!, $e: ID!) { setDepartmentManager(departmentId: $d, employeeId: $e) { id } }', { d: dept, e: managerId }), 'setDepartmentManager');
    const tokens = {
      applicants: await Promise.all(applicantIds.map((id) => token(id, ['EMPLOYEE']))),
      manager: await token(managerId, ['EMPLOYEE', 'MANAGER']),
      accountant: await token(accountantId, ['EMPLOYEE', 'ACCOUNTANT']),
      archivist: await token('bench-archivist', ['ARCHIVIST']),
    };
    sampler = new RssSampler(pids);
    const before = sampler.now();

    // ---- upload ----
    sampler.enter('upload');
    const filler = randomBytes(FILE_KB * 1024);
    const runId = randomUUID().slice(0, 8);
    const fileIds: string[] = new Array(CLAIMS * FILES_PER_CLAIM);
    const uploadMs: number[] = [];
    let uploadedBytes = 0;
    const uploading = performance.now();
    await pool(CLAIMS * FILES_PER_CLAIM, CONCURRENCY, async (i) => {
      const bytes = photo(filler, `${runId} claim ${Math.floor(i / FILES_PER_CLAIM)} photo ${i % FILES_PER_CLAIM}`);
      const form = new FormData();
      form.append('file', new Blob([bytes], { type: 'image/jpeg' }), `receipt-${i}.jpg`);
      const t = performance.now();
      const applicant = tokens.applicants[Math.floor(i / FILES_PER_CLAIM / CLAIMS_PER_APPLICANT)];
      const res = await fetch(`${origin}/files`, { method: 'POST', headers: { authorization: `Bearer ${applicant}` }, body: form });
      const body = (await res.json()) as { id?: string };
      if (res.status !== 201 || !body.id) throw new Error(`upload ${i}: HTTP ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
      uploadMs.push(performance.now() - t);
      uploadedBytes += bytes.length;
      fileIds[i] = body.id;
    });
    const uploadSeconds = (performance.now() - uploading) / 1000;
    // Each phase's figure as soon as it is known: a run stopped later still tells what it measured.
    console.log(`  uploaded ${uploadMs.length} files, ${mib(uploadedBytes).toFixed(0)} MiB in ${uploadSeconds.toFixed(1)} s (${(uploadMs.length / uploadSeconds).toFixed(1)} files/s, ${(mib(uploadedBytes) / uploadSeconds).toFixed(1)} MiB/s); RSS now ${JSON.stringify(Object.fromEntries(Object.entries(sampler.now()).map(([n, kb]) => [n, `${(kb / 1024).toFixed(0)} MiB`])))}`);

    // ---- claims, up to the accountant's approval (not timed) ----
    sampler.enter('claims');
    const occurredOn = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const claimIds = await prepareClaims(url, { applicant: (n) => tokens.applicants[Math.floor(n / CLAIMS_PER_APPLICANT)], manager: tokens.manager }, CLAIMS, (n) => ({
      title: `Documents ${runId} claim ${n}`,
      category: 'TRAVEL',
      items: [{ description: `taxi ${n}`, amount: `${(n % 999) + 1}.00`, occurredOn, attachmentIds: fileIds.slice(n * FILES_PER_CLAIM, (n + 1) * FILES_PER_CLAIM) }],
    }));
    if (claimIds.length !== CLAIMS) throw new Error(`only ${claimIds.length} of ${CLAIMS} claims were prepared`);
    console.log(`  ${CLAIMS} claims prepared with their files (created, submitted, approved by the manager)`);

    // ---- filing: final approvals, then every ARCHIVE_FILED (read as the accountant, who sees every claim) ----
    const head = (await must(gql<{ syncEventHead: string }>(url, admin, '{ syncEventHead }', {}), 'syncEventHead')).syncEventHead;
    let cursor = head;
    const filed = new Map<string, string>(); // claim id → archive record id
    let readErrors = 0;
    const readFiled = async () => {
      for (;;) {
        const r = await gql<{ syncEvents: Array<{ seq: string; claimId: string | null; archiveRecordId: string | null }> }>(url, tokens.accountant, 'query($after: String) { syncEvents(types: [ARCHIVE_FILED], after: $after, first: 500) { seq claimId archiveRecordId } }', { after: cursor });
        // A read that times out on a machine saturated by the filing is read again at the next poll, not the end of the run.
        if (!r.ok) {
          if (++readErrors > 100) throw new Error(`reading ARCHIVE_FILED failed ${readErrors} times, last ${r.code}`);
          console.log(`  (reading ARCHIVE_FILED: ${r.code}; read again at the next poll)`);
          return;
        }
        const page = r.data.syncEvents;
        for (const e of page) if (e.claimId && e.archiveRecordId) filed.set(e.claimId, e.archiveRecordId);
        if (page.length) cursor = page[page.length - 1].seq;
        if (page.length < 500) return;
      }
    };
    let approvalErrors = 0;
    /** Approves claims [from, to) and waits until each is filed: the seconds it took. */
    const fileClaims = async (from: number, to: number): Promise<number> => {
      const started = performance.now();
      await pool(to - from, PREPARE_CONCURRENCY, async (i) => {
        if (!(await gql(url, tokens.accountant, DECIDE, { id: claimIds[from + i] }, randomUUID())).ok) approvalErrors++;
      });
      const deadline = Date.now() + FILED_TIMEOUT_MS;
      for (;;) {
        await readFiled();
        if (claimIds.slice(from, to).every((id) => filed.has(id))) break;
        if (Date.now() > deadline) throw new Error(`${claimIds.slice(from, to).filter((id) => !filed.has(id)).length} claims not filed within ${FILED_TIMEOUT_MS / 60_000} min`);
        await sleep(FILED_POLL_MS);
      }
      return (performance.now() - started) / 1000;
    };
    sampler.enter('filing');
    let filingSeconds = await fileClaims(0, PACKAGE_RECORDS);

    // ---- export: exactly PACKAGE_RECORDS records filed in the year ----
    const year = (await must(gql<{ archiveRecord: { fiscalYear: number } }>(url, tokens.archivist, 'query($id: ID!) { archiveRecord(id: $id) { fiscalYear } }', { id: filed.get(claimIds[0]) }), 'archiveRecord')).archiveRecord.fiscalYear;
    sampler.enter('export');
    const zip = path.join(dir, `archive-${year}.zip`);
    const exporting = performance.now();
    const res = await fetch(`${origin}/archive/packages/${year}.zip`, { headers: { authorization: `Bearer ${tokens.archivist}` } });
    if (res.status !== 200 || !res.body) throw new Error(`export: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`);
    await pipeline(Readable.fromWeb(res.body as never), createWriteStream(zip));
    const exportSeconds = (performance.now() - exporting) / 1000;
    const zipBytes = (await stat(zip)).size;
    console.log(`  filed ${PACKAGE_RECORDS} claims in ${filingSeconds.toFixed(1)} s (${(PACKAGE_RECORDS / filingSeconds).toFixed(1)} claims/s); exported ${PACKAGE_RECORDS} records, ${mib(zipBytes).toFixed(0)} MiB in ${exportSeconds.toFixed(1)} s`);
    sampler.enter('verify');
    const verifying = performance.now();
    const verified = await verifyPackage(zip);
    const verifySeconds = (performance.now() - verifying) / 1000;
    await rm(zip, { force: true });

    sampler.enter('filing');
    if (PACKAGE_RECORDS < CLAIMS) filingSeconds += await fileClaims(PACKAGE_RECORDS, CLAIMS);
    sampler.enter('after');
    await sleep(2000);
    const after = sampler.now();
    sampler.stop();

    // ---- figures ----
    const fileMiB = mib(FILE_KB * 1024);
    const files = CLAIMS * FILES_PER_CLAIM;
    console.log(`System: ${String(system.listening.url)}, pids ${JSON.stringify(pids)}; upload concurrency ${CONCURRENCY}, approvals ${PREPARE_CONCURRENCY} at a time`);
    console.log('| phase | count | seconds | rate | throughput |');
    console.log('|---|---|---|---|---|');
    console.log(`| upload (POST /files, multipart) | ${files.toLocaleString('en')} files, ${mib(uploadedBytes).toFixed(0)} MiB | ${uploadSeconds.toFixed(1)} | ${(files / uploadSeconds).toFixed(1)} files/s (latency p50 ${pct(uploadMs, 50).toFixed(0)} ms, p99 ${pct(uploadMs, 99).toFixed(0)} ms) | ${(mib(uploadedBytes) / uploadSeconds).toFixed(1)} MiB/s |`);
    console.log(`| filing with files (final approval → ARCHIVE_FILED) | ${CLAIMS.toLocaleString('en')} claims, ${files.toLocaleString('en')} files | ${filingSeconds.toFixed(1)} | ${(CLAIMS / filingSeconds).toFixed(1)} claims/s, ${(files / filingSeconds).toFixed(1)} files/s | ${((files * fileMiB) / filingSeconds).toFixed(1)} MiB/s copied |`);
    console.log(`| export (GET /archive/packages/${year}.zip, saved) | ${PACKAGE_RECORDS.toLocaleString('en')} records, ${(PACKAGE_RECORDS * FILES_PER_CLAIM).toLocaleString('en')} files, ${mib(zipBytes).toFixed(0)} MiB | ${exportSeconds.toFixed(1)} | ${(PACKAGE_RECORDS / exportSeconds).toFixed(1)} records/s | ${(mib(zipBytes) / exportSeconds).toFixed(1)} MiB/s |`);
    console.log(`| verify-package (offline, this process) | ${verified.records.toLocaleString('en')} records, ${verified.files.toLocaleString('en')} files: ${verified.ok ? 'OK' : `REJECTED (${verified.problems.length} problems)`} | ${verifySeconds.toFixed(1)} | ${(verified.records / verifySeconds).toFixed(1)} records/s | ${(mib(zipBytes) / verifySeconds).toFixed(1)} MiB/s |`);
    if (approvalErrors) console.log(`${approvalErrors} final approvals answered with an error`);
    const phases = ['upload', 'claims', 'filing', 'export'];
    console.log(`\n| process | RSS before | ${phases.map((p) => `peak during ${p}`).join(' | ')} | after | peak growth |`);
    console.log(`|---|---|${phases.map(() => '---|').join('')}---|---|`);
    for (const name of Object.keys(pids)) {
      const peak = Math.max(...phases.map((p) => sampler!.peaks.get(p)?.[name] ?? 0));
      console.log(`| ${name} | ${(before[name] / 1024).toFixed(0)} MiB | ${phases.map((p) => `${((sampler!.peaks.get(p)?.[name] ?? NaN) / 1024).toFixed(0)} MiB`).join(' | ')} | ${(after[name] / 1024).toFixed(0)} MiB | +${((peak - before[name]) / 1024).toFixed(0)} MiB |`);
    }
    console.log(`bytes moved: ${mib(uploadedBytes).toFixed(0)} MiB uploaded, the same copied into the archive, ${mib(zipBytes).toFixed(0)} MiB exported; one file ${FILE_KB} KB`);
    if (!verified.ok || verified.records !== PACKAGE_RECORDS || verified.files !== PACKAGE_RECORDS * FILES_PER_CLAIM) {
      console.log(`PACKAGE CHECK FAILED: ${JSON.stringify({ ok: verified.ok, records: verified.records, files: verified.files, problems: verified.problems.slice(0, 5) })}`);
    }
  } finally {
    process.off('SIGINT', interrupted).off('SIGTERM', interrupted);
    sampler?.stop();
    if (system) console.log(`System stopped: ${await stopSystem(system)}`);
    await rm(dir, { recursive: true, force: true });
  }
}

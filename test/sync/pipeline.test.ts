// The sync pipeline against the real subgraphs: an approved claim becomes one voucher and one filed record; a
// replay of the log duplicates nothing; failures retry with backoff and jitter, emit SYNC_FAILED, end DEAD after
// the configured attempts; retrySyncJob revives a job; status and /metrics report backlog and lag.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Org } from '../oa/seed.ts';
import { ArchiveProxy } from './archive-proxy.ts';
import { type Stack, approvedClaim, seed, startStack } from './stack.ts';

const proxy = new ArchiveProxy();
let stack: Stack;
let org: Org;
let admin: string;
/** Reads jobs with their claims, vouchers and records (ADMIN runs the sync but does not read vouchers). */
let auditor: string;

beforeAll(async () => {
  const url = await proxy.listen();
  stack = await startStack({ label: 'sync_pipeline', archiveUrlForSync: url, sync: { maxAttempts: 3, retryBaseMs: 100, retryMaxMs: 150 } });
  proxy.target = stack.archiveUrl;
  org = await seed(stack);
  admin = await stack.token('ops-admin', ['ADMIN']);
  auditor = await stack.token(org.ids.auditor);
});
afterAll(async () => {
  await stack?.close();
  proxy.server.close();
});

const JOB = `id claimNo status attempts lastError createdAt completedAt nextAttemptAt lagMs claim { id } voucher { id voucherNo } archiveRecord { id archiveNo }`;
interface Job {
  id: string;
  claimNo: string;
  status: string;
  attempts: number;
  lastError: string | null;
  completedAt: string | null;
  nextAttemptAt: string | null;
  lagMs: number | null;
  claim: { id: string };
  voucher: { id: string; voucherNo: string } | null;
  archiveRecord: { id: string; archiveNo: string } | null;
}

async function jobOf(claimId: string): Promise<Job | undefined> {
  const r = await stack.gql<{ syncJobs: Job[] }>(auditor, `{ syncJobs(first: 200) { ${JOB} } }`);
  expect(r.errors).toBeUndefined();
  return r.data!.syncJobs.find((j) => j.claim.id === claimId);
}

async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('an approved claim', () => {
  it('becomes one balanced voucher and one filed archive record, with the lag measured', async () => {
    const claim = await approvedClaim(stack, org, '345.67', 'INV-P-1');
    const job = await until(() => jobOf(claim.id), (j) => j?.status === 'SUCCEEDED');
    expect(job).toMatchObject({ claimNo: claim.claimNo, attempts: 1, lastError: null, nextAttemptAt: null });
    expect(job!.voucher!.voucherNo).toMatch(/^记-/);
    expect(job!.archiveRecord!.archiveNo).toMatch(/^Q001-/);
    expect(job!.lagMs).toBeGreaterThanOrEqual(0);
    expect(job!.lagMs).toBeLessThan(10_000);
    const accountant = await stack.token(org.ids.accountant);
    const unified = await stack.gql<{ expenseClaim: { voucher: { id: string; debitTotal: string; creditTotal: string }; archiveRecord: { id: string } } }>(
      accountant,
      `query($id: ID!) { expenseClaim(id: $id) { voucher { id debitTotal creditTotal } archiveRecord { id } } }`,
      { id: claim.id },
    );
    expect(unified.data!.expenseClaim).toEqual({ voucher: { id: job!.voucher!.id, debitTotal: '345.67', creditTotal: '345.67' }, archiveRecord: { id: job!.archiveRecord!.id } });

    // The pipeline's own work is in the one audit trail, beside what clients did through the gateway.
    type Entries = { data?: { auditLog: { entries: { actor: string; source: string; action: string; operationName: string; outcome: string }[] } } };
    const audit = await until(
      () => stack.gql(auditor, `{ auditLog(source: "sync") { entries { actor source action operationName outcome } } }`) as Promise<Entries>,
      (r) => (r.data?.auditLog.entries.length ?? 0) > 0,
    );
    expect(audit.data!.auditLog.entries).toContainEqual({ actor: 'sync', source: 'sync', action: `mutation generateVoucher,fileVoucher for ${claim.claimNo}`, operationName: null, outcome: 'OK' });

    const status = await stack.gql<{ syncStatus: Record<string, unknown> }>(admin, `{ syncStatus { backlog failed dead lagP50Ms lagP95Ms lagP99Ms position head } }`);
    expect(status.data!.syncStatus).toMatchObject({ backlog: 0, failed: 0, dead: 0 });
    expect(status.data!.syncStatus.lagP50Ms).toEqual(expect.any(Number));
    expect(status.data!.syncStatus.position).toBe(status.data!.syncStatus.head);
  });

  it('is not synced twice when the log is consumed again from the start (a crash before the position was saved)', async () => {
    const claim = await approvedClaim(stack, org, '12.34');
    await until(() => jobOf(claim.id), (j) => j?.status === 'SUCCEEDED');
    const db = stack.connection;
    const vouchersBefore = await db.collection('vouchers').countDocuments();
    const recordsBefore = await db.collection('archive_records').countDocuments();
    const jobsBefore = await db.collection('sync_jobs').countDocuments();
    // Forget the position: every CLAIM_APPROVED so far is consumed again.
    await stack.sync.services.pipeline.stop();
    await db.collection('sync_cursors').updateOne({ _id: 'pipeline' as never }, { $set: { seq: 0 } });
    stack.sync.services.pipeline.start(50);
    await until(() => stack.sync.services.pipeline.consumedUpTo(), (n) => n > 0);
    await new Promise((r) => setTimeout(r, 300));
    expect(await db.collection('sync_jobs').countDocuments()).toBe(jobsBefore);
    expect(await db.collection('vouchers').countDocuments()).toBe(vouchersBefore);
    expect(await db.collection('archive_records').countDocuments()).toBe(recordsBefore);
    // And a job run again (its voucher and record already exist) returns the same ones.
    await db.collection('sync_jobs').updateOne({ claimId: claim.id }, { $set: { status: 'PENDING' } });
    const again = await until(() => jobOf(claim.id), (j) => j?.status === 'SUCCEEDED' && j.attempts === 2);
    expect(await db.collection('vouchers').countDocuments({ claimId: claim.id })).toBe(1);
    expect(await db.collection('archive_records').countDocuments()).toBe(recordsBefore);
    expect(again!.voucher).not.toBeNull();
  });
});

describe('approvals waiting together', () => {
  const approveWhileStopped = async (n: number, from: number) => {
    await stack.sync.services.pipeline.stop();
    const claims: { id: string; claimNo: string }[] = [];
    for (let i = 0; i < n; i++) claims.push(await approvedClaim(stack, org, `${from + i}.00`));
    return claims;
  };
  const finished = (claims: { id: string }[]) =>
    until(
      () => Promise.all(claims.map((c) => jobOf(c.id))),
      (jobs) => jobs.every((j) => j?.status === 'SUCCEEDED' || j?.status === 'DEAD'),
      30_000,
    );
  const counts = async (claimId: string) => {
    const voucher = await stack.connection.collection('vouchers').findOne({ claimId });
    return { vouchers: await stack.connection.collection('vouchers').countDocuments({ claimId }), records: voucher ? await stack.connection.collection('archive_records').countDocuments({ voucherId: voucher._id.toHexString() }) : 0 };
  };

  it('are booked in one batch: one call for the vouchers and one for the records, each claim once', async () => {
    const claims = await approveWhileStopped(8, 60);
    proxy.operations.length = 0;
    stack.sync.services.pipeline.start(50);
    const jobs = await finished(claims);
    for (const [i, job] of jobs.entries()) expect(job).toMatchObject({ claimNo: claims[i].claimNo, status: 'SUCCEEDED', attempts: 1, lastError: null });
    expect(proxy.operations.filter((o) => o !== 'SyncClaim')).toEqual(['SyncVouchers', 'SyncFiles']);
    for (const c of claims) expect(await counts(c.id)).toEqual({ vouchers: 1, records: 1 });
    // Numbered in the order they were approved, and recorded in the audit trail as the batch calls.
    const numbers = jobs.map((j) => Number(j!.voucher!.voucherNo.slice(-4)));
    expect(numbers).toEqual(numbers.map((_, i) => numbers[0] + i));
    type Entries = { data?: { auditLog: { entries: { action: string }[] } } };
    const audit = await until(
      () => stack.gql(auditor, `{ auditLog(source: "sync", first: 100) { entries { action } } }`) as Promise<Entries>,
      (r) => claims.every((c) => r.data?.auditLog.entries.some((e) => e.action === `mutation generateVouchers,fileVouchers for ${c.claimNo}`)),
    );
    expect(audit.data!.auditLog.entries.filter((e) => e.action.endsWith(claims[0].claimNo))).toHaveLength(1);
  });

  it('run two batches of any size at once, but wait for them rather than queue a third of a few at the archive', async () => {
    let release = () => undefined as void;
    proxy.hold = new Promise<void>((r) => (release = r));
    proxy.operations.length = 0;
    proxy.voucherBatches.length = 0;
    const booked = () => proxy.operations.filter((o) => o === 'SyncVoucher' || o === 'SyncVouchers').length;
    try {
      // Two batches (of one each) reach the archive, which does not answer yet.
      const running = [await approvedClaim(stack, org, '80.00')];
      await until(async () => booked(), (n) => n === 1);
      running.push(await approvedClaim(stack, org, '81.00'));
      await until(async () => booked(), (n) => n === 2);
      const waiting: { id: string; claimNo: string }[] = [];
      for (let i = 0; i < 3; i++) {
        waiting.push(await approvedClaim(stack, org, `${82 + i}.00`));
        await until(() => jobOf(waiting[i].id), (j) => j !== undefined);
      }
      // Three new jobs are fewer than a third batch needs (a quarter of 100): none was started.
      for (const c of waiting) expect(await jobOf(c.id)).toMatchObject({ status: 'PENDING', attempts: 0 });
      expect(booked()).toBe(2);
      release();
      const jobs = await finished([...running, ...waiting]);
      for (const job of jobs) expect(job).toMatchObject({ status: 'SUCCEEDED', attempts: 1 });
      // Once the first batch ended, the three went to the archive together.
      expect(proxy.voucherBatches).toEqual([waiting.map((c) => c.id)]);
    } finally {
      proxy.hold = null;
      release();
    }
  });

  it('run again one by one when the archive refuses their batch: the claim it refuses fails alone, the others are filed once', async () => {
    const claims = await approveWhileStopped(6, 70);
    proxy.refusedClaims.add(claims[2].id);
    proxy.operations.length = 0;
    try {
      stack.sync.services.pipeline.start(50);
      const jobs = await finished(claims);
      expect(jobs[2]).toMatchObject({ status: 'DEAD', attempts: 1, lastError: 'archive: BAD_USER_INPUT: voucher refused: the claim has no items' });
      for (const [i, job] of jobs.entries()) if (i !== 2) expect(job).toMatchObject({ status: 'SUCCEEDED', attempts: 1, lastError: null });
      const ops = proxy.operations.filter((o) => o !== 'SyncClaim');
      expect(ops[0]).toBe('SyncVouchers');
      expect(ops.filter((o) => o === 'SyncVoucher')).toHaveLength(6);
      expect(ops.filter((o) => o === 'SyncFile')).toHaveLength(5);
      for (const [i, c] of claims.entries()) expect(await counts(c.id)).toEqual(i === 2 ? { vouchers: 0, records: 0 } : { vouchers: 1, records: 1 });
      // Once the archive takes it, a retry files it too.
      proxy.refusedClaims.clear();
      await stack.gql(admin, `mutation($id: ID!) { retrySyncJob(id: $id) { id } }`, { id: jobs[2]!.id });
      await until(() => jobOf(claims[2].id), (j) => j?.status === 'SUCCEEDED');
      expect(await counts(claims[2].id)).toEqual({ vouchers: 1, records: 1 });
    } finally {
      proxy.refusedClaims.clear();
    }
  });
});

describe('what operators read', () => {
  /** Documents a query reads (explain's totalDocsExamined) and the index it uses. */
  const examined = async (collection: string, filter: Record<string, unknown>) => {
    const explained = (await stack.connection.collection(collection).find(filter).explain('executionStats')) as { queryPlanner: { winningPlan: Record<string, unknown> }; executionStats: { totalDocsExamined: number } };
    const index = JSON.stringify(explained.queryPlanner.winningPlan).match(/"indexName":"([^"]+)"/)?.[1] ?? null;
    return { index, docs: explained.executionStats.totalDocsExamined };
  };

  it('read only the failures of the alert window and the unfinished jobs, not the whole log or every job filed', async () => {
    const since = new Date(Date.now() - 5 * 60_000);
    const failures = await stack.connection.collection('domain_events').countDocuments({ type: 'SYNC_FAILED', occurredAt: { $gte: since } });
    expect(await stack.connection.collection('domain_events').countDocuments()).toBeGreaterThan(failures + 50);
    expect(await examined('domain_events', { type: 'SYNC_FAILED', occurredAt: { $gte: since } })).toEqual({ index: 'sync_failures_by_time', docs: failures });
    const unfinished = await stack.connection.collection('sync_jobs').countDocuments({ status: { $ne: 'SUCCEEDED' } });
    expect(await stack.connection.collection('sync_jobs').countDocuments()).toBeGreaterThan(unfinished + 10);
    expect(await examined('sync_jobs', { status: { $in: ['PENDING', 'RUNNING', 'FAILED', 'DEAD'] } })).toMatchObject({ docs: unfinished });
  });
});

describe('a failing archive', () => {
  it('retries with backoff and jitter, emits SYNC_FAILED each time, ends DEAD, and retrySyncJob revives it', async () => {
    proxy.mode = 'down';
    const claim = await approvedClaim(stack, org, '50.00');
    const dead = await until(() => jobOf(claim.id), (j) => j?.status === 'DEAD');
    expect(dead).toMatchObject({ attempts: 3, lastError: 'archive subgraph answered HTTP 503 without GraphQL', voucher: null, archiveRecord: null, nextAttemptAt: null });

    const failures = await stack.connection.collection('domain_events').find({ type: 'SYNC_FAILED', 'subject.id': claim.id }).sort({ seq: 1 }).toArray();
    expect(failures).toHaveLength(3);
    expect(failures.map((f) => f.payload.attempts)).toEqual([1, 2, 3]);
    expect(failures.map((f) => f.payload.dead)).toEqual([false, false, true]);
    expect(failures[0].payload.detail).toContain(`${claim.claimNo}: attempt 1 of 3 failed: archive subgraph answered HTTP 503`);
    // Backoff: the second attempt came 50–100 ms (½–1 × 100 ms) after the first failure, the third 75–150 ms
    // (½–1 × min(200, 150)) after the second; generous upper bounds for a busy machine.
    const gaps = [failures[1].occurredAt.getTime() - failures[0].occurredAt.getTime(), failures[2].occurredAt.getTime() - failures[1].occurredAt.getTime()];
    expect(gaps[0]).toBeGreaterThanOrEqual(50);
    expect(gaps[1]).toBeGreaterThanOrEqual(75);
    expect(Math.max(...gaps)).toBeLessThan(2000);

    // The subscriber's view: SYNC_FAILED events in the log, with the reason.
    const accountant = await stack.token(org.ids.accountant);
    const seen = await stack.gql<{ syncEvents: { type: string; detail: string; claim: { id: string } }[] }>(accountant, `{ syncEvents(types: [SYNC_FAILED], first: 500) { type detail claim { id } } }`);
    expect(seen.data!.syncEvents.filter((e) => e.claim.id === claim.id)).toHaveLength(3);

    const status = await stack.gql<{ syncStatus: { dead: number; backlog: number } }>(admin, `{ syncStatus { dead backlog } }`);
    expect(status.data!.syncStatus).toEqual({ dead: 1, backlog: 0 });
    const listed = await stack.gql<{ syncJobs: { id: string }[] }>(admin, `{ syncJobs(status: DEAD) { id } }`);
    expect(listed.data!.syncJobs.map((j) => j.id)).toEqual([dead!.id]);

    // Repaired: a retry runs it again now, and it succeeds.
    proxy.mode = 'forward';
    const retried = await stack.gql<{ retrySyncJob: { id: string; status: string } }>(admin, `mutation($id: ID!) { retrySyncJob(id: $id) { id status } }`, { id: dead!.id });
    expect(retried.errors).toBeUndefined();
    expect(['PENDING', 'RUNNING', 'SUCCEEDED']).toContain(retried.data!.retrySyncJob.status);
    const done = await until(() => jobOf(claim.id), (j) => j?.status === 'SUCCEEDED');
    expect(done).toMatchObject({ attempts: 4, lastError: null });
    expect(done!.voucher).not.toBeNull();
  });

  it('gives up at once on an error that retrying cannot fix', async () => {
    proxy.mode = 'refuse';
    const claim = await approvedClaim(stack, org, '51.00');
    const dead = await until(() => jobOf(claim.id), (j) => j?.status === 'DEAD');
    expect(dead).toMatchObject({ attempts: 1, lastError: 'archive: BAD_USER_INPUT: voucher refused: the claim has no items' });
    proxy.mode = 'forward';
    await stack.gql(admin, `mutation($id: ID!) { retrySyncJob(id: $id) { id } }`, { id: dead!.id });
    await until(() => jobOf(claim.id), (j) => j?.status === 'SUCCEEDED');
  });

  it('lets only ADMIN retry, and only ADMIN and AUDITOR watch jobs and status', async () => {
    const alice = await stack.token(org.ids.alice);
    const auditor = await stack.token(org.ids.auditor);
    const codes = (r: { errors?: { extensions?: { code?: string } }[] }) => r.errors?.map((e) => e.extensions?.code);
    expect(codes(await stack.gql(alice, `{ syncJobs { id } }`))).toEqual(['FORBIDDEN']);
    expect(codes(await stack.gql(alice, `{ syncStatus { backlog } }`))).toEqual(['FORBIDDEN']);
    expect(codes(await stack.gql(auditor, `{ syncStatus { backlog } }`))).toBeUndefined();
    expect(codes(await stack.gql(auditor, `mutation { retrySyncJob(id: "0123456789abcdef01234567") { id } }`))).toEqual(['FORBIDDEN']);
    expect(codes(await stack.gql(admin, `mutation { retrySyncJob(id: "0123456789abcdef01234567") { id } }`))).toEqual(['NOT_FOUND']);
    expect(codes(await stack.gql(admin, `mutation { retrySyncJob(id: "nope") { id } }`))).toEqual(['NOT_FOUND']);
    expect(codes(await stack.gql(admin, `{ syncJobs(first: 0) { id } }`))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await stack.gql(alice, `{ syncEvents(after: "x") { seq } }`))).toEqual(['BAD_USER_INPUT']);
  });

  it('pages through the jobs with after (keyset: no job twice, none left out, whatever the order)', async () => {
    for (const status of [null, 'SUCCEEDED']) {
      const all = await stack.gql<{ syncJobs: { id: string }[] }>(admin, `query($s: SyncJobStatus) { syncJobs(status: $s, first: 200) { id } }`, { s: status });
      const expected = all.data!.syncJobs.map((j) => j.id);
      expect(expected.length).toBeGreaterThan(3);
      const paged: string[] = [];
      let after: string | null = null;
      for (;;) {
        const page: { data?: { syncJobs: { id: string }[] } | null; errors?: unknown } = await stack.gql<{ syncJobs: { id: string }[] }>(admin, `query($s: SyncJobStatus, $a: ID) { syncJobs(status: $s, first: 2, after: $a) { id } }`, { s: status, a: after });
        expect(page.errors).toBeUndefined();
        const ids = page.data!.syncJobs.map((j) => j.id);
        if (!ids.length) break;
        paged.push(...ids);
        after = ids.at(-1)!;
      }
      expect(paged).toEqual(expected);
    }
    const bad = await stack.gql(admin, `{ syncJobs(after: "0123456789abcdef01234567") { id } }`);
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
  });

  it('pages back through the events with before: the same events as forwards, oldest first in each page', async () => {
    const alice = await stack.token(org.ids.alice);
    for (const [token, types] of [[auditor, null], [alice, ['ARCHIVE_FILED', 'CLAIM_APPROVED']]] as const) {
      const forwards = (await stack.gql<{ syncEvents: { seq: string }[] }>(token, `query($t: [SyncEventType!]) { syncEvents(first: 500, types: $t) { seq } }`, { t: types })).data!.syncEvents.map((e) => e.seq);
      expect(forwards.length).toBeGreaterThan(3);
      const pages: string[][] = [];
      for (let before: string | null = null; ; ) {
        const page: string[] = (await stack.gql<{ syncEvents: { seq: string }[] }>(token, `query($t: [SyncEventType!], $b: String) { syncEvents(first: 3, types: $t, before: $b) { seq } }`, { t: types, b: before ?? '999999999999' })).data!.syncEvents.map((e) => e.seq);
        if (!page.length) break;
        expect([...page].sort()).toEqual(page);
        pages.unshift(page);
        before = page[0]!;
      }
      expect(pages.flat()).toEqual(forwards);
    }
    const bad = await stack.gql(auditor, `{ syncEvents(before: "x") { seq } }`);
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'before' });
  });

  it('reports synced claims per day for reporting tools (syncStatistics)', async () => {
    const dayOf = (d: Date) => new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit' }).format(d);
    // Yesterday and today, in case the run straddles midnight in Shanghai.
    const [from, to] = [dayOf(new Date(Date.now() - 86_400_000)), dayOf(new Date())];
    const jobs = await stack.connection.collection('sync_jobs').find({ status: 'SUCCEEDED' }).toArray();
    const r = await stack.gql<{ syncStatistics: { day: string; synced: number; failedAttempts: number; lagMaxMs: number }[] }>(admin, `query($f: Date!, $t: Date!) { syncStatistics(from: $f, to: $t) { day synced failedAttempts lagMaxMs } }`, { f: from, t: to });
    expect(r.errors).toBeUndefined();
    const rows = r.data!.syncStatistics;
    expect(rows.map((x) => x.day).every((d) => d === from || d === to)).toBe(true);
    expect(rows.reduce((n, x) => n + x.synced, 0)).toBe(jobs.length);
    expect(rows.reduce((n, x) => n + x.failedAttempts, 0)).toBe(jobs.reduce((n, j) => n + j.attempts - 1, 0));
    expect(Math.max(...rows.map((x) => x.lagMaxMs))).toBe(Math.max(...jobs.map((j) => j.lagMs as number)));
    const alice = await stack.token(org.ids.alice);
    expect((await stack.gql(alice, `query($d: Date!) { syncStatistics(from: $d, to: $d) { day } }`, { d: to })).errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
  });

  it('reports the lag, backlog and job outcomes in Prometheus metrics', async () => {
    const text = await stack.sync.metrics.registry.metrics();
    expect(text).toMatch(/^sync_backlog 0$/m);
    expect(text).toMatch(/^sync_dead_jobs 0$/m);
    // The lag in seconds, as a histogram only: no gauge with a quantile label (issue 14).
    expect(text).not.toMatch(/^sync_lag_ms/m);
    expect(text).not.toMatch(/quantile=/);
    expect(text).toMatch(/^sync_lag_seconds_count [1-9]\d*$/m);
    expect(text).toMatch(/^sync_jobs_total\{outcome="failed"\} 2$/m);
    // Two in the failing archive's tests, one refused in a batch.
    expect(text).toMatch(/^sync_jobs_total\{outcome="dead"\} 3$/m);
  });
});

// The sync pipeline: consumes the durable event log at least once and in order, remembering its position in the
// database, and turns each CLAIM_APPROVED into a job that asks the archive for the voucher and its archive record.
// One job per claim (a unique key) and the archive's idempotent mutations make replays harmless, so a crash at
// any point (before or after the position is saved, mid-call) ends with exactly one voucher and one record.
// Only the holder of the database lease consumes, publishes and runs jobs (each claimed atomically besides). A
// new holder takes over the jobs its predecessor was running, so recovery after a crash takes one lease period.
import type { Connection } from 'mongoose';
import type { BusEvent, EventBus } from '../../platform/integration/event-bus.ts';
import type { DomainEvent, EventLog } from '../../platform/integration/events.ts';
import type { Lease } from '../../platform/integration/lease.ts';
import { LogConsumer } from '../../platform/integration/log-consumer.ts';
import { WorkerLoop } from '../../platform/integration/worker-loop.ts';
import type { Logger } from '../../platform/logger.ts';
import { type ApprovedClaimInput, approvedClaimOf, approvedClaimsOf } from './approved-claim.ts';
import { eventAudience } from './context.ts';
import { type SyncJobCorrectionInput, applyCorrections, checkCorrection, correctedFields } from './corrections.ts';
import { conflict } from '../../platform/graphql.ts';
import { clip } from '../../platform/text-policy.ts';
import type { SyncJobDoc, SyncModels } from './models.ts';
import { SubgraphCallError, type SubgraphCall } from './subgraph-client.ts';
import { SYNC_EVENT_TYPES, formatSeq } from './sync-events.ts';
import type { SyncMetrics } from './metrics.ts';
import { transaction } from '../../platform/integration/transactions.ts';
import { SpanKind, contextOf, failSpan, inSpan, trace } from '../../platform/tracing.ts';

export interface SyncPipelineOptions {
  connection: Connection;
  events: EventLog;
  models: SyncModels;
  oa: SubgraphCall;
  archive: SubgraphCall;
  bus: EventBus | null;
  lease: Lease;
  logger: Logger;
  metrics?: SyncMetrics;
  /** Attempts before a job is DEAD (SYNC_MAX_ATTEMPTS). */
  maxAttempts: number;
  /** First retry delay; doubles per attempt, with jitter, up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Batches of jobs run at once by this instance. */
  concurrency?: number;
  /** Jobs run together, at most: their claims go to the archive in one call for the vouchers and one for the records. */
  batchSize?: number;
  /** New jobs needed to start a third batch or more beside those running (default a quarter of batchSize); see startDueJobs. */
  minBatchAlongside?: number;
  /** A RUNNING job not finished by then is run again (its runner hung); three subgraph calls fit in it. */
  runTimeoutMs?: number;
  clock?: () => Date;
  random?: () => number;
  /** Records what the pipeline did in the audit trail (its own actions, which no gateway sees). */
  audit?: (entry: SyncAuditEntry) => Promise<unknown>;
}

/** One of the sync service's own actions (a job, a scheduled reconciliation) for the audit trail. */
export interface SyncAuditEntry {
  at: Date;
  action: string;
  operationName: null;
  outcome: string;
  durationMs: number;
  /** Who, when a person acted through the sync service (correctSyncJob); the service itself otherwise. */
  actor?: string;
  roles?: string[];
}

/** The pipeline's position in sync_cursors. */
const CURSOR_ID = 'pipeline';
const BATCH = 200;

const GENERATE_VOUCHER = `mutation SyncVoucher($claim: ApprovedClaimInput!) { generateVoucher(claim: $claim) { id } }`;
const FILED_RECORD = 'id filedAt filingReport { passed results { property check passed detail } }';
const FILE_VOUCHER = `mutation SyncFile($voucherId: ID!) { fileVoucher(voucherId: $voucherId) { ${FILED_RECORD} } }`;
const GENERATE_VOUCHERS = `mutation SyncVouchers($claims: [ApprovedClaimInput!]!) { generateVouchers(claims: $claims) { id } }`;
const FILE_VOUCHERS = `mutation SyncFiles($voucherIds: [ID!]!) { fileVouchers(voucherIds: $voucherIds) { ${FILED_RECORD} } }`;
/**
 * Jobs of one batch by default: the most generateVouchers and fileVouchers take (schema/archive.graphql). At 50
 * approvals/s in the real system, batches of 100 held the lag p99 at 4 s where batches of 25 let it grow to 10 to 22 s
 * (README.md, the soak's BENCH_SOAK_APPROVALS).
 */
const BATCH_SIZE = 100;

interface FiledRecord {
  id: string;
  filedAt: string;
  filingReport: { passed: boolean; results: { property: string; check: string; passed: boolean; detail: string }[] } | null;
}

/** Approval to filing, as the job reports it. */
const lagOf = (claim: ApprovedClaimInput, record: FiledRecord): number => Math.max(0, new Date(record.filedAt).getTime() - new Date(claim.approvedAt).getTime());

/** Filed despite its claim's texts: the problems stay on the job, where the ARCHIVE_USABILITY rule finds them. */
const problemsOf = (record: FiledRecord): string[] => (record.filingReport?.results ?? []).filter((r) => !r.passed).map((r) => `${r.property} ${r.check}: ${r.detail}`);

/** Batches that start with whatever waits: one booking its vouchers, one being filed. */
const PIPELINED = 2;

/** How long "no PENDING job" found by a claim is believed, unless this pipeline enqueued one meanwhile. */
const PENDING_RECHECK_MS = 200;

/** A failed job's outcome in the audit trail: the archive's error code, or INTERNAL_SERVER_ERROR. */
const outcomeOf = (err: unknown): string => (err instanceof SubgraphCallError ? (/^\w+: ([A-Z_]+):/.exec(err.message)?.[1] ?? 'INTERNAL_SERVER_ERROR') : 'INTERNAL_SERVER_ERROR');

export class SyncPipeline {
  private readonly running = new Set<Promise<void>>();
  /** When a claim last found no PENDING job (Date.now()); -Infinity once one may exist. */
  private noPendingAt = -Infinity;
  /** Bumped whenever a job may have become PENDING here. */
  private pendingGeneration = 0;
  /**
   * New jobs that may be waiting, as far as this pipeline knows: what it enqueued or took over since it last claimed,
   * set to the count it read when it found too few for a batch, and kept high after a full page (more may follow).
   * A third batch is looked for only once it reaches minBatchAlongside, not at every round while two batches run.
   */
  private enqueuedUnclaimed = 0;
  private readonly consumer: LogConsumer;
  private readonly loop: WorkerLoop<void>;
  private readonly clock: () => Date;
  private readonly random: () => number;

  constructor(private readonly opts: SyncPipelineOptions) {
    this.clock = opts.clock ?? (() => new Date());
    this.random = opts.random ?? Math.random;
    this.consumer = new LogConsumer({ connection: opts.connection, events: opts.events, name: CURSOR_ID, types: SYNC_EVENT_TYPES, batchSize: BATCH });
    this.loop = new WorkerLoop({
      work: (pass) => this.round(pass.leaseTaken),
      lease: opts.lease,
      logger: opts.logger,
      failure: 'sync pipeline round failed',
      runOnStart: true,
      // Jobs outlive the round that started them; the lease is given up only once they are done.
      drain: () => Promise.allSettled([...this.running]),
    });
  }

  async init(): Promise<void> {
    await Promise.all([this.opts.models.SyncJob.init(), this.opts.models.Cursor.init(), this.opts.models.Reconciliation.init()]);
  }

  /** seq of the last event consumed (durable). */
  consumedUpTo(): Promise<number> {
    return this.consumer.position();
  }

  /** One round: consume new events (lease holder only), then start due jobs. Never overlaps itself. */
  async tick(): Promise<void> {
    await this.loop.runNow();
  }

  private async round(tookLease: boolean): Promise<void> {
    if (tookLease) await this.takeOverRunningJobs();
    await this.consume();
    await this.startDueJobs();
  }

  /** Jobs left RUNNING by an earlier holder (it died or lost the lease) run again now rather than at runUntil. */
  private async takeOverRunningJobs(): Promise<void> {
    const orphans = await this.opts.models.SyncJob.updateMany({ status: 'RUNNING', runner: { $ne: this.opts.lease.owner } }, { $set: { status: 'PENDING', runUntil: null, runner: null } });
    this.mayBePending();
    this.enqueuedUnclaimed += orphans.modifiedCount;
    if (orphans.modifiedCount) this.opts.logger.info({ jobs: orphans.modifiedCount }, 'took over sync jobs left running by an earlier instance');
  }

  private async consume(): Promise<void> {
    // Jobs first, position after: a crash in between replays the batch, and the unique claim key absorbs it.
    await this.consumer.consume({
      handle: (batch) => this.enqueue(batch.filter((e) => e.type === 'CLAIM_APPROVED')),
      saved: (batch) => this.publish(batch),
      more: () => this.opts.lease.held,
    });
  }

  private async publish(batch: DomainEvent[]): Promise<void> {
    if (!this.opts.bus) return;
    const events: BusEvent[] = batch.map((e) => ({ seq: formatSeq(e.seq), type: e.type, audience: eventAudience(e) }));
    try {
      await this.opts.bus.publish(events);
    } catch (err) {
      // Subscribers also poll the log now and then; a missed doorbell only delays them.
      this.opts.logger.warn({ err: (err as Error).message }, 'publishing sync events failed');
    }
  }

  /** One job per approved claim (an upsert: an event consumed again finds its job), all in one command. */
  private async enqueue(approvals: DomainEvent[]): Promise<void> {
    if (!approvals.length) return;
    const now = this.clock();
    await this.opts.models.SyncJob.bulkWrite(
      approvals.map((event) => {
        const p = event.payload as { claimId?: string; claimNo?: string; applicantId?: string; departmentId?: string; approvedAt?: string | null };
        const claimId = p.claimId ?? event.subject.id;
        return {
          updateOne: {
            filter: { claimId },
            update: {
              $setOnInsert: {
                claimId,
                claimNo: p.claimNo ?? '',
                applicantId: p.applicantId ?? '',
                departmentId: p.departmentId ?? '',
                eventSeq: event.seq,
                approvedAt: p.approvedAt ? new Date(p.approvedAt) : new Date(event.occurredAt),
                status: 'PENDING',
                attempts: 0,
                attemptLimit: this.opts.maxAttempts,
                lastError: null,
                createdAt: now,
                nextAttemptAt: now,
                // Its runs continue the approval's trace, in whichever process runs them (platform/tracing.ts).
                ...(event.traceparent ? { traceparent: event.traceparent } : {}),
              },
            },
            upsert: true,
          },
        };
      }),
      // In order: should one fail, the position stays before it and the batch is consumed again.
      { ordered: true },
    );
    this.enqueuedUnclaimed += approvals.length;
    this.mayBePending();
  }

  /** A job may have become PENDING (written just now): the next claim looks. */
  private mayBePending(): void {
    this.pendingGeneration++;
    this.noPendingAt = -Infinity;
  }

  /**
   * Starts batches while slots are free. Two run with whatever waits, so one books its vouchers while the other is
   * filed; a third or more needs minBatchAlongside new jobs: the archive files one batch at a time (its chain is one
   * lane), so more small batches side by side only queue there, each paying the per-batch cost (a transaction, seals)
   * for a few claims. A backlog still fills every slot with full batches.
   */
  private async startDueJobs(): Promise<void> {
    const limit = this.opts.concurrency ?? 4;
    const batchSize = this.opts.batchSize ?? BATCH_SIZE;
    while (!this.loop.stopped && this.running.size < limit) {
      const jobs = await this.claimDueJobs(batchSize, this.running.size < PIPELINED ? 1 : (this.opts.minBatchAlongside ?? Math.ceil(batchSize / 4)));
      if (!jobs.length) return;
      const run: Promise<void> = this.runBatch(jobs)
        .catch((err: unknown) => this.opts.logger.error({ err, jobs: jobs.length }, 'sync job bookkeeping failed'))
        .finally(() => {
          this.running.delete(run);
          // A finished batch frees a slot; more may be waiting.
          setImmediate(() => this.loop.wake());
        });
      this.running.add(run);
    }
  }

  /** Takes up to `max` jobs: retries that are due and runs that hung first (few, oldest first), then new ones, if `min` are waiting. */
  private async claimDueJobs(max: number, min: number): Promise<SyncJobDoc[]> {
    const jobs: SyncJobDoc[] = [];
    while (jobs.length < max && !this.loop.stopped) {
      const job = await this.claimRetry();
      if (!job) break;
      jobs.push(job);
    }
    if (jobs.length < max && !this.loop.stopped) jobs.push(...(await this.claimNew(max - jobs.length, Math.max(1, min - jobs.length))));
    return jobs;
  }

  private take(now: Date) {
    return { $set: { status: 'RUNNING', startedAt: now, runner: this.opts.lease.owner, runUntil: new Date(now.getTime() + (this.opts.runTimeoutMs ?? 60_000)) }, $inc: { attempts: 1 } };
  }

  /**
   * A retry that is due or a run that hung, oldest first; new jobs are read apart off the { status, eventSeq } index:
   * one $or over all three sorted every pending job to take one, which made a backlog of n jobs cost n² reads.
   */
  private async claimRetry(): Promise<SyncJobDoc | null> {
    const now = this.clock();
    return this.opts.models.SyncJob.findOneAndUpdate(
      { $or: [{ status: 'FAILED', nextAttemptAt: { $lte: now } }, { status: 'RUNNING', runUntil: { $lt: now } }] },
      this.take(now),
      { sort: { eventSeq: 1 }, returnDocument: 'after' },
    ).lean<SyncJobDoc>();
  }

  /**
   * The oldest new jobs, up to `max`, in three commands whatever their number: their ids off the index, one update that
   * takes those still PENDING (a job taken meanwhile by another holder is not taken again), and the jobs this claim
   * took, known by its start time and runner.
   */
  private async claimNew(max: number, min = 1): Promise<SyncJobDoc[]> {
    // New jobs come from this holder's own consumption (which clears the mark); one set PENDING elsewhere (a retry
    // answered by another instance) is found within PENDING_RECHECK_MS.
    if (Date.now() - this.noPendingAt < PENDING_RECHECK_MS) return [];
    if (min > 1 && this.enqueuedUnclaimed < min) return [];
    const generation = this.pendingGeneration;
    const { SyncJob } = this.opts.models;
    const ids = (await SyncJob.find({ status: 'PENDING' }, { _id: 1 }).sort({ eventSeq: 1 }).limit(max).lean<{ _id: SyncJobDoc['_id'] }[]>()).map((j) => j._id);
    // Too few to run beside the running batches: they wait for one to end (which wakes the loop).
    if (ids.length < min) {
      this.enqueuedUnclaimed = ids.length;
      return [];
    }
    // Only if nothing was enqueued while the query ran (it may not have seen that job).
    if (ids.length < max && generation === this.pendingGeneration) this.noPendingAt = Date.now();
    if (!ids.length) return [];
    const now = this.clock();
    const taken = await SyncJob.updateMany({ _id: { $in: ids }, status: 'PENDING' }, this.take(now));
    const left = Math.max(0, this.enqueuedUnclaimed - taken.modifiedCount);
    this.enqueuedUnclaimed = ids.length === max ? Math.max(left, max) : left;
    if (!taken.modifiedCount) return [];
    return SyncJob.find({ _id: { $in: ids }, status: 'RUNNING', startedAt: now, runner: this.opts.lease.owner }).sort({ eventSeq: 1 }).lean<SyncJobDoc[]>();
  }

  /**
   * Runs jobs together: their claims are read at once and booked with one generateVouchers and one fileVouchers
   * call, so the archive numbers, chains and announces the lot in one transaction each instead of two per claim.
   * Those calls are all or nothing; a batch the archive refuses (one claim it cannot book) runs again job by job,
   * where each succeeds or fails for its own reason; a batch it does not answer (timeout, unreachable) fails each
   * job for this attempt, to be retried after its backoff. Both calls are idempotent, so what the batch made is found
   * again.
   */
  private async runBatch(jobs: SyncJobDoc[]): Promise<void> {
    if (jobs.length === 1) return this.runJob(jobs[0]);
    // One span for the batch, in the first job's trace and linked to every job's (platform/tracing.ts).
    const links = jobs.flatMap((j) => {
      const sc = j.traceparent ? trace.getSpanContext(contextOf(j.traceparent)) : undefined;
      return sc ? [{ context: sc }] : [];
    });
    return inSpan('sync', 'sync jobs', { kind: SpanKind.CONSUMER, links, attributes: { 'sync.jobs': jobs.length } }, contextOf(jobs[0].traceparent), () => this.runJobs(jobs));
  }

  private async runJobs(jobs: SyncJobDoc[]): Promise<void> {
    const claims = await approvedClaimsOf(jobs, this.opts.events, this.opts.oa);
    const together: Array<{ job: SyncJobDoc; claim: ApprovedClaimInput }> = [];
    const alone: SyncJobDoc[] = [];
    for (const [i, job] of jobs.entries()) {
      const claim = claims[i];
      if (claim instanceof Error) alone.push(job);
      else {
        try {
          together.push({ job, claim: applyCorrections(claim, job.corrections ?? []) });
        } catch {
          alone.push(job);
        }
      }
    }
    if (together.length < 2) alone.push(...together.splice(0).map((t) => t.job));
    let filed: Array<FiledRecord & { voucherId: string }> | null = null;
    let unanswered: SubgraphCallError | null = null;
    if (together.length) {
      try {
        const { generateVouchers } = await this.opts.archive<{ generateVouchers: { id: string }[] }>(GENERATE_VOUCHERS, { claims: together.map((t) => t.claim) });
        const { fileVouchers } = await this.opts.archive<{ fileVouchers: FiledRecord[] }>(FILE_VOUCHERS, { voucherIds: generateVouchers.map((v) => v.id) });
        if (generateVouchers.length === together.length && fileVouchers.length === together.length) filed = fileVouchers.map((r, i) => ({ ...r, voucherId: generateVouchers[i].id }));
      } catch (err) {
        if (err instanceof SubgraphCallError && (err.failure === 'timeout' || err.failure === 'unreachable')) {
          // No answer: the archive may still be doing the batch. Run alone, every job would call it again at once (a
          // hundred calls on a busy archive: how filing collapsed under the documents benchmark); the jobs retry after
          // their backoff instead, together again, and the idempotent calls find what the first one made.
          unanswered = err;
        } else {
          // Run job by job below, where each job's own error is recorded on it.
          this.opts.logger.info({ err: (err as Error).message, jobs: together.length }, 'the archive refused a batch of sync jobs; running them one by one');
        }
      }
      if (!filed && !unanswered) alone.push(...together.map((t) => t.job));
    }
    const retried = unanswered ? together.map(({ job }) => this.failUnanswered(job, unanswered!)) : [];
    await Promise.all([filed ? this.succeeded(together, filed) : null, ...retried, ...alone.map((job) => this.runJob(job))]);
  }

  /** Marks jobs of a batch SUCCEEDED (one write for the lot), with their records. */
  private async succeeded(batch: ReadonlyArray<{ job: SyncJobDoc; claim: ApprovedClaimInput }>, records: ReadonlyArray<FiledRecord & { voucherId: string }>): Promise<void> {
    const completedAt = this.clock();
    const done = batch.map(({ job, claim }, i) => ({ job, lagMs: lagOf(claim, records[i]), record: records[i] }));
    const { SyncJob } = this.opts.models;
    const res = await SyncJob.bulkWrite(
      done.map(({ job, lagMs, record }) => ({
        updateOne: {
          filter: { _id: job._id, status: 'RUNNING', startedAt: job.startedAt },
          update: { $set: { status: 'SUCCEEDED', completedAt, lastError: null, nextAttemptAt: null, runUntil: null, voucherId: record.voucherId, archiveRecordId: record.id, lagMs, usabilityProblems: problemsOf(record) } },
        },
      })),
      { ordered: false },
    );
    // A job whose run was taken over meanwhile (it hung past runUntil) is not this run's to count.
    const mine = res.modifiedCount === done.length ? null : new Set((await SyncJob.find({ _id: { $in: done.map((d) => d.job._id) }, completedAt }, { _id: 1 }).lean<{ _id: SyncJobDoc['_id'] }[]>()).map((j) => j._id.toHexString()));
    for (const d of done) {
      if (!mine || mine.has(d.job._id.toHexString())) this.opts.metrics?.jobSucceeded(d.lagMs);
      await this.record(d.job, d.job.startedAt!, 'OK', 'generateVouchers,fileVouchers');
    }
  }

  /** One job, in a span continuing the trace of the approval that caused it (its event's traceparent). */
  private runJob(job: SyncJobDoc): Promise<void> {
    const attributes = { 'sync.claim_id': job.claimId, 'sync.attempt': job.attempts };
    return inSpan('sync', 'sync job', { kind: SpanKind.CONSUMER, attributes }, contextOf(job.traceparent), () => this.runJobNow(job));
  }

  private async runJobNow(job: SyncJobDoc): Promise<void> {
    const started = job.startedAt!;
    let voucherId: string | null = job.voucherId;
    try {
      // The snapshot in the job's CLAIM_APPROVED event; oa is asked only for events appended before it was written.
      // With an ADMIN's corrections of its presentation, if any (corrections.ts).
      const claim = applyCorrections(await approvedClaimOf(job, this.opts.events, this.opts.oa), job.corrections ?? []);
      const { generateVoucher } = await this.opts.archive<{ generateVoucher: { id: string } }>(GENERATE_VOUCHER, { claim });
      voucherId = generateVoucher.id;
      const { fileVoucher } = await this.opts.archive<{ fileVoucher: FiledRecord }>(FILE_VOUCHER, { voucherId });
      const completedAt = this.clock();
      const lagMs = lagOf(claim, fileVoucher);
      const done = await this.opts.models.SyncJob.updateOne(
        { _id: job._id, status: 'RUNNING', startedAt: started },
        { $set: { status: 'SUCCEEDED', completedAt, lastError: null, nextAttemptAt: null, runUntil: null, voucherId, archiveRecordId: fileVoucher.id, lagMs, usabilityProblems: problemsOf(fileVoucher) } },
      );
      if (done.modifiedCount) this.opts.metrics?.jobSucceeded(lagMs);
      await this.record(job, started, 'OK');
    } catch (err) {
      const span = trace.getActiveSpan();
      if (span) failSpan(span, err);
      await this.fail(job, started, voucherId, err);
      await this.record(job, started, outcomeOf(err));
    }
  }

  /** A job of a batch the archive did not answer: failed for this attempt (retried after its backoff, or DEAD). */
  private async failUnanswered(job: SyncJobDoc, err: SubgraphCallError): Promise<void> {
    await this.fail(job, job.startedAt!, job.voucherId, err);
    await this.record(job, job.startedAt!, outcomeOf(err), 'generateVouchers,fileVouchers');
  }

  /** The job's entry in the audit trail, naming the archive's mutations that booked it. */
  private async record(job: SyncJobDoc, started: Date, outcome: string, calls = 'generateVoucher,fileVoucher'): Promise<void> {
    if (!this.opts.audit) return;
    const action = `mutation ${calls} for ${job.claimNo || job.claimId}`;
    await this.opts
      .audit({ at: started, action, operationName: null, outcome, durationMs: this.clock().getTime() - started.getTime() })
      .catch((err: unknown) => this.opts.logger.warn({ err: (err as Error).message }, 'could not record a sync job in the audit trail'));
  }

  private async fail(job: SyncJobDoc, started: Date, voucherId: string | null, err: unknown): Promise<void> {
    const known = err instanceof SubgraphCallError;
    if (!known) this.opts.logger.error({ err, claimId: job.claimId }, 'sync job failed unexpectedly');
    const reason = known ? err.message : 'internal error in the sync service';
    const limit = job.attemptLimit;
    const dead = (known && !err.retryable) || job.attempts >= limit;
    const now = this.clock();
    const delay = Math.min(this.opts.maxDelayMs, this.opts.baseDelayMs * 2 ** Math.max(0, job.attempts - 1));
    // Jitter in [½, 1] of the delay: failures that started together do not retry together.
    const nextAttemptAt = dead ? null : new Date(now.getTime() + Math.round(delay * (0.5 + this.random() / 2)));
    const detail = `${job.claimNo || job.claimId}: attempt ${job.attempts} of ${limit} failed: ${reason}${dead ? '; job is DEAD' : `; next attempt at ${nextAttemptAt!.toISOString()}`}`;
    let updated = false;
    await transaction(this.opts.connection, async (session) => {
      const res = await this.opts.models.SyncJob.updateOne(
        { _id: job._id, status: 'RUNNING', startedAt: started },
        { $set: { status: dead ? 'DEAD' : 'FAILED', lastError: reason, nextAttemptAt, runUntil: null, voucherId } },
        { session },
      );
      updated = res.modifiedCount === 1;
      if (!updated) return;
      await this.opts.events.append(session, {
        type: 'SYNC_FAILED',
        subject: { type: 'ExpenseClaim', id: job.claimId },
        actor: 'sync',
        payload: { claimId: job.claimId, claimNo: job.claimNo, applicantId: job.applicantId, departmentId: job.departmentId, jobId: job._id.toHexString(), attempts: job.attempts, dead, detail },
      });
    });
    if (!updated) return;
    this.opts.metrics?.jobFailed(dead);
    this.opts.logger.warn({ claimId: job.claimId, attempts: job.attempts, dead, reason }, dead ? 'sync job is dead' : 'sync job failed; will retry');
  }

  /** retrySyncJob: a DEAD or FAILED job runs again now, with a fresh allowance of attempts. */
  async retry(id: string): Promise<SyncJobDoc | null> {
    const job = await this.opts.models.SyncJob.findById(id).lean<SyncJobDoc>();
    if (!job) return null;
    if (job.status !== 'DEAD' && job.status !== 'FAILED') return job;
    const revived = await this.opts.models.SyncJob.findOneAndUpdate(
      { _id: job._id, status: job.status },
      { $set: { status: 'PENDING', nextAttemptAt: this.clock(), attemptLimit: job.attempts + this.opts.maxAttempts } },
      { returnDocument: 'after' },
    ).lean<SyncJobDoc>();
    this.mayBePending();
    void this.tick().catch(() => undefined);
    return revived ?? (await this.opts.models.SyncJob.findById(id).lean<SyncJobDoc>());
  }

  /**
   * correctSyncJob: stores an ADMIN's correction of a DEAD or FAILED job's claim presentation (who, when, why),
   * records it in the audit trail, and retries the job, which applies it (corrections.ts).
   */
  async correct(id: string, input: SyncJobCorrectionInput, reason: string, by: { sub: string; roles: readonly string[] }): Promise<SyncJobDoc | null> {
    const job = await this.opts.models.SyncJob.findById(id).lean<SyncJobDoc>();
    if (!job) return null;
    if (job.status !== 'DEAD' && job.status !== 'FAILED') throw conflict(`the sync job of ${job.claimNo || job.claimId} is ${job.status}; only DEAD or FAILED jobs are corrected`);
    const correction = checkCorrection(input, reason, by.sub, this.clock());
    // The item indexes must be the claim's: checked against the claim the job books, before anything is stored.
    applyCorrections(await approvedClaimOf(job, this.opts.events, this.opts.oa), [...(job.corrections ?? []), correction]);
    const stored = await this.opts.models.SyncJob.updateOne({ _id: job._id, status: job.status }, { $push: { corrections: correction } });
    if (!stored.modifiedCount) throw conflict(`the sync job of ${job.claimNo || job.claimId} changed meanwhile; read it again`);
    // The audit trail's action grammar (subgraphs/operations/audit/trail.ts) admits no free text: the fields corrected
    // are named here; the texts and the reason stay on the job (SyncJob.corrections).
    const fields = correctedFields(correction).map((f) => f.replace(/\[(\d+)\]/g, '.$1'));
    await this.opts
      .audit?.({
        at: correction.correctedAt,
        action: clip(`correctSyncJob for ${job.claimNo || job.claimId}: ${fields.join(', ')}`, 300),
        operationName: null,
        outcome: 'OK',
        durationMs: 0,
        actor: by.sub,
        roles: [...by.roles],
      })
      .catch((err: unknown) => this.opts.logger.warn({ err: (err as Error).message }, 'could not record a sync job correction in the audit trail'));
    return this.retry(id);
  }

  /** Ticks now, then every `intervalMs` and whenever woken; stop() waits for running jobs. */
  start(intervalMs: number): void {
    this.loop.start(intervalMs);
  }

  /** Runs a round soon (an event was just appended in this process). */
  wake(): void {
    this.loop.wake();
  }

  /** Waits for the round in flight and the running jobs, then gives the lease up. */
  stop(): Promise<void> {
    return this.loop.stop();
  }
}

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
import { approvedClaimOf } from './approved-claim.ts';
import { eventAudience } from './context.ts';
import { type SyncJobCorrectionInput, applyCorrections, checkCorrection, correctedFields } from './corrections.ts';
import { conflict } from '../../platform/graphql.ts';
import { clip } from '../../platform/text-policy.ts';
import type { SyncJobDoc, SyncModels } from './models.ts';
import type { SubgraphCall } from './subgraph-client.ts';
import { SYNC_EVENT_TYPES, formatSeq } from './sync-events.ts';
import type { SyncMetrics } from './metrics.ts';
import { type SyncAuditEntry, SyncJobRunner } from './job-runner.ts';

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

/** The pipeline's position in sync_cursors. */
const CURSOR_ID = 'pipeline';
const BATCH = 200;

/**
 * Jobs of one batch by default: the most generateVouchers and fileVouchers take (schema/archive.graphql). At 50
 * approvals/s in the real system, batches of 100 held the lag p99 at 4 s where batches of 25 let it grow to 10 to 22 s
 * (README.md, the soak's BENCH_SOAK_APPROVALS).
 */
const BATCH_SIZE = 100;

/** Batches that start with whatever waits: one booking its vouchers, one being filed. */
const PIPELINED = 2;

/** How long "no PENDING job" found by a claim is believed, unless this pipeline enqueued one meanwhile. */
const PENDING_RECHECK_MS = 200;

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
  /** Consumes and announces the log (lease holder only). */
  private readonly loop: WorkerLoop<void>;
  /**
   * Claims due jobs and starts their batches, beside consumption: a round that did both in turn held each announcement
   * back by a claim's commands (four round trips), and under load the claims made most of the way from a filing's
   * commit to its subscribers.
   */
  private readonly jobsLoop: WorkerLoop<void>;
  private readonly clock: () => Date;
  private readonly runner: SyncJobRunner;

  constructor(private readonly opts: SyncPipelineOptions) {
    this.clock = opts.clock ?? (() => new Date());
    this.runner = new SyncJobRunner({ ...opts, clock: this.clock, random: opts.random ?? Math.random });
    this.consumer = new LogConsumer({ connection: opts.connection, events: opts.events, name: CURSOR_ID, types: SYNC_EVENT_TYPES, batchSize: BATCH });
    this.jobsLoop = new WorkerLoop({ work: () => this.startDueJobs(), logger: opts.logger, failure: 'starting sync jobs failed' });
    this.loop = new WorkerLoop({
      work: (pass) => this.round(pass.leaseTaken),
      lease: opts.lease,
      logger: opts.logger,
      failure: 'sync pipeline round failed',
      runOnStart: true,
      // No batch starts once stopping, and batches outlive the pass that started them: the lease is given up only
      // once they are done.
      drain: async () => {
        await this.jobsLoop.stop();
        await Promise.allSettled([...this.running]);
      },
    });
  }

  async init(): Promise<void> {
    await Promise.all([this.opts.models.SyncJob.init(), this.opts.models.Cursor.init(), this.opts.models.Reconciliation.init()]);
  }

  /** seq of the last event consumed (durable). */
  consumedUpTo(): Promise<number> {
    return this.consumer.position();
  }

  /** One round: consume new events (lease holder only), then a pass that starts due jobs. */
  async tick(): Promise<void> {
    await this.loop.runNow();
    await this.jobsLoop.runNow();
  }

  /** Never overlaps itself; due jobs are started by the jobs loop, woken here and whenever a job may be waiting. */
  private async round(tookLease: boolean): Promise<void> {
    if (tookLease) await this.takeOverRunningJobs();
    await this.consume();
    // Retries come due with time: every round looks.
    this.jobsLoop.wake();
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

  /** A job may have become PENDING (written just now): the next claim looks, soon. */
  private mayBePending(): void {
    this.pendingGeneration++;
    this.noPendingAt = -Infinity;
    this.jobsLoop.wake();
  }

  /**
   * Starts batches while slots are free. Two run with whatever waits, so one books its vouchers while the other is
   * filed; a third or more needs minBatchAlongside new jobs: the archive files one batch at a time (its chain is one
   * lane), so more small batches side by side only queue there, each paying the per-batch cost (a transaction, seals)
   * for a few claims. A backlog still fills every slot with full batches.
   */
  private async startDueJobs(): Promise<void> {
    // Jobs are the lease holder's, as the log is (the main loop takes and renews the lease).
    if (!this.opts.lease.held) return;
    const limit = this.opts.concurrency ?? 4;
    const batchSize = this.opts.batchSize ?? BATCH_SIZE;
    while (!this.loop.stopped && this.running.size < limit) {
      const jobs = await this.claimDueJobs(batchSize, this.running.size < PIPELINED ? 1 : (this.opts.minBatchAlongside ?? Math.ceil(batchSize / 4)));
      if (!jobs.length) return;
      const run: Promise<void> = this.runner.runBatch(jobs)
        .catch((err: unknown) => this.opts.logger.error({ err, jobs: jobs.length }, 'sync job bookkeeping failed'))
        .finally(() => {
          this.running.delete(run);
          // A finished batch frees a slot; more may be waiting.
          setImmediate(() => this.jobsLoop.wake());
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
    this.jobsLoop.start(intervalMs);
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

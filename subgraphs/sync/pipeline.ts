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
import type { Logger } from '../../platform/logger.ts';
import { formatMoney, parseMoney } from '../../platform/money.ts';
import type { SyncJobDoc, SyncModels } from './models.ts';
import { SubgraphCallError, type SubgraphCall } from './subgraph-client.ts';
import { SYNC_EVENT_TYPES, formatSeq } from './sync-events.ts';
import type { SyncMetrics } from './metrics.ts';
import { transaction } from '../../platform/integration/transactions.ts';

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
  /** Jobs run at once by this instance. */
  concurrency?: number;
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
}

const CURSOR_ID = 'pipeline';
const BATCH = 200;

const CLAIM_QUERY = `query SyncClaim($id: ID!) {
  expenseClaim(id: $id) {
    id claimNo title category status approvedAt total
    applicant { id name }
    department { id }
    items { description amount occurredOn invoiceNo }
  }
}`;
const GENERATE_VOUCHER = `mutation SyncVoucher($claim: ApprovedClaimInput!) { generateVoucher(claim: $claim) { id } }`;
const FILE_VOUCHER = `mutation SyncFile($voucherId: ID!) { fileVoucher(voucherId: $voucherId) { id filedAt } }`;

interface OaClaim {
  id: string;
  claimNo: string;
  title: string;
  category: string;
  status: string;
  approvedAt: string | null;
  total: string;
  applicant: { id: string; name: string | null };
  department: { id: string };
  items: { description: string; amount: string; occurredOn: string; invoiceNo: string | null }[];
}

export class SyncPipeline {
  private position: number | null = null;
  private readonly running = new Set<Promise<void>>();
  private ticking: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly clock: () => Date;
  private readonly random: () => number;

  constructor(private readonly opts: SyncPipelineOptions) {
    this.clock = opts.clock ?? (() => new Date());
    this.random = opts.random ?? Math.random;
  }

  async init(): Promise<void> {
    await Promise.all([this.opts.models.SyncJob.init(), this.opts.models.Cursor.init(), this.opts.models.Reconciliation.init()]);
  }

  /** seq of the last event consumed (durable). */
  async consumedUpTo(): Promise<number> {
    return (await this.opts.models.Cursor.findById(CURSOR_ID).lean())?.seq ?? 0;
  }

  /** One round: consume new events (lease holder only), then start due jobs. Never overlaps itself. */
  tick(): Promise<void> {
    this.ticking ??= this.round().finally(() => (this.ticking = null));
    return this.ticking;
  }

  private async round(): Promise<void> {
    const wasHeld = this.opts.lease.held;
    if (!(await this.opts.lease.acquire())) {
      this.position = null; // another instance moves the position; re-read it if we take over
      return;
    }
    if (!wasHeld) await this.takeOverRunningJobs();
    await this.consume();
    await this.startDueJobs();
  }

  /** Jobs left RUNNING by an earlier holder (it died or lost the lease) run again now rather than at runUntil. */
  private async takeOverRunningJobs(): Promise<void> {
    const orphans = await this.opts.models.SyncJob.updateMany({ status: 'RUNNING', runner: { $ne: this.opts.lease.owner } }, { $set: { status: 'PENDING', runUntil: null, runner: null } });
    if (orphans.modifiedCount) this.opts.logger.info({ jobs: orphans.modifiedCount }, 'took over sync jobs left running by an earlier instance');
  }

  private async consume(): Promise<void> {
    this.position ??= await this.consumedUpTo();
    for (;;) {
      const batch = await this.opts.events.after(this.position, BATCH, [...SYNC_EVENT_TYPES]);
      if (!batch.length) return;
      for (const event of batch) if (event.type === 'CLAIM_APPROVED') await this.enqueue(event);
      const last = batch[batch.length - 1].seq;
      // Jobs first, position after: a crash in between replays the batch, and the unique claim key absorbs it.
      await this.opts.models.Cursor.updateOne({ _id: CURSOR_ID }, { $max: { seq: last } }, { upsert: true });
      this.position = last;
      await this.publish(batch);
      if (batch.length < BATCH || !this.opts.lease.held) return;
    }
  }

  private async publish(batch: DomainEvent[]): Promise<void> {
    if (!this.opts.bus) return;
    const events: BusEvent[] = batch.map((e) => ({ seq: formatSeq(e.seq), type: e.type }));
    try {
      await this.opts.bus.publish(events);
    } catch (err) {
      // Subscribers also poll the log now and then; a missed doorbell only delays them.
      this.opts.logger.warn({ err: (err as Error).message }, 'publishing sync events failed');
    }
  }

  private async enqueue(event: DomainEvent): Promise<void> {
    const p = event.payload as { claimId?: string; claimNo?: string; applicantId?: string; departmentId?: string; approvedAt?: string | null };
    const claimId = p.claimId ?? event.subject.id;
    const now = this.clock();
    await this.opts.models.SyncJob.updateOne(
      { claimId },
      {
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
        },
      },
      { upsert: true },
    );
  }

  private async startDueJobs(): Promise<void> {
    const limit = this.opts.concurrency ?? 4;
    while (!this.stopped && this.running.size < limit) {
      const job = await this.claimDueJob();
      if (!job) return;
      const run: Promise<void> = this.runJob(job)
        .catch((err: unknown) => this.opts.logger.error({ err, jobId: job._id.toHexString() }, 'sync job bookkeeping failed'))
        .finally(() => {
          this.running.delete(run);
          // A finished job frees a slot; more may be waiting.
          if (!this.stopped) setImmediate(() => void this.tick().catch(() => undefined));
        });
      this.running.add(run);
    }
  }

  private async claimDueJob(): Promise<SyncJobDoc | null> {
    const now = this.clock();
    return this.opts.models.SyncJob.findOneAndUpdate(
      {
        $or: [
          { status: 'PENDING' },
          { status: 'FAILED', nextAttemptAt: { $lte: now } },
          { status: 'RUNNING', runUntil: { $lt: now } },
        ],
      },
      { $set: { status: 'RUNNING', startedAt: now, runner: this.opts.lease.owner, runUntil: new Date(now.getTime() + (this.opts.runTimeoutMs ?? 60_000)) }, $inc: { attempts: 1 } },
      { sort: { eventSeq: 1 }, returnDocument: 'after' },
    ).lean<SyncJobDoc>();
  }

  private async runJob(job: SyncJobDoc): Promise<void> {
    const started = job.startedAt!;
    let voucherId: string | null = job.voucherId;
    try {
      const { expenseClaim: claim } = await this.opts.oa<{ expenseClaim: OaClaim | null }>(CLAIM_QUERY, { id: job.claimId });
      if (!claim) throw new SubgraphCallError(`claim ${job.claimNo || job.claimId} not found in OA`, false);
      if (claim.status !== 'APPROVED' || !claim.approvedAt) throw new SubgraphCallError(`claim ${claim.claimNo} is ${claim.status}, not APPROVED`, false);
      const { generateVoucher } = await this.opts.archive<{ generateVoucher: { id: string } }>(GENERATE_VOUCHER, { claim: approvedClaimInput(claim) });
      voucherId = generateVoucher.id;
      const { fileVoucher } = await this.opts.archive<{ fileVoucher: { id: string; filedAt: string } }>(FILE_VOUCHER, { voucherId });
      const completedAt = this.clock();
      const lagMs = Math.max(0, new Date(fileVoucher.filedAt).getTime() - new Date(claim.approvedAt).getTime());
      const done = await this.opts.models.SyncJob.updateOne(
        { _id: job._id, status: 'RUNNING', startedAt: started },
        { $set: { status: 'SUCCEEDED', completedAt, lastError: null, nextAttemptAt: null, runUntil: null, voucherId, archiveRecordId: fileVoucher.id, lagMs } },
      );
      if (done.modifiedCount) this.opts.metrics?.jobSucceeded(lagMs);
      await this.record(job, started, 'OK');
    } catch (err) {
      await this.fail(job, started, voucherId, err);
      const code = err instanceof SubgraphCallError ? (/^\w+: ([A-Z_]+):/.exec(err.message)?.[1] ?? 'INTERNAL_SERVER_ERROR') : 'INTERNAL_SERVER_ERROR';
      await this.record(job, started, code);
    }
  }

  private async record(job: SyncJobDoc, started: Date, outcome: string): Promise<void> {
    if (!this.opts.audit) return;
    const action = `mutation generateVoucher,fileVoucher for ${job.claimNo || job.claimId}`;
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
    void this.tick().catch(() => undefined);
    return revived ?? (await this.opts.models.SyncJob.findById(id).lean<SyncJobDoc>());
  }

  /** Ticks every `intervalMs` and whenever woken; stop() waits for running jobs. */
  start(intervalMs: number): void {
    this.stopped = false;
    // The durable position is the truth; read it afresh.
    this.position = null;
    const loop = () => {
      this.tick()
        .catch((err: unknown) => this.opts.logger.error({ err: (err as Error).message }, 'sync pipeline round failed'))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(loop, intervalMs);
        });
    };
    loop();
  }

  /** Runs a round soon (an event was just appended in this process). */
  wake(): void {
    if (!this.stopped) void this.tick().catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.ticking?.catch(() => undefined);
    await Promise.allSettled([...this.running]);
    await this.opts.lease.release().catch(() => undefined);
  }
}

function approvedClaimInput(c: OaClaim) {
  return {
    claimId: c.id,
    claimNo: c.claimNo,
    title: c.title,
    category: c.category,
    applicantId: c.applicant.id,
    applicantName: c.applicant.name,
    departmentId: c.department.id,
    approvedAt: c.approvedAt,
    // Re-formatted through the exact parser: what OA sent must be a valid amount to the fen.
    total: formatMoney(parseMoney(c.total)),
    items: c.items.map((i) => ({ description: i.description, amount: i.amount, occurredOn: i.occurredOn, invoiceNo: i.invoiceNo })),
  };
}

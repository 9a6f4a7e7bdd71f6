// Runs the sync pipeline's jobs (pipeline.ts claims them): a batch's claims are booked with one generateVouchers and
// one fileVouchers call to the archive; a job alone with generateVoucher and fileVoucher. Each run ends with the job
// SUCCEEDED, FAILED (retried after a jittered backoff) or DEAD, recorded in the audit trail; a failure also appends
// SYNC_FAILED. Every update is conditional on the run (status RUNNING, its start time), so a run taken over after it
// hung changes nothing when it ends late.
import type { Connection } from 'mongoose';
import type { EventLog } from '../../platform/integration/events.ts';
import { transaction } from '../../platform/integration/transactions.ts';
import type { Logger } from '../../platform/logger.ts';
import { SpanKind, contextOf, failSpan, inSpan, trace } from '../../platform/tracing.ts';
import { type ApprovedClaimInput, approvedClaimOf, approvedClaimsOf } from './approved-claim.ts';
import { applyCorrections } from './corrections.ts';
import type { SyncMetrics } from './metrics.ts';
import type { SyncJobDoc, SyncModels } from './models.ts';
import { SubgraphCallError, type SubgraphCall } from './subgraph-client.ts';

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

export interface SyncJobRunnerOptions {
  connection: Connection;
  events: EventLog;
  models: SyncModels;
  oa: SubgraphCall;
  archive: SubgraphCall;
  logger: Logger;
  metrics?: SyncMetrics;
  /** First retry delay; doubles per attempt, with jitter, up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
  clock: () => Date;
  random: () => number;
  /** Records what the pipeline did in the audit trail (its own actions, which no gateway sees). */
  audit?: (entry: SyncAuditEntry) => Promise<unknown>;
}

const GENERATE_VOUCHER = `mutation SyncVoucher($claim: ApprovedClaimInput!) { generateVoucher(claim: $claim) { id } }`;
const FILED_RECORD = 'id filedAt filingReport { passed results { property check passed detail } }';
const FILE_VOUCHER = `mutation SyncFile($voucherId: ID!) { fileVoucher(voucherId: $voucherId) { ${FILED_RECORD} } }`;
const GENERATE_VOUCHERS = `mutation SyncVouchers($claims: [ApprovedClaimInput!]!) { generateVouchers(claims: $claims) { id } }`;
const FILE_VOUCHERS = `mutation SyncFiles($voucherIds: [ID!]!) { fileVouchers(voucherIds: $voucherIds) { ${FILED_RECORD} } }`;

interface FiledRecord {
  id: string;
  filedAt: string;
  filingReport: { passed: boolean; results: { property: string; check: string; passed: boolean; detail: string }[] } | null;
}

/** Approval to filing, as the job reports it. */
const lagOf = (claim: ApprovedClaimInput, record: FiledRecord): number => Math.max(0, new Date(record.filedAt).getTime() - new Date(claim.approvedAt).getTime());

/** Filed despite its claim's texts: the problems stay on the job, where the ARCHIVE_USABILITY rule finds them. */
const problemsOf = (record: FiledRecord): string[] => (record.filingReport?.results ?? []).filter((r) => !r.passed).map((r) => `${r.property} ${r.check}: ${r.detail}`);

/** A failed job's outcome in the audit trail: the archive's error code, or INTERNAL_SERVER_ERROR. */
const outcomeOf = (err: unknown): string => (err instanceof SubgraphCallError ? (/^\w+: ([A-Z_]+):/.exec(err.message)?.[1] ?? 'INTERNAL_SERVER_ERROR') : 'INTERNAL_SERVER_ERROR');

export class SyncJobRunner {
  constructor(private readonly opts: SyncJobRunnerOptions) {}

  /**
   * Runs jobs together: their claims are read at once and booked with one generateVouchers and one fileVouchers
   * call, so the archive numbers, chains and announces the lot in one transaction each instead of two per claim.
   * Those calls are all or nothing; a batch the archive refuses (one claim it cannot book) runs again job by job,
   * where each succeeds or fails for its own reason; a batch it does not answer (timeout, unreachable) fails each
   * job for this attempt, to be retried after its backoff. Both calls are idempotent, so what the batch made is found
   * again.
   */
  async runBatch(jobs: SyncJobDoc[]): Promise<void> {
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
    const completedAt = this.opts.clock();
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
  runJob(job: SyncJobDoc): Promise<void> {
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
      const completedAt = this.opts.clock();
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
      .audit({ at: started, action, operationName: null, outcome, durationMs: this.opts.clock().getTime() - started.getTime() })
      .catch((err: unknown) => this.opts.logger.warn({ err: (err as Error).message }, 'could not record a sync job in the audit trail'));
  }

  private async fail(job: SyncJobDoc, started: Date, voucherId: string | null, err: unknown): Promise<void> {
    const known = err instanceof SubgraphCallError;
    if (!known) this.opts.logger.error({ err, claimId: job.claimId }, 'sync job failed unexpectedly');
    const reason = known ? err.message : 'internal error in the sync service';
    const limit = job.attemptLimit;
    const dead = (known && !err.retryable) || job.attempts >= limit;
    const now = this.opts.clock();
    const delay = Math.min(this.opts.maxDelayMs, this.opts.baseDelayMs * 2 ** Math.max(0, job.attempts - 1));
    // Jitter in [½, 1] of the delay: failures that started together do not retry together.
    const nextAttemptAt = dead ? null : new Date(now.getTime() + Math.round(delay * (0.5 + this.opts.random() / 2)));
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

}

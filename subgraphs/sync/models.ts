// The sync subgraph's own collections: jobs (one per approved claim, the unique key that makes consumption
// idempotent), the pipeline's durable position in the event log, and reconciliation runs.
import type { Connection, Model, Types } from 'mongoose';
import { Schema } from 'mongoose';
import { cursorModel } from '../../platform/integration/log-consumer.ts';

export type SyncJobStatus = 'PENDING' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'DEAD';

export interface SyncJobDoc {
  _id: Types.ObjectId;
  claimId: string;
  claimNo: string;
  applicantId: string;
  departmentId: string;
  /** seq of the CLAIM_APPROVED event the job came from. */
  eventSeq: number;
  approvedAt: Date;
  status: SyncJobStatus;
  attempts: number;
  /** DEAD once attempts reach this; retrySyncJob raises it by SYNC_MAX_ATTEMPTS. */
  attemptLimit: number;
  lastError: string | null;
  createdAt: Date;
  startedAt: Date | null;
  /** A RUNNING job whose runner died is taken over once this has passed. */
  runUntil: Date | null;
  /** Lease owner of the instance running it: a new lease holder takes over the jobs of the one before. */
  runner: string | null;
  nextAttemptAt: Date | null;
  completedAt: Date | null;
  voucherId: string | null;
  archiveRecordId: string | null;
  lagMs: number | null;
  /** ADMIN corrections of the claim's presentation, oldest first, applied when the job runs (corrections.ts). */
  corrections?: SyncJobCorrectionDoc[];
  /** What the record was filed with despite the claim's texts (its four-properties report); ARCHIVE_USABILITY alerts. */
  usabilityProblems?: string[];
  /** The traceparent of its CLAIM_APPROVED event: the job's runs continue the approval's trace (platform/tracing.ts). */
  traceparent?: string;
}

/** One correction: the presentation fields it replaces, and who made it, when and why. */
export interface SyncJobCorrectionDoc {
  title: string | null;
  applicantName: string | null;
  items: { index: number; description: string }[];
  reason: string;
  correctedBy: string;
  correctedAt: Date;
}

/** The partial index of the jobs whose record was filed with usability problems (a hint names it). */
export const USABILITY_PROBLEMS_INDEX = 'sync_jobs_with_usability_problems';

const jobSchema = new Schema<SyncJobDoc>(
  {
    claimId: { type: String, required: true, unique: true },
    claimNo: { type: String, required: true },
    applicantId: { type: String, required: true },
    departmentId: { type: String, required: true },
    eventSeq: { type: Number, required: true },
    approvedAt: { type: Date, required: true },
    status: { type: String, required: true },
    attempts: { type: Number, required: true, default: 0 },
    attemptLimit: { type: Number, required: true },
    lastError: { type: String, default: null },
    createdAt: { type: Date, required: true },
    startedAt: { type: Date, default: null },
    runUntil: { type: Date, default: null },
    runner: { type: String, default: null },
    nextAttemptAt: { type: Date, default: null },
    completedAt: { type: Date, default: null },
    voucherId: { type: String, default: null },
    archiveRecordId: { type: String, default: null },
    lagMs: { type: Number, default: null },
    corrections: { type: Schema.Types.Mixed, default: undefined },
    usabilityProblems: { type: [String], default: undefined },
    traceparent: { type: String },
  },
  { collection: 'sync_jobs', versionKey: false },
);
jobSchema.index({ status: 1, nextAttemptAt: 1 });
// The oldest new job first, read off the index rather than sorted from every pending one (pipeline.ts, claimDueJob).
jobSchema.index({ status: 1, eventSeq: 1 });
jobSchema.index({ completedAt: -1 });
// A run that hung (RUNNING past runUntil), looked for before every claim: without it each look read every running job
// (a few hundred of them at 50 approvals/s).
jobSchema.index({ status: 1, runUntil: 1 });
// syncStatus's lag over the jobs that succeeded in the last hour, read off the index in completedAt order: without it
// the plan read every job that ever succeeded by its status and sorted them, which held the database's one thread
// for up to 0.85 s in the 5-minute soak (status.ts).
jobSchema.index({ status: 1, completedAt: -1 });
// The jobs filed with usability problems, newest first (operations/alerts/rules.ts, ARCHIVE_USABILITY, which hints
// it): only those are in it, where the rule's query read every job that ever succeeded.
// (`_id` in its key: the key pattern of { completedAt: -1 } is taken by the index of every job.)
jobSchema.index({ completedAt: -1, _id: -1 }, { name: USABILITY_PROBLEMS_INDEX, partialFilterExpression: { usabilityProblems: { $type: 'string' } } });

export type DifferenceKind =
  | 'MISSING_VOUCHER'
  | 'MISSING_ARCHIVE_RECORD'
  | 'DUPLICATE_VOUCHER'
  | 'DUPLICATE_ARCHIVE_RECORD'
  | 'AMOUNT_MISMATCH'
  | 'UNBALANCED_VOUCHER'
  | 'VOUCHER_WITHOUT_APPROVED_CLAIM';

export interface DifferenceDoc {
  kind: DifferenceKind;
  claimId: string | null;
  claimNo: string | null;
  voucherId: string | null;
  archiveRecordId: string | null;
  expectedFen: number | null;
  actualFen: number | null;
  detail: string;
}

export interface ReconciliationDoc {
  _id: Types.ObjectId;
  fiscalYear: number;
  period: number;
  ranAt: Date;
  trigger: 'MANUAL' | 'SCHEDULED';
  ranBy: string;
  approvedClaims: number;
  vouchers: number;
  archiveRecords: number;
  differences: DifferenceDoc[];
}

const reconciliationSchema = new Schema<ReconciliationDoc>(
  {
    fiscalYear: Number,
    period: Number,
    ranAt: Date,
    trigger: String,
    ranBy: String,
    approvedClaims: Number,
    vouchers: Number,
    archiveRecords: Number,
    differences: { type: Schema.Types.Mixed, default: [] },
  },
  { collection: 'sync_reconciliations', versionKey: false },
);
reconciliationSchema.index({ ranAt: -1 });

function model<T>(connection: Connection, name: string, schema: Schema<T>): Model<T> {
  return (connection.models[name] as Model<T> | undefined) ?? connection.model<T>(name, schema);
}

export function syncModels(connection: Connection) {
  return {
    SyncJob: model(connection, 'SyncJob', jobSchema),
    // Consumer positions (the pipeline's, webhook delivery's): the one model, kept by platform/integration/log-consumer.ts.
    Cursor: cursorModel(connection),
    Reconciliation: model(connection, 'Reconciliation', reconciliationSchema),
  };
}
export type SyncModels = ReturnType<typeof syncModels>;

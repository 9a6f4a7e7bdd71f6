// Stored status samples (collection `status_samples`): one document per STATUS_SAMPLE_MS, written by the status
// sampler (sampler.ts) and read by systemStatusHistory (history.ts). A TTL index on `at` lets the database drop
// samples after 48 hours (the embedded engine honours expireAfterSeconds as MongoDB does: engine/server.ts); the
// same index serves the time ranges the history reads.
import type { Connection, Model, Types } from 'mongoose';
import { Schema } from 'mongoose';

/** How long samples are kept: the longest range systemStatusHistory answers. */
export const SAMPLE_RETENTION_MS = 48 * 60 * 60 * 1000;

export type Health = 'UP' | 'DOWN';

export interface SubgraphSampleDoc {
  name: string;
  status: Health;
  latencyMs: number | null;
}

export interface StatusSampleDoc {
  _id: Types.ObjectId;
  at: Date;
  database: Health;
  databaseLatencyMs: number | null;
  /** The probed subgraphs (oa, archive); the sync subgraph records the samples, so a gap in them is its outage. */
  subgraphs: SubgraphSampleDoc[];
  /** Sync jobs PENDING, RUNNING or FAILED (waiting for a retry). */
  backlog: number;
  deadJobs: number;
  /** Age of the oldest approval not yet filed (0: none waits). */
  oldestPendingMs: number;
  /** p95 of the approval-to-filing lag of the jobs completed since the previous sample (null: none completed). */
  lagP95Ms: number | null;
  /** Jobs completed since the previous sample. */
  synced: number;
  failingWebhooks: number;
  openAlerts: number;
  openSubscriptions: number;
}

const subgraphSchema = new Schema<SubgraphSampleDoc>({ name: String, status: String, latencyMs: { type: Number, default: null } }, { _id: false });

const sampleSchema = new Schema<StatusSampleDoc>(
  {
    at: { type: Date, required: true },
    database: { type: String, required: true },
    databaseLatencyMs: { type: Number, default: null },
    subgraphs: { type: [subgraphSchema], default: [] },
    backlog: { type: Number, required: true },
    deadJobs: { type: Number, required: true },
    oldestPendingMs: { type: Number, required: true },
    lagP95Ms: { type: Number, default: null },
    synced: { type: Number, required: true },
    failingWebhooks: { type: Number, required: true },
    openAlerts: { type: Number, required: true },
    openSubscriptions: { type: Number, required: true },
  },
  { collection: 'status_samples', versionKey: false, minimize: false },
);
sampleSchema.index({ at: 1 }, { expireAfterSeconds: SAMPLE_RETENTION_MS / 1000 });

export function statusSampleModel(connection: Connection): Model<StatusSampleDoc> {
  return (connection.models.StatusSample as Model<StatusSampleDoc> | undefined) ?? connection.model<StatusSampleDoc>('StatusSample', sampleSchema);
}

// Stored alerts. An alert is open (OPEN or ACKNOWLEDGED) or RESOLVED; while open, the same rule and subject
// (its dedupKey) count on it instead of raising another, which a unique index on open alerts guarantees even
// when two evaluations race.
import type { Connection, Model, Types } from 'mongoose';
import { Schema } from 'mongoose';

export type AlertStatus = 'OPEN' | 'ACKNOWLEDGED' | 'RESOLVED';
export type Severity = 'INFO' | 'WARNING' | 'CRITICAL';
export type AlertActionKind = 'RETRY_SYNC_JOB' | 'REPLAY_WEBHOOK_DELIVERY' | 'RERUN_RECONCILIATION' | 'VERIFY_ARCHIVE_CHAIN';

export interface AlertActionDoc {
  kind: AlertActionKind;
  target: string | null;
  label: string;
}

export interface AlertDoc {
  _id: Types.ObjectId;
  rule: string;
  severity: Severity;
  status: AlertStatus;
  message: string;
  subject: string | null;
  dedupKey: string;
  /** Set while OPEN or ACKNOWLEDGED (the unique index covers only these). */
  open?: true;
  raisedAt: Date;
  lastSeenAt: Date;
  count: number;
  acknowledgedAt: Date | null;
  acknowledgedBy: string | null;
  resolvedAt: Date | null;
  resolvedBy: string | null;
  resolution: string | null;
  actions: AlertActionDoc[];
}

const alertSchema = new Schema<AlertDoc>(
  {
    rule: { type: String, required: true },
    severity: { type: String, required: true },
    status: { type: String, required: true },
    message: { type: String, required: true },
    subject: { type: String, default: null },
    dedupKey: { type: String, required: true },
    open: { type: Boolean },
    raisedAt: { type: Date, required: true },
    lastSeenAt: { type: Date, required: true },
    count: { type: Number, required: true },
    acknowledgedAt: { type: Date, default: null },
    acknowledgedBy: { type: String, default: null },
    resolvedAt: { type: Date, default: null },
    resolvedBy: { type: String, default: null },
    resolution: { type: String, default: null },
    actions: { type: Schema.Types.Mixed, default: [] },
  },
  { collection: 'alerts', versionKey: false, minimize: false },
);
alertSchema.index({ dedupKey: 1 }, { unique: true, partialFilterExpression: { open: true } });
alertSchema.index({ status: 1, raisedAt: -1 });

export interface GatewayInstanceDoc {
  _id: string;
  openSubscriptions: number;
  seenAt: Date;
}
const gatewaySchema = new Schema<GatewayInstanceDoc>({ _id: String, openSubscriptions: Number, seenAt: Date }, { collection: 'gateway_instances', versionKey: false });

export interface SubgraphHealthDoc {
  _id: string;
  status: 'UP' | 'DOWN';
  latencyMs: number | null;
  checkedAt: Date;
  failures: number;
}
const healthSchema = new Schema<SubgraphHealthDoc>(
  { _id: String, status: String, latencyMs: { type: Number, default: null }, checkedAt: Date, failures: Number },
  { collection: 'subgraph_health', versionKey: false },
);

function model<T>(connection: Connection, name: string, schema: Schema<T>): Model<T> {
  return (connection.models[name] as Model<T> | undefined) ?? connection.model<T>(name, schema);
}

export function operationsModels(connection: Connection) {
  return {
    Alert: model(connection, 'Alert', alertSchema),
    GatewayInstance: model(connection, 'GatewayInstance', gatewaySchema),
    SubgraphHealth: model(connection, 'SubgraphHealth', healthSchema),
  };
}
export type OperationsModels = ReturnType<typeof operationsModels>;

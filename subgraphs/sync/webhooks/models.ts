// Webhook collections. A delivery is one event for one webhook; the unique {webhookId, seq} key is what makes
// fan-out idempotent when two instances (or a retried tick) enqueue the same event.
import type { Connection, Model, Types } from 'mongoose';
import { Schema } from 'mongoose';

export interface WebhookDoc {
  _id: Types.ObjectId;
  url: string;
  types: string[];
  /** secrets.ts format; never leaves the service. */
  secretEnc: string;
  /** The secret before the last rotation, still signed with until `previousSecretExpiresAt` (null: none). */
  previousSecretEnc?: string | null;
  previousSecretExpiresAt?: Date | null;
  active: boolean;
  /** A GraphQL selection on SyncEvent whose answer each delivery carries as `data` (null: none). */
  selection?: string | null;
  /** The integration (API key) the selection runs as: its scopes decide what it may read. */
  apiKeyId?: Types.ObjectId | null;
  /**
   * Whether deliveries also carry the signature headers of before the Standard Webhooks ones (X-Delivery-Id,
   * X-Timestamp, X-Signature-256). Absent on webhooks registered before: true for them, during the deprecation.
   */
  legacyHeaders?: boolean;
  updatedAt?: Date | null;
  /** The log's horizon when the webhook was paused: its resumption enqueues the events after it. */
  pausedAtSeq?: number | null;
  /** Event-log head at registration: only events with a greater seq are delivered. */
  fromSeq: number;
  createdAt: Date;
  createdBy: string;
}

export const DELIVERY_STATUSES = ['PENDING', 'DELIVERED', 'FAILED', 'DEAD'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export interface WebhookDeliveryDoc {
  _id: Types.ObjectId;
  webhookId: Types.ObjectId;
  seq: number;
  eventType: string;
  /** The exact JSON sent; built once so retries and replays send identical bytes. */
  body: string;
  /** The webhook's selection is still to be run (at the first attempt, once) and its answer added as `data`. */
  dataPending?: boolean;
  status: DeliveryStatus;
  /** Every attempt ever made, replays included. */
  attempts: number;
  /** Value of `attempts` at the last replay: the retry budget and backoff count from here. */
  attemptsBase: number;
  replays: number;
  lastError: string | null;
  lastStatusCode: number | null;
  nextAttemptAt: Date | null;
  /** Set while one instance sends an attempt; others skip the delivery until it passes. */
  claimedUntil: Date | null;
  claimToken: string | null;
  createdAt: Date;
  deliveredAt: Date | null;
  /** The traceparent of its event (platform/tracing.ts): every attempt is a span of that trace. */
  traceparent?: string;
}

const webhookSchema = new Schema<WebhookDoc>(
  {
    url: { type: String, required: true },
    types: { type: [String], required: true },
    secretEnc: { type: String, required: true },
    previousSecretEnc: { type: String, default: null },
    previousSecretExpiresAt: { type: Date, default: null },
    active: { type: Boolean, required: true, default: true },
    selection: { type: String, default: null },
    apiKeyId: { type: Schema.Types.ObjectId, default: null },
    legacyHeaders: { type: Boolean },
    updatedAt: { type: Date, default: null },
    pausedAtSeq: { type: Number, default: null },
    fromSeq: { type: Number, required: true, default: 0 },
    createdAt: { type: Date, required: true },
    createdBy: { type: String, required: true },
  },
  { collection: 'webhooks', versionKey: false },
);

const deliverySchema = new Schema<WebhookDeliveryDoc>(
  {
    webhookId: { type: Schema.Types.ObjectId, required: true },
    seq: { type: Number, required: true },
    eventType: { type: String, required: true },
    body: { type: String, required: true },
    dataPending: { type: Boolean },
    status: { type: String, required: true, enum: DELIVERY_STATUSES },
    attempts: { type: Number, required: true, default: 0 },
    attemptsBase: { type: Number, required: true, default: 0 },
    replays: { type: Number, required: true, default: 0 },
    lastError: { type: String, default: null },
    lastStatusCode: { type: Number, default: null },
    nextAttemptAt: { type: Date, default: null },
    claimedUntil: { type: Date, default: null },
    claimToken: { type: String, default: null },
    createdAt: { type: Date, required: true },
    deliveredAt: { type: Date, default: null },
    traceparent: { type: String },
  },
  { collection: 'webhook_deliveries', versionKey: false },
);
deliverySchema.index({ webhookId: 1, seq: 1 }, { unique: true });
deliverySchema.index({ status: 1, nextAttemptAt: 1 });

function model<T>(connection: Connection, name: string, schema: Schema<T>): Model<T> {
  return (connection.models[name] as Model<T> | undefined) ?? connection.model<T>(name, schema);
}

export function webhookModels(connection: Connection) {
  return {
    Webhook: model(connection, 'Webhook', webhookSchema),
    WebhookDelivery: model(connection, 'WebhookDelivery', deliverySchema),
  };
}
export type WebhookModels = ReturnType<typeof webhookModels>;

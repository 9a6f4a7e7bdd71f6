// Webhook delivery, the background half of webhooks (service.ts holds their management). Each pass fans new sync
// events out into one delivery record per matching webhook (idempotently: unique {webhookId, seq}), advances a durable
// cursor, then sends what is due. A delivery is claimed atomically before it is sent, so instances that overlap (a
// lease holder that paused, or no lease at all) never send the same attempt twice at once. Failures back off
// exponentially with jitter and end as DEAD after maxAttempts. Each attempt is a span continuing the trace of the
// event's cause, and the request carries its `traceparent` (platform/tracing.ts; README "Observability / tracing").
import { randomUUID } from 'node:crypto';
import { Types } from 'mongoose';
import type { DomainEvent } from '../../../platform/integration/events.ts';
import { LogConsumer } from '../../../platform/integration/log-consumer.ts';
import { WorkerLoop } from '../../../platform/integration/worker-loop.ts';
import { SubgraphCallError, subgraphClient } from '../../../platform/integration/subgraph-client.ts';
import { SpanKind, TRACEPARENT, contextOf, currentTraceparent, inSpan } from '../../../platform/tracing.ts';
import { SYNC_EVENT_TYPES, formatSeq, toSyncEvent } from '../sync-events.ts';
import type { DeliveryStatus, WebhookDeliveryDoc, WebhookDoc, WebhookModels } from './models.ts';
import type { SecretBox } from './secrets.ts';
import { integrationPrincipal, selectionQuery } from './selection.ts';
import { send } from './send.ts';
import { signDelivery, standardSignature } from './signature.ts';
import type { ResolvedWebhookOptions, TickResult } from './service.ts';

/** How long a wake waits for more events before the pass (delivery is at least this much later than the event). */
const WAKE_DELAY_MS = 50;

/** Webhook delivery's position in sync_cursors. */
const CURSOR_ID = 'webhooks';
export const EVENT_BATCH = 500;
const MAX_BATCHES_PER_TICK = 10;
const MAX_SENDS_PER_TICK = 500;
/** A claim outlives the request timeout by this much, so it cannot lapse while its holder still waits. */
const CLAIM_MARGIN_MS = 30_000;

const USER_AGENT = 'oa-archive-sync-webhooks/1';

/** A webhook ready to send to: its secrets decrypted for this tick only. */
export interface Sendable {
  id: string;
  url: URL;
  /** The current secret first, then the previous one while its overlap lasts. */
  secrets: string[];
  legacyHeaders: boolean;
  selection: string | null;
  apiKeyId: string | null;
}

export class WebhookDeliveries {
  private readonly consumer: LogConsumer;
  private readonly loop: WorkerLoop<TickResult>;

  constructor(
    private readonly o: ResolvedWebhookOptions,
    private readonly models: WebhookModels,
    private readonly box: SecretBox,
  ) {
    this.consumer = new LogConsumer({ connection: o.connection, events: o.events, name: CURSOR_ID, types: SYNC_EVENT_TYPES, batchSize: EVENT_BATCH, maxBatches: MAX_BATCHES_PER_TICK });
    // Woken by every event appended: one pass per burst of events (WAKE_DELAY_MS), not one per event.
    this.loop = new WorkerLoop({ work: () => this.pass(), lease: o.lease, logger: o.logger, failure: 'webhook tick failed', runOnStart: true, wakeDelayMs: WAKE_DELAY_MS });
  }

  init(): Promise<void> {
    return this.consumer.init();
  }

  /** One tick now (or right after the one in flight): fan out new events, then send what is due (lease holder only). */
  async tick(): Promise<TickResult> {
    return (await this.loop.runNow()) ?? { leaseHeld: false, enqueued: 0, attempted: 0, delivered: 0, failed: 0, dead: 0 };
  }

  private async pass(): Promise<TickResult> {
    const result: TickResult = { leaseHeld: true, enqueued: 0, attempted: 0, delivered: 0, failed: 0, dead: 0 };
    result.enqueued = await this.fanOut();
    await this.deliverDue(result);
    return result;
  }

  /** Runs tick now and every intervalMs (the next one starts after the previous finished). */
  start(intervalMs = 1000): void {
    this.loop.start(intervalMs);
  }

  /** Runs a tick soon (an event was just appended in this process). */
  wake(): void {
    this.loop.wake();
  }

  /** Stops the timer, waits for the running tick (and its in-flight deliveries), then gives the lease up. */
  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** New sync events → delivery records; returns how many were created. */
  private async fanOut(): Promise<number> {
    let created = 0;
    await this.consumer.consume({ handle: async (events) => void (created += await this.deliveriesFor(events)) });
    return created;
  }

  /** One delivery record per event and active webhook that subscribed to it; returns how many were created. */
  private async deliveriesFor(events: DomainEvent[]): Promise<number> {
    // Read after the events, so a webhook registered meanwhile (fromSeq = a head at or above them) is not owed any.
    const hooks = await this.models.Webhook.find({ active: true }, { types: 1, fromSeq: 1, selection: 1 }).lean<Pick<WebhookDoc, '_id' | 'types' | 'fromSeq' | 'selection'>[]>();
    const now = this.o.clock();
    const docs: Partial<WebhookDeliveryDoc>[] = [];
    for (const event of events) {
      for (const hook of hooks) {
        if (hook.fromSeq >= event.seq || !hook.types.includes(event.type)) continue;
        docs.push(this.deliveryOf(event, hook, now));
      }
    }
    return this.insertNew(docs);
  }

  /** The delivery of one event to one webhook, due now. */
  deliveryOf(event: DomainEvent, hook: Pick<WebhookDoc, '_id' | 'selection'>, now: Date): Partial<WebhookDeliveryDoc> {
    const { seq, type, occurredAt, claimId, voucherId, archiveRecordId, alertId, feedbackId } = toSyncEvent(event);
    const _id = new Types.ObjectId();
    // docs/api.md's fields (type and timestamp on top, as Standard Webhooks payloads have them); ALERT_RAISED
    // deliveries also name the alert, feedback events the feedback. A webhook's selection adds `data` at the first attempt (dataPending).
    const body = JSON.stringify({ deliveryId: String(_id), type, timestamp: occurredAt, event: { seq, type, occurredAt, claimId, voucherId, archiveRecordId, ...(alertId ? { alertId } : {}), ...(feedbackId ? { feedbackId } : {}) } });
    // Its attempts continue the trace of what caused the event (platform/tracing.ts), whenever they run.
    const trace = event.traceparent ? { traceparent: event.traceparent } : {};
    return { _id, webhookId: hook._id, seq: event.seq, eventType: event.type, body, ...(hook.selection ? { dataPending: true } : {}), ...trace, status: 'PENDING', attempts: 0, attemptsBase: 0, replays: 0, nextAttemptAt: now, createdAt: now };
  }

  /** Inserts, skipping deliveries that already exist (another instance or an earlier tick made them). */
  async insertNew(docs: Partial<WebhookDeliveryDoc>[]): Promise<number> {
    if (docs.length === 0) return 0;
    try {
      await this.models.WebhookDelivery.insertMany(docs, { ordered: false });
      return docs.length;
    } catch (err) {
      const writeErrors = (err as { writeErrors?: { code?: number; err?: { code?: number } }[] }).writeErrors;
      const duplicates = writeErrors?.filter((e) => (e.code ?? e.err?.code) === 11000).length ?? 0;
      if (!writeErrors || duplicates !== writeErrors.length) throw err;
      return docs.length - duplicates;
    }
  }

  private async sendables(): Promise<Map<string, Sendable>> {
    const hooks = await this.models.Webhook.find({ active: true }).lean<WebhookDoc[]>();
    const out = new Map<string, Sendable>();
    for (const hook of hooks) {
      const sendable = this.sendable(hook);
      if (sendable) out.set(sendable.id, sendable);
    }
    return out;
  }

  /** The webhook with its secrets decrypted; null (logged) when they cannot be read. */
  sendable(hook: WebhookDoc): Sendable | null {
    try {
      const secrets = [this.box.decrypt(hook.secretEnc)];
      if (hook.previousSecretEnc && hook.previousSecretExpiresAt && hook.previousSecretExpiresAt > this.o.clock()) secrets.push(this.box.decrypt(hook.previousSecretEnc));
      return {
        id: String(hook._id),
        url: new URL(hook.url),
        secrets,
        legacyHeaders: hook.legacyHeaders ?? true,
        selection: hook.selection ?? null,
        apiKeyId: hook.apiKeyId ? String(hook.apiKeyId) : null,
      };
    } catch (err) {
      // Its deliveries stay PENDING until the secret is readable again (e.g. INTERNAL_SECRET restored).
      this.o.logger.error({ webhookId: String(hook._id), err: (err as Error).message }, 'webhook skipped: cannot read its secret');
      return null;
    }
  }

  /** Standard Webhooks headers, and the ones of before while the webhook keeps them. */
  headers(hook: Sendable, deliveryId: string, timestamp: number, body: string): Record<string, string> {
    return {
      'Content-Type': 'application/json',
      'User-Agent': USER_AGENT,
      'webhook-id': deliveryId,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': standardSignature(hook.secrets, deliveryId, timestamp, body),
      ...(hook.legacyHeaders ? { 'X-Delivery-Id': deliveryId, 'X-Timestamp': String(timestamp), 'X-Signature-256': signDelivery(hook.secrets[0], timestamp, body) } : {}),
    };
  }

  /**
   * Runs the webhook's selection for the delivery's event, through the gateway under its API key, and adds the answer
   * to the body as `data` (null when the event is not in the key's scope); stored, so retries send the same bytes.
   */
  private async withData(d: WebhookDeliveryDoc, token: string, hook: Sendable): Promise<string> {
    if (!hook.selection || !hook.apiKeyId || !this.o.gatewayUrl || !this.o.apiKeys) throw new Error('the webhook has no selection to run');
    const scopes = await this.o.apiKeys.activeScopes(hook.apiKeyId);
    if (!scopes) throw new Error("the webhook's API key is revoked or expired");
    const gateway = subgraphClient({ name: 'gateway', url: this.o.gatewayUrl, as: integrationPrincipal(hook.apiKeyId, scopes), internalSecret: this.o.masterSecret, timeoutMs: this.o.timeoutMs, from: 'sync' });
    const answer = await gateway<{ syncEvents: Array<Record<string, unknown> & { seq?: unknown }> }>(selectionQuery(hook.selection), { after: formatSeq(d.seq - 1), types: [d.eventType] });
    const first = answer.syncEvents[0];
    // The next event of that type in the key's scope would come back if this one is not in it: only this one counts.
    const data = first && (first.seq === undefined || first.seq === formatSeq(d.seq)) ? first : null;
    const body = JSON.stringify({ ...(JSON.parse(d.body) as object), data });
    await this.models.WebhookDelivery.updateOne({ _id: d._id, claimToken: token }, { $set: { body, dataPending: false } });
    return body;
  }

  private async deliverDue(result: TickResult): Promise<void> {
    const hooks = await this.sendables();
    if (hooks.size === 0) return;
    const webhookIds = [...hooks.keys()].map((id) => new Types.ObjectId(id));
    const tried: Types.ObjectId[] = [];
    const worker = async () => {
      while (result.attempted < MAX_SENDS_PER_TICK) {
        const claimed = await this.claim(webhookIds, tried);
        if (!claimed) return;
        tried.push(claimed.doc._id);
        result.attempted++;
        const outcome = await this.attempt(claimed.doc, claimed.token, hooks.get(String(claimed.doc.webhookId))!);
        result[outcome]++;
      }
    };
    await Promise.all(Array.from({ length: this.o.concurrency }, worker));
  }

  /** Atomically takes one due delivery; each is taken at most once per tick (`tried`), whatever its backoff. */
  private async claim(webhookIds: Types.ObjectId[], tried: Types.ObjectId[]): Promise<{ doc: WebhookDeliveryDoc; token: string } | null> {
    const now = this.o.clock();
    const token = randomUUID();
    const doc = await this.models.WebhookDelivery.findOneAndUpdate(
      {
        webhookId: { $in: webhookIds },
        status: { $in: ['PENDING', 'FAILED'] },
        nextAttemptAt: { $lte: now },
        _id: { $nin: tried },
        $or: [{ claimedUntil: null }, { claimedUntil: { $lte: now } }],
      },
      { $set: { claimedUntil: new Date(now.getTime() + this.o.timeoutMs + CLAIM_MARGIN_MS), claimToken: token } },
      { sort: { nextAttemptAt: 1, _id: 1 }, returnDocument: 'after' },
    ).lean<WebhookDeliveryDoc>();
    return doc ? { doc, token } : null;
  }

  private backoffMs(failures: number): number {
    const ceiling = Math.min(this.o.maxDelayMs, this.o.baseDelayMs * 2 ** (failures - 1));
    return Math.round(ceiling * (0.5 + 0.5 * this.o.random()));
  }

  /**
   * One attempt, in a span continuing the trace the event was appended in; the request carries the span's
   * `traceparent`, so a receiver that traces joins the same trace (README "Observability / tracing").
   */
  private attempt(d: WebhookDeliveryDoc, token: string, hook: Sendable): Promise<'delivered' | 'failed' | 'dead'> {
    const attributes = { 'webhook.id': hook.id, 'webhook.delivery_id': String(d._id), 'webhook.event_type': d.eventType, 'server.address': hook.url.host };
    return inSpan('sync', 'webhook delivery', { kind: SpanKind.PRODUCER, attributes }, contextOf(d.traceparent), async (span) => {
      const outcome = await this.attemptNow(d, token, hook);
      if (span.isRecording()) span.setAttribute('webhook.outcome', outcome);
      return outcome;
    });
  }

  private async attemptNow(d: WebhookDeliveryDoc, token: string, hook: Sendable): Promise<'delivered' | 'failed' | 'dead'> {
    let outcome: Awaited<ReturnType<typeof send>>;
    let body = d.body;
    try {
      if (d.dataPending) body = await this.withData(d, token, hook);
      const timestamp = Math.floor(this.o.clock().getTime() / 1000);
      const traceparent = currentTraceparent();
      const headers = { ...this.headers(hook, String(d._id), timestamp, body), ...(traceparent ? { [TRACEPARENT]: traceparent } : {}) };
      outcome = await send(hook.url, body, headers, { timeoutMs: this.o.timeoutMs, allowPrivate: this.o.allowPrivateTargets, resolve: this.o.resolve });
    } catch (err) {
      // The selection could not be run (gateway unreachable, key revoked): a failed attempt, retried as any other.
      const message = err instanceof SubgraphCallError || err instanceof Error ? err.message : String(err);
      outcome = { ok: false, statusCode: null, error: `selection: ${message}`.slice(0, 500) };
    }
    const now = this.o.clock();
    const attempts = d.attempts + 1;
    const log = { deliveryId: String(d._id), webhookId: hook.id, host: hook.url.host, seq: d.seq, attempts };
    let status: DeliveryStatus;
    let set: Partial<WebhookDeliveryDoc>;
    if (outcome.ok) {
      status = 'DELIVERED';
      set = { deliveredAt: now, lastStatusCode: outcome.statusCode, lastError: null, nextAttemptAt: null };
    } else if (attempts - (d.attemptsBase ?? 0) >= this.o.maxAttempts) {
      status = 'DEAD';
      set = { lastStatusCode: outcome.statusCode, lastError: outcome.error, nextAttemptAt: null };
    } else {
      status = 'FAILED';
      const nextAttemptAt = new Date(now.getTime() + this.backoffMs(attempts - (d.attemptsBase ?? 0)));
      set = { lastStatusCode: outcome.statusCode, lastError: outcome.error, nextAttemptAt };
    }
    // Only while the claim is still ours: had it lapsed, another instance's attempt owns the record now.
    const res = await this.models.WebhookDelivery.updateOne(
      { _id: d._id, claimToken: token },
      { $set: { ...set, status, attempts, claimedUntil: null, claimToken: null } },
    );
    if (res.matchedCount === 0) this.o.logger.warn(log, 'webhook delivery claim lapsed before the attempt was recorded');
    if (status === 'DEAD') this.o.logger.warn({ ...log, lastError: outcome.ok ? null : outcome.error }, 'webhook delivery dead-lettered');
    else if (status === 'FAILED') this.o.logger.info({ ...log, lastError: set.lastError, nextAttemptAt: set.nextAttemptAt }, 'webhook delivery failed; will retry');
    return status === 'DELIVERED' ? 'delivered' : status === 'DEAD' ? 'dead' : 'failed';
  }
}

// Webhook registration and delivery. Each tick fans new sync events out into one delivery record per matching
// webhook (idempotently: unique {webhookId, seq}), advances a durable cursor, then sends what is due. A delivery
// is claimed atomically before it is sent, so instances that overlap (a lease holder that paused, or no lease
// at all) never send the same attempt twice at once. Failures back off exponentially with jitter and end as DEAD
// after maxAttempts; an operator can replay any finished delivery, which resends the identical bytes.
import { randomUUID } from 'node:crypto';
import type { Connection } from 'mongoose';
import { Types } from 'mongoose';
import type { DomainEvent, EventLog } from '../../../platform/integration/events.ts';
import { badInput, conflict, notFound } from '../../../platform/graphql.ts';
import type { Lease } from '../../../platform/integration/lease.ts';
import { LogConsumer } from '../../../platform/integration/log-consumer.ts';
import { WorkerLoop } from '../../../platform/integration/worker-loop.ts';
import { SYNC_EVENT_TYPES, formatSeq, isSyncEventType, toSyncEvent, type SyncEventType } from '../sync-events.ts';
import { DELIVERY_STATUSES, webhookModels, type DeliveryStatus, type WebhookDeliveryDoc, type WebhookDoc, type WebhookModels } from './models.ts';
import { secretBox, validateWebhookSecret, type SecretBox } from './secrets.ts';
import { send } from './send.ts';
import { signDelivery, standardSignature } from './signature.ts';
import { checkSelection, integrationPrincipal, selectionQuery } from './selection.ts';
import { SubgraphCallError, subgraphClient } from '../../../platform/integration/subgraph-client.ts';
import type { ApiKeyService } from '../api-keys/service.ts';
import { validateWebhookTarget, type Resolve } from './targets.ts';

export interface WebhookLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface WebhookServiceOptions {
  connection: Connection;
  events: EventLog;
  logger: WebhookLogger;
  /** INTERNAL_SECRET: webhook secrets are encrypted under a key derived from it. */
  masterSecret: string;
  /** WEBHOOK_ALLOW_PRIVATE_TARGETS. */
  allowPrivateTargets: boolean;
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  timeoutMs?: number;
  concurrency?: number;
  clock?: () => Date;
  /** DNS resolution, for registration checks and connect-time checks (tests substitute it). */
  resolve?: Resolve;
  /** When given, only the holder fans out and delivers. */
  lease?: Lease;
  /** For backoff jitter; tests make it deterministic. */
  random?: () => number;
  /** The gateway (GATEWAY_URL), through which selections run under their API key; absent: no selections. */
  gatewayUrl?: string | null;
  /** Reads the API key a selection runs as (its scopes, whether it is active). */
  apiKeys?: Pick<ApiKeyService, 'activeScopes'>;
}

/** A rotation keeps the previous secret for at most a week. */
export const MAX_SECRET_OVERLAP_SECONDS = 7 * 86_400;

export interface WebhookView {
  id: string;
  url: string;
  types: SyncEventType[];
  active: boolean;
  createdAt: Date;
  updatedAt: Date | null;
  selection: string | null;
  apiKeyId: string | null;
  legacyHeaders: boolean;
  previousSecretExpiresAt: Date | null;
}

/** What sendTest saw. */
export interface WebhookTestView {
  delivered: boolean;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

export interface WebhookChanges {
  url?: string;
  types?: string[];
  /** null removes it. */
  selection?: string | null;
  apiKeyId?: string | null;
  legacyHeaders?: boolean;
}

export interface DeliveryView {
  id: string;
  webhookId: string;
  seq: string;
  eventType: string;
  body: string;
  status: DeliveryStatus;
  attempts: number;
  replays: number;
  lastError: string | null;
  lastStatusCode: number | null;
  nextAttemptAt: Date | null;
  createdAt: Date;
  deliveredAt: Date | null;
}

export interface DeliveryPage {
  items: DeliveryView[];
  /** Pass as `after` for the next (older) page; null on the last page. */
  endCursor: string | null;
}

export interface TickResult {
  /** False when another instance holds the lease (nothing else was done). */
  leaseHeld: boolean;
  enqueued: number;
  attempted: number;
  delivered: number;
  failed: number;
  dead: number;
}

/** How long a wake waits for more events before the pass (delivery is at least this much later than the event). */
const WAKE_DELAY_MS = 50;

/** Webhook delivery's position in sync_cursors. */
const CURSOR_ID = 'webhooks';
const EVENT_BATCH = 500;
const MAX_BATCHES_PER_TICK = 10;
const MAX_SENDS_PER_TICK = 500;
/** A claim outlives the request timeout by this much, so it cannot lapse while its holder still waits. */
const CLAIM_MARGIN_MS = 30_000;

const USER_AGENT = 'oa-archive-sync-webhooks/1';

const toWebhookView = (w: WebhookDoc, now: Date): WebhookView => ({
  id: String(w._id),
  url: w.url,
  types: w.types.filter(isSyncEventType),
  active: w.active,
  createdAt: w.createdAt,
  updatedAt: w.updatedAt ?? null,
  selection: w.selection ?? null,
  apiKeyId: w.apiKeyId ? String(w.apiKeyId) : null,
  legacyHeaders: w.legacyHeaders ?? true,
  previousSecretExpiresAt: w.previousSecretEnc && w.previousSecretExpiresAt && w.previousSecretExpiresAt > now ? w.previousSecretExpiresAt : null,
});

const toDeliveryView = (d: WebhookDeliveryDoc): DeliveryView => ({
  id: String(d._id),
  webhookId: String(d.webhookId),
  seq: formatSeq(d.seq),
  eventType: d.eventType,
  body: d.body,
  status: d.status,
  attempts: d.attempts,
  replays: d.replays ?? 0,
  lastError: d.lastError ?? null,
  lastStatusCode: d.lastStatusCode ?? null,
  nextAttemptAt: d.nextAttemptAt ?? null,
  createdAt: d.createdAt,
  deliveredAt: d.deliveredAt ?? null,
});

/** Ids come from clients: a malformed one is simply not found. */
const objectId = (id: string): Types.ObjectId | null => (typeof id === 'string' && /^[0-9a-f]{24}$/i.test(id) ? new Types.ObjectId(id) : null);

/** A webhook ready to send to: its secrets decrypted for this tick only. */
interface Sendable {
  id: string;
  url: URL;
  /** The current secret first, then the previous one while its overlap lasts. */
  secrets: string[];
  legacyHeaders: boolean;
  selection: string | null;
  apiKeyId: string | null;
}

export class WebhookService {
  private readonly models: WebhookModels;
  private readonly box: SecretBox;
  private readonly o: Required<Omit<WebhookServiceOptions, 'resolve' | 'lease' | 'gatewayUrl' | 'apiKeys'>> & Pick<WebhookServiceOptions, 'resolve' | 'lease' | 'gatewayUrl' | 'apiKeys'>;
  private readonly consumer: LogConsumer;
  private readonly loop: WorkerLoop<TickResult>;

  constructor(options: WebhookServiceOptions) {
    this.o = {
      maxAttempts: 8,
      baseDelayMs: 1000,
      maxDelayMs: 10 * 60_000,
      timeoutMs: 10_000,
      concurrency: 8,
      clock: () => new Date(),
      random: Math.random,
      ...options,
    };
    if (!(this.o.maxAttempts >= 1 && this.o.concurrency >= 1)) throw new Error('maxAttempts and concurrency must be at least 1');
    this.models = webhookModels(options.connection);
    this.box = secretBox(options.masterSecret);
    this.consumer = new LogConsumer({ connection: options.connection, events: options.events, name: CURSOR_ID, types: SYNC_EVENT_TYPES, batchSize: EVENT_BATCH, maxBatches: MAX_BATCHES_PER_TICK });
    // Woken by every event appended: one pass per burst of events (WAKE_DELAY_MS), not one per event.
    this.loop = new WorkerLoop({ work: () => this.pass(), lease: options.lease, logger: this.o.logger, failure: 'webhook tick failed', runOnStart: true, wakeDelayMs: WAKE_DELAY_MS });
  }

  async init(): Promise<void> {
    for (const m of [this.models.Webhook, this.models.WebhookDelivery]) {
      await m.init();
      await m.createIndexes();
    }
    await this.consumer.init();
  }

  // ---- administration ----

  async register(input: { url: string; types: string[]; secret: string; selection?: string | null; apiKeyId?: string | null }, actor: string): Promise<WebhookView> {
    const target = await validateWebhookTarget(input.url, { allowPrivate: this.o.allowPrivateTargets, resolve: this.o.resolve });
    const types = this.typesOf(input.types);
    const secretEnc = this.box.encrypt(validateWebhookSecret(input.secret));
    const selected = await this.selectionOf(input.selection ?? null, input.apiKeyId ?? null);

    // Only events appended from now on: a new receiver is not flooded with history.
    const head = await this.o.events.events.findOne({}, { seq: 1 }).sort({ seq: -1 }).lean<{ seq: number }>();
    const [doc] = await this.models.Webhook.create([
      // New webhooks sign the Standard Webhooks way only; the headers of before are for webhooks registered before.
      { url: target.href, types, secretEnc, active: true, fromSeq: head?.seq ?? 0, createdAt: this.o.clock(), createdBy: actor, ...selected, legacyHeaders: false },
    ]);
    this.o.logger.info({ webhookId: String(doc._id), host: target.host, types, actor, selection: selected.selection !== null }, 'webhook registered');
    return toWebhookView(doc.toObject(), this.o.clock());
  }

  async list(): Promise<WebhookView[]> {
    const docs = await this.models.Webhook.find().sort({ createdAt: 1, _id: 1 }).lean<WebhookDoc[]>();
    const now = this.o.clock();
    return docs.map((d) => toWebhookView(d, now));
  }

  /**
   * Pauses (false) or resumes (true) deliveries. A pause loses nothing: it notes the log's head, and the resumption
   * enqueues the webhook's deliveries of every event since (read from the log, which keeps them) before new ones.
   */
  async setActive(id: string, active: boolean): Promise<WebhookView> {
    const _id = objectId(id);
    const current = _id && (await this.models.Webhook.findById(_id).lean<WebhookDoc>());
    if (!current) throw notFound('Webhook');
    const now = this.o.clock();
    let doc: WebhookDoc | null;
    if (!active) {
      const pausedAtSeq = current.active ? await this.o.events.horizon() : (current.pausedAtSeq ?? null);
      doc = await this.models.Webhook.findOneAndUpdate({ _id }, { $set: { active: false, pausedAtSeq, updatedAt: now } }, { returnDocument: 'after' }).lean<WebhookDoc>();
    } else {
      // Active first, so the fan-out covers what comes next; then what came while paused (duplicates are skipped).
      doc = await this.models.Webhook.findOneAndUpdate({ _id }, { $set: { active: true, updatedAt: now } }, { returnDocument: 'after' }).lean<WebhookDoc>();
      if (doc && !current.active && current.pausedAtSeq != null) {
        const caught = await this.catchUp(doc, current.pausedAtSeq);
        await this.models.Webhook.updateOne({ _id, active: true }, { $set: { pausedAtSeq: null } });
        this.o.logger.info({ webhookId: id, deliveries: caught }, 'webhook resumed: deliveries of the pause enqueued');
        this.wake();
      }
    }
    if (!doc) throw notFound('Webhook');
    this.o.logger.info({ webhookId: id, active }, 'webhook active flag set');
    return toWebhookView(doc, now);
  }

  /** Enqueues the webhook's deliveries of the events after `fromSeq` up to the log's horizon, in pages. */
  private async catchUp(hook: WebhookDoc, fromSeq: number): Promise<number> {
    const horizon = await this.o.events.horizon();
    let after = Math.max(fromSeq, hook.fromSeq);
    let created = 0;
    while (after < horizon) {
      const events = await this.o.events.events.find({ seq: { $gt: after, $lte: horizon }, type: { $in: hook.types } }).sort({ seq: 1 }).limit(EVENT_BATCH).lean<DomainEvent[]>();
      if (events.length === 0) break;
      created += await this.insertNew(events.map((e) => this.deliveryOf(e, hook, this.o.clock())));
      after = events[events.length - 1].seq;
    }
    return created;
  }

  /** Changes the target, the event types, the selection (null removes it), its API key or the legacy headers. */
  async update(id: string, changes: WebhookChanges, actor: string): Promise<WebhookView> {
    const _id = objectId(id);
    const current = _id && (await this.models.Webhook.findById(_id).lean<WebhookDoc>());
    if (!current) throw notFound('Webhook');
    const set: Partial<WebhookDoc> = { updatedAt: this.o.clock() };
    if (changes.url !== undefined) set.url = (await validateWebhookTarget(changes.url, { allowPrivate: this.o.allowPrivateTargets, resolve: this.o.resolve })).href;
    if (changes.types !== undefined) set.types = this.typesOf(changes.types);
    if (changes.legacyHeaders !== undefined) set.legacyHeaders = changes.legacyHeaders;
    if (changes.selection !== undefined || changes.apiKeyId !== undefined) {
      const selection = changes.selection !== undefined ? changes.selection : (current.selection ?? null);
      const apiKeyId = changes.apiKeyId !== undefined ? changes.apiKeyId : current.apiKeyId ? String(current.apiKeyId) : null;
      Object.assign(set, await this.selectionOf(selection, apiKeyId));
    }
    const doc = await this.models.Webhook.findOneAndUpdate({ _id }, { $set: set }, { returnDocument: 'after' }).lean<WebhookDoc>();
    if (!doc) throw notFound('Webhook');
    this.o.logger.info({ webhookId: id, actor, changed: Object.keys(set).filter((k) => k !== 'updatedAt') }, 'webhook updated');
    return toWebhookView(doc, this.o.clock());
  }

  /** Deletes the webhook and its deliveries not yet made; delivered and dead-lettered ones stay as history. */
  async delete(id: string, actor: string): Promise<string> {
    const _id = objectId(id);
    const doc = _id && (await this.models.Webhook.findOneAndDelete({ _id }).lean<WebhookDoc>());
    if (!doc) throw notFound('Webhook');
    const dropped = await this.models.WebhookDelivery.deleteMany({ webhookId: _id, status: { $in: ['PENDING', 'FAILED'] } });
    this.o.logger.info({ webhookId: id, actor, droppedDeliveries: dropped.deletedCount }, 'webhook deleted');
    return id;
  }

  /**
   * A new signing secret. The previous one still signs too (a second `v1,` signature) for `overlapSeconds`, so the
   * receiver can switch without refusing a delivery; a rotation ends the overlap of the one before.
   */
  async rotateSecret(id: string, secret: string, overlapSeconds: number, actor: string): Promise<WebhookView> {
    if (!Number.isInteger(overlapSeconds) || overlapSeconds < 0 || overlapSeconds > MAX_SECRET_OVERLAP_SECONDS) {
      throw badInput(`overlapSeconds must be 0 to ${MAX_SECRET_OVERLAP_SECONDS.toLocaleString('en')} (a week)`, 'overlapSeconds');
    }
    const secretEnc = this.box.encrypt(validateWebhookSecret(secret));
    const _id = objectId(id);
    const current = _id && (await this.models.Webhook.findById(_id).lean<WebhookDoc>());
    if (!current) throw notFound('Webhook');
    const now = this.o.clock();
    const set: Partial<WebhookDoc> = {
      secretEnc,
      previousSecretEnc: overlapSeconds > 0 ? current.secretEnc : null,
      previousSecretExpiresAt: overlapSeconds > 0 ? new Date(now.getTime() + overlapSeconds * 1000) : null,
      updatedAt: now,
    };
    // Only over the secret read: two rotations at once would otherwise drop one's previous secret unseen.
    const doc = await this.models.Webhook.findOneAndUpdate({ _id, secretEnc: current.secretEnc }, { $set: set }, { returnDocument: 'after' }).lean<WebhookDoc>();
    if (!doc) throw conflict('the webhook was changed meanwhile; read it again');
    this.o.logger.info({ webhookId: id, actor, overlapSeconds }, 'webhook secret rotated');
    return toWebhookView(doc, now);
  }

  /**
   * Sends a `WEBHOOK_TEST` delivery now, signed as every delivery is (also to a paused webhook), and says what came
   * back. Not recorded as a delivery, never retried.
   */
  async sendTest(id: string, actor: string): Promise<WebhookTestView> {
    const _id = objectId(id);
    const doc = _id && (await this.models.Webhook.findById(_id).lean<WebhookDoc>());
    if (!doc) throw notFound('Webhook');
    const hook = this.sendable(doc);
    if (!hook) throw conflict("the webhook's secret cannot be read (INTERNAL_SECRET changed?)");
    const deliveryId = String(new Types.ObjectId());
    const now = this.o.clock();
    const body = JSON.stringify({ deliveryId, type: 'WEBHOOK_TEST', timestamp: now.toISOString(), event: null });
    const started = performance.now();
    const outcome = await send(hook.url, body, this.headers(hook, deliveryId, Math.floor(now.getTime() / 1000), body), { timeoutMs: this.o.timeoutMs, allowPrivate: this.o.allowPrivateTargets, resolve: this.o.resolve });
    const durationMs = Math.round(performance.now() - started);
    this.o.logger.info({ webhookId: id, actor, delivered: outcome.ok, statusCode: outcome.statusCode }, 'webhook test sent');
    return { delivered: outcome.ok, statusCode: outcome.statusCode, error: outcome.ok ? null : outcome.error, durationMs };
  }

  private typesOf(types: string[]): SyncEventType[] {
    if (!Array.isArray(types) || types.length === 0) throw badInput('types must name at least one sync event type', 'types');
    const unknown = types.filter((t) => !isSyncEventType(t));
    if (unknown.length) throw badInput(`unknown event type ${String(unknown[0]).slice(0, 40)}; expected one of ${SYNC_EVENT_TYPES.join(', ')}`, 'types');
    return [...new Set(types)] as SyncEventType[];
  }

  /** A selection with the API key it runs as, checked against the key's scopes (selection.ts). */
  private async selectionOf(selection: string | null, apiKeyId: string | null): Promise<{ selection: string | null; apiKeyId: Types.ObjectId | null }> {
    if (selection === null) return { selection: null, apiKeyId: apiKeyId ? this.keyId(apiKeyId) : null };
    if (!this.o.gatewayUrl || !this.o.apiKeys) throw badInput('selections need the gateway\'s address (GATEWAY_URL) on the sync service', 'selection');
    if (!apiKeyId) throw badInput('a selection runs under an API key: give apiKeyId', 'apiKeyId');
    const scopes = await this.o.apiKeys.activeScopes(apiKeyId);
    if (!scopes) throw badInput('apiKeyId is not an active API key', 'apiKeyId');
    return { selection: checkSelection(selection, scopes), apiKeyId: this.keyId(apiKeyId) };
  }

  private keyId(id: string): Types.ObjectId {
    const _id = objectId(id);
    if (!_id) throw badInput('apiKeyId is not an API key id', 'apiKeyId');
    return _id;
  }

  /** Newest first; `after` is the endCursor of the previous page. */
  async deliveries(args: { webhookId?: string; status?: DeliveryStatus; first?: number; after?: string } = {}): Promise<DeliveryPage> {
    const first = args.first ?? 20;
    if (!Number.isInteger(first) || first < 1 || first > 100) throw badInput('first must be between 1 and 100', 'first');
    const filter: Record<string, unknown> = {};
    if (args.webhookId !== undefined) {
      const id = objectId(args.webhookId);
      if (!id) throw badInput('webhookId is not a webhook id', 'webhookId');
      filter.webhookId = id;
    }
    if (args.status !== undefined) {
      if (!DELIVERY_STATUSES.includes(args.status)) throw badInput(`status must be one of ${DELIVERY_STATUSES.join(', ')}`, 'status');
      filter.status = args.status;
    }
    if (args.after) {
      const after = objectId(args.after);
      if (!after) throw badInput('after must be an endCursor returned by deliveries', 'after');
      filter._id = { $lt: after };
    }
    const docs = await this.models.WebhookDelivery.find(filter).sort({ _id: -1 }).limit(first + 1).lean<WebhookDeliveryDoc[]>();
    const items = docs.slice(0, first).map(toDeliveryView);
    return { items, endCursor: docs.length > first ? items[items.length - 1].id : null };
  }

  /**
   * Sends a finished delivery again (the same body, a fresh timestamp and signature), with a fresh retry budget.
   * `attempts` keeps counting across replays; `replays` says how often an operator asked.
   */
  async replay(deliveryId: string): Promise<DeliveryView> {
    const _id = objectId(deliveryId);
    const current = _id && (await this.models.WebhookDelivery.findById(_id).lean<WebhookDeliveryDoc>());
    if (!current) throw notFound('Webhook delivery');
    if (current.status === 'PENDING') return toDeliveryView(current);
    const now = this.o.clock();
    const doc = await this.models.WebhookDelivery.findOneAndUpdate(
      // Same status and attempts as read, and not being sent right now: otherwise the replay would race an attempt.
      { _id, status: current.status, attempts: current.attempts, $or: [{ claimedUntil: null }, { claimedUntil: { $lte: now } }] },
      { $set: { status: 'PENDING', nextAttemptAt: now, attemptsBase: current.attempts }, $inc: { replays: 1 } },
      { returnDocument: 'after' },
    ).lean<WebhookDeliveryDoc>();
    if (!doc) throw conflict('the delivery is being sent right now; try again in a moment');
    this.o.logger.info({ deliveryId, webhookId: String(doc.webhookId), replays: doc.replays }, 'webhook delivery replay requested');
    return toDeliveryView(doc);
  }

  // ---- background work ----

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
  private deliveryOf(event: DomainEvent, hook: Pick<WebhookDoc, '_id' | 'selection'>, now: Date): Partial<WebhookDeliveryDoc> {
    const { seq, type, occurredAt, claimId, voucherId, archiveRecordId, alertId } = toSyncEvent(event);
    const _id = new Types.ObjectId();
    // docs/api.md's fields (type and timestamp on top, as Standard Webhooks payloads have them); ALERT_RAISED
    // deliveries also name the alert. A webhook's selection adds `data` at the first attempt (dataPending).
    const body = JSON.stringify({ deliveryId: String(_id), type, timestamp: occurredAt, event: { seq, type, occurredAt, claimId, voucherId, archiveRecordId, ...(alertId ? { alertId } : {}) } });
    return { _id, webhookId: hook._id, seq: event.seq, eventType: event.type, body, ...(hook.selection ? { dataPending: true } : {}), status: 'PENDING', attempts: 0, attemptsBase: 0, replays: 0, nextAttemptAt: now, createdAt: now };
  }

  /** Inserts, skipping deliveries that already exist (another instance or an earlier tick made them). */
  private async insertNew(docs: Partial<WebhookDeliveryDoc>[]): Promise<number> {
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
  private sendable(hook: WebhookDoc): Sendable | null {
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
  private headers(hook: Sendable, deliveryId: string, timestamp: number, body: string): Record<string, string> {
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
    const gateway = subgraphClient({ name: 'gateway', url: this.o.gatewayUrl, as: integrationPrincipal(hook.apiKeyId, scopes), internalSecret: this.o.masterSecret, timeoutMs: this.o.timeoutMs });
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

  private async attempt(d: WebhookDeliveryDoc, token: string, hook: Sendable): Promise<'delivered' | 'failed' | 'dead'> {
    let outcome: Awaited<ReturnType<typeof send>>;
    let body = d.body;
    try {
      if (d.dataPending) body = await this.withData(d, token, hook);
      const timestamp = Math.floor(this.o.clock().getTime() / 1000);
      outcome = await send(hook.url, body, this.headers(hook, String(d._id), timestamp, body), { timeoutMs: this.o.timeoutMs, allowPrivate: this.o.allowPrivateTargets, resolve: this.o.resolve });
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

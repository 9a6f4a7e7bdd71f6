// Webhook management: registration, changes, pauses, secret rotation, test sends, the delivery history and replays
// (an operator can replay any finished delivery, which resends the identical bytes). Delivery itself, the background
// work, is delivery.ts; this service starts and stops it.
import type { Connection } from 'mongoose';
import { Types } from 'mongoose';
import type { DomainEvent, EventLog } from '../../../platform/integration/events.ts';
import { badInput, conflict, notFound } from '../../../platform/graphql.ts';
import type { Lease } from '../../../platform/integration/lease.ts';
import { SYNC_EVENT_TYPES, formatSeq, isSyncEventType, type SyncEventType } from '../sync-events.ts';
import { DELIVERY_STATUSES, webhookModels, type DeliveryStatus, type WebhookDeliveryDoc, type WebhookDoc, type WebhookModels } from './models.ts';
import { secretBox, validateWebhookSecret, type SecretBox } from './secrets.ts';
import { send } from './send.ts';
import { checkSelection } from './selection.ts';
import type { ApiKeyService } from '../api-keys/service.ts';
import { validateWebhookTarget, type Resolve } from './targets.ts';
import { EVENT_BATCH, WebhookDeliveries } from './delivery.ts';
import { TRACEPARENT, currentTraceparent } from '../../../platform/tracing.ts';

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

/** The options with their defaults, as the service and its delivery (delivery.ts) use them. */
export type ResolvedWebhookOptions = Required<Omit<WebhookServiceOptions, 'resolve' | 'lease' | 'gatewayUrl' | 'apiKeys'>> & Pick<WebhookServiceOptions, 'resolve' | 'lease' | 'gatewayUrl' | 'apiKeys'>;

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


export class WebhookService {
  private readonly models: WebhookModels;
  private readonly box: SecretBox;
  private readonly o: ResolvedWebhookOptions;
  /** The background work: fan-out and delivery (delivery.ts). */
  private readonly delivery: WebhookDeliveries;

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
    this.delivery = new WebhookDeliveries(this.o, this.models, this.box);
  }

  async init(): Promise<void> {
    for (const m of [this.models.Webhook, this.models.WebhookDelivery]) {
      await m.init();
      await m.createIndexes();
    }
    await this.delivery.init();
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
      created += await this.delivery.insertNew(events.map((e) => this.delivery.deliveryOf(e, hook, this.o.clock())));
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
    const hook = this.delivery.sendable(doc);
    if (!hook) throw conflict("the webhook's secret cannot be read (INTERNAL_SECRET changed?)");
    const deliveryId = String(new Types.ObjectId());
    const now = this.o.clock();
    const body = JSON.stringify({ deliveryId, type: 'WEBHOOK_TEST', timestamp: now.toISOString(), event: null });
    const started = performance.now();
    // In the operator's request trace (platform/tracing.ts), as a delivery carries its event's.
    const traceparent = currentTraceparent();
    const headers = { ...this.delivery.headers(hook, deliveryId, Math.floor(now.getTime() / 1000), body), ...(traceparent ? { [TRACEPARENT]: traceparent } : {}) };
    const outcome = await send(hook.url, body, headers, { timeoutMs: this.o.timeoutMs, allowPrivate: this.o.allowPrivateTargets, resolve: this.o.resolve });
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

  // ---- background work (delivery.ts) ----

  /** One tick now (or right after the one in flight): fan out new events, then send what is due (lease holder only). */
  tick(): Promise<TickResult> {
    return this.delivery.tick();
  }

  /** Runs tick now and every intervalMs (the next one starts after the previous finished). */
  start(intervalMs = 1000): void {
    this.delivery.start(intervalMs);
  }

  /** Runs a tick soon (an event was just appended in this process). */
  wake(): void {
    this.delivery.wake();
  }

  /** Stops the timer, waits for the running tick (and its in-flight deliveries), then gives the lease up. */
  stop(): Promise<void> {
    return this.delivery.stop();
  }
}

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
import { signDelivery } from './signature.ts';
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
}

export interface WebhookView {
  id: string;
  url: string;
  types: SyncEventType[];
  active: boolean;
  createdAt: Date;
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

const toWebhookView = (w: WebhookDoc): WebhookView => ({
  id: String(w._id),
  url: w.url,
  types: w.types.filter(isSyncEventType),
  active: w.active,
  createdAt: w.createdAt,
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

/** A webhook ready to send to: its secret decrypted for this tick only. */
interface Sendable {
  id: string;
  url: URL;
  secret: string;
}

export class WebhookService {
  private readonly models: WebhookModels;
  private readonly box: SecretBox;
  private readonly o: Required<Omit<WebhookServiceOptions, 'resolve' | 'lease'>> & Pick<WebhookServiceOptions, 'resolve' | 'lease'>;
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

  async register(input: { url: string; types: string[]; secret: string }, actor: string): Promise<WebhookView> {
    const target = await validateWebhookTarget(input.url, { allowPrivate: this.o.allowPrivateTargets, resolve: this.o.resolve });
    if (!Array.isArray(input.types) || input.types.length === 0) throw badInput('types must name at least one sync event type', 'types');
    const unknown = input.types.filter((t) => !isSyncEventType(t));
    if (unknown.length) throw badInput(`unknown event type ${String(unknown[0]).slice(0, 40)}; expected one of ${SYNC_EVENT_TYPES.join(', ')}`, 'types');
    const types = [...new Set(input.types)];
    const secretEnc = this.box.encrypt(validateWebhookSecret(input.secret));

    // Only events appended from now on: a new receiver is not flooded with history.
    const head = await this.o.events.events.findOne({}, { seq: 1 }).sort({ seq: -1 }).lean<{ seq: number }>();
    const [doc] = await this.models.Webhook.create([
      { url: target.href, types, secretEnc, active: true, fromSeq: head?.seq ?? 0, createdAt: this.o.clock(), createdBy: actor },
    ]);
    this.o.logger.info({ webhookId: String(doc._id), host: target.host, types, actor }, 'webhook registered');
    return toWebhookView(doc.toObject());
  }

  async list(): Promise<WebhookView[]> {
    const docs = await this.models.Webhook.find().sort({ createdAt: 1, _id: 1 }).lean<WebhookDoc[]>();
    return docs.map(toWebhookView);
  }

  async setActive(id: string, active: boolean): Promise<WebhookView> {
    const _id = objectId(id);
    const doc = _id && (await this.models.Webhook.findOneAndUpdate({ _id }, { $set: { active } }, { returnDocument: 'after' }).lean<WebhookDoc>());
    if (!doc) throw notFound('Webhook');
    this.o.logger.info({ webhookId: id, active }, 'webhook active flag set');
    return toWebhookView(doc);
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
    const hooks = await this.models.Webhook.find({ active: true }, { types: 1, fromSeq: 1 }).lean<Pick<WebhookDoc, '_id' | 'types' | 'fromSeq'>[]>();
    const now = this.o.clock();
    const docs: Partial<WebhookDeliveryDoc>[] = [];
    for (const event of events) {
      const { seq, type, occurredAt, claimId, voucherId, archiveRecordId, alertId } = toSyncEvent(event);
      for (const hook of hooks) {
        if (hook.fromSeq >= event.seq || !hook.types.includes(event.type)) continue;
        const _id = new Types.ObjectId();
        // docs/api.md's fields; ALERT_RAISED deliveries also name the alert.
        const body = JSON.stringify({ deliveryId: String(_id), event: { seq, type, occurredAt, claimId, voucherId, archiveRecordId, ...(alertId ? { alertId } : {}) } });
        docs.push({ _id, webhookId: hook._id, seq: event.seq, eventType: event.type, body, status: 'PENDING', attempts: 0, attemptsBase: 0, replays: 0, nextAttemptAt: now, createdAt: now });
      }
    }
    return this.insertNew(docs);
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
      try {
        out.set(String(hook._id), { id: String(hook._id), url: new URL(hook.url), secret: this.box.decrypt(hook.secretEnc) });
      } catch (err) {
        // Its deliveries stay PENDING until the secret is readable again (e.g. INTERNAL_SECRET restored).
        this.o.logger.error({ webhookId: String(hook._id), err: (err as Error).message }, 'webhook skipped: cannot read its secret');
      }
    }
    return out;
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
    const timestamp = Math.floor(this.o.clock().getTime() / 1000);
    const outcome = await send(
      hook.url,
      d.body,
      {
        'Content-Type': 'application/json',
        'User-Agent': USER_AGENT,
        'X-Delivery-Id': String(d._id),
        'X-Timestamp': String(timestamp),
        'X-Signature-256': signDelivery(hook.secret, timestamp, d.body),
      },
      { timeoutMs: this.o.timeoutMs, allowPrivate: this.o.allowPrivateTargets, resolve: this.o.resolve },
    );
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

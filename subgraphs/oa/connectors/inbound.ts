// Delivery of authenticated platform events into expense claims, and the record of every one of them.
//
// Every well-signed approval event is recorded once in `oa_inbound_events`, unique on (platform, eventId):
// 1. claim: insert the event as RECEIVED, leased to this delivery. A second delivery of the same eventId finds
//    the record and changes nothing (answered as DUPLICATE) — unless an earlier attempt failed transiently and
//    its lease has run out, in which case it takes the record over.
// 2. process: older than the last applied event of the instance → STALE; approval not mapped, instance not
//    found, applicant not mapped or form unusable → REJECTED with a precise reason; otherwise the claim sink
//    decides: APPLIED, STALE (sink says 'stale') or DUPLICATE (sink applied nothing for another reason).
// 3. A transient failure (detail API down, sink or database error) releases the lease and rethrows, so that
//    the platform's retry (or redeliverPending) processes the event again.
import { type PageInfoModel, forwardPageInfo } from '../../../platform/paging.ts';
import mongoose, { Schema, Types, type Connection, type Model } from 'mongoose';
import type { Logger } from '../../../platform/logger.ts';
import { InstanceDetailError } from './details.ts';
import type { ConnectorFiles } from './files.ts';
import { approvalFor, mapToClaim, type MappingConfig, type MappingErrorCode } from './mapping.ts';
import { PLATFORMS, type ClaimSink, type ExternalApprovalEvent, type InboundMessage, type InstanceDetails, type Platform } from './types.ts';

export const INBOUND_COLLECTION = 'oa_inbound_events';

/**
 * RECEIVED: being processed (or its processing failed transiently and awaits redelivery). APPLIED, STALE,
 * REJECTED, IGNORED: settled. DUPLICATE: settled, the sink applied nothing new. A replay of an already recorded
 * eventId is answered DUPLICATE without being recorded again.
 */
export const INBOUND_STATUSES = ['RECEIVED', 'APPLIED', 'DUPLICATE', 'STALE', 'REJECTED', 'IGNORED'] as const;
export type InboundStatus = (typeof INBOUND_STATUSES)[number];

/** ATTACHMENT_REFUSED: APPLIED, but files of the form were refused (./files.ts); `reason` names them. */
export type InboundReasonCode = MappingErrorCode | 'INVALID_EVENT' | 'STALE' | 'SINK' | 'IGNORED' | 'ATTACHMENT_REFUSED';

/** The normalised event as stored: never a secret, a signature or form contents. */
export type StoredEvent = Omit<ExternalApprovalEvent, 'form'>;

export interface InboundEventRecord {
  id: string;
  platform: Platform;
  eventId: string;
  instanceCode: string | null;
  approvalCode: string | null;
  eventTime: Date | null;
  status: InboundStatus;
  reason: string | null;
  reasonCode: InboundReasonCode | null;
  claimId: string | null;
  receivedAt: Date;
  settledAt: Date | null;
  attempts: number;
  event: StoredEvent | null;
}

export interface InboundEventEdge {
  cursor: string;
  node: InboundEventRecord;
}
export interface InboundEventConnection {
  edges: InboundEventEdge[];
  pageInfo: PageInfoModel;
  totalCount: number;
}
export interface InboundListArgs {
  status?: InboundStatus;
  platform?: Platform;
  /** 1..100, default 20. */
  first?: number;
  /** endCursor of the previous page. */
  after?: string;
}

/** A bad argument to `list` (maps to BAD_USER_INPUT). */
export class InboundListError extends Error {
  override readonly name = 'InboundListError';
  readonly code = 'BAD_USER_INPUT';
}

interface InboundEventDoc {
  platform: Platform;
  eventId: string;
  instanceCode: string | null;
  approvalCode: string | null;
  eventTime: Date | null;
  status: InboundStatus;
  reason: string | null;
  reasonCode: InboundReasonCode | null;
  claimId: string | null;
  receivedAt: Date;
  settledAt: Date | null;
  leaseUntil: Date | null;
  attempts: number;
  lastError: string | null;
  event: StoredEvent | null;
}

const inboundSchema = new Schema<InboundEventDoc>(
  {
    platform: { type: String, required: true, enum: PLATFORMS },
    eventId: { type: String, required: true },
    instanceCode: { type: String, default: null },
    approvalCode: { type: String, default: null },
    eventTime: { type: Date, default: null },
    status: { type: String, required: true, enum: INBOUND_STATUSES },
    reason: { type: String, default: null },
    reasonCode: { type: String, default: null },
    claimId: { type: String, default: null },
    receivedAt: { type: Date, required: true },
    settledAt: { type: Date, default: null },
    leaseUntil: { type: Date, default: null },
    attempts: { type: Number, default: 1 },
    lastError: { type: String, default: null },
    event: { type: Schema.Types.Mixed, default: null },
  },
  { versionKey: false, minimize: false },
);
inboundSchema.index({ platform: 1, eventId: 1 }, { unique: true, name: 'platform_eventId_unique' });
inboundSchema.index({ platform: 1, instanceCode: 1, status: 1, eventTime: -1 }, { name: 'instance_applied' });
inboundSchema.index({ status: 1, _id: -1 }, { name: 'status_recent' });

const MODEL_NAME = 'OaInboundEvent';
const isDuplicateKey = (err: unknown): boolean => (err as { code?: unknown } | null)?.code === 11000;

type LeanDoc = InboundEventDoc & { _id: Types.ObjectId };

function toRecord(doc: LeanDoc): InboundEventRecord {
  return {
    id: doc._id.toHexString(),
    platform: doc.platform,
    eventId: doc.eventId,
    instanceCode: doc.instanceCode ?? null,
    approvalCode: doc.approvalCode ?? null,
    eventTime: doc.eventTime ?? null,
    status: doc.status,
    reason: doc.reason ?? null,
    reasonCode: doc.reasonCode ?? null,
    claimId: doc.claimId ?? null,
    receivedAt: doc.receivedAt,
    settledAt: doc.settledAt ?? null,
    attempts: doc.attempts ?? 1,
    event: doc.event ?? null,
  };
}

const cursorOf = (id: Types.ObjectId): string => Buffer.from(id.toHexString(), 'hex').toString('base64url');
function idOfCursor(cursor: string): Types.ObjectId {
  const bytes = /^[A-Za-z0-9_-]{16}$/.test(cursor) ? Buffer.from(cursor, 'base64url') : Buffer.alloc(0);
  if (bytes.length !== 12) throw new InboundListError('after: not a cursor of this list');
  return new Types.ObjectId(bytes.toString('hex'));
}

export interface ClaimInput {
  platform: Platform;
  eventId: string;
  instanceCode: string | null;
  approvalCode: string | null;
  eventTime: Date | null;
  event: StoredEvent | null;
}
export type ClaimOutcome = { claimed: true; id: string } | { claimed: false; record: InboundEventRecord };
export interface Settlement {
  status: Exclude<InboundStatus, 'RECEIVED'>;
  reason?: string | null;
  reasonCode?: InboundReasonCode | null;
  claimId?: string | null;
}

/** The record of inbound events, on collection `oa_inbound_events`. */
export class InboundEventStore {
  readonly model: Model<InboundEventDoc>;

  constructor(
    connection: Connection,
    /** How long a delivery owns a RECEIVED record before another may take it over (default 60 s). */
    readonly leaseMs = 60_000,
  ) {
    this.model = (connection.models[MODEL_NAME] as Model<InboundEventDoc> | undefined) ?? connection.model<InboundEventDoc>(MODEL_NAME, inboundSchema, INBOUND_COLLECTION);
  }

  /** Builds the indexes (the unique one included). Call once before use. */
  async init(): Promise<this> {
    await this.model.init();
    await this.model.createIndexes();
    return this;
  }

  /** Records the event as RECEIVED and leases it to the caller, or reports the existing record. */
  async claim(input: ClaimInput, now: Date = new Date()): Promise<ClaimOutcome> {
    try {
      const doc = await this.model.create({
        ...input,
        status: 'RECEIVED',
        receivedAt: now,
        leaseUntil: new Date(now.getTime() + this.leaseMs),
        attempts: 1,
      });
      return { claimed: true, id: doc._id.toHexString() };
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
    }
    const taken = await this.model
      .findOneAndUpdate(
        { platform: input.platform, eventId: input.eventId, status: 'RECEIVED', leaseUntil: { $lte: now } },
        { $set: { leaseUntil: new Date(now.getTime() + this.leaseMs) }, $inc: { attempts: 1 } },
        { returnDocument: 'after' },
      )
      .lean<LeanDoc>();
    if (taken) return { claimed: true, id: taken._id.toHexString() };
    const existing = await this.model.findOne({ platform: input.platform, eventId: input.eventId }).lean<LeanDoc>();
    if (!existing) throw new Error(`inbound event ${input.platform}/${input.eventId} vanished while being claimed`);
    return { claimed: false, record: toRecord(existing) };
  }

  /** Records a settled event directly (no processing needed). Returns false when the eventId is already recorded. */
  async record(input: ClaimInput, settlement: Settlement, now: Date = new Date()): Promise<boolean> {
    try {
      await this.model.create({
        ...input,
        status: settlement.status,
        reason: settlement.reason ?? null,
        reasonCode: settlement.reasonCode ?? null,
        claimId: settlement.claimId ?? null,
        receivedAt: now,
        settledAt: now,
      });
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  async settle(id: string, settlement: Settlement, now: Date = new Date()): Promise<void> {
    await this.model.updateOne(
      { _id: new Types.ObjectId(id) },
      {
        $set: {
          status: settlement.status,
          reason: settlement.reason ?? null,
          reasonCode: settlement.reasonCode ?? null,
          claimId: settlement.claimId ?? null,
          settledAt: now,
          leaseUntil: null,
        },
      },
    );
  }

  /** Gives up the lease after a transient failure, so that a redelivery may take the event over at once. */
  async release(id: string, error: string, now: Date = new Date()): Promise<void> {
    await this.model.updateOne({ _id: new Types.ObjectId(id), status: 'RECEIVED' }, { $set: { leaseUntil: now, lastError: error.slice(0, 500) } });
  }

  /** Takes over one RECEIVED event whose lease has run out (for redeliverPending). */
  async takeOverExpired(now: Date = new Date()): Promise<InboundEventRecord | null> {
    const doc = await this.model
      .findOneAndUpdate(
        { status: 'RECEIVED', leaseUntil: { $lte: now } },
        { $set: { leaseUntil: new Date(now.getTime() + this.leaseMs) }, $inc: { attempts: 1 } },
        { returnDocument: 'after', sort: { _id: 1 } },
      )
      .lean<LeanDoc>();
    return doc ? toRecord(doc) : null;
  }

  /**
   * Puts a REJECTED event back to RECEIVED (lease expired), so that the next redeliverPending processes it again
   * — e.g. after the mapping file gained the missing user or approval code. Events that could not be normalised
   * (no stored event) cannot be reopened. Returns whether the event was reopened.
   */
  async reopen(platform: Platform, eventId: string, now: Date = new Date()): Promise<boolean> {
    const res = await this.model.updateOne(
      { platform, eventId, status: 'REJECTED', event: { $ne: null } },
      { $set: { status: 'RECEIVED', leaseUntil: now, settledAt: null, lastError: null } },
    );
    return res.modifiedCount === 1;
  }

  /** eventTime of the latest APPLIED event of an instance. */
  async lastAppliedEventTime(platform: Platform, instanceCode: string): Promise<Date | null> {
    const doc = await this.model
      .findOne({ platform, instanceCode, status: 'APPLIED' })
      .sort({ eventTime: -1 })
      .select({ eventTime: 1 })
      .lean<Pick<LeanDoc, '_id' | 'eventTime'>>();
    return doc?.eventTime ?? null;
  }

  async get(platform: Platform, eventId: string): Promise<InboundEventRecord | null> {
    const doc = await this.model.findOne({ platform, eventId }).lean<LeanDoc>();
    return doc ? toRecord(doc) : null;
  }

  /** Newest first. For the ADMIN-only GraphQL field listing inbound events (e.g. status REJECTED). */
  async list(args: InboundListArgs = {}): Promise<InboundEventConnection> {
    const first = args.first ?? 20;
    if (!Number.isInteger(first) || first < 1 || first > 100) throw new InboundListError('first: expected an integer 1..100');
    if (args.status !== undefined && !INBOUND_STATUSES.includes(args.status)) throw new InboundListError(`status: expected one of ${INBOUND_STATUSES.join(', ')}`);
    if (args.platform !== undefined && !PLATFORMS.includes(args.platform)) throw new InboundListError(`platform: expected one of ${PLATFORMS.join(', ')}`);
    const filter: mongoose.QueryFilter<InboundEventDoc> = {};
    if (args.status !== undefined) filter.status = args.status;
    if (args.platform !== undefined) filter.platform = args.platform;
    const page: mongoose.QueryFilter<InboundEventDoc> = args.after === undefined ? filter : { ...filter, _id: { $lt: idOfCursor(args.after) } };
    const [docs, totalCount] = await Promise.all([
      this.model.find(page).sort({ _id: -1 }).limit(first + 1).lean<LeanDoc[]>(),
      this.model.countDocuments(filter),
    ]);
    const edges = docs.slice(0, first).map((d) => ({ cursor: cursorOf(d._id), node: toRecord(d) }));
    return { edges, pageInfo: forwardPageInfo(edges, docs.length > first, args.after), totalCount };
  }
}

// ---- delivery ------------------------------------------------------------------------------------------

export interface DeliveryDeps {
  store: InboundEventStore;
  details: InstanceDetails;
  mapping: MappingConfig;
  sink: ClaimSink;
  logger: Logger;
  /** Downloads the form's files into the attachments bucket; without it, attachment fields are not fetched. */
  files?: ConnectorFiles;
  now?: () => number;
}

export interface DeliveryOutcome {
  status: InboundStatus;
  /** False when nothing was recorded: a replayed eventId, or an unrelated event without id. */
  recorded: boolean;
  reason?: string;
  claimId?: string;
}

type Deliverable = Extract<InboundMessage, { kind: 'event' | 'invalid' | 'ignored' }>;

function storedEvent(event: ExternalApprovalEvent): StoredEvent {
  const { form: _form, ...rest } = event;
  return rest;
}

/** What to log about an event: identifiers only, never user ids, form contents or reasons quoting them. */
function logFields(platform: Platform, eventId: string | undefined, instanceCode: string | null | undefined, approvalCode: string | null | undefined) {
  return { platform, eventId, instanceCode, approvalCode };
}

/**
 * Delivers one authenticated message. Returns how it was settled.
 * @throws on a transient failure (after releasing the claim): answer so that the platform redelivers.
 */
export async function deliver(message: Deliverable, deps: DeliveryDeps): Promise<DeliveryOutcome> {
  const now = () => new Date((deps.now ?? Date.now)());
  if (message.kind !== 'event') {
    const { platform, eventId } = message;
    const fields = logFields(platform, eventId, message.instanceCode, message.approvalCode);
    if (eventId === undefined) {
      deps.logger.debug({ platform, connector: 'inbound' }, 'platform event ignored');
      return { status: 'IGNORED', recorded: false, reason: message.reason };
    }
    const settlement: Settlement =
      message.kind === 'invalid'
        ? { status: 'REJECTED', reason: message.reason, reasonCode: 'INVALID_EVENT' }
        : { status: 'IGNORED', reason: message.reason, reasonCode: 'IGNORED' };
    const input: ClaimInput = {
      platform,
      eventId,
      instanceCode: message.instanceCode ?? null,
      approvalCode: message.approvalCode ?? null,
      eventTime: message.eventTime ?? null,
      event: null,
    };
    const recorded = await deps.store.record(input, settlement, now());
    const status = recorded ? settlement.status : 'DUPLICATE';
    deps.logger.info({ ...fields, status, reasonCode: recorded ? settlement.reasonCode : undefined }, `inbound event ${status}`);
    return { status, recorded, reason: settlement.reason ?? undefined };
  }

  const { event } = message;
  const claim = await deps.store.claim(
    { platform: event.platform, eventId: event.eventId, instanceCode: event.instanceCode, approvalCode: event.approvalCode, eventTime: event.eventTime, event: storedEvent(event) },
    now(),
  );
  if (!claim.claimed) {
    deps.logger.info({ ...logFields(event.platform, event.eventId, event.instanceCode, event.approvalCode), status: 'DUPLICATE', recordedAs: claim.record.status }, 'inbound event replayed');
    return { status: 'DUPLICATE', recorded: false };
  }
  return processClaimed(claim.id, event, deps);
}

/** Processes an event this delivery has claimed; settles it, or releases it and rethrows on a transient failure. */
async function processClaimed(id: string, event: ExternalApprovalEvent, deps: DeliveryDeps): Promise<DeliveryOutcome> {
  const now = () => new Date((deps.now ?? Date.now)());
  const fields = logFields(event.platform, event.eventId, event.instanceCode, event.approvalCode);
  const settle = async (settlement: Settlement): Promise<DeliveryOutcome> => {
    await deps.store.settle(id, settlement, now());
    deps.logger.info({ ...fields, status: settlement.status, reasonCode: settlement.reasonCode ?? undefined }, `inbound event ${settlement.status}`);
    return { status: settlement.status, recorded: true, reason: settlement.reason ?? undefined, claimId: settlement.claimId ?? undefined };
  };

  try {
    const lastApplied = await deps.store.lastAppliedEventTime(event.platform, event.instanceCode);
    if (lastApplied !== null && event.eventTime.getTime() < lastApplied.getTime()) {
      return await settle({
        status: 'STALE',
        reasonCode: 'STALE',
        reason: `event of ${event.eventTime.toISOString()} is older than the last applied event of this instance (${lastApplied.toISOString()})`,
      });
    }
    const approval = approvalFor(deps.mapping, event.platform, event.approvalCode);
    if (!approval.ok) return await settle({ status: 'REJECTED', reasonCode: approval.code, reason: approval.reason });

    let detail;
    try {
      detail = await deps.details.fetch(event.platform, event.instanceCode);
    } catch (err) {
      if (err instanceof InstanceDetailError && err.permanent) {
        return await settle({ status: 'REJECTED', reasonCode: 'DETAIL_UNUSABLE', reason: `instance detail unusable: ${err.message}` });
      }
      throw err;
    }
    if (detail === null) {
      return await settle({ status: 'REJECTED', reasonCode: 'DETAIL_NOT_FOUND', reason: `${event.platform} has no approval instance ${JSON.stringify(event.instanceCode)}` });
    }
    const mapped = mapToClaim(event, detail, deps.mapping);
    if (!mapped.ok) return await settle({ status: 'REJECTED', reasonCode: mapped.code, reason: mapped.reason });

    // Refused files (host, size, type) leave the claim without them and are named in the record; a transient
    // download failure throws below, so the event is retried.
    const { claim, problems } = deps.files ? await deps.files.collect(mapped.claim) : { claim: mapped.claim, problems: [] };
    const result = await deps.sink.applyExternal(claim);
    if (result.applied && problems.length) {
      const reason = `claim created without ${problems.length} refused attachment${problems.length === 1 ? '' : 's'}: ${problems.join('; ')}`;
      return await settle({ status: 'APPLIED', claimId: result.claimId, reasonCode: 'ATTACHMENT_REFUSED', reason: reason.slice(0, 2000) });
    }
    if (result.applied) return await settle({ status: 'APPLIED', claimId: result.claimId });
    if (result.refused) return await settle({ status: 'REJECTED', reasonCode: 'SINK', reason: result.reason ?? 'refused by the OA rules', claimId: result.claimId || null });
    if (result.reason === 'stale') {
      return await settle({ status: 'STALE', reasonCode: 'STALE', reason: 'the claim already holds a newer event of this instance', claimId: result.claimId });
    }
    return await settle({ status: 'DUPLICATE', reasonCode: 'SINK', reason: `claim not changed: ${result.reason ?? 'already up to date'}`, claimId: result.claimId });
  } catch (err) {
    const message = `${(err as Error).name}: ${(err as Error).message}`;
    await deps.store.release(id, message, now()).catch((releaseErr: unknown) => {
      deps.logger.error({ ...fields, err: releaseErr }, 'could not release an inbound event after a failure');
    });
    deps.logger.warn({ ...fields, error: message }, 'inbound event not processed (transient failure): awaiting redelivery');
    throw err;
  }
}

/**
 * Processes RECEIVED events whose lease ran out (their delivery failed transiently or the process stopped).
 * Returns how many were taken over. Failures stay RECEIVED for a later run.
 */
export async function redeliverPending(deps: DeliveryDeps, limit = 100): Promise<number> {
  let count = 0;
  for (; count < limit; count++) {
    const record = await deps.store.takeOverExpired(new Date((deps.now ?? Date.now)()));
    if (record === null) break;
    if (record.event === null || record.instanceCode === null || record.approvalCode === null || record.eventTime === null) {
      await deps.store.settle(record.id, { status: 'REJECTED', reasonCode: 'INVALID_EVENT', reason: 'stored event is incomplete' });
      continue;
    }
    await processClaimed(record.id, { ...record.event, form: null }, deps).catch(() => undefined);
  }
  return count;
}

// The audit trail of the integration (issue 7 §4): who did what, when, from where, with what result, in both
// systems. The gateway records every client mutation, every refused authentication, every operation refused with
// FORBIDDEN or UNAUTHENTICATED and every subscription start; the subgraphs may record their own actions.
//
// Entries are hash-chained as the archive's access log is (platform/integration/hash-chain.ts): each entry's digest is
// SHA-256 over the canonical JSON of all its fields and the previous entry's digest, and `seq` runs 1, 2, 3 … without
// gaps (nextSequence in the same transaction as the batch, which also serialises concurrent appenders: the second one
// conflicts and is retried). Editing or deleting an entry afterwards breaks the chain there, and verify() names it.
// Rewriting the trail to the end, or cutting its tail with the counter, shows against its heads sealed outside the
// database (platform/integration/chain-seal.ts) with the archive's key configuration, once useSeal() was called.
import { isIP } from 'node:net';
import { type ClientSession, type Connection, type Model, Schema, type Types } from 'mongoose';
import { ChainSeal, type SealKey } from '../../../platform/integration/chain-seal.ts';
import { HeadTimestamps } from '../../../platform/integration/head-timestamps.ts';
import type { TimestampAuthority } from '../../../platform/integration/timestamp-authority.ts';
import { HashChain, chainDigest, flatChainRules } from '../../../platform/integration/hash-chain.ts';
import { transaction } from '../../../platform/integration/transactions.ts';
import { PUBLIC_ERROR_CODES, badInput } from '../../../platform/graphql.ts';
import { isRole } from '../../../platform/identity.ts';

export const AUDIT_SOURCES = ['gateway', 'oa', 'archive', 'sync'] as const;
export type AuditSource = (typeof AUDIT_SOURCES)[number];

/** `OK`, or one of the public error codes (and INTERNAL_SERVER_ERROR for everything else). */
export const AUDIT_OUTCOMES: ReadonlySet<string> = new Set(['OK', 'INTERNAL_SERVER_ERROR', ...PUBLIC_ERROR_CODES]);

export const MAX_BATCH = 500;
export const MAX_ACTOR = 200;
export const MAX_ACTION = 300;
export const MAX_OPERATION_NAME = 100;
/** A day: no request takes longer. */
export const MAX_DURATION_MS = 86_400_000;
/** Entries dated further ahead than this are refused (clock skew between instances is tolerated). */
export const MAX_FUTURE_MS = 5 * 60_000;
export const MAX_PAGE = 200;
const COUNTER_KEY = 'audit_log';

export interface AuditEntryDoc {
  _id: Types.ObjectId;
  seq: number;
  at: Date;
  actor: string | null;
  roles: string[];
  address: string | null;
  source: AuditSource;
  action: string;
  operationName: string | null;
  outcome: string;
  durationMs: number | null;
  /**
   * The client request this entry records (the gateway's request id), where one is known: an entry is stored once per
   * request id, so the gateway's spool sending again and a subgraph's transactional entry never record a request twice.
   */
  requestId?: string | null;
  digest: string;
  previousDigest: string | null;
}

/** What a caller hands to append(): everything but the chain fields and the source. */
export interface AuditEntryInput {
  at: Date | string;
  actor?: string | null;
  roles: readonly string[];
  address?: string | null;
  action: string;
  operationName?: string | null;
  outcome: string;
  durationMs?: number | null;
  requestId?: string | null;
}

/** An entry refused alone (the others of its batch are stored): which, and why. */
export interface RefusedEntry {
  index: number;
  field: string;
  message: string;
}

/** What append() did with a batch. */
export interface AppendResult {
  /** Entries newly stored. */
  stored: number;
  /** Entries whose request id was stored already (a retry): accepted, not stored twice. */
  duplicates: number;
  refused: RefusedEntry[];
}

/** The public view (AuditEntry in schema/operations.graphql). */
export interface AuditEntryView extends Omit<AuditEntryDoc, '_id'> {
  id: string;
}

export interface AuditFilters {
  actor?: string | null;
  source?: string | null;
  /** A prefix: `mutation` matches every mutation, `mutation decideApproval` that one. */
  action?: string | null;
  outcome?: string | null;
  from?: Date | null;
  to?: Date | null;
}

export interface AuditPage {
  entries: AuditEntryView[];
  /** The seq to pass as `after` for the next (older) page; null on the last. */
  endCursor: string | null;
}

export interface AuditVerification {
  valid: boolean;
  checked: number;
  /** The first entry whose digest does not match, or the entry after which one is missing (0: the first is). */
  firstBrokenSeq: number | null;
  /** CHANGED, REMOVED, or SEAL_BROKEN (the seal file itself cut or edited); null while valid. */
  problem: 'CHANGED' | 'REMOVED' | 'SEAL_BROKEN' | 'TIMESTAMP_INVALID' | null;
}

/** The key and directory that seal the trail's head: the archive's (ARCHIVE_SEAL_*), loaded by the sync process. */
export interface AuditSealOptions {
  key: SealKey;
  dir: string;
  clock?: () => Date;
  /** Where ARCHIVE_TSA_URL is set: the trail's sealed heads are time-stamped too. */
  tsa?: TimestampAuthority;
  onTimestampError?: (chain: string, err: Error) => void;
}

export const AUDIT_CHAIN = 'audit_log';

const entrySchema = new Schema<AuditEntryDoc>(
  {
    seq: { type: Number, required: true },
    at: { type: Date, required: true },
    actor: { type: String, default: null },
    roles: { type: [String], default: [] },
    address: { type: String, default: null },
    source: { type: String, required: true },
    action: { type: String, required: true },
    operationName: { type: String, default: null },
    outcome: { type: String, required: true },
    durationMs: { type: Number, default: null },
    requestId: { type: String, default: undefined },
    digest: { type: String, required: true },
    previousDigest: { type: String, default: null },
  },
  { collection: 'audit_log', versionKey: false, minimize: false, autoIndex: true },
);
entrySchema.index({ seq: 1 }, { unique: true });
entrySchema.index({ at: 1 });
entrySchema.index({ actor: 1 });
// The anomaly rules: refusals per address and per outcome within a window.
entrySchema.index({ address: 1, at: 1 });
entrySchema.index({ outcome: 1, at: 1 });
entrySchema.index({ requestId: 1 });

/** SHA-256 (hex) over the canonical form of every field but the digest and the id, previousDigest included. */
export function auditDigest(e: Omit<AuditEntryDoc, '_id' | 'digest'>): string {
  const fields = {
    seq: e.seq,
    at: e.at,
    actor: e.actor,
    roles: e.roles,
    address: e.address,
    source: e.source,
    action: e.action,
    operationName: e.operationName,
    outcome: e.outcome,
    durationMs: e.durationMs,
    previousDigest: e.previousDigest,
    // Covered where present; entries from before request ids keep their digests.
    ...(typeof e.requestId === 'string' ? { requestId: e.requestId } : {}),
  };
  // The trail's canonical form has always written a field that is absent as null.
  return chainDigest(fields, { undefinedMembers: 'null' });
}

// ── Validation: everything an entry holds is bounded; nonsense is BAD_USER_INPUT ──────────────────────────

const CONTROL = /[\u0000-\u001f\u007f]/;
const ACTION = new RegExp(`^[A-Za-z][A-Za-z0-9_ ,.:/-]{0,${MAX_ACTION - 1}}$`);
const OPERATION_NAME = new RegExp(`^[_A-Za-z][_0-9A-Za-z]{0,${MAX_OPERATION_NAME - 1}}$`);
export const REQUEST_ID = /^[A-Za-z0-9_.:-]{8,100}$/;
/** The earliest believable entry. */
const EPOCH = Date.UTC(2000, 0, 1);

export function isAuditSource(value: unknown): value is AuditSource {
  return typeof value === 'string' && (AUDIT_SOURCES as readonly string[]).includes(value);
}

function validEntry(input: AuditEntryInput, index: number, now: number): Omit<AuditEntryDoc, '_id' | 'seq' | 'digest' | 'previousDigest' | 'source'> {
  const field = (name: string) => `entries[${index}].${name}`;
  if (input === null || typeof input !== 'object') throw badInput('each entry must be an object', `entries[${index}]`);
  const at = input.at instanceof Date ? input.at : typeof input.at === 'string' ? new Date(input.at) : new Date(Number.NaN);
  const time = at.getTime();
  if (Number.isNaN(time) || time < EPOCH || time > now + MAX_FUTURE_MS) throw badInput('at must be a real instant, not in the future', field('at'));

  const actor = input.actor ?? null;
  if (actor !== null && (typeof actor !== 'string' || actor.length === 0 || actor.length > MAX_ACTOR || CONTROL.test(actor))) {
    throw badInput(`actor must be null or 1 to ${MAX_ACTOR} printable characters`, field('actor'));
  }

  if (!Array.isArray(input.roles) || input.roles.length > 20 || !input.roles.every(isRole)) throw badInput('roles must be known roles', field('roles'));
  const roles = [...new Set(input.roles as string[])];

  const address = input.address ?? null;
  if (address !== null && (typeof address !== 'string' || address.length > 45 || isIP(address) === 0)) {
    throw badInput('address must be null or an IPv4 or IPv6 address', field('address'));
  }

  if (typeof input.action !== 'string' || !ACTION.test(input.action)) {
    throw badInput(`action must be 1 to ${MAX_ACTION} characters: a letter, then letters, digits, spaces or _,.:/-`, field('action'));
  }

  const operationName = input.operationName ?? null;
  if (operationName !== null && (typeof operationName !== 'string' || !OPERATION_NAME.test(operationName))) {
    throw badInput(`operationName must be null or a GraphQL name of at most ${MAX_OPERATION_NAME} characters`, field('operationName'));
  }

  if (typeof input.outcome !== 'string' || !AUDIT_OUTCOMES.has(input.outcome)) {
    throw badInput(`outcome must be OK or one of ${[...AUDIT_OUTCOMES].filter((c) => c !== 'OK').join(', ')}`, field('outcome'));
  }

  const durationMs = input.durationMs ?? null;
  if (durationMs !== null && (!Number.isSafeInteger(durationMs) || durationMs < 0 || durationMs > MAX_DURATION_MS)) {
    throw badInput(`durationMs must be null or an integer 0..${MAX_DURATION_MS}`, field('durationMs'));
  }
  const requestId = input.requestId ?? null;
  if (requestId !== null && (typeof requestId !== 'string' || !REQUEST_ID.test(requestId))) {
    throw badInput('requestId must be null or 8 to 100 of A-Z, a-z, 0-9 and _.:-', field('requestId'));
  }
  return { at, actor, roles, address, action: input.action, operationName, outcome: input.outcome, durationMs, ...(requestId === null ? {} : { requestId }) };
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function toAuditView(doc: AuditEntryDoc): AuditEntryView {
  const { _id, ...rest } = doc;
  return { id: _id.toHexString(), ...rest };
}

// ── The trail ──────────────────────────────────────────────────────────────────────────────────────────

export class AuditTrail {
  readonly model: Model<AuditEntryDoc>;

  private readonly chain: HashChain<AuditEntryDoc, Omit<AuditEntryDoc, '_id' | 'digest'>>;
  private seal: ChainSeal | null = null;

  constructor(
    connection: Connection,
    private readonly clock: () => Date = () => new Date(),
  ) {
    this.model = (connection.models.AuditEntry as Model<AuditEntryDoc> | undefined) ?? connection.model<AuditEntryDoc>('AuditEntry', entrySchema);
    this.chain = new HashChain({ ...flatChainRules<AuditEntryDoc>(auditDigest), model: this.model, counter: COUNTER_KEY });
  }

  /** The lane of transactions appending to the trail (platform/integration/transactions.ts). */
  get lane(): string {
    return this.chain.lane;
  }

  /** Seals the trail's head from now on (after each append, and now). */
  async useSeal(o: AuditSealOptions): Promise<void> {
    const head = async () => {
      const d = await this.model.findOne({}, { seq: 1, digest: 1 }).sort({ seq: -1 }).lean<Pick<AuditEntryDoc, 'seq' | 'digest'>>();
      return d ? { seq: d.seq, digest: d.digest, label: null } : null;
    };
    const timestamps = o.tsa ? new HeadTimestamps({ chain: AUDIT_CHAIN, dir: o.dir, tsa: o.tsa, onError: (err) => o.onTimestampError?.(AUDIT_CHAIN, err) }) : undefined;
    this.seal = new ChainSeal({ chain: AUDIT_CHAIN, key: o.key, dir: o.dir, connection: this.model.db, head, clock: o.clock, timestamps });
    await this.seal.seal();
  }

  /**
   * Seals the current head. The entries are stored whatever happens here: a failure (the seal directory not writable)
   * must not make the gateway send the batch again and store it twice; the next append seals the newer head.
   */
  async sealHead(): Promise<void> {
    await this.seal?.seal().catch(() => undefined);
  }

  /** Creates the collection and its indexes (also done on first use). */
  async init(): Promise<void> {
    await this.model.init();
  }

  /**
   * Stores a batch in one transaction, each entry chained to the one before. An invalid entry is refused alone (the
   * result names it and why; the others are stored), and an entry whose request id is stored already is accepted
   * without being stored twice (a spool sending again, or the subgraph's own entry of the same request).
   */
  async append(entries: readonly AuditEntryInput[], source: AuditSource, session?: ClientSession): Promise<AppendResult> {
    if (!isAuditSource(source)) throw badInput(`source must be one of ${AUDIT_SOURCES.join(', ')}`, 'source');
    if (!Array.isArray(entries)) throw badInput('entries must be a list', 'entries');
    if (entries.length > MAX_BATCH) throw badInput(`at most ${MAX_BATCH} entries per call`, 'entries');
    const now = this.clock().getTime();
    const refused: RefusedEntry[] = [];
    const valid: Array<ReturnType<typeof validEntry>> = [];
    entries.forEach((e, i) => {
      try {
        valid.push(validEntry(e, i, now));
      } catch (err) {
        const ext = (err as { extensions?: { field?: unknown } }).extensions;
        refused.push({ index: i, field: typeof ext?.field === 'string' ? ext.field : `entries[${i}]`, message: (err as Error).message });
      }
    });
    if (valid.length === 0) return { stored: 0, duplicates: 0, refused };
    await this.init();
    const run = async (s: ClientSession) => {
      // Inside the transaction: two appends of one request id both see none, both take the counter, one conflicts and
      // runs again, and then sees the other's.
      const ids = [...new Set(valid.flatMap((e) => (e.requestId ? [e.requestId] : [])))];
      const seen = new Set(ids.length ? (await this.model.find({ requestId: { $in: ids } }, { requestId: 1 }, { session: s }).lean<Array<{ requestId: string }>>()).map((d) => d.requestId) : []);
      const fresh = valid.filter((e) => {
        if (!e.requestId) return true;
        if (seen.has(e.requestId)) return false;
        seen.add(e.requestId);
        return true;
      });
      await this.chain.append(fresh, (entry, { seq, previousDigest }) => ({ seq, ...entry, source, previousDigest }), { session: s });
      return fresh.length;
    };
    const stored = session ? await run(session) : await transaction(this.model.db, run, { lane: this.lane });
    // After the commit: a head sealed inside a transaction that then aborted would name an entry that never was.
    if (!session) await this.sealHead();
    return { stored, duplicates: valid.length - stored, refused };
  }

  /** Newest first, `first` 1..200; `after` is the endCursor of the previous page (a seq). */
  async list(filters: AuditFilters, first: number | null | undefined = 50, after?: string | null): Promise<AuditPage> {
    const n = first ?? 50;
    if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE) throw badInput(`first must be 1 to ${MAX_PAGE}`, 'first');
    const filter: Record<string, unknown> = {};
    if (filters.actor != null) filter.actor = String(filters.actor).slice(0, MAX_ACTOR);
    if (filters.source != null) {
      if (!isAuditSource(filters.source)) throw badInput(`source must be one of ${AUDIT_SOURCES.join(', ')}`, 'source');
      filter.source = filters.source;
    }
    if (filters.action != null && filters.action !== '') {
      if (filters.action.length > MAX_ACTION) throw badInput(`action must be at most ${MAX_ACTION} characters`, 'action');
      filter.action = { $regex: `^${escapeRegExp(filters.action)}` };
    }
    if (filters.outcome != null) filter.outcome = String(filters.outcome).slice(0, 60);
    const at: Record<string, Date> = {};
    if (filters.from) at.$gte = filters.from;
    if (filters.to) at.$lte = filters.to;
    if (filters.from && filters.to && filters.from > filters.to) throw badInput('from must not be after to', 'from');
    if (Object.keys(at).length) filter.at = at;
    if (after != null) {
      const seq = /^\d{1,15}$/.test(after) ? Number(after) : Number.NaN;
      if (!Number.isSafeInteger(seq)) throw badInput('after is not a cursor returned by auditLog', 'after');
      filter.seq = { $lt: seq };
    }
    const docs = await this.model.find(filter).sort({ seq: -1 }).limit(n + 1).lean<AuditEntryDoc[]>();
    const page = docs.slice(0, n);
    return { entries: page.map(toAuditView), endCursor: docs.length > n ? String(page[page.length - 1].seq) : null };
  }

  /**
   * Walks the chain in seq order. Names the first entry whose digest does not match (an entry edited, or its
   * predecessor edited with its digest rewritten), or the entry after which one is missing.
   */
  async verify(): Promise<AuditVerification> {
    const digests = new Map<number, string>();
    const { checked, firstBroken: b, problem } = await this.chain.verify((e) => void digests.set(e.seq, e.digest));
    if (b === null) {
      if (!this.seal) return { valid: true, checked, firstBrokenSeq: null, problem: null };
      // The chain holds in itself; what the database alone cannot show (rewritten to the end, tail cut with the
      // counter) shows against the seals. A missing entry is named as the trail names it: the one before it.
      const s = await this.seal.check({ digestAt: (seq) => digests.get(seq) });
      if (s.state !== 'BROKEN') return { valid: true, checked, firstBrokenSeq: null, problem: null };
      const first = s.firstAffectedSeq ?? 1;
      return { valid: false, checked, firstBrokenSeq: s.problem === 'REMOVED' ? first - 1 : first, problem: s.problem };
    }
    // The trail counts an entry once its position and link hold, and names the last intact entry before one missing
    // or out of place (0: the first is missing).
    const unread = b.by === 'order' || b.by === 'link' ? 1 : 0;
    const firstBrokenSeq = b.by === 'order' || b.by === 'counter' ? checked - unread : b.seq;
    // As the access log reports it: an entry out of place is a changed one.
    return { valid: false, checked: checked - unread, firstBrokenSeq, problem: problem === 'REMOVED' ? 'REMOVED' : 'CHANGED' };
  }
}

const trails = new WeakMap<Connection, AuditTrail>();

/** The trail of a connection, made once. */
export function auditTrailFor(connection: Connection): AuditTrail {
  let trail = trails.get(connection);
  if (!trail) trails.set(connection, (trail = new AuditTrail(connection)));
  return trail;
}

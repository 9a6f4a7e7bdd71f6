// The access log of the archive (DOMAIN.md: "every view, copy and loan is recorded: who, what, when, why").
// Entries are hash-chained like the records themselves: each entry's digest covers its canonical form and the
// previous entry's digest, and the sequence runs 1, 2, 3 ... without gaps (a counter incremented in the same
// transaction as the entry, which also serialises concurrent appenders: the second one conflicts and is retried).
// Editing or deleting an entry afterwards breaks the chain at that entry, and verify() names it.
//
// This module also holds what the lifecycle modules (borrowing, holds, appraisal, destruction) share: the
// services they run on, role checks, the clock, and the mapping of workflow errors to GraphQL errors.
import { Schema, type ClientSession, type Connection, type Model, type Types } from 'mongoose';
import { nextSequence } from '../../platform/events.ts';
import { badInput, conflict, forbidden, gqlError, notFound, today } from '../../platform/graphql.ts';
import type { Principal, Role } from '../../platform/identity.ts';
import { toObjectId } from '../../platform/ids.ts';
import { WorkflowError } from '../../platform/workflow/engine.ts';
import type { Directory } from '../../platform/workflow/types.ts';
import { activeLoanOf, archiveDirectory } from './borrowing.ts';
import type { ArchiveServices } from './context.ts';
import { canonical, sha256 } from './fixity.ts';
import type { ArchiveRecordDoc } from './models.ts';
import { transaction } from '../../platform/transactions.ts';

// ── Shared by the lifecycle modules ─────────────────────────────────────────────────────────────────

/** What the lifecycle service functions run on: the archive services, plus optional overrides. */
export type LifecycleServices = ArchiveServices & {
  /** The organisation as the workflow engine reads it; defaults to archiveDirectory(connection). */
  directory?: Directory;
  /** "Now" for dates and timestamps (tests pass a fake one); defaults to the system clock. */
  clock?: () => Date;
};

export const nowOf = (svc: Pick<LifecycleServices, 'clock'>): Date => (svc.clock ? svc.clock() : new Date());
/** Today's date (YYYY-MM-DD) in the business time zone. */
export const todayOf = (svc: Pick<LifecycleServices, 'clock' | 'settings'>, now: Date = nowOf(svc)): string => today(svc.settings.timeZone, now);
export const directoryOf = (svc: Pick<LifecycleServices, 'directory' | 'connection'>): Directory => svc.directory ?? archiveDirectory(svc.connection);

export const hasAnyRole = (p: Principal, roles: readonly Role[]): boolean => roles.some((r) => p.roles.includes(r));

export function requireRole(p: Principal, roles: readonly Role[], what: string): void {
  if (!hasAnyRole(p, roles)) throw forbidden(`${what} is for ${roles.join(' or ')}`);
}

export function requireUser(p: Principal, what: string): void {
  if (p.kind !== 'user' || !p.sub) throw forbidden(`${what} needs an employee's identity`);
}

/** Maps errors of the workflow engine to the public error codes. */
export function fromWorkflow(err: unknown): never {
  if (err instanceof WorkflowError) throw gqlError(err.code, err.message);
  throw err;
}

/** Trimmed text of 1..max characters, or BAD_USER_INPUT naming the field. */
export function text(value: unknown, field: string, max: number): string {
  const s = typeof value === 'string' ? value.trim() : '';
  if (!s || s.length > max) throw badInput(`${field} must be 1 to ${max} characters`, field);
  return s;
}

/** Every record field except the content: the content leaves the archive only through readContent. */
export const WITHOUT_CONTENT = { content: 0 } as const;

export type RecordMeta = Omit<ArchiveRecordDoc, 'content'>;

/** A record's metadata in the caller's session; NOT_FOUND for an unknown id. */
export async function recordMeta(svc: Pick<LifecycleServices, 'models'>, recordId: string, session?: ClientSession): Promise<RecordMeta> {
  const id = typeof recordId === 'string' ? toObjectId(recordId) : null;
  const doc = id ? await svc.models.ArchiveRecord.findById(id, WITHOUT_CONTENT, { session }).lean<RecordMeta>() : null;
  if (!doc) throw notFound('Archive record');
  return doc;
}

/** The day a record may be destroyed after: an appraisal's extension, else its retention's end; null: none. */
export const effectiveExpiry = (r: Pick<ArchiveRecordDoc, 'extendedUntil' | 'expiresOn'>): string | null => r.extendedUntil ?? r.expiresOn;

export const hexId = (doc: { _id: Types.ObjectId }): string => doc._id.toHexString();

/** Relay cursors: an opaque base64url of a prefix and a key. */
export const encodeCursor = (prefix: string, key: string | number): string => Buffer.from(`${prefix}:${key}`).toString('base64url');
export function decodeCursor(prefix: string, cursor: string): string {
  const text = Buffer.from(String(cursor), 'base64url').toString('utf8');
  if (!text.startsWith(`${prefix}:`)) throw badInput('after is not a cursor returned by this API', 'after');
  return text.slice(prefix.length + 1);
}

export function pageSize(first: number | null | undefined): number {
  const n = first ?? 20;
  if (!Number.isInteger(n) || n < 1 || n > 100) throw badInput('first must be between 1 and 100', 'first');
  return n;
}

// ── The access log ──────────────────────────────────────────────────────────────────────────────────

export const ACCESS_ACTIONS = [
  'READ_CONTENT', 'LOAN_REQUESTED', 'LOAN_APPROVED', 'LOAN_REJECTED', 'LOAN_STARTED', 'LOAN_RETURNED', 'DESTROYED',
] as const;
export type AccessAction = (typeof ACCESS_ACTIONS)[number];

export interface AccessLogEntryDoc {
  _id: Types.ObjectId;
  seq: number;
  at: Date;
  actorId: string;
  actorRoles: Role[];
  action: AccessAction;
  recordId: string;
  archiveNo: string;
  /** Why: the reader's stated purpose, the loan's purpose, or the destruction register and its reason. */
  purpose: string;
  /** The loan an entry about borrowing belongs to. */
  loanId: string | null;
  digest: string;
  previousDigest: string | null;
}

export type AccessLogInput = Pick<AccessLogEntryDoc, 'actorId' | 'actorRoles' | 'action' | 'recordId' | 'archiveNo' | 'purpose'> & {
  loanId?: string | null;
  at?: Date;
};

const COLLECTION = 'archive_access_log';
const COUNTER_KEY = 'archive_access_log';

const entrySchema = new Schema<AccessLogEntryDoc>(
  {
    seq: { type: Number, required: true, unique: true },
    at: { type: Date, required: true },
    actorId: { type: String, required: true, index: true },
    actorRoles: { type: [String], default: [] },
    action: { type: String, required: true },
    recordId: { type: String, required: true, index: true },
    archiveNo: { type: String, required: true },
    purpose: { type: String, required: true },
    loanId: { type: String, default: null },
    digest: { type: String, required: true },
    previousDigest: { type: String, default: null },
  },
  { collection: COLLECTION, versionKey: false, minimize: false },
);

/** The digest of an entry: SHA-256 over the canonical form of every field but the digest (previousDigest included). */
export function entryDigest(e: Omit<AccessLogEntryDoc, '_id' | 'digest'>): string {
  return sha256(
    canonical({
      seq: e.seq,
      at: e.at,
      actorId: e.actorId,
      actorRoles: e.actorRoles,
      action: e.action,
      recordId: e.recordId,
      archiveNo: e.archiveNo,
      purpose: e.purpose,
      loanId: e.loanId,
      previousDigest: e.previousDigest,
    }),
  );
}

export interface AccessLogVerification {
  ok: boolean;
  checked: number;
  /** The first entry that was changed, or the sequence number of the first removed one. */
  firstBrokenSeq: number | null;
  problem: 'CHANGED' | 'REMOVED' | null;
}

export class AccessLog {
  readonly model: Model<AccessLogEntryDoc>;

  constructor(private readonly connection: Connection) {
    this.model = (connection.models.ArchiveAccessLogEntry as Model<AccessLogEntryDoc> | undefined) ?? connection.model<AccessLogEntryDoc>('ArchiveAccessLogEntry', entrySchema);
  }

  /** Appends an entry inside the caller's transaction (the same one as the access it records). */
  async append(session: ClientSession, input: AccessLogInput): Promise<AccessLogEntryDoc> {
    if (!session.inTransaction()) throw new Error('AccessLog.append must run inside a transaction');
    const seq = await nextSequence(this.connection, COUNTER_KEY, session);
    // The counter increment succeeded, so no other append committed after this transaction's snapshot: the
    // previous entry is visible here. Should it have been removed, the chain goes on and verify() reports the gap.
    const previous = seq > 1 ? await this.model.findOne({ seq: seq - 1 }, { digest: 1 }, { session }).lean<Pick<AccessLogEntryDoc, 'digest'>>() : null;
    const entry: Omit<AccessLogEntryDoc, '_id' | 'digest'> = {
      seq,
      at: input.at ?? new Date(),
      actorId: input.actorId,
      actorRoles: [...input.actorRoles],
      action: input.action,
      recordId: input.recordId,
      archiveNo: input.archiveNo,
      purpose: input.purpose,
      loanId: input.loanId ?? null,
      previousDigest: previous?.digest ?? null,
    };
    const [doc] = await this.model.create([{ ...entry, digest: entryDigest(entry) }], { session });
    return doc.toObject();
  }

  /** Walks the log in sequence order and names the first entry that was changed or removed. */
  async verify(): Promise<AccessLogVerification> {
    let checked = 0;
    let expected = 1;
    let previousDigest: string | null = null;
    const broken = (seq: number, problem: 'CHANGED' | 'REMOVED'): AccessLogVerification => ({ ok: false, checked, firstBrokenSeq: seq, problem });
    for await (const e of this.model.find().sort({ seq: 1 }).lean<AccessLogEntryDoc[]>().cursor()) {
      checked++;
      if (e.seq > expected) return broken(expected, 'REMOVED');
      if (e.seq < expected) return broken(e.seq, 'CHANGED');
      // The link disagrees with the predecessor as stored: the predecessor was changed and its digest rewritten.
      if (e.previousDigest !== previousDigest) return broken(e.seq - 1 || e.seq, 'CHANGED');
      const { _id, digest, ...rest } = e;
      if (digest !== entryDigest(rest)) return broken(e.seq, 'CHANGED');
      previousDigest = digest;
      expected++;
    }
    // Entries removed from the end leave no successor to notice; the counter remembers how many were written.
    const counter = await this.connection.db!.collection<{ _id: string; seq: number }>('counters').findOne({ _id: COUNTER_KEY });
    if (counter && counter.seq >= expected) return broken(expected, 'REMOVED');
    return { ok: true, checked, firstBrokenSeq: null, problem: null };
  }
}

/** Roles that read any record's content (DOMAIN.md: finance, archive and audit roles). */
export const CONTENT_READERS: readonly Role[] = ['ARCHIVIST', 'AUDITOR', 'ACCOUNTANT', 'FINANCE_DIRECTOR'];
/** Roles that read the access log. */
export const ACCESS_LOG_READERS: readonly Role[] = ['AUDITOR', 'ARCHIVIST'];

export interface RecordContent {
  record: RecordMeta;
  content: string;
  mediaType: string;
  contentDigest: string;
  entry: AccessLogEntryDoc;
}

/**
 * The only way to obtain a record's content. Allowed for the finance, archive and audit roles, and for the
 * borrower of an active loan of the record (on loan, within its period). Every read is logged with its purpose,
 * in the same transaction that reads the content: no content leaves without its log entry.
 */
export async function readContent(svc: LifecycleServices, principal: Principal, recordId: string, purpose: string): Promise<RecordContent> {
  const why = text(purpose, 'purpose', 500);
  const now = nowOf(svc);
  const byRole = hasAnyRole(principal, CONTENT_READERS);
  // Authorisation first, so an unrelated caller learns nothing about the record.
  let loanId: string | null = null;
  if (!byRole) {
    const loan = principal.kind === 'user' ? await activeLoanOf(svc, principal.sub, recordId, todayOf(svc, now)) : null;
    if (!loan) throw forbidden('Record content is for ARCHIVIST, AUDITOR, ACCOUNTANT, FINANCE_DIRECTOR, or the borrower during an active loan');
    loanId = hexId(loan);
  }
  const log = new AccessLog(svc.connection);
  let result: RecordContent | undefined;
  await transaction(svc.connection, async (session) => {
    result = undefined;
    const id = toObjectId(recordId);
    const record = id ? await svc.models.ArchiveRecord.findById(id, null, { session }).lean<ArchiveRecordDoc>() : null;
    if (!record) throw notFound('Archive record');
    if (record.status === 'DESTROYED' || record.content === null) throw conflict(`record ${record.archiveNo} was destroyed: it has no content`);
    // The loan is checked again in the transaction: returned meanwhile, it no longer opens the content.
    if (loanId !== null && (record.status !== 'BORROWED' || !(await activeLoanOf(svc, principal.sub, recordId, todayOf(svc, now), session)))) {
      throw forbidden(`record ${record.archiveNo} is not on loan to you`);
    }
    const entry = await log.append(session, {
      actorId: principal.sub,
      actorRoles: principal.roles,
      action: 'READ_CONTENT',
      recordId: hexId(record),
      archiveNo: record.archiveNo,
      purpose: why,
      loanId,
      at: now,
    });
    const { content, ...meta } = record;
    result = { record: meta, content, mediaType: record.mediaType, contentDigest: record.contentDigest, entry };
  });
  return result!;
}

export interface AccessLogPage {
  edges: Array<{ cursor: string; node: AccessLogEntryDoc }>;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  totalCount: number;
}

/** Entries in sequence order (oldest first), optionally of one record or one actor; AUDITOR and ARCHIVIST. */
export async function listAccessLog(
  svc: LifecycleServices,
  principal: Principal,
  args: { recordId?: string | null; actorId?: string | null; first?: number | null; after?: string | null },
): Promise<AccessLogPage> {
  requireRole(principal, ACCESS_LOG_READERS, 'The access log');
  const first = pageSize(args.first);
  const filter: Record<string, unknown> = {};
  if (args.recordId) filter.recordId = args.recordId;
  if (args.actorId) filter.actorId = args.actorId;
  let page = filter;
  if (args.after) {
    const after = Number(decodeCursor('access', args.after));
    if (!Number.isSafeInteger(after)) throw badInput('after is not a cursor returned by this API', 'after');
    page = { ...filter, seq: { $gt: after } };
  }
  const model = new AccessLog(svc.connection).model;
  const [docs, totalCount] = await Promise.all([
    model.find(page).sort({ seq: 1 }).limit(first + 1).lean<AccessLogEntryDoc[]>(),
    model.countDocuments(filter),
  ]);
  const edges = docs.slice(0, first).map((node) => ({ cursor: encodeCursor('access', node.seq), node }));
  return { edges, pageInfo: { hasNextPage: docs.length > first, endCursor: edges.at(-1)?.cursor ?? null }, totalCount };
}

/** Verifies the whole chain; AUDITOR and ARCHIVIST. */
export async function verifyAccessLog(svc: Pick<LifecycleServices, 'connection'>, principal: Principal): Promise<AccessLogVerification> {
  requireRole(principal, ACCESS_LOG_READERS, 'Access log verification');
  return new AccessLog(svc.connection).verify();
}

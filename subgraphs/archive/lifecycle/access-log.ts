// The access log of the archive (docs/domain.md: "every view, copy and loan is recorded: who, what, when, why").
// Entries are hash-chained like the records themselves (platform/integration/hash-chain.ts): each entry's digest
// covers its canonical form and the previous entry's digest, and the sequence runs 1, 2, 3 ... without gaps (a counter
// incremented in the same transaction as the entry, which also serialises concurrent appenders: the second one
// conflicts and is retried). Editing or deleting an entry afterwards breaks the chain at that entry, and verify() names it.
// Rewriting the log to the end, or cutting its tail with the counter, shows against its sealed heads (../seals.ts).
import { type PageInfoModel, forwardPageInfo } from '../../../platform/paging.ts';
import { Schema, type ClientSession, type Connection, type Model, type Types } from 'mongoose';
import { HashChain, chainDigest, flatChainRules } from '../../../platform/integration/hash-chain.ts';
import { badInput } from '../../../platform/graphql.ts';
import type { Principal, Role } from '../../../platform/identity.ts';
import { requireRole } from './guards.ts';
import { decodeCursor, encodeCursor, pageSize } from './pagination.ts';
import type { LifecycleServices } from './services.ts';
import type { ChainSeal } from '../../../platform/integration/chain-seal.ts';

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
  return chainDigest({
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
  });
}

export interface AccessLogVerification {
  ok: boolean;
  checked: number;
  /** The first entry that was changed, or the sequence number of the first removed one. */
  firstBrokenSeq: number | null;
  /** SEAL_BROKEN: the seal file was cut short or edited. */
  problem: 'CHANGED' | 'REMOVED' | 'SEAL_BROKEN' | 'TIMESTAMP_INVALID' | null;
}

export class AccessLog {
  readonly model: Model<AccessLogEntryDoc>;
  private readonly chain: HashChain<AccessLogEntryDoc, Omit<AccessLogEntryDoc, '_id' | 'digest'>>;

  constructor(connection: Connection) {
    this.model = (connection.models.ArchiveAccessLogEntry as Model<AccessLogEntryDoc> | undefined) ?? connection.model<AccessLogEntryDoc>('ArchiveAccessLogEntry', entrySchema);
    this.chain = new HashChain({ ...flatChainRules<AccessLogEntryDoc>(entryDigest), model: this.model, counter: COUNTER_KEY });
  }

  /** Appends an entry inside the caller's transaction (the same one as the access it records). */
  async append(session: ClientSession, input: AccessLogInput): Promise<AccessLogEntryDoc> {
    const [doc] = await this.chain.append(
      [input],
      (i, { seq, previousDigest }) => ({
        seq,
        at: i.at ?? new Date(),
        actorId: i.actorId,
        actorRoles: [...i.actorRoles],
        action: i.action,
        recordId: i.recordId,
        archiveNo: i.archiveNo,
        purpose: i.purpose,
        loanId: i.loanId ?? null,
        previousDigest,
      }),
      { session },
    );
    return doc;
  }

  /** Walks the log in sequence order and names the first entry that was changed or removed; then against its seals. */
  async verify(seal?: ChainSeal): Promise<AccessLogVerification> {
    const digests = new Map<number, string>();
    const { ok, checked, firstBroken, problem } = await this.chain.verify((e) => void digests.set(e.seq, e.digest));
    // The log reports no order of its own: an entry out of place is a changed one.
    if (!ok || !seal) return { ok, checked, firstBrokenSeq: firstBroken?.seq ?? null, problem: problem === 'REORDERED' ? 'CHANGED' : problem };
    const sealed = await seal.check({ digestAt: (s) => digests.get(s) });
    return sealed.state === 'BROKEN' ? { ok: false, checked, firstBrokenSeq: sealed.firstAffectedSeq, problem: sealed.problem } : { ok, checked, firstBrokenSeq: null, problem: null };
  }
}

/**
 * Roles that read the access log: the roles of the model's Query.accessLog and Query.verifyAccessLog
 * (schema/permissions.ts), kept in this order because the FORBIDDEN message names them so.
 */
export const ACCESS_LOG_READERS: readonly Role[] = ['AUDITOR', 'ARCHIVIST'];

export interface AccessLogPage {
  edges: Array<{ cursor: string; node: AccessLogEntryDoc }>;
  pageInfo: PageInfoModel;
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
  return { edges, pageInfo: forwardPageInfo(edges, docs.length > first, args.after), totalCount };
}

/** Verifies the whole chain; AUDITOR and ARCHIVIST. */
export async function verifyAccessLog(svc: Pick<LifecycleServices, 'connection' | 'seals'>, principal: Principal): Promise<AccessLogVerification> {
  requireRole(principal, ACCESS_LOG_READERS, 'Access log verification');
  return new AccessLog(svc.connection).verify(svc.seals?.accessLog);
}

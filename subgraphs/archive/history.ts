// A record's history: every change of its lifecycle (filed, hold placed or released, retention extended, lent and
// returned, corrected, destroyed under a register) is an entry of one hash chain (platform/integration/hash-chain.ts),
// appended in the transaction that makes the change. The record's fixity digest (fixity.ts) covers what never
// changes; its lifecycle fields change legitimately, so each entry carries them as they are after the change. The
// newest entry of a record is therefore what its stored lifecycle fields must be, and verification (integrity.ts)
// compares the two: a status, hold or retention edited in the database, or a destruction without its register,
// breaks it. Each entry also names the record's fixity digest and chain position, which ties the two chains together.
//
// Records filed before this chain existed have no FILED entry: at start-up, once, every record then stored is
// adopted as found (ADOPTED, with a destroyed record's register looked up), so archives filed by earlier releases
// verify as before. The chain is additive: the records' chain and its digests are unchanged (docs/architecture.md).
import { Schema, type ClientSession, type Connection, type Model, type Types } from 'mongoose';
import { HashChain, chainDigest, flatChainRules } from '../../platform/integration/hash-chain.ts';
import { transaction } from '../../platform/integration/transactions.ts';
import type { ArchiveRecordDoc } from './models.ts';

export const HISTORY_ACTIONS = [
  'FILED', 'ADOPTED', 'HOLD_PLACED', 'HOLD_RELEASED', 'RETENTION_EXTENDED', 'LOAN_STARTED', 'LOAN_RETURNED', 'CORRECTED', 'DESTROYED',
  'HANDED_OVER',
] as const;
export type HistoryAction = (typeof HISTORY_ACTIONS)[number];

/** The record fields that change over its life (or, like expiresOn, that its fixity digest does not cover). */
export type LifecycleState = Pick<
  ArchiveRecordDoc,
  'status' | 'holds' | 'retentionStartsOn' | 'expiresOn' | 'extendedUntil' | 'disposedOn' | 'correctedById' | 'destroyedAt' | 'custody'
>;

/** What a change refers to: the destruction register, the appraisal, the loan or the correcting record. */
export interface HistoryRef {
  kind: 'DESTRUCTION_REGISTER' | 'APPRAISAL' | 'LOAN' | 'CORRECTION' | 'TRANSFER_REGISTER';
  id: string;
  /** Its number where it has one: the register's, or the correcting record's archive number. */
  no: string | null;
}

export interface HistoryEntryDoc {
  _id: Types.ObjectId;
  seq: number;
  at: Date;
  actorId: string;
  action: HistoryAction;
  recordId: string;
  archiveNo: string;
  /** The record's place in the records' chain and its fixity digest, as at the change. */
  chainSeq: number;
  recordDigest: string;
  ref: HistoryRef | null;
  /** The record's lifecycle fields after the change. */
  state: LifecycleState;
  digest: string;
  previousDigest: string | null;
}

/** A record as a change leaves it: what an entry is made of. */
export type HistorySubject = LifecycleState & Pick<ArchiveRecordDoc, '_id' | 'archiveNo' | 'chainSeq' | 'fixity'>;

const COLLECTION = 'archive_record_history';
const COUNTER_KEY = 'archive_record_history';

const entrySchema = new Schema<HistoryEntryDoc>(
  {
    seq: { type: Number, required: true, unique: true },
    at: { type: Date, required: true },
    actorId: { type: String, required: true },
    action: { type: String, required: true },
    recordId: { type: String, required: true, index: true },
    archiveNo: { type: String, required: true },
    chainSeq: { type: Number, required: true },
    recordDigest: { type: String, required: true },
    ref: { type: Schema.Types.Mixed, default: null },
    state: { type: Schema.Types.Mixed, required: true },
    digest: { type: String, required: true },
    previousDigest: { type: String, default: null },
  },
  { collection: COLLECTION, versionKey: false, minimize: false },
);

/** The lifecycle fields of a record, in one fixed form (holds without the storage's extra members). */
export const stateOf = (r: LifecycleState): LifecycleState => ({
  status: r.status,
  holds: r.holds.map((h) => ({ reason: h.reason, placedBy: h.placedBy, placedAt: h.placedAt })),
  retentionStartsOn: r.retentionStartsOn,
  expiresOn: r.expiresOn ?? null,
  extendedUntil: r.extendedUntil ?? null,
  disposedOn: r.disposedOn ?? null,
  correctedById: r.correctedById ?? null,
  destroyedAt: r.destroyedAt ?? null,
  // Only once handed over: entries made before custody existed keep their digests (the chain is additive).
  ...(r.custody ? { custody: r.custody } : {}),
});

/** SHA-256 over the canonical form of every field but the digest (previousDigest included). */
export function historyDigest(e: Omit<HistoryEntryDoc, '_id' | 'digest'>): string {
  return chainDigest({
    seq: e.seq,
    at: e.at,
    actorId: e.actorId,
    action: e.action,
    recordId: e.recordId,
    archiveNo: e.archiveNo,
    chainSeq: e.chainSeq,
    recordDigest: e.recordDigest,
    ref: e.ref,
    state: stateOf(e.state),
    previousDigest: e.previousDigest,
  });
}

export interface HistoryChange {
  action: HistoryAction;
  actorId: string;
  at?: Date;
  ref?: HistoryRef | null;
}

/**
 * A transaction that changes archive records: each writes the history chain's head (and filing the record chain's),
 * so they share that chain's lane and run one at a time in this process (platform/integration/transactions.ts).
 */
export const recordsTransaction = <T>(connection: Connection, fn: (session: ClientSession) => Promise<T>): Promise<T> =>
  transaction(connection, fn, { lane: `chain:${COUNTER_KEY}` });

export class RecordHistory {
  readonly model: Model<HistoryEntryDoc>;
  readonly chain: HashChain<HistoryEntryDoc, Omit<HistoryEntryDoc, '_id' | 'digest'>>;

  constructor(readonly connection: Connection) {
    this.model = (connection.models.ArchiveRecordHistory as Model<HistoryEntryDoc> | undefined) ?? connection.model<HistoryEntryDoc>('ArchiveRecordHistory', entrySchema);
    this.chain = new HashChain({ ...flatChainRules<HistoryEntryDoc>(historyDigest), model: this.model, counter: COUNTER_KEY });
  }

  /** Appends the changes of records inside the caller's transaction (the one that changes them). */
  async append(session: ClientSession, changes: ReadonlyArray<{ record: HistorySubject; change: HistoryChange }>): Promise<HistoryEntryDoc[]> {
    return this.chain.append(
      changes,
      ({ record, change }, { seq, previousDigest }) => ({
        seq,
        at: change.at ?? new Date(),
        actorId: change.actorId,
        action: change.action,
        recordId: record._id.toHexString(),
        archiveNo: record.archiveNo,
        chainSeq: record.chainSeq,
        recordDigest: record.fixity.digest,
        ref: change.ref ?? null,
        state: stateOf(record),
        previousDigest,
      }),
      { session },
    );
  }

  /**
   * Adopts the records stored before the history existed, as found, once: the chain's counter marks it done (an
   * empty archive too), and two instances starting together conflict on it, so one adopts and the other sees it.
   */
  async adopt(at = new Date()): Promise<number> {
    const counters = this.connection.collection<{ _id: string; seq: number }>('counters');
    return recordsTransaction(this.connection, async (session) => {
      const marked = await counters.updateOne({ _id: COUNTER_KEY }, { $setOnInsert: { seq: 0 } }, { upsert: true, session });
      if (marked.upsertedCount === 0) return 0;
      const records = await this.connection
        .collection<ArchiveRecordDoc>('archive_records')
        .find({}, { session, projection: { content: 0 }, sort: { chainSeq: 1 } })
        .toArray();
      if (records.length === 0) return 0;
      // A destroyed record is adopted with the register that destroyed it; without one, verification names it.
      const registers = await this.connection
        .collection<{ _id: Types.ObjectId; registerNo: string; lines: Array<{ recordId: string }> }>('archive_destruction_registers')
        .find({ status: 'DESTROYED' }, { session, projection: { registerNo: 1, 'lines.recordId': 1 } })
        .toArray();
      const registerOf = new Map(registers.flatMap((g) => g.lines.map((l) => [l.recordId, { kind: 'DESTRUCTION_REGISTER' as const, id: g._id.toHexString(), no: g.registerNo }])));
      const entries = await this.append(
        session,
        records.map((record) => ({
          record: record as HistorySubject,
          change: { action: 'ADOPTED' as const, actorId: 'archive-system', at, ref: record.status === 'DESTROYED' ? (registerOf.get(record._id.toHexString()) ?? null) : null },
        })),
      );
      return entries.length;
    });
  }
}

// What a transfer register (移交清册) is stored as: its header in `archive_transfer_registers` and one document per
// listed record in `archive_transfer_register_lines`, so a register of a year of 100,000s of records is never one
// document (the database's limit is 16 MiB) and its custody passes in batches (handover-transfer.ts).
import { type Connection, type Model, Schema, type Types } from 'mongoose';

export type HandoverSide = 'ACCOUNTING' | 'ARCHIVES';

/**
 * AWAITING_SIGNATURES until both sides signed; TRANSFERRING while the register is printed and filed and custody passes
 * record by record (batches, resumed after a restart); SIGNED once every listed record is handed over or excluded;
 * VOID when its stored lines turned out altered before it was filed (nothing passed).
 */
export type TransferRegisterStatus = 'AWAITING_SIGNATURES' | 'TRANSFERRING' | 'SIGNED' | 'VOID';

/** Why a listed record was not handed over: it changed after it was listed (it stays with the accounting department). */
export type ExclusionReason = 'MISSING' | 'DESTROYED' | 'CHANGED' | 'ALREADY_HANDED_OVER';

export interface TransferLineDoc {
  _id: Types.ObjectId;
  registerId: Types.ObjectId;
  /** Position in the register, from 0, in 档号 order. */
  seq: number;
  recordId: string;
  archiveNo: string;
  title: string;
  retention: string;
  /** The record's fixity digest when listed: the transfer checks it is still the same. */
  digest: string;
  outcome: 'LISTED' | 'HANDED_OVER' | 'EXCLUDED';
  exclusion: ExclusionReason | null;
}

/** The part of a line its digest covers: what the two sides sign. */
export const listedPart = (l: Pick<TransferLineDoc, 'seq' | 'recordId' | 'archiveNo' | 'title' | 'retention' | 'digest'>) => ({
  seq: l.seq,
  recordId: l.recordId,
  archiveNo: l.archiveNo,
  title: l.title,
  retention: l.retention,
  digest: l.digest,
});

export interface TransferRegisterDoc {
  _id: Types.ObjectId;
  fiscalYear: number;
  status: TransferRegisterStatus;
  preparedBy: string;
  preparedAt: Date;
  recordCount: number;
  /** SHA-256 over the canonical JSON of every line's listed part, in order: the filed register is checked against it. */
  linesDigest: string;
  signatures: Array<{ side: HandoverSide; by: string; at: Date }>;
  /** The next line the transfer handles (TRANSFERRING), and how many were handed over or excluded so far. */
  nextSeq: number;
  handedOver: number;
  excluded: number;
  /** The TRANSFER_REGISTER record it was filed as, from the second signature. */
  recordId: string | null;
  archiveNo: string | null;
  completedAt: Date | null;
  /** Why it is VOID. */
  voidReason?: string | null;
}

const registerSchema = new Schema<TransferRegisterDoc>(
  {
    fiscalYear: { type: Number, required: true, index: true },
    status: { type: String, required: true },
    preparedBy: { type: String, required: true },
    preparedAt: { type: Date, required: true },
    recordCount: { type: Number, required: true },
    linesDigest: { type: String, required: true },
    signatures: { type: Schema.Types.Mixed, default: [] },
    nextSeq: { type: Number, default: 0 },
    handedOver: { type: Number, default: 0 },
    excluded: { type: Number, default: 0 },
    recordId: { type: String, default: null },
    archiveNo: { type: String, default: null },
    completedAt: { type: Date, default: null },
    voidReason: { type: String, default: null },
  },
  { collection: 'archive_transfer_registers', versionKey: false, minimize: false },
);
// One register awaiting signatures per year at a time; the transfer's restart finds the registers in transfer.
registerSchema.index({ fiscalYear: 1 }, { unique: true, partialFilterExpression: { status: 'AWAITING_SIGNATURES' }, name: 'one_open_register_per_year' });
registerSchema.index({ status: 1 });

const lineSchema = new Schema<TransferLineDoc>(
  {
    registerId: { type: Schema.Types.ObjectId, required: true },
    seq: { type: Number, required: true },
    recordId: { type: String, required: true },
    archiveNo: { type: String, required: true },
    title: { type: String, required: true },
    retention: { type: String, required: true },
    digest: { type: String, required: true },
    outcome: { type: String, required: true },
    exclusion: { type: String, default: null },
  },
  { collection: 'archive_transfer_register_lines', versionKey: false, minimize: false },
);
lineSchema.index({ registerId: 1, seq: 1 }, { unique: true });

export const registerModel = (connection: Connection): Model<TransferRegisterDoc> =>
  (connection.models.TransferRegister as Model<TransferRegisterDoc> | undefined) ?? connection.model<TransferRegisterDoc>('TransferRegister', registerSchema);

export const lineModel = (connection: Connection): Model<TransferLineDoc> =>
  (connection.models.TransferRegisterLine as Model<TransferLineDoc> | undefined) ?? connection.model<TransferLineDoc>('TransferRegisterLine', lineSchema);

// Mongoose models of the archive side. Money is integer fen.
import { type Connection, type Model, Schema, type Types } from 'mongoose';
import type { ArchiveKind, CategoryCode, RetentionPeriod } from './retention.ts';

export type ArchiveStatus = 'FILED' | 'BORROWED' | 'ON_HOLD' | 'DESTROYED';

export interface VoucherEntryDoc {
  summary: string;
  accountCode: string;
  accountName: string;
  debitFen: number;
  creditFen: number;
}

export interface VoucherDoc {
  _id: Types.ObjectId;
  voucherNo: string;
  /** The approved claim it books; unique, which makes generation idempotent. */
  claimId: string;
  claimNo: string;
  fiscalYear: number;
  period: number;
  /** The booking date: the approval's day, or the first day of the open month it was moved to (close/booking.ts). */
  date: string;
  /** Set when its own month was closed when it was booked: that day, kept. */
  originalDate?: string;
  /** Why it is booked in another month than its own. */
  bookingNote?: string;
  entries: VoucherEntryDoc[];
  debitTotalFen: number;
  creditTotalFen: number;
  /** The claim as the sync service handed it over (source metadata for filing). */
  source: {
    title: string; category: string; applicantId: string; applicantName: string | null; departmentId: string; approvedAt: Date; invoiceNumbers: string[]; totalFen: number;
    /** What the text policy refused in the claim's texts, kept as received (vouchers.ts); absent on older vouchers. */
    textProblems?: string[];
    /** oa's ids of the claim's original documents, copied into `archive_files` when it is filed; absent when none. */
    attachmentIds?: string[];
  };
  createdAt: Date;
}

/** One entry of a record's manifest. */
export interface ArchivedFileDoc {
  /** The archive's copy (GridFS bucket `archive_files`). */
  fileId: string;
  name: string;
  mediaType: string;
  size: number;
  /** Lower-case hex SHA-256 of the bytes. */
  sha256: string;
  /** The oa attachment it was copied from. */
  sourceAttachmentId: string;
}

export interface ArchiveRecordDoc {
  _id: Types.ObjectId;
  archiveNo: string;
  kind: ArchiveKind;
  category: CategoryCode;
  title: string;
  fiscalYear: number;
  retention: RetentionPeriod;
  retentionStartsOn: string;
  expiresOn: string | null;
  /** Set when an appraisal opinion extended the retention (expiresOn then follows it). */
  extendedUntil: string | null;
  disposedOn: string | null;
  status: ArchiveStatus;
  voucherId: string | null;
  sourceClaimNo: string | null;
  invoiceNumbers: string[];
  /** Content: text, or base64 for binary media types; null once destroyed. */
  content: string | null;
  mediaType: string;
  /** SHA-256 of the content as filed; kept after destruction so the chain stays verifiable. */
  contentDigest: string;
  /** Position in the fixity chain (1, 2, 3 ... without gaps). */
  chainSeq: number;
  previousArchiveNo: string | null;
  fixity: { algorithm: 'SHA-256'; digest: string; previousDigest: string | null };
  correctsId: string | null;
  correctedById: string | null;
  /** Why the record may not be destroyed now (unsettled debts, unresolved matters). */
  holds: Array<{ reason: string; placedBy: string; placedAt: Date }>;
  filedBy: string;
  filedAt: Date;
  /** Producing system and its version, recorded for the usability check. */
  environment: string;
  destroyedAt: Date | null;
  /** ARCHIVES once a signed transfer register handed it from the accounting department (close/handover.ts); absent before. */
  custody?: 'ARCHIVES';
  /**
   * The package's original documents (originals/): the archive's own copies in the GridFS bucket `archive_files`,
   * covered by the fixity digest; absent on records without originals (and on every record filed before them).
   */
  files?: ArchivedFileDoc[];
  /** The four-properties report at filing (filing.ts); absent on records filed before it was kept. */
  filingReport?: { passed: boolean; results: Array<{ property: string; check: string; passed: boolean; detail: string }>; checkedAt: Date };
}

/** A record as resolvers may receive it: listings and lifecycle mutations leave the content out. */
export type ArchiveRecordView = Omit<ArchiveRecordDoc, 'content'> & { content?: string | null };

const voucherSchema = new Schema<VoucherDoc>(
  {
    voucherNo: { type: String, required: true, unique: true },
    claimId: { type: String, required: true, unique: true },
    claimNo: { type: String, required: true },
    fiscalYear: { type: Number, required: true },
    period: { type: Number, required: true },
    date: { type: String, required: true },
    originalDate: { type: String },
    bookingNote: { type: String },
    entries: [{ _id: false, summary: String, accountCode: String, accountName: String, debitFen: Number, creditFen: Number }],
    debitTotalFen: { type: Number, required: true },
    creditTotalFen: { type: Number, required: true },
    source: { type: Schema.Types.Mixed, required: true },
    createdAt: { type: Date, required: true },
  },
  { collection: 'vouchers', versionKey: false },
);

// A period's vouchers in ledger order: the books of a period close read them so (close/books.ts).
voucherSchema.index({ fiscalYear: 1, period: 1, date: 1, voucherNo: 1 }, { name: 'vouchers_by_period' });

const recordSchema = new Schema<ArchiveRecordDoc>(
  {
    archiveNo: { type: String, required: true, unique: true },
    kind: { type: String, required: true },
    category: { type: String, required: true },
    title: { type: String, required: true },
    fiscalYear: { type: Number, required: true },
    retention: { type: String, required: true },
    retentionStartsOn: { type: String, required: true },
    expiresOn: { type: String, default: null, index: true },
    extendedUntil: { type: String, default: null },
    disposedOn: { type: String, default: null },
    status: { type: String, required: true, index: true },
    voucherId: { type: String, default: null },
    sourceClaimNo: { type: String, default: null },
    invoiceNumbers: { type: [String], default: [] },
    content: { type: String, default: null },
    mediaType: { type: String, required: true },
    contentDigest: { type: String, required: true },
    chainSeq: { type: Number, required: true, unique: true },
    previousArchiveNo: { type: String, default: null },
    fixity: { algorithm: String, digest: String, previousDigest: String },
    correctsId: { type: String, default: null },
    correctedById: { type: String, default: null },
    holds: [{ _id: false, reason: String, placedBy: String, placedAt: Date }],
    filedBy: { type: String, required: true },
    filedAt: { type: Date, required: true },
    environment: { type: String, required: true },
    destroyedAt: { type: Date, default: null },
    custody: { type: String },
    files: { type: [{ _id: false, fileId: String, name: String, mediaType: String, size: Number, sha256: String, sourceAttachmentId: String }], default: undefined },
    filingReport: { type: Schema.Types.Mixed },
  },
  { collection: 'archive_records', versionKey: false, minimize: false },
);
// A voucher is filed once (the partial filter leaves other kinds, which have no voucher, out).
recordSchema.index({ voucherId: 1 }, { unique: true, partialFilterExpression: { voucherId: { $type: 'string' } } });
// The records that list an archive copy: every download (originals/http.ts) and every destruction (releaseUnheld)
// asks, and without it each read every record.
recordSchema.index({ 'files.fileId': 1 });
// A year's records in 档号 order, streamed: the transfer register and the handover package list them so (without it
// the database sorts the year in memory: 1.2 GiB for 120,000 records).
recordSchema.index({ fiscalYear: 1, archiveNo: 1 }, { name: 'records_by_year' });

export interface ArchiveModels {
  Voucher: Model<VoucherDoc>;
  ArchiveRecord: Model<ArchiveRecordDoc>;
}

const modelOf = <T>(connection: Connection, name: string, schema: Schema<T>): Model<T> =>
  (connection.models[name] as Model<T> | undefined) ?? connection.model<T>(name, schema);

export function archiveModels(connection: Connection): ArchiveModels {
  return { Voucher: modelOf(connection, 'Voucher', voucherSchema), ArchiveRecord: modelOf(connection, 'ArchiveRecord', recordSchema) };
}

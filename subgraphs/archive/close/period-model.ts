// The stored state of a month of the books (issue 19): `accounting_periods`, one document per month, written by the
// close (periods.ts) and by every voucher booking into the month (booking.ts), so the two conflict when they meet.
import { type Connection, type Model, Schema } from 'mongoose';
import type { GeneratedDocument } from './generate.ts';

/** GENERATING: its close was asked for and its documents are being generated (nothing is booked into it any more). */
export type PeriodStatus = 'OPEN' | 'GENERATING' | 'CLOSING' | 'CLOSED';

export interface PeriodDocumentDoc extends GeneratedDocument {
  /** The file in the archive's bucket (`archive_files`). */
  fileId: string;
  /** The record filing it, once the close is approved. */
  recordId: string | null;
  archiveNo: string | null;
}

export interface PeriodDoc {
  /** `YYYY-MM`. */
  _id: string;
  fiscalYear: number;
  period: number;
  status: PeriodStatus;
  approvalId: string | null;
  requestedBy: string | null;
  requestedAt: Date | null;
  closedAt: Date | null;
  /** Vouchers of the month the documents were generated from. */
  vouchers: number;
  documents: PeriodDocumentDoc[];
  lastRejection: { by: string; at: Date; reason: string } | null;
  /** Vouchers booked into the month (booking.ts): written by every booking, so a close committing meanwhile conflicts. */
  booked?: number;
  /** Each time a FINANCE_DIRECTOR reopened the month after it was closed. */
  reopenings?: Array<{ by: string; at: Date; reason: string }>;
  /** The documents filed by the close before the last reopening: the next close's documents correct them. */
  superseded?: PeriodDocumentDoc[];
}

const periodSchema = new Schema<PeriodDoc>(
  {
    _id: { type: String, required: true },
    fiscalYear: { type: Number, required: true },
    period: { type: Number, required: true },
    status: { type: String, required: true },
    approvalId: { type: String, default: null },
    requestedBy: { type: String, default: null },
    requestedAt: { type: Date, default: null },
    closedAt: { type: Date, default: null },
    vouchers: { type: Number, default: 0 },
    documents: { type: Schema.Types.Mixed, default: [] },
    lastRejection: { type: Schema.Types.Mixed, default: null },
    booked: { type: Number, default: 0 },
    reopenings: { type: Schema.Types.Mixed, default: [] },
    superseded: { type: Schema.Types.Mixed, default: [] },
  },
  { collection: 'accounting_periods', versionKey: false, minimize: false },
);
periodSchema.index({ fiscalYear: 1, period: 1 }, { unique: true });

export const periodModel = (connection: Connection): Model<PeriodDoc> =>
  (connection.models.AccountingPeriod as Model<PeriodDoc> | undefined) ?? connection.model<PeriodDoc>('AccountingPeriod', periodSchema);


// What the archive lends the modules that must read it in-process: small read interfaces over the archive's own
// models, built where a process is assembled (scripts/sync-options.ts) and handed in, so no other module reads the
// archive's collections or imports its models (docs/architecture.md, "Ownership rules").
import type { Connection } from 'mongoose';
import type { Principal } from '../../platform/identity.ts';
import { toObjectId } from '../../platform/ids.ts';
import { type AccessAction, AccessLog } from './lifecycle/access-log.ts';
import { type ArchiveRecordDoc, type VoucherDoc, archiveModels } from './models.ts';
import { readsAllArchives, voucherScope } from './scope.ts';

/** A voucher as reconciliation compares it: the claim it books and its totals in fen. */
export interface VoucherRow {
  id: string;
  claimId: string;
  claimNo: string;
  voucherNo: string;
  debitTotalFen: number;
  creditTotalFen: number;
  /** Its own month was closed when it was booked: it stands in this one for a claim of an earlier month (close/booking.ts). */
  movedFrom?: string;
}

/** A record filing a voucher. */
export interface RecordRow {
  id: string;
  voucherId: string;
  archiveNo: string;
}

export interface ArchiveLedger {
  /** Vouchers booked in the period, and any voucher of these claims wherever it was booked. */
  vouchersOf(fiscalYear: number, period: number, claimIds: readonly string[]): Promise<VoucherRow[]>;
  /** Records filing these vouchers, corrections left out. */
  recordsOf(voucherIds: readonly string[]): Promise<RecordRow[]>;
}

/** How often one actor read or borrowed archive records. */
export interface AccessCount {
  actorId: string;
  n: number;
}

export interface ArchiveAccess {
  /**
   * Reads and loans (READ_CONTENT, LOAN_REQUESTED, LOAN_STARTED) per actor from `from` (up to `to`, exclusive,
   * when given), of the given actors only when given; counted in the database, never loaded.
   */
  accessCounts(q: { from: Date; to?: Date; actorIds?: readonly string[]; atLeast?: number; limit?: number }): Promise<AccessCount[]>;
}

/** Whose record it is (its voucher's claim), when it files a voucher: what a reference to it may be shown by. */
export interface RecordOwner {
  applicantId: string | null;
  departmentId: string | null;
}

export interface RecordVisibility {
  /**
   * The record's owner when `principal` may read the record under the archive's row scope (subgraphs/archive/scope.ts);
   * null when it does not exist or is out of scope: callers cannot tell which.
   */
  visibleTo(principal: Principal, recordId: string): Promise<RecordOwner | null>;
}

/** Years whose records the accounting department still holds (issue 19 §4). */
export interface ArchiveCustody {
  /** Fiscal years before `beforeYear` with records not destroyed and not handed over, and how many; counted in the database. */
  yearsNotHandedOver(beforeYear: number): Promise<Array<{ fiscalYear: number; records: number }>>;
}

export interface ArchivePorts {
  /** For reconciliation in the sync service. */
  ledger: ArchiveLedger;
  /** For the BULK_ACCESS alert rule of operations. */
  access: ArchiveAccess;
  /** For feedback in the operations module: a record it names must be the sender's to read. */
  records: RecordVisibility;
  /** For the HANDOVER_OVERDUE alert rule of operations. */
  custody: ArchiveCustody;
}

/** The access-log actions that read or borrow a record. */
const READ_OR_BORROW: readonly AccessAction[] = ['READ_CONTENT', 'LOAN_REQUESTED', 'LOAN_STARTED'];

export function archivePorts(connection: Connection): ArchivePorts {
  const { Voucher, ArchiveRecord } = archiveModels(connection);
  const log = new AccessLog(connection).model;
  return {
    records: {
      async visibleTo(principal, recordId) {
        const id = toObjectId(recordId);
        if (!id) return null;
        const record = await ArchiveRecord.findById(id, { voucherId: 1 }).lean<Pick<ArchiveRecordDoc, 'voucherId'>>();
        if (!record) return null;
        // As recordScope: every record for those who read all; otherwise one filing a voucher in their voucher scope.
        const voucherId = record.voucherId ? toObjectId(record.voucherId) : null;
        const voucher = voucherId ? await Voucher.findOne({ $and: [{ _id: voucherId }, voucherScope(principal)] }, { source: 1 }).lean<Pick<VoucherDoc, 'source'>>() : null;
        if (voucher) return { applicantId: voucher.source.applicantId, departmentId: voucher.source.departmentId };
        return readsAllArchives(principal) ? { applicantId: null, departmentId: null } : null;
      },
    },
    ledger: {
      async vouchersOf(fiscalYear, period, claimIds) {
        const rows = await Voucher.find(
          { $or: [{ fiscalYear, period }, { claimId: { $in: [...claimIds] } }] },
          { claimId: 1, claimNo: 1, voucherNo: 1, debitTotalFen: 1, creditTotalFen: 1, originalDate: 1 },
        ).lean<Array<Pick<VoucherDoc, '_id' | 'claimId' | 'claimNo' | 'voucherNo' | 'debitTotalFen' | 'creditTotalFen' | 'originalDate'>>>();
        return rows.map((v) => ({
          id: v._id.toHexString(),
          claimId: v.claimId,
          claimNo: v.claimNo,
          voucherNo: v.voucherNo,
          debitTotalFen: v.debitTotalFen,
          creditTotalFen: v.creditTotalFen,
          ...(v.originalDate ? { movedFrom: v.originalDate.slice(0, 7) } : {}),
        }));
      },
      async recordsOf(voucherIds) {
        const rows = await ArchiveRecord.find({ voucherId: { $in: [...voucherIds] }, correctsId: null }, { voucherId: 1, archiveNo: 1 }).lean<
          Array<Pick<ArchiveRecordDoc, '_id' | 'archiveNo'> & { voucherId: string }>
        >();
        return rows.map((r) => ({ id: r._id.toHexString(), voucherId: r.voucherId, archiveNo: r.archiveNo }));
      },
    },
    custody: {
      async yearsNotHandedOver(beforeYear) {
        const rows = await ArchiveRecord.aggregate<{ _id: number; n: number }>([
          { $match: { fiscalYear: { $lt: beforeYear }, status: { $ne: 'DESTROYED' }, custody: { $ne: 'ARCHIVES' } } },
          { $group: { _id: '$fiscalYear', n: { $sum: 1 } } },
          { $sort: { _id: 1 } },
        ]);
        return rows.map((r) => ({ fiscalYear: r._id, records: r.n }));
      },
    },
    access: {
      async accessCounts({ from, to, actorIds, atLeast, limit }) {
        const match: Record<string, unknown> = { action: { $in: [...READ_OR_BORROW] } };
        if (actorIds) match.actorId = { $in: [...actorIds] };
        match.at = to ? { $gte: from, $lt: to } : { $gte: from };
        const rows = await log.aggregate<{ _id: string; n: number }>([
          { $match: match },
          { $group: { _id: '$actorId', n: { $sum: 1 } } },
          ...(atLeast === undefined ? [] : [{ $match: { n: { $gte: atLeast } } }]),
          ...(limit === undefined ? [] : [{ $limit: limit }]),
        ]);
        return rows.map((r) => ({ actorId: r._id, n: r.n }));
      },
    },
  };
}

// Reconciliation of one fiscal period: every approved claim of the period (by its approval date in the business
// time zone, as its voucher's period is) against the vouchers and archive records. Reports each difference:
// missing or duplicated vouchers and records, totals differing by even one fen, unbalanced vouchers, vouchers
// without an approved claim. The three sides are read with projections through the owners' ports (oa's approved
// claims, the archive's vouchers and records: subgraphs/oa/ports.ts, subgraphs/archive/ports.ts), never the
// documents' contents; amounts are integer fen throughout.
import type { Connection } from 'mongoose';
import type { EventLog } from '../../platform/integration/events.ts';
import { dayStartIn } from '../../platform/business-time.ts';
import { badInput } from '../../platform/graphql.ts';
import { fiscalYear as boundedFiscalYear } from '../../platform/input-bounds.ts';
import { formatMoney } from '../../platform/money.ts';
import { transaction } from '../../platform/integration/transactions.ts';
import type { DifferenceDoc, ReconciliationDoc, SyncModels } from './models.ts';

export interface ReconcileOptions extends ReconcileSources {
  connection: Connection;
  models: SyncModels;
  events: EventLog;
  timeZone: string;
  /** Claims approved more recently than this are still in flight, not missing. */
  graceMs: number;
  now?: Date;
}

/** What reconciliation reads of oa and the archive, handed in by whoever assembles the process. */
export interface ReconcileSources {
  /** oa's approved claims (subgraphs/oa/ports.ts). */
  claims: { approvedBetween(from: Date, to: Date): Promise<ClaimRow[]> };
  /** The archive's vouchers and records (subgraphs/archive/ports.ts). */
  ledger: {
    vouchersOf(fiscalYear: number, period: number, claimIds: readonly string[]): Promise<VoucherRow[]>;
    recordsOf(voucherIds: readonly string[]): Promise<RecordRow[]>;
  };
}

interface ClaimRow {
  id: string;
  claimNo: string;
  totalFen: number;
  approvedAt: Date;
}
interface VoucherRow {
  id: string;
  claimId: string;
  claimNo: string;
  voucherNo: string;
  debitTotalFen: number;
  creditTotalFen: number;
  /** Booked here because its own month was closed (the archive's CLOSED_PERIOD_BOOKING): its claim is of that month. */
  movedFrom?: string;
}
interface RecordRow {
  id: string;
  voucherId: string;
  archiveNo: string;
}

/** The UTC instant at which the given local month starts in the time zone. */
export const monthStartIn = (timeZone: string, year: number, month: number): Date => dayStartIn(timeZone, `${year}-${String(month).padStart(2, '0')}-01`);

/** A fiscal year as every fiscal-year input is bounded (platform/input-bounds.ts), and a month. */
export function validatePeriod(fiscalYear: number, period: number, clock: { timeZone: string; now: Date }): void {
  boundedFiscalYear('fiscalYear', fiscalYear, clock);
  if (!Number.isInteger(period) || period < 1 || period > 12) throw badInput('period must be a month, 1 to 12', 'period');
}

export async function reconcile(
  opts: ReconcileOptions,
  fiscalYear: number,
  period: number,
  trigger: 'MANUAL' | 'SCHEDULED',
  ranBy: string,
): Promise<ReconciliationDoc> {
  const now = opts.now ?? new Date();
  validatePeriod(fiscalYear, period, { timeZone: opts.timeZone, now });
  const from = monthStartIn(opts.timeZone, fiscalYear, period);
  const to = period === 12 ? monthStartIn(opts.timeZone, fiscalYear + 1, 1) : monthStartIn(opts.timeZone, fiscalYear, period + 1);
  const db = opts.connection;
  const claims = await opts.claims.approvedBetween(from, to);
  const claimIds = claims.map((c) => c.id);
  // Vouchers of the period, and any voucher of these claims wherever it was booked.
  const vouchers = await opts.ledger.vouchersOf(fiscalYear, period, claimIds);
  const voucherIds = vouchers.map((v) => v.id);
  const records = await opts.ledger.recordsOf(voucherIds);

  const vouchersByClaim = group(vouchers, (v) => v.claimId);
  const recordsByVoucher = group(records, (r) => r.voucherId);
  const differences: DifferenceDoc[] = [];
  const diff = (d: Partial<DifferenceDoc> & Pick<DifferenceDoc, 'kind' | 'detail'>) =>
    differences.push({ claimId: null, claimNo: null, voucherId: null, archiveRecordId: null, expectedFen: null, actualFen: null, ...d });

  const approved = new Set(claimIds);
  for (const c of claims) {
    const claimId = c.id;
    const own = vouchersByClaim.get(claimId) ?? [];
    if (own.length === 0) {
      if (now.getTime() - new Date(c.approvedAt).getTime() >= opts.graceMs) {
        diff({ kind: 'MISSING_VOUCHER', claimId, claimNo: c.claimNo, expectedFen: c.totalFen, detail: `${c.claimNo} was approved but has no voucher` });
      }
      continue;
    }
    if (own.length > 1) {
      diff({ kind: 'DUPLICATE_VOUCHER', claimId, claimNo: c.claimNo, voucherId: own[1].id, detail: `${c.claimNo} has ${own.length} vouchers: ${own.map((v) => v.voucherNo).join(', ')}` });
    }
    for (const v of own) {
      if (v.debitTotalFen !== c.totalFen) {
        diff({
          kind: 'AMOUNT_MISMATCH',
          claimId,
          claimNo: c.claimNo,
          voucherId: v.id,
          expectedFen: c.totalFen,
          actualFen: v.debitTotalFen,
          detail: `${c.claimNo} totals ${formatMoney(c.totalFen)} but voucher ${v.voucherNo} totals ${formatMoney(v.debitTotalFen)}`,
        });
      }
    }
  }
  for (const v of vouchers) {
    const voucherId = v.id;
    // A voucher moved here from a closed month books a claim of that month: not a voucher without a claim.
    if (!approved.has(v.claimId) && !v.movedFrom) {
      diff({ kind: 'VOUCHER_WITHOUT_APPROVED_CLAIM', claimId: v.claimId, claimNo: v.claimNo, voucherId, actualFen: v.debitTotalFen, detail: `voucher ${v.voucherNo} has no approved claim in ${fiscalYear}-${String(period).padStart(2, '0')}` });
    }
    if (v.debitTotalFen !== v.creditTotalFen) {
      diff({ kind: 'UNBALANCED_VOUCHER', claimId: v.claimId, claimNo: v.claimNo, voucherId, expectedFen: v.debitTotalFen, actualFen: v.creditTotalFen, detail: `voucher ${v.voucherNo}: debits ${formatMoney(v.debitTotalFen)}, credits ${formatMoney(v.creditTotalFen)}` });
    }
    const filed = recordsByVoucher.get(voucherId) ?? [];
    if (filed.length === 0) diff({ kind: 'MISSING_ARCHIVE_RECORD', claimId: v.claimId, claimNo: v.claimNo, voucherId, detail: `voucher ${v.voucherNo} has no archive record` });
    if (filed.length > 1) {
      diff({ kind: 'DUPLICATE_ARCHIVE_RECORD', claimId: v.claimId, claimNo: v.claimNo, voucherId, archiveRecordId: filed[1].id, detail: `voucher ${v.voucherNo} is filed ${filed.length} times: ${filed.map((r) => r.archiveNo).join(', ')}` });
    }
  }

  const run = {
    fiscalYear,
    period,
    ranAt: now,
    trigger,
    ranBy,
    approvedClaims: claims.length,
    vouchers: vouchers.length,
    archiveRecords: records.length,
    differences,
  };
  let stored: ReconciliationDoc | undefined;
  await transaction(db, async (session) => {
    const [doc] = await opts.models.Reconciliation.create([run], { session });
    stored = doc.toObject() as ReconciliationDoc;
    if (differences.length) {
      const kinds = [...group(differences, (d) => d.kind)].map(([k, list]) => `${k} ${list.length}`).join(', ');
      await opts.events.append(session, {
        type: 'RECONCILIATION_DIFFERENCE',
        subject: { type: 'Reconciliation', id: doc._id.toHexString() },
        actor: ranBy,
        payload: { reconciliationId: doc._id.toHexString(), fiscalYear, period, differences: differences.length, detail: `${fiscalYear}-${String(period).padStart(2, '0')}: ${differences.length} difference(s): ${kinds}` },
      });
    }
  });
  return stored!;
}

function group<T>(rows: readonly T[], key: (row: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const row of rows) {
    const k = key(row);
    const list = out.get(k);
    if (list) list.push(row);
    else out.set(k, [row]);
  }
  return out;
}

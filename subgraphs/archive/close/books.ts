// The books of one period read from the vouchers (issue 19 §1), streamed: vouchers come through a cursor in batches and
// only sums per account, per period and per department and category are kept, never the vouchers. Two passes:
// everything booked before the period (the openings, and the year's earlier months for the year-to-date lines), then
// the period itself in ledger order (date, voucher number), each entry handed to `onLine` (the detail ledgers print as
// they read) and awaited, so a slow writer slows the read instead of piling lines up.
import type { Model } from 'mongoose';
import type { VoucherDoc } from '../models.ts';
import { type Movement, RETAINED_EARNINGS, addTo, fenOf, isProfitAndLoss, noMovement } from './accounts.ts';

export interface PeriodRef {
  fiscalYear: number;
  /** Month of the fiscal year, 1 to 12. */
  period: number;
}

export interface AccountBook {
  code: string;
  name: string;
  /** Balance carried into the fiscal year, debit-positive (0 for profit-and-loss accounts). */
  yearOpening: bigint;
  /** Movements of each month of the year up to the period closed. */
  periods: Map<number, Movement>;
}

export interface DetailLine {
  date: string;
  voucherNo: string;
  summary: string;
  debit: bigint;
  credit: bigint;
}

export interface PeriodBooks {
  ref: PeriodRef;
  /** Every account with a balance or a movement, by code. */
  accounts: AccountBook[];
  /** Profit-and-loss movements (debit − credit) per month, by department and category: the expense reports. */
  expenses: Map<number, Map<string, { departmentId: string; category: string; fen: bigint }>>;
  /** Vouchers and entry lines of the period itself. */
  vouchers: number;
  lines: number;
}

/** What the books read of a voucher. */
type VoucherRow = Pick<VoucherDoc, 'voucherNo' | 'fiscalYear' | 'period' | 'date' | 'entries'> & { source?: { departmentId?: string; category?: string } };

const PROJECTION = { _id: 0, voucherNo: 1, fiscalYear: 1, period: 1, date: 1, entries: 1, 'source.departmentId': 1, 'source.category': 1 } as const;
/** Vouchers per cursor batch: about 1 MiB of them. */
const BATCH = 1_000;

export class BooksError extends Error {}

/** A voucher's entries as BigInt, refused unless its debits equal its credits (a voucher that does not balance stops the close). */
function entriesOf(v: VoucherRow): Array<{ code: string; name: string; summary: string; debit: bigint; credit: bigint }> {
  let debits = 0n;
  let credits = 0n;
  const out = (v.entries ?? []).map((e, i) => {
    const debit = fenOf(e.debitFen, `${v.voucherNo} entries[${i}].debitFen`);
    const credit = fenOf(e.creditFen, `${v.voucherNo} entries[${i}].creditFen`);
    if (debit < 0n || credit < 0n) throw new BooksError(`voucher ${v.voucherNo}: entries[${i}] has a negative amount`);
    debits += debit;
    credits += credit;
    return { code: e.accountCode, name: e.accountName, summary: e.summary ?? '', debit, credit };
  });
  if (!out.length || debits !== credits) throw new BooksError(`voucher ${v.voucherNo} does not balance (debits ${debits} fen, credits ${credits} fen)`);
  return out;
}

/** Reads the books of `ref`; `onLine` receives every entry of the period in ledger order. */
export async function readBooks(Voucher: Model<VoucherDoc>, ref: PeriodRef, onLine?: (account: AccountBook, line: DetailLine) => void | Promise<void>): Promise<PeriodBooks> {
  const { fiscalYear, period } = ref;
  const accounts = new Map<string, AccountBook>();
  const expenses: PeriodBooks['expenses'] = new Map();
  const account = (code: string, name: string): AccountBook => {
    let a = accounts.get(code);
    if (!a) accounts.set(code, (a = { code, name, yearOpening: 0n, periods: new Map() }));
    else if (name) a.name = name;
    return a;
  };
  const move = (a: AccountBook, p: number, debit: bigint, credit: bigint) => {
    let m = a.periods.get(p);
    if (!m) a.periods.set(p, (m = noMovement()));
    addTo(m, debit, credit);
  };
  const spend = (v: VoucherRow, p: number, fen: bigint) => {
    const departmentId = v.source?.departmentId ?? '';
    const category = v.source?.category ?? '';
    let month = expenses.get(p);
    if (!month) expenses.set(p, (month = new Map()));
    const key = `${departmentId}\u0000${category}`;
    const cell = month.get(key);
    if (cell) cell.fen += fen;
    else month.set(key, { departmentId, category, fen });
  };

  // Pass 1: earlier years (balances carried; profit and loss into retained earnings) and the year's earlier months.
  const before = Voucher.find({ $or: [{ fiscalYear: { $lt: fiscalYear } }, { fiscalYear, period: { $lt: period } }] }, PROJECTION).lean<VoucherRow[]>().cursor({ batchSize: BATCH });
  for await (const v of before) {
    for (const e of entriesOf(v)) {
      if (v.fiscalYear < fiscalYear) {
        const target = isProfitAndLoss(e.code) ? account(RETAINED_EARNINGS.code, RETAINED_EARNINGS.name) : account(e.code, e.name);
        target.yearOpening += e.debit - e.credit;
      } else {
        move(account(e.code, e.name), v.period, e.debit, e.credit);
        if (isProfitAndLoss(e.code)) spend(v, v.period, e.debit - e.credit);
      }
    }
  }

  // Pass 2: the period, in ledger order.
  let vouchers = 0;
  let lines = 0;
  const current = Voucher.find({ fiscalYear, period }, PROJECTION).sort({ date: 1, voucherNo: 1 }).lean<VoucherRow[]>().cursor({ batchSize: BATCH });
  for await (const v of current) {
    vouchers++;
    for (const e of entriesOf(v)) {
      lines++;
      const a = account(e.code, e.name);
      move(a, period, e.debit, e.credit);
      if (isProfitAndLoss(e.code)) spend(v, period, e.debit - e.credit);
      await onLine?.(a, { date: v.date, voucherNo: v.voucherNo, summary: e.summary, debit: e.debit, credit: e.credit });
    }
  }
  return { ref, accounts: [...accounts.values()].sort((a, b) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0)), expenses, vouchers, lines };
}

/** An account's movement in one month (zero when none). */
export const movementIn = (a: AccountBook, period: number): Movement => a.periods.get(period) ?? noMovement();

/** Sum of an account's movements over months [from, to]. */
export function movementOver(a: AccountBook, from: number, to: number): Movement {
  const total = noMovement();
  for (const [p, m] of a.periods) if (p >= from && p <= to) addTo(total, m.debit, m.credit);
  return total;
}

/** Balance (debit-positive) at the start of month `period`. */
export function openingOf(a: AccountBook, period: number): bigint {
  const m = movementOver(a, 1, period - 1);
  return a.yearOpening + m.debit - m.credit;
}

/** The trial balance (科目余额表) of the period: opening, movements and closing per account, debit-positive. */
export function trialBalance(books: PeriodBooks): Array<{ code: string; name: string; opening: bigint; debit: bigint; credit: bigint; closing: bigint }> {
  const p = books.ref.period;
  return books.accounts.map((a) => {
    const opening = openingOf(a, p);
    const { debit, credit } = movementIn(a, p);
    return { code: a.code, name: a.name, opening, debit, credit, closing: opening + debit - credit };
  });
}

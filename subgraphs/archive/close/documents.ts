// The documents of a period's close, printed from its books (books.ts) in the layouts Chinese accounting uses:
// 科目余额表 (trial balance), 总账 (general ledger: opening, each month's totals and the year to date per account),
// 明细账 (a detail ledger per account, line by line with running balance), and the expense reports by department
// and category (monthly; quarterly and annual at quarter and year end, with the closing balances).
import { type Movement, addTo, amountText, fenText, noMovement, sideOf } from './accounts.ts';
import { type AccountBook, type DetailLine, type PeriodBooks, movementIn, movementOver, openingOf, trialBalance } from './books.ts';
import { type Column, TablePdf } from './pdf.ts';

const AMOUNT = 92;
const money = (title: string): Column => ({ title, width: AMOUNT, align: 'right', numeric: true });

/** Debit and credit columns of a debit-positive balance. */
const split = (net: bigint): [string, string] => (net >= 0n ? [amountText(net), ''] : ['', amountText(-net)]);

/** The trial balance: every account's opening, movements and closing on both sides, and the totals that must balance. */
export async function printTrialBalance(pdf: TablePdf, books: PeriodBooks): Promise<void> {
  await pdf.table(null, [
    { title: '科目编码', width: 70 },
    { title: '科目名称', width: 148 },
    money('期初借方'),
    money('期初贷方'),
    money('本期借方'),
    money('本期贷方'),
    money('期末借方'),
    money('期末贷方'),
  ]);
  const totals = Array.from({ length: 6 }, () => 0n);
  for (const r of trialBalance(books)) {
    const cols = [r.opening >= 0n ? r.opening : 0n, r.opening < 0n ? -r.opening : 0n, r.debit, r.credit, r.closing >= 0n ? r.closing : 0n, r.closing < 0n ? -r.closing : 0n];
    cols.forEach((v, i) => (totals[i] += v));
    await pdf.row([r.code, r.name, ...cols.map(amountText)]);
  }
  await pdf.row(['', '合计', ...totals.map(fenText)], true);
}

/** The general ledger: per account, the opening of the year, each month's totals and the year to date, with balances. */
export async function printGeneralLedger(pdf: TablePdf, books: PeriodBooks): Promise<void> {
  const { fiscalYear, period } = books.ref;
  for (const a of books.accounts) {
    await pdf.table(`${a.code} ${a.name}`, [
      { title: '期间', width: 90 },
      { title: '摘要', width: 170 },
      money('借方'),
      money('贷方'),
      { title: '方向', width: 40, align: 'center' },
      money('余额'),
    ]);
    const opening = sideOf(a.yearOpening);
    await pdf.row([`${fiscalYear}-01`, '年初余额', '', '', opening.side, fenText(opening.amount)]);
    const year: Movement = noMovement();
    for (let p = 1; p <= period; p++) {
      const m = movementIn(a, p);
      addTo(year, m.debit, m.credit);
      const balance = sideOf(a.yearOpening + year.debit - year.credit);
      const month = `${fiscalYear}-${String(p).padStart(2, '0')}`;
      await pdf.row([month, '本月合计', amountText(m.debit), amountText(m.credit), balance.side, fenText(balance.amount)]);
      await pdf.row([month, '本年累计', amountText(year.debit), amountText(year.credit), balance.side, fenText(balance.amount)]);
    }
    pdf.space();
  }
}

/** One account's detail ledger, printed as the period's lines arrive (books.ts readBooks' onLine). */
export class DetailLedger {
  private balance: bigint;

  private constructor(
    private readonly pdf: TablePdf,
    private readonly account: AccountBook,
    private readonly period: number,
  ) {
    this.balance = openingOf(account, period);
  }

  static async open(pdf: TablePdf, account: AccountBook, period: number): Promise<DetailLedger> {
    const ledger = new DetailLedger(pdf, account, period);
    await pdf.table(`${account.code} ${account.name}`, [
      { title: '日期', width: 70 },
      { title: '凭证号', width: 96 },
      { title: '摘要', width: 238 },
      money('借方'),
      money('贷方'),
      { title: '方向', width: 40, align: 'center' },
      money('余额'),
    ]);
    const opening = sideOf(ledger.balance);
    await pdf.row(['', '', '期初余额', '', '', opening.side, fenText(opening.amount)]);
    return ledger;
  }

  async line(l: DetailLine): Promise<void> {
    this.balance += l.debit - l.credit;
    const b = sideOf(this.balance);
    await this.pdf.row([l.date, l.voucherNo, l.summary, amountText(l.debit), amountText(l.credit), b.side, fenText(b.amount)]);
  }

  /** The month's and the year's totals; the account's book is complete by then. */
  async close(): Promise<void> {
    const m = movementIn(this.account, this.period);
    const y = movementOver(this.account, 1, this.period);
    const b = sideOf(this.balance);
    await this.pdf.row(['', '', '本月合计', amountText(m.debit), amountText(m.credit), b.side, fenText(b.amount)], true);
    await this.pdf.row(['', '', '本年累计', amountText(y.debit), amountText(y.credit), b.side, fenText(b.amount)]);
  }
}

/**
 * An expense report over months `periods` (one for the monthly report, three for a quarter, the year for the annual):
 * the profit-and-loss movements by department and category with subtotals; with `balances`, the closing balances too.
 */
export async function printExpenseReport(pdf: TablePdf, books: PeriodBooks, periods: readonly number[], opts: { departmentName?: (id: string) => string; categoryName?: (c: string) => string; balances?: boolean } = {}): Promise<void> {
  const cells = new Map<string, Map<string, bigint>>();
  for (const p of periods) {
    for (const c of books.expenses.get(p)?.values() ?? []) {
      const byCategory = cells.get(c.departmentId) ?? new Map<string, bigint>();
      cells.set(c.departmentId, byCategory);
      byCategory.set(c.category, (byCategory.get(c.category) ?? 0n) + c.fen);
    }
  }
  await pdf.table('费用明细（按部门、类别）', [
    { title: '部门', width: 260 },
    { title: '费用类别', width: 200 },
    money('金额'),
  ]);
  let total = 0n;
  for (const department of [...cells.keys()].sort()) {
    let subtotal = 0n;
    const name = opts.departmentName?.(department) ?? department;
    for (const [category, fen] of [...cells.get(department)!].sort(([a], [b]) => (a < b ? -1 : 1))) {
      subtotal += fen;
      await pdf.row([name, opts.categoryName?.(category) ?? category, fenText(fen)]);
    }
    total += subtotal;
    await pdf.row([name, '小计', fenText(subtotal)], true);
  }
  await pdf.row(['合计', '', fenText(total)], true);
  if (opts.balances) {
    pdf.space();
    const last = periods[periods.length - 1];
    await pdf.table(`期末科目余额（${books.ref.fiscalYear} 年 ${last} 月末）`, [{ title: '科目编码', width: 90 }, { title: '科目名称', width: 240 }, money('借方余额'), money('贷方余额')]);
    for (const a of books.accounts) {
      const closing = openingOf(a, last + 1);
      await pdf.row([a.code, a.name, ...split(closing)]);
    }
  }
}

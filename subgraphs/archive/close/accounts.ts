// The arithmetic of the books (会计账簿) closed for a period: integer fen as BigInt (sums over a year of vouchers
// never leave exactness, whatever their size), balances kept debit-positive, and the chart's classes that decide what
// an opening balance is. Pure: books.ts reads the vouchers into these, documents.ts prints them.

/** One account's movements: debits and credits, in fen. */
export interface Movement {
  debit: bigint;
  credit: bigint;
}

export const noMovement = (): Movement => ({ debit: 0n, credit: 0n });

export function addTo(m: Movement, debit: bigint, credit: bigint): void {
  m.debit += debit;
  m.credit += credit;
}

/**
 * Profit-and-loss accounts (损益类, class 6 of the 企业会计准则 chart: 6602 管理费用 …) start every fiscal year at
 * zero: their earlier years' balances were carried to retained earnings at each year end. Every other class (assets
 * 1, liabilities 2, common 3, equity 4, costs 5) carries its balance from year to year.
 */
export const isProfitAndLoss = (code: string): boolean => code.startsWith('6');

/**
 * Where earlier years' profit and loss went (利润分配-未分配利润): the vouchers carry no year-end closing entries, so
 * the books carry those balances here, and the trial balance's openings still balance.
 */
export const RETAINED_EARNINGS = Object.freeze({ code: '4104', name: '利润分配' });

/** A balance as the books print it: side (借 debit, 贷 credit, 平 nil) and amount. */
export function sideOf(net: bigint): { side: '借' | '贷' | '平'; amount: bigint } {
  if (net === 0n) return { side: '平', amount: 0n };
  return net > 0n ? { side: '借', amount: net } : { side: '贷', amount: -net };
}

/** Fen as yuan with thousands separators, exact at any size: 123456789n → "1,234,567.89". */
export function fenText(fen: bigint): string {
  const sign = fen < 0n ? '-' : '';
  const abs = fen < 0n ? -fen : fen;
  const yuan = (abs / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${sign}${yuan}.${(abs % 100n).toString().padStart(2, '0')}`;
}

/** An amount column: blank for zero, as ledgers are printed. */
export const amountText = (fen: bigint): string => (fen === 0n ? '' : fenText(fen));

/** A stored voucher amount (a safe integer of fen) as BigInt; anything else is a corrupt voucher, never rounded. */
export function fenOf(value: unknown, where: string): bigint {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new Error(`${where}: ${String(value)} is not an amount in fen`);
  return BigInt(value);
}

/** The periods (months) of a quarter ending with `period`, or null when `period` does not end one. */
export const quarterOf = (period: number): number[] | null => (period % 3 === 0 ? [period - 2, period - 1, period] : null);

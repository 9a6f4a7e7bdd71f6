// Money is never a float: amounts travel as decimal strings with two fraction digits ("1234.50") and live
// everywhere else as integer fen (1 yuan = 100 fen), summed with integer arithmetic.

const MONEY_RE = /^(-)?(\d{1,13})(?:\.(\d{1,2}))?$/;

/**
 * The largest amount the Money scalar reads (13 integer digits: 9999999999999.99), in fen. A stored total above it
 * could be written out but never read back by another subgraph (generateVoucher), so totals stay within it.
 */
export const MAX_MONEY_FEN = 999_999_999_999_999;

export class MoneyError extends Error {}

/** "1234.5" → 123450. More than two decimals, exponents, spaces or anything not a number is refused. */
export function parseMoney(input: unknown): number {
  if (typeof input !== 'string') throw new MoneyError('Money must be a decimal string such as "1234.50"');
  const m = MONEY_RE.exec(input.trim() === input ? input : '');
  if (!m) throw new MoneyError(`"${input.slice(0, 40)}" is not a Money amount: use digits with at most two decimals, e.g. "1234.50"`);
  const fen = Number(m[2]) * 100 + Number((m[3] ?? '').padEnd(2, '0'));
  return m[1] ? -fen : fen;
}

/** 123450 → "1234.50". */
export function formatMoney(fen: number): string {
  if (!Number.isSafeInteger(fen)) throw new MoneyError(`not an amount in fen: ${fen}`);
  const sign = fen < 0 ? '-' : '';
  const abs = Math.abs(fen);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

/** Exact sum of fen amounts; refuses to leave the range where integers are exact. */
export function sumFen(amounts: number[]): number {
  let total = 0;
  for (const a of amounts) {
    total += a;
    if (!Number.isSafeInteger(total)) throw new MoneyError('amount total is out of range');
  }
  return total;
}

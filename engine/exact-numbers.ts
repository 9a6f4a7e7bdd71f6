// Numbers compared and computed exactly: Longs beyond 2^53 and Decimal128 are never rounded through a double.
import { Decimal128, Double, Int32, Long } from 'bson';
import { bsonType, toNumber } from './values.ts';

export const cmp = <T extends number | string | bigint>(a: T, b: T): number => (a < b ? -1 : a > b ? 1 : 0);

/** Int32, Double and plain numbers: compared as doubles without further checks (the common case). */
const plainNumber = (v: unknown, t: string | undefined): number | undefined =>
  typeof v === 'number' ? v : t === 'Int32' || t === 'Double' ? (v as Int32 | Double).value : undefined;

export function compareNumbers(a: unknown, b: unknown): number {
  const ta = bsonType(a);
  const tb = bsonType(b);
  const pa = plainNumber(a, ta);
  const pb = plainNumber(b, tb);
  if (pa !== undefined && pb !== undefined && !Number.isNaN(pa) && !Number.isNaN(pb)) return pa < pb ? -1 : pa > pb ? 1 : 0;
  // Longs beyond 2^53 and decimals are compared exactly, never through a rounded double.
  if (ta === 'Decimal128' || tb === 'Decimal128' || ta === 'Long' || tb === 'Long' || typeof a === 'bigint' || typeof b === 'bigint') {
    const da = exactDecimal(a);
    const db = exactDecimal(b);
    if (da && db) return compareDecimal(da, db);
  }
  const x = toNumber(a);
  const y = toNumber(b);
  // MongoDB orders NaN below every other number.
  if (Number.isNaN(x)) return Number.isNaN(y) ? 0 : -1;
  if (Number.isNaN(y)) return 1;
  return cmp(x, y);
}

// ---------------------------------------------------------------------------------------------------------
// Exact arithmetic for $inc / $mul / $min / $max. The result type follows MongoDB's promotion rules:
// int32 op int32 -> int32 (long on overflow), long op int -> long, any double -> double, any decimal -> decimal.

interface Dec {
  coef: bigint;
  exp: number;
}

/** The exact value of any finite number: a double's binary value expanded in full (0.1 is not 1/10). */
function exactDecimal(v: unknown): Dec | undefined {
  const t = bsonType(v);
  if (t === 'Decimal128') return toDecimal(v);
  if (t === 'Long' || t === 'Int32') return { coef: BigInt((v as Long).toString()), exp: 0 };
  if (typeof v === 'bigint') return { coef: v, exp: 0 };
  const n = toNumber(v);
  if (!Number.isFinite(n)) return undefined;
  if (Number.isInteger(n)) return { coef: BigInt(n), exp: 0 };
  const buf = Buffer.allocUnsafe(8);
  buf.writeDoubleBE(n);
  const bits = buf.readBigUInt64BE();
  const exponent = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & ((1n << 52n) - 1n);
  const mantissa = exponent === 0 ? fraction : fraction | (1n << 52n);
  const e = (exponent === 0 ? 1 : exponent) - 1075;
  const sign = n < 0 ? -1n : 1n;
  // m * 2^e with e < 0 equals m * 5^-e / 10^-e.
  return { coef: sign * mantissa * 5n ** BigInt(-e), exp: e };
}

/**
 * For index keys: undefined when a number equals its double approximation exactly (every Int32 and Double, most
 * Longs and Decimals), else a canonical text of its exact value, the same for every equal value
 * (Decimal128('0.10') and Decimal128('0.1') give one text).
 */
export function inexactNumberText(v: unknown): string | undefined {
  const t = bsonType(v);
  if (t !== 'Long' && t !== 'Decimal128' && typeof v !== 'bigint') return undefined;
  const n = toNumber(v);
  if (!Number.isFinite(n)) return undefined;
  const exact = exactDecimal(v);
  const approx = exactDecimal(n);
  if (!exact || !approx || compareDecimal(exact, approx) === 0) return undefined;
  let { coef, exp } = exact;
  while (coef !== 0n && coef % 10n === 0n) {
    coef /= 10n;
    exp++;
  }
  return `${coef}e${exp}`;
}

function toDecimal(v: unknown): Dec | undefined {
  let s: string;
  if (bsonType(v) === 'Decimal128') s = (v as Decimal128).toString();
  else if (bsonType(v) === 'Long' || bsonType(v) === 'Int32') s = (v as Long).toString();
  else {
    const n = toNumber(v);
    if (!Number.isFinite(n)) return undefined;
    s = String(n);
  }
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:E([+-]?\d+))?$/i.exec(s);
  if (!m) return undefined;
  const frac = m[3] ?? '';
  const coef = BigInt(m[2] + frac) * (m[1] ? -1n : 1n);
  return { coef, exp: Number(m[4] ?? 0) - frac.length };
}

function alignDec(a: Dec, b: Dec): [bigint, bigint, number] {
  const exp = Math.min(a.exp, b.exp);
  return [a.coef * 10n ** BigInt(a.exp - exp), b.coef * 10n ** BigInt(b.exp - exp), exp];
}

function compareDecimal(a: Dec, b: Dec): number {
  const [x, y] = alignDec(a, b);
  return cmp(x, y);
}

function decToDecimal128(d: Dec): Decimal128 {
  const neg = d.coef < 0n;
  const digits = (neg ? -d.coef : d.coef).toString();
  let s: string;
  if (d.exp >= 0) s = digits + '0'.repeat(d.exp);
  else {
    const pad = digits.padStart(-d.exp + 1, '0');
    s = pad.slice(0, pad.length + d.exp) + '.' + pad.slice(pad.length + d.exp);
  }
  return Decimal128.fromString((neg ? '-' : '') + s);
}

type NumKind = 'int' | 'long' | 'double' | 'decimal';
const kindOf = (v: unknown): NumKind => {
  if (typeof v === 'number') return Number.isInteger(v) && Math.abs(v) <= 0x7fffffff ? 'int' : 'double';
  switch (bsonType(v)) {
    case 'Int32':
      return 'int';
    case 'Long':
      return 'long';
    case 'Decimal128':
      return 'decimal';
    default:
      return 'double';
  }
};
const order: NumKind[] = ['int', 'long', 'double', 'decimal'];
const widest = (a: NumKind, b: NumKind): NumKind => order[Math.max(order.indexOf(a), order.indexOf(b))];

function integerResult(r: bigint, kind: NumKind): unknown {
  if (kind === 'int' && r >= -2147483648n && r <= 2147483647n) return new Int32(Number(r));
  if (r >= -(2n ** 63n) && r < 2n ** 63n) return Long.fromBigInt(r);
  return new Double(Number(r));
}

export function arith(op: 'add' | 'mul', a: unknown, b: unknown): unknown {
  const kind = widest(kindOf(a), kindOf(b));
  if (kind === 'decimal') {
    const x = toDecimal(a);
    const y = toDecimal(b);
    if (!x || !y) return Decimal128.fromString('NaN');
    if (op === 'mul') return decToDecimal128({ coef: x.coef * y.coef, exp: x.exp + y.exp });
    const [p, q, exp] = alignDec(x, y);
    return decToDecimal128({ coef: p + q, exp });
  }
  if (kind === 'double') {
    const x = toNumber(a);
    const y = toNumber(b);
    return new Double(op === 'add' ? x + y : x * y);
  }
  const toBig = (v: unknown): bigint => (bsonType(v) === 'Long' ? BigInt((v as Long).toString()) : BigInt(Math.trunc(toNumber(v))));
  const x = toBig(a);
  const y = toBig(b);
  return integerResult(op === 'add' ? x + y : x * y, kind);
}

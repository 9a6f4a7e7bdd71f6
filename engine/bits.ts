// The bitwise query operators $bitsAllSet, $bitsAnySet, $bitsAllClear and $bitsAnyClear
// (src/mongo/db/matcher/expression_leaf.h, BitTestMatchExpression).
//
// The mask is a non-negative integer representable as a 64-bit integer (FailedToParse otherwise), a list of bit
// positions (non-negative 32-bit integers, BadValue otherwise) or BinData (bit j of byte i is position 8i+j).
// Numbers match when their value is an integer representable as a 64-bit signed integer (two's complement;
// positions past 63 read the sign bit); BinData values match on their bytes (positions past the end are 0).
// Anything else (strings, booleans, fractional or out-of-range numbers, NaN) never matches.
import type { Binary, Decimal128, Long } from 'bson';
import { ErrorCodes, MongoServerError } from './errors.ts';
import { valueString } from './value-strings.ts';
import { bsonType, toNumber } from './values.ts';

export type BitOperator = '$bitsAllSet' | '$bitsAnySet' | '$bitsAllClear' | '$bitsAnyClear';

export const BIT_OPERATORS = new Set<string>(['$bitsAllSet', '$bitsAnySet', '$bitsAllClear', '$bitsAnyClear']);

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

const isNumberLike = (v: unknown): boolean =>
  typeof v === 'number' || typeof v === 'bigint' || ['Int32', 'Double', 'Long', 'Decimal128'].includes(bsonType(v) ?? '');

/** The exact integer value of a number, or undefined when it is not an integer or not finite. */
function integerOf(v: unknown): bigint | undefined {
  if (typeof v === 'bigint') return v;
  const t = bsonType(v);
  if (t === 'Long') return BigInt((v as Long).toString());
  if (t === 'Decimal128') {
    const m = /^(-?)(\d+)(?:\.(\d+))?(?:E([+-]?\d+))?$/i.exec((v as Decimal128).toString());
    if (!m) return undefined; // NaN, Infinity
    let digits = m[2] + (m[3] ?? '');
    let exp = Number(m[4] ?? 0) - (m[3] ?? '').length;
    if (exp < 0) {
      const dropped = digits.slice(digits.length + exp);
      if (/[^0]/.test(dropped)) return undefined;
      digits = digits.slice(0, digits.length + exp) || '0';
      exp = 0;
    }
    if (exp > 40) return undefined; // far beyond 64 bits
    const n = BigInt(digits) * 10n ** BigInt(exp);
    return m[1] ? -n : n;
  }
  const n = toNumber(v);
  if (!Number.isFinite(n) || !Number.isInteger(n)) return undefined;
  // Doubles at or beyond 2^63 are out of range even where BigInt could hold them.
  if (n >= 9223372036854775808 || n < -9223372036854775808) return undefined;
  return BigInt(n);
}

const binaryBytes = (v: unknown): Uint8Array => {
  if (v instanceof Uint8Array) return v;
  const b = v as Binary;
  return b.buffer.subarray(0, b.position);
};

const isBinary = (v: unknown): boolean => v instanceof Uint8Array || bsonType(v) === 'Binary';

function parsePositions(op: BitOperator, arg: unknown): number[] {
  const shown = () => `${op}: ${valueString(arg)}`;
  if (isNumberLike(arg)) {
    const mask = integerOf(arg);
    if (mask === undefined || mask > INT64_MAX || mask < INT64_MIN) {
      throw new MongoServerError(ErrorCodes.FailedToParse, `Expected an integer representable as a 64-bit integer: ${shown()}`);
    }
    if (mask < 0n) throw new MongoServerError(ErrorCodes.FailedToParse, `Expected a positive number in: ${shown()}`);
    const positions: number[] = [];
    for (let p = 0; p < 64; p++) if ((mask >> BigInt(p)) & 1n) positions.push(p);
    return positions;
  }
  if (isBinary(arg)) {
    const bytes = binaryBytes(arg);
    const positions: number[] = [];
    bytes.forEach((byte, i) => {
      for (let j = 0; j < 8; j++) if (byte & (1 << j)) positions.push(i * 8 + j);
    });
    return positions;
  }
  if (Array.isArray(arg)) {
    return arg.map((e) => {
      if (!isNumberLike(e)) {
        throw new MongoServerError(ErrorCodes.BadValue, `bit positions must be an integer but got: ${shown()}`);
      }
      const p = integerOf(e);
      if (p === undefined) throw new MongoServerError(ErrorCodes.BadValue, `bit positions must be an integer but got: ${shown()}`);
      if (p < 0n) throw new MongoServerError(ErrorCodes.BadValue, `bit positions must be >= 0 but got: ${shown()}`);
      if (p > 2147483647n) {
        throw new MongoServerError(ErrorCodes.BadValue, `bit positions cannot be represented as a 32-bit signed integer: ${shown()}`);
      }
      return Number(p);
    });
  }
  throw new MongoServerError(ErrorCodes.BadValue, `${op} takes an Array, a number, or a BinData but received: ${shown()}`);
}

/** A test of one value against the operator's mask; throws the server's parse errors for a bad mask. */
export function bitTest(op: BitOperator, arg: unknown): (x: unknown) => boolean {
  const positions = parsePositions(op, arg);
  const wantSet = op === '$bitsAllSet' || op === '$bitsAnySet';
  const all = op === '$bitsAllSet' || op === '$bitsAllClear';
  return (x) => {
    let bitAt: (p: number) => boolean;
    if (isNumberLike(x)) {
      const n = integerOf(x);
      if (n === undefined || n > INT64_MAX || n < INT64_MIN) return false;
      const bits = BigInt.asUintN(64, n);
      bitAt = (p) => ((bits >> BigInt(Math.min(p, 63))) & 1n) === 1n;
    } else if (isBinary(x)) {
      const bytes = binaryBytes(x);
      bitAt = (p) => p < bytes.length * 8 && (bytes[p >> 3] & (1 << (p & 7))) !== 0;
    } else return false;
    return all ? positions.every((p) => bitAt(p) === wantSet) : positions.some((p) => bitAt(p) === wantSet);
  };
}

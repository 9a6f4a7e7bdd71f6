// Values of update statements in exact form, and the binary equality MongoDB uses to decide that a write changes
// nothing. Shared by updates, pipeline updates, projections and expressions.
import { BSONRegExp, Binary, Decimal128, Double, Int32, Long, ObjectId, Timestamp } from 'bson';
import { type Doc, bsonType, isPlainObject } from './values.ts';
import { compareValues } from './value-order.ts';

/** Assigns a field without tripping over `__proto__` (documents may legitimately hold such a field). */
export function setField(obj: Doc, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

/**
 * A deep copy of a value taken from an update statement, in exact form: plain JS numbers become the BSON
 * type they would serialise to (Int32 when integral and in range, otherwise Double), bigints become Long.
 */
export function exactValue<T>(v: T): T {
  if (typeof v === 'number') {
    return (Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff && !Object.is(v, -0) ? new Int32(v) : new Double(v)) as T;
  }
  if (typeof v === 'bigint') return Long.fromBigInt(v) as T;
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(exactValue) as T;
  if (v instanceof Date) return new Date(v.getTime()) as T;
  if (!isPlainObject(v)) return v;
  const out: Doc = {};
  for (const k of Object.keys(v)) setField(out, k, exactValue((v as Doc)[k]));
  return out as T;
}

/**
 * Binary equality of two BSON values (same types, same field order, same bytes), the test MongoDB uses to
 * decide that a $set is a no-op. JS numbers count as the type they would serialise to.
 */
export function exactEqual(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' || typeof a === 'bigint') a = exactValue(a);
  if (typeof b === 'number' || typeof b === 'bigint') b = exactValue(b);
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => exactEqual(x, b[i]));
  }
  if (a instanceof Date || b instanceof Date) {
    return a instanceof Date && b instanceof Date && Object.is(a.getTime(), b.getTime());
  }
  if (a instanceof RegExp || b instanceof RegExp) {
    return a instanceof RegExp && b instanceof RegExp && a.source === b.source && a.flags === b.flags;
  }
  const ta = bsonType(a);
  const tb = bsonType(b);
  if (ta !== tb) return false;
  if (ta === undefined) {
    if (!isPlainObject(a) || !isPlainObject(b)) return compareValues(a, b) === 0;
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    if (ka.length !== kb.length) return false;
    return ka.every((k, i) => k === kb[i] && exactEqual(a[k], b[k]));
  }
  switch (ta) {
    case 'Int32':
    case 'Double':
      return Object.is((a as Int32).value, (b as Int32).value) || (Number.isNaN((a as Double).value) && Number.isNaN((b as Double).value));
    case 'Long':
      return (a as Long).equals(b as Long);
    case 'Decimal128':
      return Buffer.compare((a as Decimal128).bytes, (b as Decimal128).bytes) === 0;
    case 'ObjectId':
      return (a as ObjectId).equals(b as ObjectId);
    case 'Timestamp':
      return (a as Timestamp).equals(b as Timestamp);
    case 'BSONRegExp':
      return (a as BSONRegExp).pattern === (b as BSONRegExp).pattern && (a as BSONRegExp).options === (b as BSONRegExp).options;
    case 'Binary': {
      const x = a as Binary;
      const y = b as Binary;
      return x.sub_type === y.sub_type && Buffer.compare(x.buffer.subarray(0, x.position), y.buffer.subarray(0, y.position)) === 0;
    }
    case 'MinKey':
    case 'MaxKey':
      return true;
    default:
      return compareValues(a, b) === 0;
  }
}

// BSON type order: how MongoDB compares and sorts values of any type, and value keys for maps and sets in memory.
import { BSONRegExp, Binary, ObjectId, Timestamp } from 'bson';
import { cmp, compareNumbers } from './exact-numbers.ts';
import { type Doc, toNumber, unwrapDBRef } from './values.ts';

// ---------------------------------------------------------------------------------------------------------
// BSON type order.

const enum Rank {
  MinKey = 1,
  Null = 2,
  Number = 3,
  String = 4,
  Object = 5,
  Array = 6,
  Binary = 7,
  ObjectId = 8,
  Boolean = 9,
  Date = 10,
  Timestamp = 11,
  RegExp = 12,
  Code = 13,
  MaxKey = 14,
}

export function typeRank(v: unknown): number {
  if (v === undefined || v === null) return Rank.Null;
  switch (typeof v) {
    case 'number':
    case 'bigint':
      return Rank.Number;
    case 'string':
      return Rank.String;
    case 'boolean':
      return Rank.Boolean;
    default:
  }
  const t = (v as { _bsontype?: string })._bsontype;
  if (t === undefined) {
    if (Array.isArray(v)) return Rank.Array;
    if (v instanceof Date) return Rank.Date;
    if (v instanceof RegExp) return Rank.RegExp;
    if (v instanceof Uint8Array) return Rank.Binary;
    return Rank.Object;
  }
  switch (t) {
    case 'MinKey':
      return Rank.MinKey;
    case 'MaxKey':
      return Rank.MaxKey;
    case 'Int32':
    case 'Double':
    case 'Long':
    case 'Decimal128':
      return Rank.Number;
    case 'BSONSymbol':
      return Rank.String;
    case 'Binary':
      return Rank.Binary;
    case 'ObjectId':
      return Rank.ObjectId;
    case 'Timestamp':
      return Rank.Timestamp;
    case 'BSONRegExp':
      return Rank.RegExp;
    case 'Code':
      return Rank.Code;
    default:
      return Rank.Object;
  }
}

function binaryBytes(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return v;
  const b = v as Binary;
  return b.buffer.subarray(0, b.position);
}

/** Total order of BSON values as MongoDB sorts and compares them. */
export function compareValues(a: unknown, b: unknown): number {
  const ra = typeRank(a);
  const rb = typeRank(b);
  if (ra !== rb) return ra - rb;
  switch (ra) {
    case Rank.Null:
    case Rank.MinKey:
    case Rank.MaxKey:
      return 0;
    case Rank.Number:
      return compareNumbers(a, b);
    case Rank.String:
      return cmp(String(a), String(b));
    case Rank.Boolean:
      return cmp(a ? 1 : 0, b ? 1 : 0);
    case Rank.Date:
      return cmp((a as Date).getTime(), (b as Date).getTime());
    case Rank.ObjectId:
      return cmp((a as ObjectId).toHexString(), (b as ObjectId).toHexString());
    case Rank.Timestamp:
      return (a as Timestamp).compare(b as Timestamp);
    case Rank.Binary: {
      const x = binaryBytes(a);
      const y = binaryBytes(b);
      if (x.length !== y.length) return x.length - y.length;
      const sa = a instanceof Uint8Array ? 0 : (a as Binary).sub_type;
      const sb = b instanceof Uint8Array ? 0 : (b as Binary).sub_type;
      if (sa !== sb) return sa - sb;
      return Buffer.compare(x, y);
    }
    case Rank.RegExp: {
      const pa = a instanceof RegExp ? [a.source, a.flags] : [(a as BSONRegExp).pattern, (a as BSONRegExp).options];
      const pb = b instanceof RegExp ? [b.source, b.flags] : [(b as BSONRegExp).pattern, (b as BSONRegExp).options];
      return cmp(pa[0], pb[0]) || cmp(pa[1], pb[1]);
    }
    case Rank.Array: {
      const x = a as unknown[];
      const y = b as unknown[];
      for (let i = 0; i < Math.min(x.length, y.length); i++) {
        const c = compareValues(x[i], y[i]);
        if (c) return c;
      }
      return x.length - y.length;
    }
    case Rank.Object: {
      a = unwrapDBRef(a);
      b = unwrapDBRef(b);
      const ka = Object.keys(a as Doc);
      const kb = Object.keys(b as Doc);
      for (let i = 0; i < Math.min(ka.length, kb.length); i++) {
        const va = (a as Doc)[ka[i]];
        const vb = (b as Doc)[kb[i]];
        const c = typeRank(va) - typeRank(vb) || cmp(ka[i], kb[i]) || compareValues(va, vb);
        if (c) return c;
      }
      return ka.length - kb.length;
    }
    default:
      return cmp(String(a), String(b));
  }
}

export const valuesEqual = (a: unknown, b: unknown): boolean => compareValues(a, b) === 0;

// ---------------------------------------------------------------------------------------------------------
// Value keys as strings, for maps and sets in memory (distinct, aggregation outputs by _id, the old format's
// migration): equal exactly when MongoDB considers the values equal (1, 1.0, Long(1) and Decimal128('1') give one
// key). The store's index keys are binary and exact (keys.ts).

function sortableDouble(n: number): string {
  if (Number.isNaN(n)) return '0000000000000000';
  if (n === 0) n = 0; // -0 equals 0
  const buf = Buffer.allocUnsafe(8);
  buf.writeDoubleBE(n);
  if (n < 0) {
    for (let i = 0; i < 8; i++) buf[i] = ~buf[i] & 0xff;
  } else {
    buf[0] |= 0x80;
  }
  return buf.toString('hex');
}

export function encodeKey(v: unknown): string {
  const rank = typeRank(v);
  const prefix = String.fromCharCode(0x40 + rank);
  switch (rank) {
    case Rank.Null:
    case Rank.MinKey:
    case Rank.MaxKey:
      return prefix;
    case Rank.Number:
      return prefix + sortableDouble(toNumber(v));
    case Rank.String:
      return prefix + String(v);
    case Rank.Boolean:
      return prefix + (v ? '1' : '0');
    case Rank.Date:
      return prefix + sortableDouble((v as Date).getTime());
    case Rank.ObjectId:
      return prefix + (v as ObjectId).toHexString();
    case Rank.Binary:
      return prefix + Buffer.from(binaryBytes(v)).toString('hex');
    case Rank.Timestamp:
      return prefix + (v as Timestamp).toString().padStart(20, '0');
    case Rank.Array:
      return prefix + JSON.stringify((v as unknown[]).map(encodeKey));
    case Rank.Object:
      return prefix + JSON.stringify(Object.entries(unwrapDBRef(v) as Doc).map(([k, x]) => [k, encodeKey(x)]));
    default:
      return prefix + String(v);
  }
}

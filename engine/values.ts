// BSON values as the engine keeps them, and the rules MongoDB applies to them.
//
// Documents are held in their *exact* form: deserialised with promoteValues:false and bsonRegExp:true, so Int32,
// Double, Long and Decimal128 keep their wrapper classes and serialise back to the very same BSON types. Query
// matching runs through mingo, which understands plain JS numbers only, so it sees a *view* of each document in
// which every numeric wrapper is a JS number (see toView). Comparisons, sorting and index keys follow MongoDB's
// BSON type order and compare numbers across types by value.
import { type BSON, BSONRegExp, Binary, Decimal128, Double, Int32, Long, ObjectId, Timestamp } from 'bson';

export type Doc = Record<string, unknown>;

/** Options that keep every BSON value in its exact type: how the engine decodes what it receives and stores. */
export const EXACT: BSON.DeserializeOptions = { promoteValues: false, promoteBuffers: false, bsonRegExp: true };

export const bsonType = (v: unknown): string | undefined =>
  v !== null && typeof v === 'object' ? ((v as { _bsontype?: string })._bsontype ?? undefined) : undefined;

export const isPlainObject = (v: unknown): v is Doc => {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};

/**
 * A DBRef as the document it is on the wire ({$ref, $id, $db?, ...extra fields}). The BSON library turns such
 * documents into DBRef objects; queries see through them ("owner.$id", equality, $elemMatch).
 */
export function dbrefAsDoc(v: unknown): Doc | undefined {
  if (bsonType(v) !== 'DBRef') return undefined;
  const r = v as { collection: string; oid: unknown; db?: string; fields?: Doc };
  const out: Doc = { $ref: r.collection, $id: r.oid };
  if (r.db !== undefined) out.$db = r.db;
  return Object.assign(out, r.fields ?? {});
}

/** The document form of a DBRef, any other value unchanged. */
export const unwrapDBRef = (v: unknown): unknown => dbrefAsDoc(v) ?? v;

export const isNumeric = (v: unknown): boolean => {
  if (typeof v === 'number' || typeof v === 'bigint') return true;
  const t = bsonType(v);
  return t === 'Int32' || t === 'Double' || t === 'Long' || t === 'Decimal128';
};

/** A JS number for any numeric BSON value (lossy for Long beyond 2^53 and for Decimal128). */
export const toNumber = (v: unknown): number => {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  switch (bsonType(v)) {
    case 'Int32':
    case 'Double':
      return (v as Int32 | Double).value;
    case 'Long':
      return (v as Long).toNumber();
    case 'Decimal128':
      return Number.parseFloat((v as Decimal128).toString());
    default:
      return Number.NaN;
  }
};

// ---------------------------------------------------------------------------------------------------------
// View for mingo: numbers as JS numbers, BSON regex as RegExp; everything else unchanged.

export function toView(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(toView);
  const t = bsonType(v);
  if (t !== undefined) {
    switch (t) {
      case 'Int32':
      case 'Double':
      case 'Long':
      case 'Decimal128':
        return toNumber(v);
      case 'BSONRegExp': {
        const r = v as BSONRegExp;
        return new RegExp(r.pattern, r.options.replace(/[^gimsuy]/g, ''));
      }
      default:
        return v;
    }
  }
  if (v instanceof Date || v instanceof RegExp) return v;
  if (!isPlainObject(v)) return v;
  const out: Doc = {};
  for (const k of Object.keys(v)) out[k] = toView((v as Doc)[k]);
  return out;
}

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

const cmp = <T extends number | string | bigint>(a: T, b: T): number => (a < b ? -1 : a > b ? 1 : 0);

function binaryBytes(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return v;
  const b = v as Binary;
  return b.buffer.subarray(0, b.position);
}

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
// Paths.

/** Value at a dotted path without array traversal except numeric segments; undefined when missing. */
export function getPath(doc: unknown, path: string): unknown {
  let cur: unknown = doc;
  for (const seg of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    if (Array.isArray(cur)) {
      if (!/^\d+$/.test(seg)) return undefined;
      cur = cur[Number(seg)];
    } else {
      cur = (unwrapDBRef(cur) as Doc)[seg];
    }
  }
  return cur;
}

/**
 * Every value a dotted path reaches, descending into arrays the way MongoDB's index key generator does.
 * Arrays at the end of the path contribute their elements (an empty array contributes `undefined`).
 * Returns [] when the path is missing altogether.
 */
export function pathValuesForIndex(doc: unknown, path: string): unknown[] {
  const segs = path.split('.');
  const out: unknown[] = [];
  const walk = (cur: unknown, i: number): void => {
    if (i === segs.length) {
      if (Array.isArray(cur)) {
        if (cur.length === 0) out.push(undefined);
        else for (const e of cur) out.push(e);
      } else out.push(cur);
      return;
    }
    if (cur === null || typeof cur !== 'object') return;
    if (Array.isArray(cur)) {
      if (/^\d+$/.test(segs[i])) {
        walk(cur[Number(segs[i])], i + 1);
        return;
      }
      for (const e of cur) if (e !== null && typeof e === 'object' && !Array.isArray(e)) walk(e, i);
      return;
    }
    const next = (unwrapDBRef(cur) as Doc)[segs[i]];
    if (next === undefined) return;
    walk(next, i + 1);
  };
  walk(doc, 0);
  return out;
}

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

// ---------------------------------------------------------------------------------------------------------
// Deep copy of an exact document (wrappers are immutable and can be shared).

export function cloneValue<T>(v: T): T {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(cloneValue) as T;
  if (v instanceof Date) return new Date(v.getTime()) as T;
  if (!isPlainObject(v)) return v;
  const out: Doc = {};
  for (const k of Object.keys(v)) out[k] = cloneValue((v as Doc)[k]);
  return out as T;
}

/** A printable form of a value in MongoDB shell style, for error messages (`dup key: { email: "a@b" }`). */
export function shellString(v: unknown): string {
  if (v === undefined || v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[ ${v.map(shellString).join(', ')} ]`;
  if (v instanceof Date) return `new Date(${v.getTime()})`;
  switch (bsonType(v)) {
    case 'ObjectId':
      return `ObjectId('${(v as ObjectId).toHexString()}')`;
    case 'Int32':
    case 'Double':
      return String(toNumber(v));
    case 'Long':
      return (v as Long).toString();
    case 'Decimal128':
      return `Decimal128('${(v as Decimal128).toString()}')`;
    default:
  }
  if (isPlainObject(v)) return `{ ${Object.entries(v).map(([k, x]) => `${k}: ${shellString(x)}`).join(', ')} }`;
  return String(v);
}

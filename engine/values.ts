// BSON values as the engine keeps them, and the rules MongoDB applies to them.
//
// Documents are held in their *exact* form: deserialised with promoteValues:false and bsonRegExp:true, so Int32,
// Double, Long and Decimal128 keep their wrapper classes and serialise back to the very same BSON types. Query
// matching runs through mingo, which understands plain JS numbers only, so it sees a *view* of each document in
// which every numeric wrapper is a JS number (see toView). Comparisons, sorting and index keys follow MongoDB's
// BSON type order and compare numbers across types by value (value-order.ts, exact-numbers.ts).
import { type BSON, BSONRegExp, Decimal128, Double, Int32, Long, ObjectId } from 'bson';

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

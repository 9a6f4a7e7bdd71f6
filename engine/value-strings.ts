// Values printed the way the MongoDB server prints them in error messages: BSON type names and values in the
// server's shell-like form. Shared by updates, projections, validation and expressions.
import { BSONRegExp, Binary, Decimal128, Double, Int32, Long, ObjectId, Timestamp } from 'bson';
import { bsonType, isPlainObject } from './values.ts';

/** MongoDB's name for the BSON type of a value, as used in error messages ("string", "int", "objectId"...). */
export function typeName(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
      return 'string';
    case 'boolean':
      return 'bool';
    case 'number':
      return Number.isInteger(v) && Math.abs(v) <= 0x7fffffff ? 'int' : 'double';
    case 'bigint':
      return 'long';
    case 'function':
      return 'javascript';
    default:
  }
  if (Array.isArray(v)) return 'array';
  if (v instanceof Date) return 'date';
  if (v instanceof RegExp) return 'regex';
  if (v instanceof Uint8Array) return 'binData';
  switch (bsonType(v)) {
    case 'Int32':
      return 'int';
    case 'Double':
      return 'double';
    case 'Long':
      return 'long';
    case 'Decimal128':
      return 'decimal';
    case 'ObjectId':
      return 'objectId';
    case 'Binary':
      return 'binData';
    case 'Timestamp':
      return 'timestamp';
    case 'BSONRegExp':
      return 'regex';
    case 'Code':
      return 'javascript';
    case 'BSONSymbol':
      return 'symbol';
    case 'MinKey':
      return 'minKey';
    case 'MaxKey':
      return 'maxKey';
    case 'DBRef':
      return 'object';
    default:
      return 'object';
  }
}

/** printf("%.16g") followed by MongoDB's ".0" for integral doubles (BSONElement::toString). */
function doubleString(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mant, expStr] = x.toExponential(15).split('e');
  const e = Number(expStr);
  let s: string;
  if (e < -4 || e >= 16) {
    const m = mant.includes('.') ? mant.replace(/\.?0+$/, '') : mant;
    s = `${m}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  } else {
    s = x.toFixed(Math.max(0, 15 - e));
    if (s.includes('.')) s = s.replace(/\.?0+$/, '');
  }
  return /[.eEnN]/.test(s) ? s : `${s}.0`;
}

/** A value printed the way the server prints BSON in error messages (`{ a: 1, b: "x" }`, `ObjectId('...')`). */
export function valueString(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') return Number.isInteger(v) && Math.abs(v) <= 0x7fffffff ? String(v) : doubleString(v);
  if (typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return v.length ? `[ ${v.map(valueString).join(', ')} ]` : '[]';
  if (v instanceof Date) return `new Date(${v.getTime()})`;
  if (v instanceof RegExp) return `/${v.source}/${v.flags}`;
  switch (bsonType(v)) {
    case 'Int32':
      return String((v as Int32).value);
    case 'Double':
      return doubleString((v as Double).value);
    case 'Long':
      return (v as Long).toString();
    case 'Decimal128':
      return `NumberDecimal("${(v as Decimal128).toString()}")`;
    case 'ObjectId':
      return `ObjectId('${(v as ObjectId).toHexString()}')`;
    case 'Timestamp':
      return `Timestamp(${(v as Timestamp).t}, ${(v as Timestamp).i})`;
    case 'BSONRegExp':
      return `/${(v as BSONRegExp).pattern}/${(v as BSONRegExp).options}`;
    case 'Binary': {
      const b = v as Binary;
      return `BinData(${b.sub_type}, ${Buffer.from(b.buffer.subarray(0, b.position)).toString('hex').toUpperCase()})`;
    }
    case 'MinKey':
      return 'MinKey';
    case 'MaxKey':
      return 'MaxKey';
    default:
  }
  if (isPlainObject(v)) {
    const entries = Object.entries(v);
    return entries.length ? `{ ${entries.map(([k, x]) => `${k}: ${valueString(x)}`).join(', ')} }` : '{}';
  }
  return String(v);
}

/** `name: value`, the way a BSON element prints. */
export const elementString = (name: string, value: unknown): string => `${name}: ${valueString(value)}`;

// Update operators ($set, $inc, $push, ... with positional and filtered paths), replacements and upsert seeds,
// following the MongoDB server's update subsystem (src/mongo/db/update): the update document is parsed into a
// tree of path components (so conflicting paths are refused before anything is applied), the tree is applied
// to a working copy of the document with the children of every level visited in field-name order, and each
// leaf reports whether it changed anything, so `modified` is false exactly when MongoDB would count no change.
import { BSONRegExp, Binary, Decimal128, Double, Int32, Long, ObjectId, Timestamp } from 'bson';
import { type Matcher, compileMatcher } from './matcher.ts';
import { ErrorCodes, MongoServerError } from './errors.ts';
import { type Doc, arith, bsonType, cloneValue, compareValues, getPath, isNumeric, isPlainObject, toNumber } from './values.ts';

export interface UpdateContext {
  /** Array filters of the statement, exact form. */
  arrayFilters?: Doc[];
  /** True when the update builds an upserted document: $setOnInsert applies. */
  isInsert?: boolean;
  /** The statement's filter (exact form), used to resolve the positional `$`. */
  query?: Doc;
  /** Time for $currentDate (defaults to now). */
  now?: Date;
}

// ---------------------------------------------------------------------------------------------------------
// Small helpers shared with projection.ts.

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/** Assigns a field without tripping over `__proto__` (documents may legitimately hold such a field). */
export function setField(obj: Doc, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

const err = (code: number, message: string, codeName?: string): MongoServerError =>
  new MongoServerError(code, message, codeName ? { codeName } : {});

const badValue = (message: string): MongoServerError => err(ErrorCodes.BadValue, message);

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
const elementString = (name: string, value: unknown): string => `${name}: ${valueString(value)}`;

/** Bytewise (UTF-8) string order, like std::map<std::string> in the server. */
function byteCompare(a: string, b: string): number {
  if (a === b) return 0;
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(a) && /^[\x00-\x7f]*$/.test(b)) return a < b ? -1 : 1;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

const parseIndex = (s: string): number | undefined => (/^\d+$/.test(s) ? Number(s) : undefined);

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

// Conditions ($pull, arrayFilters, the positional match) use the engine's matcher on exact values.
function compileQuery(cond: Doc): Matcher {
  return compileMatcher(cond);
}

const safeTest = (q: Matcher, obj: unknown): boolean => q.test(obj as Doc);

// ---------------------------------------------------------------------------------------------------------
// Positional matching: which element of an array made the query match (MongoDB's "elemMatchKey").

/** A shallow copy of `view` along `parts` with the value at the end replaced. */
function replaceAt(view: unknown, parts: string[], i: number, value: unknown): unknown {
  if (i === parts.length) return value;
  if (Array.isArray(view)) {
    const idx = parseIndex(parts[i]);
    if (idx === undefined) return view;
    const copy = view.slice();
    copy[idx] = replaceAt(view[idx], parts, i + 1, value);
    return copy;
  }
  if (!isPlainObject(view)) return view;
  const copy: Doc = { ...view };
  setField(copy, parts[i], replaceAt(view[parts[i]], parts, i + 1, value));
  return copy;
}

/**
 * The index of the first element of the array at `arrayParts` (in `doc`, exact form) for which the query
 * matches the document when that array is reduced to the element alone; undefined when there is none.
 */
export function matchArrayIndex(doc: Doc, arrayParts: string[], query: Doc): number | undefined {
  const arr = getPath(doc, arrayParts.join('.'));
  if (!Array.isArray(arr)) return undefined;
  let q: Matcher;
  try {
    q = compileQuery(query);
  } catch {
    return undefined;
  }
  for (let i = 0; i < arr.length; i++) {
    try {
      if (q.test(replaceAt(doc, arrayParts, 0, [arr[i]]) as Doc)) return i;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Field paths the query constrains, in order, looking through $and / $or / $nor. */
export function queryPaths(query: Doc, out: string[] = []): string[] {
  for (const [k, v] of Object.entries(query)) {
    if (k === '$and' || k === '$or' || k === '$nor') {
      if (Array.isArray(v)) for (const c of v) if (isPlainObject(c)) queryPaths(c, out);
    } else if (!k.startsWith('$')) out.push(k);
  }
  return out;
}

/** The path of the first array met when walking `parts` through `doc` (numeric parts index arrays). */
function firstArrayPrefix(doc: unknown, parts: string[]): string[] | undefined {
  let cur = doc;
  for (let i = 0; i < parts.length; i++) {
    if (Array.isArray(cur)) {
      const idx = parseIndex(parts[i]);
      if (idx === undefined) return parts.slice(0, i);
      cur = cur[idx];
    } else if (isPlainObject(cur)) {
      cur = hasOwn(cur, parts[i]) ? cur[parts[i]] : undefined;
    } else return undefined;
  }
  return Array.isArray(cur) ? parts : undefined;
}

/**
 * The array position the query matched, as MongoDB records it for the positional `$` operator, for the
 * array at `arrayParts`: when the query constrains that array, the first of its elements that satisfies the
 * query on its own; otherwise the position matched in the first array the query reaches.
 */
function positionalMatch(doc: Doc, query: Doc | undefined, arrayParts: string[]): string | undefined {
  if (!query || !isPlainObject(query)) return undefined;
  const paths = queryPaths(query);
  const plain = arrayParts.filter((p) => parseIndex(p) === undefined).join('.');
  if (paths.some((p) => p === plain || p.startsWith(`${plain}.`))) {
    const idx = matchArrayIndex(doc, arrayParts, query);
    if (idx !== undefined) return String(idx);
  }
  for (const path of paths) {
    const prefix = firstArrayPrefix(doc, path.split('.'));
    if (!prefix) continue;
    const idx = matchArrayIndex(doc, prefix, query);
    if (idx !== undefined) return String(idx);
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Update tree.

interface ObjNode {
  kind: 'obj';
  children: Map<string, UNode>; // '$' is the positional child
}
interface ArrNode {
  kind: 'arr';
  children: Map<string, UNode>; // keyed by array filter identifier; '' for $[]
}
interface Leaf {
  kind: 'leaf';
  op: string;
  impl: LeafImpl;
}
type UNode = ObjNode | ArrNode | Leaf;

const NOOP = Symbol('noop');
const REMOVE = Symbol('remove');
type Change = typeof NOOP | typeof REMOVE | { value: unknown };

interface LeafCtx {
  path: string; // dotted path of the element
  field: string; // its own name (array index for elements)
  env: Env;
}

interface LeafImpl {
  /** Whether the modifier creates a missing path (allowCreation). */
  creates: boolean;
  /** $unset: a missing path is never an error. */
  nonViableOk?: boolean;
  insertOnly?: boolean;
  existing?(cur: unknown, lc: LeafCtx): Change;
  fresh?(lc: LeafCtx): unknown;
  /** Leaves with their own application logic ($rename and its placeholder). */
  custom?(st: State, env: Env): void;
}

interface Env {
  root: Doc; // working copy
  original: Doc;
  query: Doc | undefined;
  filters: Map<string, Matcher>;
  isInsert: boolean;
  now: Date;
  matched: Map<string, string | undefined>; // positional matches by array path
  modified: boolean;
}

/** A reference to a value in the working document: its container and key (the root has no container). */
class Elem {
  constructor(
    readonly container: Doc | unknown[] | null,
    readonly key: string | number,
    private readonly rootDoc?: Doc,
  ) {}

  get value(): unknown {
    if (this.container === null) return this.rootDoc;
    return Array.isArray(this.container) ? this.container[this.key as number] : this.container[this.key as string];
  }

  set value(v: unknown) {
    if (Array.isArray(this.container)) this.container[this.key as number] = v;
    else if (this.container) setField(this.container, this.key as string, v);
  }

  get name(): string {
    return String(this.key);
  }

  get inArray(): boolean {
    return Array.isArray(this.container);
  }

  remove(): void {
    if (Array.isArray(this.container)) this.container[this.key as number] = null;
    else if (this.container) delete this.container[this.key as string];
  }

  toString(): string {
    return elementString(this.name, this.value);
  }
}

interface State {
  elem: Elem; // deepest existing element on the path
  taken: string[]; // path of elem
  toCreate: string[]; // remaining components that do not exist
}

function childElem(e: Elem, field: string): Elem | undefined {
  const v = e.value;
  if (isPlainObject(v)) return hasOwn(v, field) ? new Elem(v, field) : undefined;
  if (Array.isArray(v)) {
    const idx = parseIndex(field);
    return idx !== undefined && idx < v.length ? new Elem(v, idx) : undefined;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Leaf implementations.

const idString = (env: Env): string => (hasOwn(env.root, '_id') ? elementString('_id', env.root._id) : '');

/** MatchExpressionParser::parseIntegerElementToLong. */
function integerOf(v: unknown): number | undefined {
  if (!isNumeric(v)) return undefined;
  if (bsonType(v) === 'Long') return (v as Long).toNumber();
  if (typeof v === 'bigint') return Number(v);
  const n = toNumber(v);
  if (!Number.isFinite(n) || !Number.isInteger(n) || Math.abs(n) > 2 ** 63) return undefined;
  return n;
}

function arithmeticLeaf(op: '$inc' | '$mul', path: string, arg: unknown): LeafImpl {
  if (!isNumeric(arg)) {
    throw err(
      ErrorCodes.TypeMismatch,
      `Cannot ${op === '$inc' ? 'increment' : 'multiply'} with non-numeric argument: {${elementString(path, arg)}}`,
    );
  }
  const debug = (v: unknown): string => {
    const t = typeName(v);
    const label = t === 'int' ? 'NumberInt' : t === 'long' ? 'NumberLong' : t === 'decimal' ? 'NumberDecimal' : 'NumberDouble';
    return `(${label})${t === 'decimal' ? (v as Decimal128).toString() : t === 'long' ? (v as Long).toString() : String(toNumber(v))}`;
  };
  const compute = (cur: unknown, env: Env): unknown => {
    const result = arith(op === '$inc' ? 'add' : 'mul', cur, arg);
    const integral = (v: unknown) => typeName(v) === 'int' || typeName(v) === 'long';
    if (integral(cur) && integral(arg) && !integral(result)) {
      throw badValue(`Failed to apply ${op} operations to current value (${debug(cur)}) for document {${idString(env)}}`);
    }
    return result;
  };
  return {
    creates: true,
    existing(cur, lc) {
      if (!isNumeric(cur)) {
        throw err(
          ErrorCodes.TypeMismatch,
          `Cannot apply ${op} to a value of non-numeric type. {${idString(lc.env)}} has the field '${lc.field}' of non-numeric type ${typeName(cur)}`,
        );
      }
      const result = compute(cur, lc.env);
      if (bsonType(result) === bsonType(exactValue(cur)) && compareValues(result, cur) === 0) return NOOP;
      return { value: result };
    },
    fresh: () => (op === '$inc' ? exactValue(arg) : arith('mul', arg, new Int32(0))),
  };
}

function setLeaf(arg: unknown, insertOnly: boolean): LeafImpl {
  const value = exactValue(arg);
  return {
    creates: true,
    insertOnly,
    existing: (cur) => (exactEqual(cur, value) ? NOOP : { value: exactValue(value) }),
    fresh: () => exactValue(value),
  };
}

const unsetLeaf: LeafImpl = { creates: false, nonViableOk: true, existing: () => REMOVE };

function compareLeaf(op: '$min' | '$max', arg: unknown): LeafImpl {
  const value = exactValue(arg);
  return {
    creates: true,
    existing(cur) {
      const c = compareValues(cur, value);
      if (c === 0 || (op === '$max' && c > 0) || (op === '$min' && c < 0)) return NOOP;
      return { value: exactValue(value) };
    },
    fresh: () => exactValue(value),
  };
}

let lastTimestamp = { t: 0, i: 0 };
function nextTimestamp(now: Date): Timestamp {
  const t = Math.floor(now.getTime() / 1000);
  lastTimestamp = t > lastTimestamp.t ? { t, i: 1 } : { t: lastTimestamp.t, i: lastTimestamp.i + 1 };
  return new Timestamp({ t: lastTimestamp.t, i: lastTimestamp.i });
}

function currentDateLeaf(arg: unknown): LeafImpl {
  let isDate = true;
  if (typeof arg === 'boolean') isDate = true;
  else if (isPlainObject(arg)) {
    let found = false;
    for (const [k, v] of Object.entries(arg)) {
      if (k !== '$type') throw badValue(`Unrecognized $currentDate option: ${k}`);
      if (v === 'date' || v === 'timestamp') {
        isDate = v === 'date';
        found = true;
      }
    }
    if (!found) {
      throw badValue("The '$type' string field is required to be 'date' or 'timestamp': {$currentDate: {field : {$type: 'date'}}}");
    }
  } else {
    throw badValue(
      `${typeName(arg)} is not valid type for $currentDate. Please use a boolean ('true') or a $type expression ({$type: 'timestamp/date'}).`,
    );
  }
  const make = (env: Env): unknown => (isDate ? new Date(env.now.getTime()) : nextTimestamp(env.now));
  return { creates: true, existing: (_cur, lc) => ({ value: make(lc.env) }), fresh: (lc) => make(lc.env) };
}

interface PushSpec {
  values: unknown[];
  position?: number;
  slice?: number;
  sort?: { whole: number } | { pattern: Array<[string, number]> };
}

function parsePush(arg: unknown): PushSpec {
  if (!isPlainObject(arg) || !hasOwn(arg, '$each')) return { values: [exactValue(arg)] };
  const valid = new Set(['$each', '$slice', '$sort', '$position']);
  for (const k of Object.keys(arg)) if (!valid.has(k)) throw badValue(`Unrecognized clause in $push: ${k}`);
  const each = arg.$each;
  if (!Array.isArray(each)) throw badValue(`The argument to $each in $push must be an array but it was of type: ${typeName(each)}`);
  const spec: PushSpec = { values: each.map(exactValue) };
  if (hasOwn(arg, '$slice')) {
    const n = integerOf(arg.$slice);
    if (n === undefined) throw badValue(`The value for $slice must be an integer value but was given type: ${typeName(arg.$slice)}`);
    spec.slice = n;
  }
  if (hasOwn(arg, '$sort')) {
    const s = arg.$sort;
    if (isPlainObject(s)) {
      const entries = Object.entries(s);
      if (!entries.length) throw badValue('The $sort pattern is empty when it should be a set of fields.');
      const pattern: Array<[string, number]> = [];
      for (const [field, dir] of entries) {
        const d = isNumeric(dir) ? toNumber(dir) : 0;
        if (d !== 1 && d !== -1) throw badValue('The $sort element value must be either 1 or -1');
        if (field === '') throw badValue('The $sort field cannot be empty');
        if (field.split('.').some((p) => p === '')) {
          throw badValue(`The $sort field is a dotted field but has an empty part: ${field}`);
        }
        pattern.push([field, d]);
      }
      spec.sort = { pattern };
    } else if (isNumeric(s)) {
      const d = toNumber(s);
      if (d !== 1 && d !== -1) throw badValue('The $sort element value must be either 1 or -1');
      spec.sort = { whole: d };
    } else {
      throw badValue('The $sort is invalid: use 1/-1 to sort the whole element, or {field:1/-1} to sort embedded fields');
    }
  }
  if (hasOwn(arg, '$position')) {
    const n = integerOf(arg.$position);
    if (n === undefined) throw badValue(`The value for $position must be an integer value, not of type: ${typeName(arg.$position)}`);
    spec.position = n;
  }
  return spec;
}

function sortArray(arr: unknown[], sort: NonNullable<PushSpec['sort']>): void {
  if ('whole' in sort) {
    arr.sort((a, b) => compareValues(a, b) * sort.whole);
    return;
  }
  const key = (e: unknown, field: string): unknown => {
    if (!isPlainObject(e)) return null;
    const v = getPath(e, field);
    return v === undefined ? null : v;
  };
  arr.sort((a, b) => {
    for (const [field, dir] of sort.pattern) {
      const c = compareValues(key(a, field), key(b, field));
      if (c) return c * dir;
    }
    return 0;
  });
}

/** PushNode::performPush on a copy of `arr`; undefined when nothing changes. */
function performPush(arr: unknown[], spec: PushSpec): unknown[] | undefined {
  const out = arr.slice();
  let changed = false;
  const values = spec.values.map(exactValue);
  if (values.length) {
    changed = true;
    const size = out.length;
    const pos = spec.position;
    let at: number;
    if (size === 0 || pos === undefined || pos > size) at = size;
    else if (pos >= 0) at = pos;
    else if (-pos < size) at = size + pos;
    else at = 0;
    out.splice(at, 0, ...values);
  }
  if (spec.sort) {
    changed = true;
    sortArray(out, spec.sort);
  }
  if (spec.slice !== undefined) {
    const keep = Math.abs(spec.slice);
    if (out.length > keep) {
      changed = true;
      if (spec.slice >= 0) out.length = keep;
      else out.splice(0, out.length - keep);
    }
  }
  return changed ? out : undefined;
}

function pushLeaf(arg: unknown): LeafImpl {
  const spec = parsePush(arg);
  return {
    creates: true,
    existing(cur, lc) {
      if (!Array.isArray(cur)) {
        throw badValue(
          `The field '${lc.path}' must be an array but is of type ${typeName(cur)} in document {${idString(lc.env) || 'no id'}}`,
        );
      }
      const out = performPush(cur, spec);
      return out ? { value: out } : NOOP;
    },
    fresh: () => performPush([], spec) ?? [],
  };
}

function addToSetLeaf(arg: unknown): LeafImpl {
  let elements: unknown[];
  const first = isPlainObject(arg) ? Object.keys(arg)[0] : undefined;
  if (isPlainObject(arg) && first === '$each') {
    const each = arg.$each;
    if (!Array.isArray(each)) {
      throw err(ErrorCodes.TypeMismatch, `The argument to $each in $addToSet must be an array but it was of type ${typeName(each)}`);
    }
    if (Object.keys(arg).length > 1) throw badValue(`Found unexpected fields after $each in $addToSet: ${valueString(arg)}`);
    elements = each.map(exactValue);
  } else elements = [exactValue(arg)];
  const unique: unknown[] = [];
  for (const e of elements) if (!unique.some((u) => compareValues(u, e) === 0)) unique.push(e);
  return {
    creates: true,
    existing(cur, lc) {
      if (!Array.isArray(cur)) {
        throw badValue(`Cannot apply $addToSet to non-array field. Field named '${lc.field}' has non-array type ${typeName(cur)}`);
      }
      const add = unique.filter((e) => !cur.some((x) => compareValues(x, e) === 0));
      return add.length ? { value: [...cur, ...add.map(exactValue)] } : NOOP;
    },
    fresh: () => unique.map(exactValue),
  };
}

// Operators a $pull condition may start with and still be a condition on the element itself ({$gte: 6}).
const PATH_ACCEPTING = new Set([
  '$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin', '$all', '$exists', '$mod', '$type', '$regex', '$options',
  '$elemMatch', '$size', '$not', '$bitsAllSet', '$bitsAllClear', '$bitsAnySet', '$bitsAnyClear', '$geoWithin',
  '$geoIntersects', '$near', '$nearSphere', '$within', '$geoNear', '$text',
]);

const isRegex = (v: unknown): boolean => v instanceof RegExp || bsonType(v) === 'BSONRegExp';

function cullingLeaf(matches: (e: unknown) => boolean): LeafImpl {
  return {
    creates: false,
    existing(cur) {
      if (!Array.isArray(cur)) throw badValue('Cannot apply $pull to a non-array value');
      const kept = cur.filter((e) => !matches(e));
      return kept.length === cur.length ? NOOP : { value: kept };
    },
  };
}

function pullLeaf(arg: unknown): LeafImpl {
  if (isPlainObject(arg)) {
    const first = Object.keys(arg)[0];
    if (first === undefined || !PATH_ACCEPTING.has(first)) {
      const q = compileQuery(arg);
      return cullingLeaf((e) => isPlainObject(e) && safeTest(q, e));
    }
    const q = compileQuery({ v: arg });
    return cullingLeaf((e) => safeTest(q, { v: e }));
  }
  if (isRegex(arg)) {
    const q = compileQuery({ v: arg });
    return cullingLeaf((e) => safeTest(q, { v: e }));
  }
  return cullingLeaf((e) => compareValues(e, arg) === 0);
}

function pullAllLeaf(arg: unknown): LeafImpl {
  if (!Array.isArray(arg)) throw badValue(`$pullAll requires an array argument but was given a ${typeName(arg)}`);
  return cullingLeaf((e) => arg.some((v) => compareValues(e, v) === 0));
}

function popLeaf(path: string, arg: unknown): LeafImpl {
  if (!isNumeric(arg)) throw err(ErrorCodes.FailedToParse, `Expected a number in: ${elementString(path, arg)}`);
  const n = integerOf(arg);
  if (n === undefined) throw err(ErrorCodes.FailedToParse, `Expected an integer: ${elementString(path, arg)}`);
  if (n !== 1 && n !== -1) throw err(ErrorCodes.FailedToParse, `$pop expects 1 or -1, found: ${n}`);
  return {
    creates: false,
    existing(cur, lc) {
      if (!Array.isArray(cur)) {
        throw err(ErrorCodes.TypeMismatch, `Path '${lc.path}' contains an element of non-array type '${typeName(cur)}'`);
      }
      if (!cur.length) return NOOP;
      return { value: n === -1 ? cur.slice(1) : cur.slice(0, -1) };
    },
  };
}

function bitLeaf(arg: unknown): LeafImpl {
  if (!isPlainObject(arg)) {
    throw badValue(
      `The $bit modifier is not compatible with a ${typeName(arg)}. You must pass in an embedded document: {$bit: {field: {and/or/xor: #}}`,
    );
  }
  const ops: Array<[string, unknown]> = [];
  for (const [k, raw] of Object.entries(arg)) {
    const v = exactValue(raw);
    if (k !== 'and' && k !== 'or' && k !== 'xor') {
      throw badValue(`The $bit modifier only supports 'and', 'or', and 'xor', not '${k}' which is an unknown operator: {${elementString(k, v)}}`);
    }
    const t = bsonType(v);
    if (t !== 'Int32' && t !== 'Long') {
      throw badValue(`The $bit modifier field must be an Integer(32/64 bit); a '${typeName(v)}' is not supported here: {${elementString(k, v)}}`);
    }
    ops.push([k, v]);
  }
  if (!ops.length) throw badValue('You must pass in at least one bitwise operation. The format is: {$bit: {field: {and/or/xor: #}}');
  const run = (start: unknown): unknown => {
    let isLong = bsonType(start) === 'Long';
    let acc = BigInt((start as Int32 | Long).toString());
    for (const [k, v] of ops) {
      if (bsonType(v) === 'Long') isLong = true;
      const x = BigInt((v as Int32 | Long).toString());
      acc = k === 'and' ? acc & x : k === 'or' ? acc | x : acc ^ x;
    }
    return isLong ? Long.fromBigInt(BigInt.asIntN(64, acc)) : new Int32(Number(BigInt.asIntN(32, acc)));
  };
  return {
    creates: true,
    existing(cur, lc) {
      const t = bsonType(cur);
      if (t !== 'Int32' && t !== 'Long') {
        throw badValue(
          `Cannot apply $bit to a value of non-integral type.${idString(lc.env)} has the field ${lc.field} of non-integer type ${typeName(cur)}`,
        );
      }
      const result = run(cur);
      return exactEqual(result, cur) ? NOOP : { value: result };
    },
    fresh: () => run(new Int32(0)),
  };
}

const placeholderLeaf: LeafImpl = { creates: false, custom: () => undefined };

const KNOWN_MODIFIERS = new Set([
  '$set', '$unset', '$inc', '$mul', '$min', '$max', '$rename', '$setOnInsert', '$currentDate', '$push', '$addToSet',
  '$pull', '$pullAll', '$pop', '$bit',
]);

function makeLeaf(op: string, path: string, arg: unknown): LeafImpl {
  switch (op) {
    case '$set':
      return setLeaf(arg, false);
    case '$setOnInsert':
      return setLeaf(arg, true);
    case '$unset':
      return unsetLeaf;
    case '$inc':
    case '$mul':
      return arithmeticLeaf(op, path, exactValue(arg));
    case '$min':
    case '$max':
      return compareLeaf(op, arg);
    case '$currentDate':
      return currentDateLeaf(arg);
    case '$push':
      return pushLeaf(arg);
    case '$addToSet':
      return addToSetLeaf(arg);
    case '$pull':
      return pullLeaf(arg);
    case '$pullAll':
      return pullAllLeaf(arg);
    case '$pop':
      return popLeaf(path, arg);
    case '$bit':
      return bitLeaf(arg);
    default:
      throw err(ErrorCodes.FailedToParse, `Cannot construct modifier of type ${op}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Parsing.

const isFilterIdentifier = (part: string): boolean => part.length >= 3 && part.startsWith('$[') && part.endsWith(']');

interface ParseEnv {
  filters: Map<string, Matcher>;
  used: Set<string>;
}

function checkUpdatablePath(path: string): string[] {
  if (path === '') throw err(56, 'An empty update path is not valid.', 'EmptyFieldName');
  const parts = path.split('.');
  if (parts.some((p) => p === '')) {
    throw err(56, `The update path '${path}' contains an empty field name, which is not allowed.`, 'EmptyFieldName');
  }
  const positions = parts.flatMap((p, i) => (p === '$' ? [i] : []));
  if (positions.length > 1) throw badValue(`Too many positional (i.e. '$') elements found in path '${path}'`);
  if (positions[0] === 0) throw badValue(`Cannot have positional (i.e. '$') element in the first position in path '${path}'`);
  return parts;
}

function childName(parts: string[], i: number, path: string, pe: ParseEnv): string {
  const part = parts[i];
  if (!isFilterIdentifier(part)) return part;
  if (i === 0) {
    throw badValue(`Cannot have array filter identifier (i.e. '$[<id>]') element in the first position in path '${path}'`);
  }
  const id = part.slice(2, -1);
  if (id !== '') {
    if (!pe.filters.has(id)) throw badValue(`No array filter found for identifier '${id}' in path '${path}'`);
    pe.used.add(id);
  }
  return id;
}

/** UpdateObjectNode::parseAndMerge: places a leaf at `path`, refusing paths that conflict with others. */
function mergeLeaf(root: ObjNode, path: string, op: string, makeImpl: () => LeafImpl, pe: ParseEnv): void {
  const parts = checkUpdatablePath(path);
  const leaf: Leaf = { kind: 'leaf', op, impl: makeImpl() };
  let cur: ObjNode | ArrNode = root;
  const conflict = (upTo: number) =>
    err(ErrorCodes.ConflictingUpdateOperators, `Updating the path '${path}' would create a conflict at '${parts.slice(0, upTo).join('.')}'`);
  for (let i = 0; i < parts.length - 1; i++) {
    const name = childName(parts, i, path, pe);
    const shouldBeArray = isFilterIdentifier(parts[i + 1]);
    let child = cur.children.get(name);
    if (child) {
      if (child.kind !== (shouldBeArray ? 'arr' : 'obj')) throw conflict(i + 1);
    } else {
      child = shouldBeArray ? { kind: 'arr', children: new Map() } : { kind: 'obj', children: new Map() };
      cur.children.set(name, child);
    }
    cur = child as ObjNode | ArrNode;
  }
  const last = childName(parts, parts.length - 1, path, pe);
  if (cur.children.has(last)) throw conflict(parts.length);
  cur.children.set(last, leaf);
}

function renameLeaf(from: string, to: string): LeafImpl {
  const modExpr = elementString(from, to);
  if (to.includes('\0')) throw badValue("The 'to' field for $rename cannot contain an embedded null byte");
  if (from === to) throw badValue(`The source and target field for $rename must differ: ${modExpr}`);
  if (to.startsWith(`${from}.`) || from.startsWith(`${to}.`)) {
    throw badValue(`The source and target field for $rename must not be on the same path: ${modExpr}`);
  }
  const dynamic = (p: string) => p.split('.').some((x) => x === '$' || isFilterIdentifier(x));
  if (dynamic(from)) throw badValue(`The source field for $rename may not be dynamic: ${from}`);
  if (dynamic(to)) throw badValue(`The destination field for $rename may not be dynamic: ${to}`);
  const fromParts = from.split('.');
  return {
    creates: true,
    custom(st, env) {
      // pathsupport::findLongestPrefix on the source.
      let cur: Elem | undefined = new Elem(null, '', env.root);
      for (let i = 0; i < fromParts.length; i++) {
        const v = cur!.value;
        const viable = isPlainObject(v) || (Array.isArray(v) && parseIndex(fromParts[i]) !== undefined);
        if (!viable) {
          throw err(
            ErrorCodes.PathNotViable,
            `cannot use the part (${fromParts[i - 1]} of ${from}) to traverse the element ({${cur!.toString()}})`,
          );
        }
        cur = childElem(cur!, fromParts[i]);
        if (!cur) return; // the source does not exist: no-op
      }
      const source = cur!;
      // Neither the source nor the destination may go through an array.
      for (let i = fromParts.length - 1; i >= 1; i--) {
        if (Array.isArray(getPath(env.root, fromParts.slice(0, i).join('.')))) {
          throw badValue(
            `The source field cannot be an array element, '${from}' in doc with ${idString(env) || 'no id'} has an array field called '${fromParts[i - 1]}'`,
          );
        }
      }
      const destDepth = st.toCreate.length ? st.taken.length : st.taken.length - 1;
      for (let i = destDepth; i >= 1; i--) {
        if (Array.isArray(getPath(env.root, st.taken.slice(0, i).join('.')))) {
          throw badValue(
            `The destination field cannot be an array element, '${to}' in doc with ${idString(env) || 'no id'} has an array field called '${st.taken[i - 1]}'`,
          );
        }
      }
      const value = source.value;
      // $set of the destination (never a no-op), then $unset of the source.
      const setImpl: LeafImpl = { creates: true, existing: () => ({ value }), fresh: () => value };
      applyModifier(setImpl, st, env);
      if (fromParts[0] === '_id') {
        throw err(ErrorCodes.ImmutableField, `Performing an update on the path '${from}' would modify the immutable field '_id'`);
      }
      source.remove();
      env.modified = true;
    },
  };
}

function parseArrayFilters(list: Doc[] | undefined): Map<string, Matcher> {
  const filters = new Map<string, Matcher>();
  if (list === undefined || list === null) return filters;
  if (!Array.isArray(list)) throw err(ErrorCodes.TypeMismatch, 'arrayFilters must be an array');
  for (const f of list) {
    if (!isPlainObject(f)) throw err(ErrorCodes.TypeMismatch, `Each array filter must be an object, found ${typeName(f)}`);
    const ids = new Set<string>();
    const collect = (q: Doc): void => {
      for (const [k, v] of Object.entries(q)) {
        if (k === '$and' || k === '$or' || k === '$nor') {
          if (Array.isArray(v)) for (const c of v) if (isPlainObject(c)) collect(c);
        } else if (!k.startsWith('$')) ids.add(k.split('.')[0]);
      }
    };
    collect(f);
    if (ids.size === 0) throw err(ErrorCodes.FailedToParse, 'Cannot use an expression without a top-level field name in arrayFilters');
    const [id, other] = [...ids];
    if (other !== undefined) {
      throw err(ErrorCodes.FailedToParse, `Error parsing array filter :: caused by :: Expected a single top-level field name, found '${id}' and '${other}'`);
    }
    if (!/^[a-z][a-zA-Z0-9]*$/.test(id)) {
      throw badValue(
        `Error parsing array filter :: caused by :: The top-level field name must be an alphanumeric string beginning with a lowercase letter, found '${id}'`,
      );
    }
    if (filters.has(id)) throw err(ErrorCodes.FailedToParse, `Found multiple array filters with the same top-level field name ${id}`);
    filters.set(id, compileQuery(f));
  }
  return filters;
}

function parseUpdate(update: Doc, filters: Map<string, Matcher>): ObjNode {
  const root: ObjNode = { kind: 'obj', children: new Map() };
  const pe: ParseEnv = { filters, used: new Set() };
  for (const [op, spec] of Object.entries(update)) {
    if (!KNOWN_MODIFIERS.has(op)) {
      throw err(ErrorCodes.FailedToParse, `Unknown modifier: ${op}. Expected a valid update modifier or pipeline-style update specified as an array`);
    }
    if (!isPlainObject(spec)) {
      throw err(
        ErrorCodes.FailedToParse,
        `Modifiers operate on fields but we found type ${typeName(spec)} instead. For example: {$mod: {<field>: ...}} not {${elementString(op, spec)}}`,
      );
    }
    for (const [path, arg] of Object.entries(spec)) {
      if (op === '$rename') {
        mergeLeaf(root, path, '$rename-source', () => placeholderLeaf, pe);
        if (typeof arg !== 'string') throw badValue(`The 'to' field for $rename must be a string: ${elementString(path, arg)}`);
        mergeLeaf(root, arg, op, () => renameLeaf(path, arg), pe);
      } else {
        mergeLeaf(root, path, op, () => makeLeaf(op, path, arg), pe);
      }
    }
  }
  for (const id of filters.keys()) {
    if (!pe.used.has(id)) {
      throw err(ErrorCodes.FailedToParse, `The array filter for identifier '${id}' was not used in the update ${valueString(update)}`);
    }
  }
  return root;
}

// ---------------------------------------------------------------------------------------------------------
// Application.

function mergeNodes(a: UNode, b: UNode, path: string[]): UNode {
  if (a.kind !== b.kind || a.kind === 'leaf' || b.kind === 'leaf') {
    throw err(ErrorCodes.ConflictingUpdateOperators, `Update created a conflict at '${path.join('.')}'`);
  }
  const children = new Map<string, UNode>(a.children);
  for (const [k, child] of b.children) {
    const mine = children.get(k);
    const seg = a.kind === 'arr' ? `$[${k}]` : k;
    children.set(k, mine ? mergeNodes(mine, child, [...path, seg]) : child);
  }
  return { kind: a.kind, children } as UNode;
}

function applyNode(node: UNode, st: State, env: Env): void {
  if (node.kind === 'obj') applyObject(node, st, env);
  else if (node.kind === 'arr') applyArray(node, st, env);
  else applyLeaf(node, st, env);
}

function applyChild(child: UNode, field: string, st: State, env: Env): void {
  let sub: State;
  if (st.toCreate.length === 0) {
    const ce = childElem(st.elem, field);
    sub = ce ? { elem: ce, taken: [...st.taken, field], toCreate: [] } : { elem: st.elem, taken: st.taken, toCreate: [field] };
  } else {
    sub = { elem: st.elem, taken: st.taken, toCreate: [...st.toCreate, field] };
  }
  applyNode(child, sub, env);
  // The child may have created the missing part of our own path: continue from there.
  if (st.toCreate.length) {
    let e = childElem(st.elem, st.toCreate[0]);
    if (e) {
      for (const part of st.toCreate.slice(1)) e = childElem(e!, part);
      if (e) {
        st.elem = e;
        st.taken = [...st.taken, ...st.toCreate];
        st.toCreate = [];
      }
    }
  }
}

function applyObject(node: ObjNode, st: State, env: Env): void {
  const positional = node.children.get('$');
  let matched: string | undefined;
  if (positional) {
    const arrayParts = [...st.taken, ...st.toCreate];
    const key = arrayParts.join('.');
    if (!env.matched.has(key)) env.matched.set(key, positionalMatch(env.original, env.query, arrayParts));
    matched = env.matched.get(key);
    if (matched === undefined) throw badValue('The positional operator did not find the match needed from the query.');
  }
  const names = [...node.children.keys()].filter((k) => k !== '$').sort(byteCompare);
  let pending = positional !== undefined;
  for (const name of names) {
    const child = node.children.get(name)!;
    if (pending && name === matched) {
      const merged = mergeNodes(positional!, child, [...st.taken, ...st.toCreate, name]);
      applyChild(merged, name, st, env);
      pending = false;
      continue;
    }
    if (pending && byteCompare(matched!, name) < 0) {
      applyChild(positional!, matched!, st, env);
      pending = false;
    }
    applyChild(child, name, st, env);
  }
  if (pending) applyChild(positional!, matched!, st, env);
}

function applyArray(node: ArrNode, st: State, env: Env): void {
  if (st.toCreate.length) {
    throw badValue(`The path '${[...st.taken, ...st.toCreate].join('.')}' must exist in the document in order to apply array updates.`);
  }
  const arr = st.elem.value;
  if (!Array.isArray(arr)) throw badValue(`Cannot apply array updates to non-array element ${st.elem.toString()}`);
  const ids = [...node.children.keys()].sort(byteCompare);
  // Decide every element's updates before changing any of them.
  const plan = arr.map((elem) => {
    return ids.filter((id) => id === '' || safeTest(env.filters.get(id)!, { [id]: elem }));
  });
  plan.forEach((matching, i) => {
    if (!matching.length) return;
    const path = [...st.taken, String(i)];
    let merged = node.children.get(matching[0])!;
    for (const id of matching.slice(1)) merged = mergeNodes(merged, node.children.get(id)!, path);
    applyNode(merged, { elem: new Elem(arr, i), taken: path, toCreate: [] }, env);
  });
}

function applyLeaf(leaf: Leaf, st: State, env: Env): void {
  const impl = leaf.impl;
  if (impl.insertOnly && !env.isInsert) return;
  if (impl.custom) {
    impl.custom(st, env);
    return;
  }
  applyModifier(impl, st, env);
}

/** ModifierNode::apply: update an existing element, or create the missing path. */
function applyModifier(impl: LeafImpl, st: State, env: Env): void {
  if (st.toCreate.length === 0) {
    const path = st.taken.join('.');
    const change = impl.existing!(st.elem.value, { path, field: st.elem.name, env });
    if (change === NOOP) return;
    if (st.taken[0] === '_id') {
      throw err(ErrorCodes.ImmutableField, `Performing an update on the path '${path}' would modify the immutable field '_id'`);
    }
    if (change === REMOVE) st.elem.remove();
    else st.elem.value = change.value;
    env.modified = true;
    return;
  }
  const target = st.elem.value;
  const first = st.toCreate[0];
  if (!impl.creates) {
    if (impl.nonViableOk) return;
    // UpdateLeafNode::checkViability
    if (isPlainObject(target) || (Array.isArray(target) && parseIndex(first) !== undefined)) return;
    throw err(
      ErrorCodes.PathNotViable,
      `Cannot use the part (${first}) of (${[...st.taken, ...st.toCreate].join('.')}) to traverse the element ({${st.elem.toString()}})`,
    );
  }
  // pathsupport::createPathAt
  const notViable = () => err(ErrorCodes.PathNotViable, `Cannot create field '${first}' in element {${st.elem.toString()}}`);
  let index: number | undefined;
  if (Array.isArray(target)) {
    index = parseIndex(first);
    if (index === undefined) throw notViable();
    if (index - target.length > 1500000) throw err(34, "can't backfill more than 1500000 elements", 'CannotBackfillArray');
  } else if (!isPlainObject(target)) throw notViable();
  if (st.taken.length === 0 && first.startsWith('$')) {
    throw err(
      52,
      `The dollar ($) prefixed field '${first}' in '${first}' is not allowed in the context of an update's replacement document. Consider using an aggregation pipeline with $replaceWith.`,
      'DollarPrefixedFieldName',
    );
  }
  const lc: LeafCtx = { path: [...st.taken, ...st.toCreate].join('.'), field: st.toCreate[st.toCreate.length - 1], env };
  let value = impl.fresh!(lc);
  for (let i = st.toCreate.length - 1; i >= 1; i--) {
    const wrap: Doc = {};
    setField(wrap, st.toCreate[i], value);
    value = wrap;
  }
  if (st.taken[0] === '_id') {
    throw err(
      ErrorCodes.ImmutableField,
      `Updating the path '${st.taken.join('.')}' to ${st.elem.toString()} would modify the immutable field '_id'`,
    );
  }
  if (Array.isArray(target)) {
    while (target.length < index!) target.push(null);
    target.push(value);
  } else setField(target as Doc, first, value);
  env.modified = true;
}

function validateIdValue(id: unknown): void {
  const t = typeName(id);
  if (t === 'array' || t === 'regex' || t === 'undefined') {
    throw err(ErrorCodes.InvalidIdField, `The '_id' value cannot be of type ${t}`);
  }
}

/** A copy of `doc` with `_id` as its first field (unchanged when it already is or has none). */
function idFirst(doc: Doc): Doc {
  const keys = Object.keys(doc);
  if (!hasOwn(doc, '_id') || keys[0] === '_id') return doc;
  const out: Doc = { _id: doc._id };
  for (const k of keys) if (k !== '_id') setField(out, k, doc[k]);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Public API.

// Parsed updates, reused while the same statement is applied to many documents (update with multi: true).
const parseCache = new WeakMap<Doc, { arrayFilters: Doc[] | undefined; filters: Map<string, Matcher>; tree: ObjNode }>();

function parsed(update: Doc, arrayFilters: Doc[] | undefined): { filters: Map<string, Matcher>; tree: ObjNode } {
  const hit = parseCache.get(update);
  if (hit && hit.arrayFilters === arrayFilters) return hit;
  const filters = parseArrayFilters(arrayFilters);
  const entry = { arrayFilters, filters, tree: parseUpdate(update, filters) };
  parseCache.set(update, entry);
  return entry;
}

/** True for an operator update ({$set: ...}); false for a replacement document. */
export function isOperatorUpdate(update: Doc): boolean {
  const keys = Object.keys(update);
  if (!keys.length || !keys[0].startsWith('$')) return false;
  for (const k of keys) {
    if (!k.startsWith('$')) {
      throw err(ErrorCodes.FailedToParse, `Unknown modifier: ${k}. Expected a valid update modifier or pipeline-style update specified as an array`);
    }
  }
  return true;
}

/** Applies an operator update; `doc` is left untouched. */
export function applyUpdate(doc: Doc, update: Doc, ctx: UpdateContext = {}): { doc: Doc; modified: boolean } {
  if (!isOperatorUpdate(update)) {
    const replaced = applyReplacement(doc, update);
    return { doc: replaced, modified: !exactEqual(replaced, doc) };
  }
  const { filters, tree } = parsed(update, ctx.arrayFilters);
  const working = cloneValue(doc);
  const env: Env = {
    root: working,
    original: doc,
    query: ctx.query,
    filters,
    isInsert: ctx.isInsert === true,
    now: ctx.now ?? new Date(),
    matched: new Map(),
    modified: false,
  };
  applyObject(tree, { elem: new Elem(null, '', working), taken: [], toCreate: [] }, env);
  if (env.isInsert) {
    if (hasOwn(working, '_id')) validateIdValue(working._id);
    const out = idFirst(working);
    return { doc: out, modified: env.modified || out !== working };
  }
  return { doc: env.modified ? working : doc, modified: env.modified };
}

/** A replacement: the new document keeps the current `_id` (first) and must not change it. */
export function applyReplacement(doc: Doc, replacement: Doc): Doc {
  if (!isPlainObject(replacement)) throw badValue('The replacement document must be an object');
  for (const k of Object.keys(replacement)) {
    if (k === '_id') validateIdValue(replacement._id);
    else if (k.startsWith('$')) {
      throw err(
        52,
        `The dollar ($) prefixed field '${k}' in '${k}' is not allowed in the context of an update's replacement document. Consider using an aggregation pipeline with $replaceWith.`,
        'DollarPrefixedFieldName',
      );
    }
  }
  const hasNewId = hasOwn(replacement, '_id');
  const hasOldId = hasOwn(doc, '_id');
  if (hasNewId && hasOldId && compareValues(doc._id, replacement._id) !== 0) {
    throw err(
      ErrorCodes.ImmutableField,
      `After applying the update, the (immutable) field '_id' was found to have been altered to ${elementString('_id', replacement._id)}`,
    );
  }
  const out: Doc = {};
  if (hasNewId) out._id = exactValue(replacement._id);
  else if (hasOldId) out._id = doc._id;
  for (const k of Object.keys(replacement)) {
    if (k === '_id') continue;
    let v = exactValue(replacement[k]);
    // Top-level zero timestamps are filled in with the current time, as on insert.
    if (bsonType(v) === 'Timestamp' && (v as Timestamp).isZero()) v = nextTimestamp(new Date());
    setField(out, k, v);
  }
  return out;
}

function isOperatorObject(v: unknown): v is Doc {
  if (!isPlainObject(v)) return false;
  const first = Object.keys(v)[0];
  return first !== undefined && first.startsWith('$');
}

function addEquality(eq: Map<string, unknown>, path: string, value: unknown): void {
  const fail = (msg: string) => err(54, `cannot infer query fields to set, ${msg}`, 'NotSingleValueField');
  for (const p of eq.keys()) {
    if (p === path) throw fail(`path '${path}' is matched twice`);
    if (path.startsWith(`${p}.`)) throw fail(`both paths '${path}' and '${p}' are matched`);
    if (p.startsWith(`${path}.`)) throw fail(`both paths '${p}' and '${path}' are matched`);
  }
  eq.set(path, value);
}

function collectEqualities(query: Doc, eq: Map<string, unknown>): void {
  for (const [k, v] of Object.entries(query)) {
    if (k === '$and') {
      if (Array.isArray(v)) for (const c of v) if (isPlainObject(c)) collectEqualities(c, eq);
    } else if (k === '$or') {
      // A single-clause $or is the clause itself.
      if (Array.isArray(v) && v.length === 1 && isPlainObject(v[0])) collectEqualities(v[0], eq);
    } else if (k.startsWith('$')) {
      continue;
    } else if (isOperatorObject(v)) {
      if (hasOwn(v, '$eq')) addEquality(eq, k, v.$eq);
      for (const op of ['$in', '$all']) {
        const list = v[op];
        if (Array.isArray(list) && list.length === 1 && !isRegex(list[0]) && !isOperatorObject(list[0])) addEquality(eq, k, list[0]);
      }
    } else if (!isRegex(v)) {
      addEquality(eq, k, v);
    }
  }
}

/** The document an upsert starts from: the query's equality conditions, paths in field-name order, `_id` first. */
export function upsertSeed(query: Doc): Doc {
  const eq = new Map<string, unknown>();
  if (isPlainObject(query)) collectEqualities(query, eq);
  const out: Doc = {};
  for (const path of [...eq.keys()].sort(byteCompare)) {
    const parts = path.split('.');
    let cur: Doc = out;
    for (const part of parts.slice(0, -1)) {
      if (!isPlainObject(cur[part])) setField(cur, part, {});
      cur = cur[part] as Doc;
    }
    setField(cur, parts[parts.length - 1], exactValue(eq.get(path)));
  }
  return idFirst(out);
}

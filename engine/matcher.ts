// Query filters evaluated on exact documents with MongoDB's semantics: paths through arrays, null matching
// missing fields, type bracketing for comparisons, numbers compared by value across Int32/Long/Double/
// Decimal128 without rounding, and $type telling them apart. Only $expr is handed to mingo (on the view).
import { Query } from 'mingo';
import { type BitOperator, bitTest } from './bits.ts';
import { ErrorCodes, MongoServerError } from './errors.ts';
import { type Doc, bsonType, dbrefAsDoc, isPlainObject, toNumber, toView } from './values.ts';
import { compareValues, typeRank } from './value-order.ts';

export interface Matcher {
  /** `view` is the document's mingo view when the caller has it (only $expr needs one). */
  test(doc: Doc, view?: Doc): boolean;
  /**
   * The top-level fields the filter reads, when it reads no others: a document holding only those (and `_id`)
   * matches as the whole one does. Null when the filter needs the whole document ($expr).
   */
  readonly fields: readonly string[] | null;
}

type Pred = (doc: Doc, view: Doc | undefined) => boolean;
/** A condition on the values a path reaches. */
type ValuesPred = (values: unknown[]) => boolean;

const MISSING = undefined;

const badValue = (msg: string): never => {
  throw new MongoServerError(ErrorCodes.BadValue, msg);
};

/**
 * Every value a path reaches, MongoDB style: a path crossing an array continues into each element that is a
 * document; the value at the end counts itself and, when it is an array, each of its elements. A branch that
 * ends on a missing field contributes `undefined`.
 */
export function reach(doc: unknown, segs: string[]): unknown[] {
  const out: unknown[] = [];
  const walk = (cur: unknown, i: number): void => {
    if (i === segs.length) {
      out.push(cur);
      if (Array.isArray(cur)) for (const e of cur) out.push(e);
      return;
    }
    cur = dbrefAsDoc(cur) ?? cur; // "owner.$id" reaches into a DBRef
    if (Array.isArray(cur)) {
      const seg = segs[i];
      if (/^\d+$/.test(seg) && Number(seg) < cur.length) walk(cur[Number(seg)], i + 1);
      let sawDocument = false;
      for (const e of cur) {
        if (isPlainObject(e) || dbrefAsDoc(e)) {
          sawDocument = true;
          walk(e, i);
        }
      }
      if (!sawDocument && !/^\d+$/.test(seg)) out.push(MISSING);
      return;
    }
    if (isPlainObject(cur)) {
      const next = cur[segs[i]];
      if (next === undefined) out.push(MISSING);
      else walk(next, i + 1);
      return;
    }
    out.push(MISSING);
  };
  walk(doc, 0);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Values

const isRegex = (v: unknown): boolean => v instanceof RegExp || bsonType(v) === 'BSONRegExp';

function toRegExp(v: unknown, options?: string): RegExp {
  const source = v instanceof RegExp ? v.source : bsonType(v) === 'BSONRegExp' ? (v as { pattern: string }).pattern : v;
  let flags = options ?? (v instanceof RegExp ? v.flags : bsonType(v) === 'BSONRegExp' ? (v as { options: string }).options : '');
  if (typeof source !== 'string') return badValue('$regex has to be a string');
  if (/[^imsxu]/.test(flags.replace(/[gy]/g, ''))) badValue(`invalid flag in regex options: ${flags}`);
  let pattern = source;
  if (flags.includes('x')) {
    // Extended mode: whitespace and #-comments are not part of the pattern.
    pattern = pattern.replace(/\\#/g, '\u0000').replace(/#.*$/gm, '').replace(/\s+/g, '').replace(/\u0000/g, '\\#');
    flags = flags.replace('x', '');
  }
  try {
    return new RegExp(pattern, flags.replace(/[gy]/g, ''));
  } catch (err) {
    throw new MongoServerError(ErrorCodes.Location51091, `Regular expression is invalid: ${(err as Error).message}`, { codeName: 'Location51091' });
  }
}

/** Equality as `{field: value}` means it: null also matches missing; a regex matches strings. */
function equalsOperand(x: unknown, v: unknown): boolean {
  if (v === null) return x === null || x === undefined;
  if (x === undefined) return false;
  return compareValues(x, v) === 0;
}

const TYPE_ALIASES: Record<string, number> = {
  double: 1, string: 2, object: 3, array: 4, binData: 5, undefined: 6, objectId: 7, bool: 8, date: 9, null: 10,
  regex: 11, dbPointer: 12, javascript: 13, symbol: 14, javascriptWithScope: 15, int: 16, timestamp: 17, long: 18,
  decimal: 19, minKey: -1, maxKey: 127,
};

export function bsonTypeCode(v: unknown): number {
  if (v === null) return 10;
  if (v === undefined) return 6;
  if (Array.isArray(v)) return 4;
  if (v instanceof Date) return 9;
  if (v instanceof RegExp) return 11;
  if (v instanceof Uint8Array) return 5;
  switch (typeof v) {
    case 'string':
      return 2;
    case 'boolean':
      return 8;
    case 'number':
      return Number.isInteger(v) && Math.abs(v) <= 0x7fffffff ? 16 : 1;
    case 'bigint':
      return 18;
    default:
  }
  switch (bsonType(v)) {
    case 'Double':
      return 1;
    case 'Int32':
      return 16;
    case 'Long':
      return 18;
    case 'Decimal128':
      return 19;
    case 'ObjectId':
      return 7;
    case 'Binary':
      return 5;
    case 'Timestamp':
      return 17;
    case 'BSONRegExp':
      return 11;
    case 'MinKey':
      return -1;
    case 'MaxKey':
      return 127;
    case 'Code':
      return 13;
    case 'BSONSymbol':
      return 14;
    default:
      return 3;
  }
}

function typeMatcher(spec: unknown): (x: unknown) => boolean {
  const one = (s: unknown): ((x: unknown) => boolean) => {
    if (s === 'number') return (x) => [1, 16, 18, 19].includes(bsonTypeCode(x));
    const code = typeof s === 'string' ? TYPE_ALIASES[s] : toNumber(s);
    if (code === undefined || !Number.isInteger(code)) return badValue(`Unknown type name alias: ${String(s)}`);
    return (x) => x !== undefined && bsonTypeCode(x) === code;
  };
  const list = Array.isArray(spec) ? spec.map(one) : [one(spec)];
  return (x) => list.some((f) => f(x));
}

// ---------------------------------------------------------------------------------------------------------
// Operators on the values of one path

function comparison(op: '$gt' | '$gte' | '$lt' | '$lte', v: unknown): ValuesPred {
  const inclusive = op === '$gte' || op === '$lte';
  const sign = op === '$gt' || op === '$gte' ? 1 : -1;
  const rank = typeRank(v);
  const vIsMinMax = bsonType(v) === 'MinKey' || bsonType(v) === 'MaxKey';
  return (values) =>
    values.some((x) => {
      if (x === undefined) return v === null && inclusive;
      // Comparisons only match values of the operand's own type (type bracketing), MinKey/MaxKey aside.
      if (typeRank(x) !== rank && !vIsMinMax) return false;
      const c = compareValues(x, v);
      return c === 0 ? inclusive : Math.sign(c) === sign;
    });
}

function inList(list: unknown): (x: unknown) => boolean {
  if (!Array.isArray(list)) return badValue('$in needs an array');
  const tests = list.map((v): ((x: unknown) => boolean) => {
    if (isPlainObject(v) && Object.keys(v).some((k) => k.startsWith('$'))) return badValue('cannot nest $ under $in');
    if (isRegex(v)) {
      const re = toRegExp(v);
      return (x) => (typeof x === 'string' && re.test(x)) || (isRegex(x) && compareValues(x, v) === 0);
    }
    return (x) => equalsOperand(x, v);
  });
  return (x) => tests.some((t) => t(x));
}

function operatorPred(op: string, arg: unknown, all: Doc): ValuesPred {
  switch (op) {
    case '$eq':
      return (values) => values.some((x) => equalsOperand(x, arg));
    case '$ne':
      return (values) => !values.some((x) => equalsOperand(x, arg));
    case '$gt':
    case '$gte':
    case '$lt':
    case '$lte':
      return comparison(op, arg);
    case '$in': {
      const t = inList(arg);
      return (values) => values.some(t);
    }
    case '$nin': {
      const t = inList(arg);
      return (values) => !values.some(t);
    }
    case '$exists': {
      const want = toView(arg) ? true : false;
      return (values) => values.some((x) => x !== undefined) === want;
    }
    case '$type': {
      const t = typeMatcher(toView(arg));
      return (values) => values.some((x) => x !== undefined && t(x));
    }
    case '$size': {
      const n = toNumber(arg);
      if (!Number.isInteger(n) || n < 0) badValue('$size needs a non-negative integer');
      return (values) => values.some((x) => Array.isArray(x) && x.length === n);
    }
    case '$mod': {
      if (!Array.isArray(arg) || arg.length !== 2) badValue('malformed mod, needs to be an array of two numbers');
      const [d, r] = (arg as unknown[]).map(toNumber);
      if (d === 0) badValue('divisor cannot be 0');
      return (values) => values.some((x) => typeRank(x) === typeRank(0) && Math.trunc(toNumber(x)) % Math.trunc(d) === Math.trunc(r));
    }
    case '$regex': {
      const re = toRegExp(arg, typeof all.$options === 'string' ? all.$options : undefined);
      return (values) => values.some((x) => typeof x === 'string' && re.test(x));
    }
    case '$options':
      if (!('$regex' in all)) badValue('$options needs a $regex');
      return () => true;
    case '$all': {
      if (!Array.isArray(arg)) badValue('$all needs an array');
      const parts = (arg as unknown[]).map((v): ValuesPred => {
        if (isPlainObject(v) && '$elemMatch' in v) return operatorPred('$elemMatch', v.$elemMatch, v);
        if (isRegex(v)) return operatorPred('$regex', v, {});
        return operatorPred('$eq', v, {});
      });
      return (values) => parts.length > 0 && parts.every((p) => p(values));
    }
    case '$elemMatch': {
      const a = (dbrefAsDoc(arg) ?? arg) as Doc;
      if (!isPlainObject(a)) badValue('$elemMatch needs an Object');
      const keys = Object.keys(a);
      // {$elemMatch: {$gte: 1, $lt: 5}} applies to each element; {$elemMatch: {field: ...}} to element documents,
      // and so does a DBRef-like {$elemMatch: {$ref: 'users', $id: id}} (isExpressionDocument's DBRef exception).
      const valueForm =
        keys.length > 0 && !isDBRefLike(a, true) && keys.every((k) => k.startsWith('$') && !['$and', '$or', '$nor', '$expr'].includes(k));
      if (valueForm) {
        const p = operatorsPred(a);
        return (values) => values.some((x) => Array.isArray(x) && x.some((e) => p([e])));
      }
      const m = compile(a);
      const asDoc = (e: unknown): Doc | undefined => (isPlainObject(e) ? e : dbrefAsDoc(e));
      return (values) => values.some((x) => Array.isArray(x) && x.some((e) => { const d = asDoc(e); return d !== undefined && m(d, undefined); }));
    }
    case '$not': {
      if (isRegex(arg)) {
        const p = operatorPred('$regex', arg, {});
        return (values) => !p(values);
      }
      if (!isPlainObject(arg) || Object.keys(arg).length === 0) badValue('$not needs a regex or a document');
      const p = operatorsPred(arg as Doc);
      return (values) => !p(values);
    }
    case '$comment':
      return () => true;
    case '$bitsAllSet':
    case '$bitsAnySet':
    case '$bitsAllClear':
    case '$bitsAnyClear': {
      const t = bitTest(op as BitOperator, arg);
      return (values) => values.some((x) => x !== undefined && t(x));
    }
    case '$geoWithin':
    case '$geoIntersects':
    case '$near':
    case '$nearSphere':
      throw new MongoServerError(ErrorCodes.NotImplemented, `${op} is not supported by the embedded engine`);
    default:
      return badValue(`unknown operator: ${op}`);
  }
}

/** A document of operators for one path ({$gte: 1, $lt: 5}); every key must be an operator. */
function operatorsPred(ops: Doc): ValuesPred {
  const preds = Object.entries(ops).map(([op, arg]) => {
    if (!op.startsWith('$')) return badValue(`unknown operator: ${op}`);
    return operatorPred(op, arg, ops);
  });
  return (values) => preds.every((p) => p(values));
}

const SIMPLE_SCALARS = new Set(['ObjectId', 'Int32', 'Double', 'Long', 'Decimal128']);

/** Strings, numbers, booleans, dates and ObjectIds: equality is plain BSON equality, no null or regex rules. */
const isSimpleScalar = (v: unknown): boolean =>
  typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number' || v instanceof Date || SIMPLE_SCALARS.has(bsonType(v) ?? '');

function fieldPred(path: string, cond: unknown): Pred {
  if (path === '') badValue('field names may not be empty');
  if (!path.includes('.') && isSimpleScalar(cond)) {
    // The commonest filter, `{field: value}`, without building the list of reached values.
    const equal = (x: unknown) => x !== undefined && compareValues(x, cond) === 0;
    return (doc) => {
      const v = doc[path];
      return Array.isArray(v) ? v.some(equal) : equal(v);
    };
  }
  const segs = path.split('.');
  let p: ValuesPred;
  if (isPlainObject(cond) && Object.keys(cond).length > 0 && Object.keys(cond)[0].startsWith('$') && !isDBRefLike(cond, false)) p = operatorsPred(cond);
  else if (isRegex(cond)) {
    const re = toRegExp(cond);
    p = (values) => values.some((x) => (typeof x === 'string' && re.test(x)) || (isRegex(x) && compareValues(x, cond) === 0));
  } else p = (values) => values.some((x) => equalsOperand(x, cond));
  return (doc) => p(reach(doc, segs));
}

function compile(filter: Doc): Pred {
  const preds: Pred[] = [];
  for (const [key, cond] of Object.entries(filter)) {
    switch (key) {
      case '$and':
      case '$or':
      case '$nor': {
        if (!Array.isArray(cond) || cond.length === 0) badValue(`${key} argument must be a non-empty array`);
        const subs = (cond as unknown[]).map((c) => {
          if (!isPlainObject(c)) return badValue(`${key} argument's entries must be objects`);
          return compile(c);
        });
        if (key === '$and') preds.push((d, v) => subs.every((s) => s(d, v)));
        else if (key === '$or') preds.push((d, v) => subs.some((s) => s(d, v)));
        else preds.push((d, v) => !subs.some((s) => s(d, v)));
        break;
      }
      case '$expr': {
        let q: Query;
        try {
          q = new Query({ $expr: toView(cond) } as Doc, { scriptEnabled: false });
        } catch (err) {
          throw new MongoServerError(ErrorCodes.InvalidPipelineOperator, `invalid $expr: ${(err as Error).message}`);
        }
        preds.push((d, v) => q.test(v ?? (toView(d) as Doc)));
        break;
      }
      case '$comment':
        break;
      case '$ref':
      case '$id':
      case '$db':
        // A DBRef field as a path ($elemMatch over DBRefs): plain equality, whatever the value (parseDBRef).
        preds.push(fieldPred(key, { $eq: cond }));
        break;
      case '$where':
        // As a mongod started with javascriptEnabled: false answers.
        throw new MongoServerError(6108304, 'no globalScriptEngine in $where parsing (the embedded engine runs no server-side JavaScript)', {
          codeName: 'Location6108304',
        });
      case '$function':
        throw new MongoServerError(ErrorCodes.NotImplemented, `${key} is not allowed: the embedded engine runs no server-side JavaScript`);
      case '$text':
        // What a MongoDB collection without a text index answers: the engine never has one.
        throw new MongoServerError(ErrorCodes.IndexNotFound, 'text index required for $text query (the embedded engine has no text indexes)');
      case '$jsonSchema':
      case '$sampleRate':
        throw new MongoServerError(ErrorCodes.NotImplemented, `${key} is not supported by the embedded engine`);
      default:
        if (key.startsWith('$')) badValue(`unknown top level operator: ${key}. If you have a field name that starts with a '$' symbol, consider using $getField or $setField.`);
        preds.push(fieldPred(key, cond));
    }
  }
  if (preds.length === 1) return preds[0];
  return (d, v) => preds.every((p) => p(d, v));
}

/** isDBRefDocument: a document with $ref and $id (or, when incomplete ones count, any of $ref, $id, $db). */
function isDBRefLike(d: Doc, allowIncomplete: boolean): boolean {
  const has = (k: string) => Object.prototype.hasOwnProperty.call(d, k);
  return allowIncomplete ? has('$ref') || has('$id') || has('$db') : has('$ref') && has('$id');
}

export function compileMatcher(filter: Doc): Matcher {
  const pred = compile(filter);
  return { test: (doc, view) => pred(doc, view), fields: topLevelFields(filter) };
}

/** The top-level field names a filter's conditions read (see Matcher.fields); compile() has checked its shape. */
function topLevelFields(filter: Doc): string[] | null {
  const names = new Set<string>();
  const visit = (f: Doc): boolean => {
    for (const [key, cond] of Object.entries(f)) {
      if (key === '$and' || key === '$or' || key === '$nor') {
        for (const sub of cond as Doc[]) if (!visit(sub)) return false;
      } else if (key === '$comment') continue;
      else if (key.startsWith('$') && key !== '$ref' && key !== '$id' && key !== '$db') return false;
      else names.add(key.split('.', 1)[0]);
    }
    return true;
  };
  return visit(filter) ? [...names] : null;
}

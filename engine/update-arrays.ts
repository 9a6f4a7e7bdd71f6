// Array modifiers: $push (with $each, $position, $sort and $slice), $addToSet, $pull, $pullAll and $pop.
import { Long } from 'bson';
import { ErrorCodes } from './errors.ts';
import { exactValue } from './exact-values.ts';
import { type LeafImpl, NOOP, badValue, compileQuery, err, hasOwn, idString, safeTest } from './update-tree.ts';
import { elementString, typeName, valueString } from './value-strings.ts';
import { compareValues } from './value-order.ts';
import { bsonType, getPath, isNumeric, isPlainObject, toNumber } from './values.ts';

/** MatchExpressionParser::parseIntegerElementToLong. */
function integerOf(v: unknown): number | undefined {
  if (!isNumeric(v)) return undefined;
  if (bsonType(v) === 'Long') return (v as Long).toNumber();
  if (typeof v === 'bigint') return Number(v);
  const n = toNumber(v);
  if (!Number.isFinite(n) || !Number.isInteger(n) || Math.abs(n) > 2 ** 63) return undefined;
  return n;
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

export function pushLeaf(arg: unknown): LeafImpl {
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

export function addToSetLeaf(arg: unknown): LeafImpl {
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

export const isRegex = (v: unknown): boolean => v instanceof RegExp || bsonType(v) === 'BSONRegExp';

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

export function pullLeaf(arg: unknown): LeafImpl {
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

export function pullAllLeaf(arg: unknown): LeafImpl {
  if (!Array.isArray(arg)) throw badValue(`$pullAll requires an array argument but was given a ${typeName(arg)}`);
  return cullingLeaf((e) => arg.some((v) => compareValues(e, v) === 0));
}

export function popLeaf(path: string, arg: unknown): LeafImpl {
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

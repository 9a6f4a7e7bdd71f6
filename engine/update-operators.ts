// Field modifiers ($set, $setOnInsert, $unset, $inc, $mul, $min, $max, $currentDate, $bit, $rename), and the
// table that makes the leaf of each modifier (the array ones are in update-arrays.ts).
import { Decimal128, Int32, Long, Timestamp } from 'bson';
import { ErrorCodes } from './errors.ts';
import { arith } from './exact-numbers.ts';
import { exactEqual, exactValue } from './exact-values.ts';
import { addToSetLeaf, popLeaf, pullAllLeaf, pullLeaf, pushLeaf } from './update-arrays.ts';
import { Elem, type Env, type LeafImpl, NOOP, REMOVE, applyModifier, badValue, childElem, err, idString, isFilterIdentifier, parseIndex } from './update-tree.ts';
import { elementString, typeName } from './value-strings.ts';
import { compareValues } from './value-order.ts';
import { bsonType, getPath, isNumeric, isPlainObject, toNumber } from './values.ts';

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
export function nextTimestamp(now: Date): Timestamp {
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

export const placeholderLeaf: LeafImpl = { creates: false, custom: () => undefined };

export const KNOWN_MODIFIERS = new Set([
  '$set', '$unset', '$inc', '$mul', '$min', '$max', '$rename', '$setOnInsert', '$currentDate', '$push', '$addToSet',
  '$pull', '$pullAll', '$pop', '$bit',
]);

export function makeLeaf(op: string, path: string, arg: unknown): LeafImpl {
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

export function renameLeaf(from: string, to: string): LeafImpl {
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

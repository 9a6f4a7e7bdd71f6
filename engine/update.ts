// Update operators ($set, $inc, $push, ... with positional and filtered paths), replacements and upsert seeds,
// following the MongoDB server's update subsystem (src/mongo/db/update): the update document is parsed into a
// tree of path components (so conflicting paths are refused before anything is applied), the tree is applied
// to a working copy of the document with the children of every level visited in field-name order, and each
// leaf reports whether it changed anything, so `modified` is false exactly when MongoDB would count no change.
// The parts: update-parse.ts (the tree), update-apply.ts (the walk), update-tree.ts (its nodes and elements),
// update-operators.ts and update-arrays.ts (the modifiers), update-positional.ts (the positional `$`).
import type { Timestamp } from 'bson';
import type { Matcher } from './matcher.ts';
import { ErrorCodes } from './errors.ts';
import { exactEqual, exactValue, setField } from './exact-values.ts';
import { applyObject } from './update-apply.ts';
import { isRegex } from './update-arrays.ts';
import { nextTimestamp } from './update-operators.ts';
import { parseArrayFilters, parseUpdate } from './update-parse.ts';
import { Elem, type Env, type ObjNode, badValue, byteCompare, err, hasOwn } from './update-tree.ts';
import { elementString, typeName } from './value-strings.ts';
import { compareValues } from './value-order.ts';
import { type Doc, bsonType, cloneValue, isPlainObject } from './values.ts';

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

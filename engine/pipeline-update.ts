// Pipeline-style updates (an array as the update, MongoDB 4.2+; src/mongo/db/update/pipeline_executor.cpp):
// only $addFields/$set, $project/$unset and $replaceRoot/$replaceWith, any other stage refused with
// InvalidOptions (72) "<stage> is not allowed to be used within an update". Expressions evaluate in mingo as in
// aggregation; the result replaces the document the way a replacement does (the _id cannot change, a missing
// _id is kept), except that top-level $-prefixed field names are allowed.
//
// Exact types: mingo computes with JS numbers, so the document is handed to it as a view whose numeric wrappers
// are remembered per container; numbers that come back unchanged, where they were or moved elsewhere by
// $replaceWith, get their stored type back (Decimal128 money stays Decimal128). Numeric constants of the update
// that are only passed through ($set: {amount: Decimal128('9.99')}, $ifNull/$cond branches) stay exact too.
import { Aggregator } from 'mingo/aggregator';
import { CONTEXT, validatePipeline } from './aggregation.ts';
import { ErrorCodes, MongoServerError } from './errors.ts';
import { exactEqual, exactValue, setField } from './exact-values.ts';
import { valueString } from './value-strings.ts';
import { type Vars, bindExpression, isNumericWrapper, mingoVariables } from './variables.ts';
import { type Doc, getPath, isPlainObject, toNumber, toView } from './values.ts';
import { compareValues } from './value-order.ts';

const ALLOWED = new Set(['$addFields', '$set', '$project', '$unset', '$replaceRoot', '$replaceWith']);

/** Stage names MongoDB knows: refused in an update with 72; any other name is unknown (40324). */
const KNOWN_STAGES = new Set([
  '$match', '$group', '$sort', '$project', '$unwind', '$lookup', '$facet', '$count', '$limit', '$skip', '$addFields',
  '$set', '$unset', '$replaceRoot', '$replaceWith', '$sortByCount', '$bucket', '$bucketAuto', '$sample', '$redact',
  '$graphLookup', '$unionWith', '$setWindowFields', '$densify', '$fill', '$out', '$merge', '$geoNear', '$collStats',
  '$indexStats', '$currentOp', '$listSessions', '$listLocalSessions', '$planCacheStats', '$documents', '$changeStream',
  '$search', '$searchMeta', '$vectorSearch', '$listSearchIndexes', '$shardedDataDistribution',
]);

/** Checks an update pipeline as the server parses it; returns its stages. */
export function checkUpdatePipeline(pipeline: unknown[]): Doc[] {
  for (const stage of pipeline) {
    if (!isPlainObject(stage) || Object.keys(stage).length !== 1) continue; // validatePipeline reports the shape
    const name = Object.keys(stage)[0];
    if (!KNOWN_STAGES.has(name)) {
      throw new MongoServerError(ErrorCodes.Location40324, `Unrecognized pipeline stage name: '${name}'`, { codeName: 'Location40324' });
    }
  }
  for (const stage of pipeline as Doc[]) {
    const name = isPlainObject(stage) ? Object.keys(stage)[0] : undefined;
    if (name && !ALLOWED.has(name)) {
      throw new MongoServerError(ErrorCodes.InvalidOptions, `${name} is not allowed to be used within an update`);
    }
  }
  return validatePipeline(pipeline);
}

// ---------------------------------------------------------------------------------------------------------
// Expressions for mingo: view form, except numeric constants in pass-through positions.

function prep(e: unknown, keep: boolean): unknown {
  if (isNumericWrapper(e)) return keep ? e : toView(e);
  if (Array.isArray(e)) return e.map((x) => prep(x, keep));
  if (!isPlainObject(e)) return toView(e);
  const keys = Object.keys(e);
  if (keys.length === 1 && keys[0].startsWith('$')) {
    const op = keys[0];
    const arg = e[op];
    switch (op) {
      case '$literal':
        return keep ? e : toView(e);
      case '$ifNull':
      case '$mergeObjects':
        return { [op]: prep(arg, keep) };
      case '$cond':
        if (Array.isArray(arg)) return { $cond: arg.map((x, i) => prep(x, keep && i > 0)) };
        if (isPlainObject(arg)) return { $cond: { ...arg, if: prep(arg.if, false), then: prep(arg.then, keep), else: prep(arg.else, keep) } };
        return toView(e);
      case '$switch':
        if (!isPlainObject(arg)) return toView(e);
        return {
          $switch: {
            ...arg,
            branches: Array.isArray(arg.branches)
              ? arg.branches.map((b) => (isPlainObject(b) ? { case: prep(b.case, false), then: prep(b.then, keep) } : toView(b)))
              : toView(arg.branches),
            ...(arg.default !== undefined ? { default: prep(arg.default, keep) } : {}),
          },
        };
      default:
        return { [op]: prep(arg, false) };
    }
  }
  const out: Doc = {};
  for (const k of keys) out[k] = prep(e[k], keep);
  return out;
}

function prepStage(stage: Doc): Doc {
  const [name, arg] = Object.entries(stage)[0];
  switch (name) {
    case '$set':
    case '$addFields':
      return { [name]: isPlainObject(arg) ? prep(arg, true) : toView(arg) };
    case '$replaceWith':
      return { [name]: prep(arg, true) };
    case '$replaceRoot':
      return { [name]: isPlainObject(arg) ? { ...arg, newRoot: prep(arg.newRoot, true) } : toView(arg) };
    default:
      return toView(stage) as Doc; // $project flags and $unset names
  }
}

// ---------------------------------------------------------------------------------------------------------
// The document as mingo sees it, remembering the exact numbers of every container.

type Key = string | number;
interface Tracked {
  leaves: WeakMap<object, Map<Key, unknown>>;
}

function trackedView(v: unknown, t: Tracked): unknown {
  if (isNumericWrapper(v)) return toNumber(v);
  if (Array.isArray(v)) {
    const out = v.map((e) => trackedView(e, t));
    const m = new Map<Key, unknown>();
    v.forEach((e, i) => isNumericWrapper(e) && m.set(i, e));
    if (m.size) t.leaves.set(out, m);
    return out;
  }
  if (!isPlainObject(v)) return toView(v);
  const out: Doc = {};
  const m = new Map<Key, unknown>();
  for (const k of Object.keys(v)) {
    setField(out, k, trackedView(v[k], t));
    if (isNumericWrapper(v[k])) m.set(k, v[k]);
  }
  if (m.size) t.leaves.set(out, m);
  return out;
}

const sameNumber = (x: unknown, exact: unknown): boolean => typeof x === 'number' && (x === toNumber(exact) || Object.is(x, toNumber(exact)));

/** Puts remembered exact numbers back into containers mingo handed through (possibly to another place). */
function restoreTracked(v: unknown, t: Tracked, seen = new Set<object>()): void {
  if (v === null || typeof v !== 'object' || seen.has(v)) return;
  seen.add(v);
  const m = t.leaves.get(v);
  if (Array.isArray(v)) {
    v.forEach((e, i) => {
      if (m?.has(i) && sameNumber(e, m.get(i))) v[i] = m.get(i);
      else restoreTracked(e, t, seen);
    });
    return;
  }
  if (!isPlainObject(v)) return;
  for (const k of Object.keys(v)) {
    if (m?.has(k) && sameNumber(v[k], m.get(k))) v[k] = m.get(k);
    else restoreTracked(v[k], t, seen);
  }
}

/** Numbers at the same path as a stored number of equal value get its type (containers $project rebuilt). */
function restoreByPath(out: unknown, source: unknown): unknown {
  if (typeof out === 'number' && isNumericWrapper(source) && sameNumber(out, source)) return source;
  if (Array.isArray(out) && Array.isArray(source)) return out.map((e, i) => restoreByPath(e, source[i]));
  if (isPlainObject(out) && isPlainObject(source)) {
    for (const k of Object.keys(out)) if (k in source) out[k] = restoreByPath(out[k], source[k]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------

export interface PipelineUpdateContext {
  /** The command's `let` variables (exact form). */
  variables?: Vars;
  /** $$NOW of the statement. */
  now: Date;
}

/** The update pipeline, prepared once per statement. */
interface PreparedPipeline {
  run(current: Doc): Doc;
}

const prepared = new WeakMap<Doc[], { ctx: PipelineUpdateContext; p: PreparedPipeline }>();

interface PreparedStage {
  agg: Aggregator;
  /** $set/$addFields fields that copy another field ("total": "$amount"): the copy gets the stored type. */
  copies: Array<[field: string, source: string]>;
}

function setPathIfNumber(doc: Doc, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur: unknown = doc;
  for (const p of parts.slice(0, -1)) {
    if (!isPlainObject(cur)) return;
    cur = cur[p];
  }
  const last = parts[parts.length - 1];
  if (isPlainObject(cur) && typeof cur[last] === 'number' && sameNumber(cur[last], value)) cur[last] = value;
}

function prepare(pipeline: Doc[], ctx: PipelineUpdateContext): PreparedPipeline {
  const hit = prepared.get(pipeline);
  if (hit && hit.ctx === ctx) return hit.p;
  const variables = mingoVariables(ctx.variables);
  // $$NOW and the command's variables are bound as literals, so $$NOW is one value for the whole statement.
  // Stages run one at a time, so each stage's result gets its exact types back before the next one reads it.
  const stages: PreparedStage[] = pipeline.map((s) => {
    const [name, arg] = Object.entries(s)[0];
    const copies: PreparedStage['copies'] = [];
    if ((name === '$set' || name === '$addFields') && isPlainObject(arg)) {
      for (const [field, v] of Object.entries(arg)) {
        if (typeof v === 'string' && v.startsWith('$') && !v.startsWith('$$')) copies.push([field, v.slice(1)]);
      }
    }
    const stage = prepStage({ [name]: bindExpression(arg, ctx.variables, ctx.now) });
    return { agg: new Aggregator([stage], { scriptEnabled: false, context: CONTEXT, variables } as never), copies };
  });
  const p: PreparedPipeline = {
    run(current: Doc): Doc {
      let exact = current;
      for (const stage of stages) {
        const t: Tracked = { leaves: new WeakMap() };
        const view = trackedView(exact, t) as Doc;
        let out: Doc[];
        try {
          out = stage.agg.run([view]) as Doc[];
        } catch (err) {
          if (err instanceof MongoServerError) throw err;
          const undefinedVariable = /^Use of undefined variable: (.*)$/.exec((err as Error).message);
          if (undefinedVariable) throw new MongoServerError(17276, (err as Error).message, { codeName: 'Location17276' });
          throw new MongoServerError(ErrorCodes.BadValue, `update pipeline failed: ${(err as Error).message}`);
        }
        const result = out[0];
        if (!isPlainObject(result)) throw new MongoServerError(ErrorCodes.BadValue, 'update pipeline did not produce a document');
        restoreTracked(result, t);
        restoreByPath(result, exact);
        for (const [field, source] of stage.copies) {
          const src = getPath(exact, source);
          if (isNumericWrapper(src)) setPathIfNumber(result, field, src);
        }
        exact = exactValue(result);
      }
      return exact;
    },
  };
  prepared.set(pipeline, { ctx, p });
  return p;
}

/** ObjectReplaceExecutor: the new document keeps the current _id (first) and may not change it. */
function replaceKeepingId(current: Doc, next: Doc): Doc {
  const hasId = Object.prototype.hasOwnProperty.call(current, '_id');
  if (hasId && next._id !== undefined && compareValues(current._id, next._id) !== 0) {
    throw new MongoServerError(
      ErrorCodes.ImmutableField,
      `After applying the update, the (immutable) field '_id' was found to have been altered to _id: ${valueString(next._id)}`,
    );
  }
  const out: Doc = {};
  if (hasId) out._id = current._id;
  else if (next._id !== undefined) out._id = next._id;
  for (const k of Object.keys(next)) if (k !== '_id') setField(out, k, next[k]);
  return out;
}

/** Applies an update pipeline to a document (left untouched); `modified` is false for a byte-identical result. */
export function applyPipelineUpdate(current: Doc, pipeline: Doc[], ctx: PipelineUpdateContext): { doc: Doc; modified: boolean } {
  if (pipeline.length === 0) return { doc: current, modified: false };
  const doc = replaceKeepingId(current, prepare(pipeline, ctx).run(current));
  const modified = !exactEqual(doc, current);
  return { doc: modified ? doc : current, modified };
}

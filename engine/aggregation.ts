// Aggregation pipelines, run by mingo over the view form of documents (see values.ts).
//
// mingo computes with JS numbers. Three measures keep results as exact as MongoDB's where it matters:
// documents that pass through a pipeline unchanged are answered in their exact form; `$sum` in `$group`
// adds the exact stored values (Decimal128 money stays Decimal128, Int32 sums stay Int32); and fields that a
// document-preserving pipeline ($match, $sort, $project, $addFields ...) copies unchanged get their stored
// numeric type back. Values computed by other expressions are JS numbers (int32 when integral, else double).
import { Context } from 'mingo';
import { Aggregator } from 'mingo/aggregator';
import * as accumulators from 'mingo/operators/accumulator';
import * as expressions from 'mingo/operators/expression';
import * as pipelineOperators from 'mingo/operators/pipeline';
import * as projectionOperators from 'mingo/operators/projection';
import * as queryOperators from 'mingo/operators/query';
import * as windowOperators from 'mingo/operators/window';
import { exactOfView, storedDocs } from './collection.ts';
import { ErrorCodes, MongoServerError } from './errors.ts';
import { compileMatcher } from './matcher.ts';
import { type Doc, bsonType, cloneValue, getPath, isNumeric, isPlainObject, toNumber, toView } from './values.ts';
import { arith } from './exact-numbers.ts';
import { encodeKey } from './value-order.ts';

const SUPPORTED_STAGES = new Set([
  '$match', '$group', '$sort', '$project', '$unwind', '$lookup', '$facet', '$count', '$limit', '$skip',
  '$addFields', '$set', '$unset', '$replaceRoot', '$replaceWith', '$sortByCount', '$bucket', '$bucketAuto',
  '$sample', '$redact', '$graphLookup', '$unionWith', '$setWindowFields', '$densify', '$fill',
]);

const ACCUMULATORS = new Set(Object.keys(accumulators).filter((k) => k.startsWith('$')));
const EXPRESSION_OPERATORS = new Set([...Object.keys(expressions).filter((k) => k.startsWith('$')), ...ACCUMULATORS]);

const fail = (code: number, message: string, codeName?: string): never => {
  throw new MongoServerError(code, message, codeName ? { codeName } : {});
};

/** Checks every operator name in an expression, as MongoDB does before running anything. */
function checkExpression(expr: unknown): void {
  if (Array.isArray(expr)) {
    for (const e of expr) checkExpression(e);
    return;
  }
  if (!isPlainObject(expr)) return;
  for (const [key, value] of Object.entries(expr)) {
    if (key.startsWith('$')) {
      if (!EXPRESSION_OPERATORS.has(key)) fail(ErrorCodes.InvalidPipelineOperator, `Unrecognized expression '${key}'`);
      if (key === '$literal') continue;
    }
    checkExpression(value);
  }
}

function checkGroup(spec: unknown): void {
  if (!isPlainObject(spec)) fail(ErrorCodes.TypeMismatch, 'a group specification must be an object');
  const group = spec as Doc;
  if (!('_id' in group)) fail(15955, 'a group specification must include an _id', 'Location15955');
  checkExpression(group._id);
  for (const [field, acc] of Object.entries(group)) {
    if (field === '_id') continue;
    if (!isPlainObject(acc) || Object.keys(acc).length !== 1) fail(40234, `The field '${field}' must be an accumulator object`, 'Location40234');
    const [op, arg] = Object.entries(acc as Doc)[0];
    if (!ACCUMULATORS.has(op)) fail(ErrorCodes.Location15952, `unknown group operator '${op}'`, 'Location15952');
    checkExpression(arg);
  }
}

/** What a MongoDB without an oplog (a standalone server) answers to watch(): the engine keeps none either. */
export const changeStreamsUnsupported = (): MongoServerError =>
  new MongoServerError(40573, 'The $changeStream stage is only supported on replica sets (the embedded engine keeps no oplog)', { codeName: 'Location40573' });

/** Validates a pipeline and rewrites $count as MongoDB defines it ($group + $project), so an empty input yields nothing. */
export function validatePipeline(pipeline: unknown): Doc[] {
  if (!Array.isArray(pipeline)) fail(ErrorCodes.TypeMismatch, "'pipeline' option must be specified as an array");
  return (pipeline as unknown[]).flatMap((stage): Doc[] => {
    if (!isPlainObject(stage) || Object.keys(stage).length !== 1) {
      fail(ErrorCodes.Location40323, 'A pipeline stage specification object must contain exactly one field.', 'Location40323');
    }
    const [name, arg] = Object.entries(stage as Doc)[0];
    if (name === '$out' || name === '$merge') fail(ErrorCodes.NotImplemented, `${name} is not supported by the embedded engine`);
    if (name === '$changeStream') throw changeStreamsUnsupported();
    if (!SUPPORTED_STAGES.has(name)) fail(ErrorCodes.Location40324, `Unrecognized pipeline stage name: '${name}'`, 'Location40324');
    switch (name) {
      case '$count': {
        if (typeof arg !== 'string' || arg === '') fail(40156, 'the count field must be a non-empty string', 'Location40156');
        if ((arg as string).startsWith('$')) fail(40158, "the count field cannot be a $-prefixed path", 'Location40158');
        if ((arg as string).includes('.')) fail(40160, "the count field cannot contain '.'", 'Location40160');
        return [{ $group: { _id: null, [arg as string]: { $sum: 1 } } }, { $project: { _id: 0 } }];
      }
      case '$group':
        checkGroup(arg);
        break;
      case '$facet':
        if (!isPlainObject(arg)) fail(ErrorCodes.TypeMismatch, '$facet argument must be an object');
        return [{ $facet: Object.fromEntries(Object.entries(arg as Doc).map(([k, sub]) => [k, validatePipeline(sub)])) }];
      case '$lookup':
      case '$unionWith':
        if (isPlainObject(arg) && arg.pipeline !== undefined) return [{ [name]: { ...arg, pipeline: validatePipeline(arg.pipeline) } }];
        break;
      case '$match':
        if (isPlainObject(arg) && '$expr' in arg) checkExpression(arg.$expr);
        break;
      case '$project':
      case '$addFields':
      case '$set':
      case '$replaceRoot':
      case '$replaceWith':
      case '$sortByCount':
      case '$redact':
      case '$bucket':
        checkExpression(arg);
        break;
      default:
    }
    return [stage as Doc];
  });
}

// Stages that never modify the documents they receive, so stored views can be handed to mingo as they are and
// documents that pass through unchanged map back to their exact form. Other stages may write into their input
// objects, so they get copies.
const READ_ONLY_STAGES = new Set(['$match', '$sort', '$limit', '$skip', '$group', '$sortByCount']);
// Stages after which every output document is still one input document (same _id), possibly reshaped.
const DOCUMENT_PRESERVING = new Set(['$match', '$sort', '$limit', '$skip', '$project', '$addFields', '$set', '$unset', '$lookup', '$sample', '$redact']);

const stageNames = (pipeline: Doc[]) => pipeline.map((s) => Object.keys(s)[0]);

export function isReadOnlyPipeline(pipeline: Doc[]): boolean {
  return pipeline.every((stage) => {
    const [name, arg] = Object.entries(stage)[0];
    if (name === '$facet' && isPlainObject(arg)) return Object.values(arg).every((sub) => Array.isArray(sub) && isReadOnlyPipeline(sub as Doc[]));
    return READ_ONLY_STAGES.has(name);
  });
}

/** `$sum` over the exact stored values when the group's documents are stored ones and the argument a field path. */
const exactSum = (coll: Doc[], expr: unknown, options: unknown): unknown => {
  const fallback = () => (accumulators.$sum as (c: Doc[], e: unknown, o: unknown) => unknown)(coll, expr, options);
  if (typeof expr !== 'string' || !expr.startsWith('$') || expr.startsWith('$$')) return fallback();
  const path = expr.slice(1);
  let total: unknown = 0;
  for (const view of coll) {
    // A stored document's exact form; else the document an earlier stage made (a $group's sums are exact BSON
    // numbers there, which mingo's own $sum would skip as objects: a roll-up of subtotals came out 0).
    const v = getPath(exactOfView.get(view) ?? view, path);
    if (isNumeric(v)) total = arith('add', total, v);
  }
  return total;
};

/**
 * `$match` anywhere in a pipeline filters with the engine's own matcher, on exact documents where known;
 * a `$match` with `$expr` stays with mingo, which knows the pipeline's variables ($lookup's `let`).
 */
const matchStage = (coll: { filter(f: (o: Doc) => boolean): unknown }, expr: Doc, options: unknown): unknown => {
  if (JSON.stringify(expr).includes('"$expr"')) return (pipelineOperators.$match as (c: unknown, e: Doc, o: unknown) => unknown)(coll, expr, options);
  const matcher = compileMatcher(expr);
  return coll.filter((o) => matcher.test(exactOfView.get(o) ?? o, o));
};

// Built whole rather than merged: mingo's Context.from lets the first context's operators win.
export const CONTEXT = Context.init({
  accumulator: { ...accumulators, $sum: exactSum } as never,
  expression: expressions as never,
  pipeline: { ...pipelineOperators, $match: matchStage } as never,
  projection: projectionOperators as never,
  query: queryOperators as never,
  window: windowOperators as never,
});

function restoreNumericTypes(out: unknown, source: unknown): unknown {
  if (typeof out === 'number' && isNumeric(source) && toNumber(source) === out && bsonType(source) !== undefined) return source;
  if (Array.isArray(out) && Array.isArray(source) && out.length === source.length) return out.map((v, i) => restoreNumericTypes(v, source[i]));
  if (isPlainObject(out) && isPlainObject(source) && !storedDocs.has(out)) {
    for (const k of Object.keys(out)) if (k in source) out[k] = restoreNumericTypes(out[k], source[k]);
  }
  return out;
}

/** Replaces views that came straight from storage by their exact documents. */
export function fromView(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  const exact = exactOfView.get(v);
  if (exact) return exact;
  if (Array.isArray(v)) return v.map(fromView);
  if (!isPlainObject(v)) return v;
  const out: Doc = {};
  for (const k of Object.keys(v)) out[k] = fromView(v[k]);
  return out;
}

export interface PipelineInput {
  /** The documents to aggregate, in exact form. */
  exact: Doc[];
  /** Their views (stored ones, mapped back by exactOfView); copied before a part of the pipeline that may write into them. */
  views: Doc[];
}

/**
 * The pipeline cut after each `$group` that other stages follow. A group's sums are exact BSON numbers (exactSum),
 * which mingo's expressions, sorts and comparisons do not read as numbers: `$subtract` of two sums failed and a
 * `$sort` on one compared objects. Each later part reads the group's output in view form, as stored documents are.
 */
function segments(pipeline: Doc[]): Doc[][] {
  const out: Doc[][] = [[]];
  pipeline.forEach((stage, i) => {
    out[out.length - 1].push(stage);
    if (Object.keys(stage)[0] === '$group' && i < pipeline.length - 1) out.push([]);
  });
  return out;
}

/** `variables`: the command's `let` variables and $$CLUSTER_TIME, in view form (engine/variables.ts). */
export function runPipeline(input: PipelineInput, pipeline: Doc[], resolveCollection: (name: string) => Doc[], variables?: Doc): Doc[] {
  let current = input;
  let docs: Doc[] = [];
  for (const [i, part] of segments(pipeline).entries()) {
    // Stored views are shared: a part that may write into its input gets copies (a later part's views are its own).
    if (i === 0 && !isReadOnlyPipeline(part)) current = { exact: input.exact, views: input.views.map((v) => cloneValue(v)) };
    docs = runSegment(current, part, resolveCollection, variables);
    // Views that map back to their documents, so a later group's exactSum reads the exact sums.
    current = {
      exact: docs,
      views: docs.map((d) => {
        const view = toView(d) as Doc;
        exactOfView.set(view, d);
        return view;
      }),
    };
  }
  return docs;
}

function runSegment(input: PipelineInput, pipeline: Doc[], resolveCollection: (name: string) => Doc[], variables?: Doc): Doc[] {
  let out: Doc[];
  try {
    const agg = new Aggregator(toView(pipeline) as Doc[], { scriptEnabled: false, collectionResolver: resolveCollection, context: CONTEXT, variables });
    out = agg.run(input.views) as Doc[];
  } catch (err) {
    if (err instanceof MongoServerError) throw err;
    const undefinedVariable = /^Use of undefined variable: (.*)$/.exec((err as Error).message);
    if (undefinedVariable) throw new MongoServerError(17276, (err as Error).message, { codeName: 'Location17276' });
    throw new MongoServerError(ErrorCodes.BadValue, `aggregation failed: ${(err as Error).message}`);
  }
  const docs = out.map((d) => fromView(d) as Doc);
  if (stageNames(pipeline).every((n) => DOCUMENT_PRESERVING.has(n))) {
    const byId = new Map(input.exact.map((d) => [encodeKey(d._id), d]));
    for (const d of docs) {
      const source = byId.get(encodeKey(d._id));
      if (source) restoreNumericTypes(d, source);
    }
  }
  return docs;
}

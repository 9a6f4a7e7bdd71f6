// Reads: find, explain, getMore, killCursors, count, distinct, aggregate.
import { Int32 } from 'bson';
import type { FindOptions } from './access.ts';
import { type CommandContext, docArg, intArg, nameArg, ns, refuse } from './command-context.ts';
import { type Collection, type Entry, fieldPicker } from './collection.ts';
import { batchSizeOf } from './cursors.ts';
import { ErrorCodes, fail } from './errors.ts';
import { applyProjection, projectedFields, validateProjection } from './projection.ts';
import { RawDoc } from './raw.ts';
import { isReadOnlyPipeline, runPipeline, validatePipeline } from './aggregation.ts';
import { compileFilter, parseSort, sortBy } from './query.ts';
import { collectionlessAggregate } from './collectionless.ts';
import { resolveHint, restrictToHint } from './hints.ts';
import type { Plan } from './planner.ts';
import { bindFilter, mingoVariables, parseLet } from './variables.ts';
import { compareValues, encodeKey } from './value-order.ts';
import { type Doc, bsonType, cloneValue, isNumeric, isPlainObject, pathValuesForIndex, toNumber } from './values.ts';

/**
 * Matching entries in the order asked for, lazily where an index gives that order (or none is asked for);
 * otherwise they are collected and sorted.
 */
export function* findEntries(
  ctx: CommandContext,
  coll: Collection | undefined,
  filter: Doc | undefined,
  sort: Doc | undefined,
  limit?: number,
  opts: FindOptions = {},
): Generator<Entry> {
  if (!coll) {
    compileFilter(filter); // still validate the filter
    return;
  }
  const spec = parseSort(sort);
  const options: FindOptions = { ...opts, sort: spec };
  options.plan = ctx.access.plan(coll, filter, options);
  if (!spec || ctx.access.delivers(coll, options.plan)) {
    yield* ctx.access.scan(coll, filter, { ...options, limit });
    return;
  }
  const sorted = sortBy(ctx.access.match(coll, filter, options), spec, (e) => e.exact);
  yield* limit ? sorted.slice(0, limit) : sorted;
}

function* sliced<T>(items: Iterable<T>, skip: number, limit: number): Generator<T> {
  let i = 0;
  let n = 0;
  for (const item of items) {
    if (i++ < skip) continue;
    if (limit && n >= limit) return;
    n++;
    yield item;
  }
}

function* mapped<T, U>(items: Iterable<T>, fn: (t: T) => U): Generator<U> {
  for (const item of items) yield fn(item);
}

export function find(ctx: CommandContext): Doc {
  ctx.server.counters.query++;
  const name = nameArg(ctx, 'find');
  refuse(ctx, ['tailable', 'awaitData', 'min', 'max', 'returnKey', 'showRecordId']);
  const filter = bindFilter(docArg(ctx.body.filter, 'filter'), parseLet(ctx.body.let, 'find'));
  const projection = docArg(ctx.body.projection, 'projection');
  if (projection) validateProjection(projection, filter);
  const skip = intArg(ctx.body.skip, 'skip', 0);
  let limit = intArg(ctx.body.limit, 'limit', 0);
  let singleBatch = ctx.body.singleBatch === true;
  if (skip < 0) fail(ErrorCodes.BadValue, 'skip value must be non-negative');
  if (limit < 0) {
    limit = -limit;
    singleBatch = true;
  }
  const coll = ctx.access.collection(ctx.db, name);
  const hint = resolveHint(coll, ctx.body.hint, ns(ctx, name));
  const entries = sliced(restrictToHint(coll, hint, findEntries(ctx, coll, filter, docArg(ctx.body.sort, 'sort'), limit ? skip + limit : undefined, hint)), skip, limit);
  // Without a projection, stored documents go out as the bytes they are stored as (raw.ts); with an inclusion, only
  // the fields it names are decoded.
  const names = projection ? fieldPicker(projectedFields(projection, filter)) : undefined;
  const docs = mapped(entries, (e) => (projection ? applyProjection(e.pick(names), projection, filter) : e.bytes ? new RawDoc(e.bytes, e.ownsBytes) : e.exact));
  return { cursor: ctx.cursors.first(ns(ctx, name), docs, batchSizeOf(ctx.body.batchSize, undefined), singleBatch, ctx.access.alive) };
}

/** The plan as MongoDB explains it; a stage that tests documents against the filter shows it as its `filter`. */
function explainPlan(plan: Plan, filter: Doc | undefined): Doc {
  const residual = !plan.exact && filter && Object.keys(filter).length ? { filter } : {};
  if (plan.kind === 'ids') return { stage: 'IDHACK', ...residual };
  if (plan.kind === 'scan') return { stage: 'COLLSCAN', ...residual, direction: plan.reverse ? 'backward' : 'forward' };
  if (plan.kind === 'or') return { stage: 'FETCH', filter, inputStage: { stage: 'OR', inputStages: plan.plans.map((p: Plan) => explainPlan(p, undefined).inputStage ?? explainPlan(p, undefined)) } };
  const ixscan = { stage: 'IXSCAN', keyPattern: plan.index.spec.key, indexName: plan.index.name, isMultiKey: plan.index.multikey, direction: plan.reverse ? 'backward' : 'forward' };
  return { stage: 'FETCH', ...residual, inputStage: ixscan };
}

/** `explain` of a find: the plan chosen (see planner.ts) and, from executionStats on, what running it read. */
export function explain(ctx: CommandContext): Doc {
  const inner = docArg(ctx.body.explain, 'explain');
  if (!inner || typeof inner.find !== 'string') fail(ErrorCodes.NotImplemented, 'the embedded engine explains find commands only');
  const name = inner!.find as string;
  const filter = docArg(inner!.filter, 'filter');
  const coll = ctx.access.collection(ctx.db, name);
  const hint = resolveHint(coll, inner!.hint, ns(ctx, name));
  const opts: FindOptions = { sort: parseSort(inner!.sort), ...hint };
  let winningPlan: Doc = { stage: 'EOF' };
  if (coll) {
    winningPlan = explainPlan(ctx.access.plan(coll, filter, opts), filter);
  }
  const reply: Doc = { queryPlanner: { namespace: ns(ctx, name), parsedQuery: filter ?? {}, winningPlan, rejectedPlans: [] } };
  if (ctx.body.verbosity !== 'queryPlanner' && coll) {
    // Run as find runs it: with its limit where the plan delivers the order, so that the stats are find's.
    const limit = Math.abs(intArg(inner!.limit, 'limit', 0)) || undefined;
    let nReturned = 0;
    for (const _ of findEntries(ctx, coll, filter, docArg(inner!.sort, 'sort'), limit, hint)) nReturned++;
    reply.executionStats = { executionSuccess: true, nReturned, totalDocsExamined: ctx.access.examined };
  }
  return reply;
}

export function getMore(ctx: CommandContext): Doc {
  ctx.server.counters.getmore++;
  const collection = nameArg(ctx, 'collection');
  return { cursor: ctx.cursors.more(ctx.body.getMore, collection, ctx.db, batchSizeOf(ctx.body.batchSize, undefined)) };
}

export function killCursors(ctx: CommandContext): Doc {
  nameArg(ctx, 'killCursors');
  const ids = ctx.body.cursors;
  if (!Array.isArray(ids)) fail(ErrorCodes.TypeMismatch, "Field 'cursors' must be an array");
  const { killed, notFound } = ctx.cursors.kill(ids as unknown[]);
  return { cursorsKilled: killed, cursorsNotFound: notFound, cursorsAlive: [], cursorsUnknown: [] };
}

export function count(ctx: CommandContext): Doc {
  ctx.server.counters.command++;
  const name = nameArg(ctx, 'count');
  refuse(ctx, []);
  const coll = ctx.access.collection(ctx.db, name);
  const skip = intArg(ctx.body.skip, 'skip', 0);
  const limit = Math.abs(intArg(ctx.body.limit, 'limit', 0));
  const query = docArg(ctx.body.query, 'query');
  const hint = resolveHint(coll, ctx.body.hint, ns(ctx, name));
  let n: number;
  if (!coll) n = 0;
  else if ((!query || Object.keys(query).length === 0) && !hint.hint) n = ctx.access.size(coll);
  else {
    n = 0;
    for (const _ of restrictToHint(coll, hint, ctx.access.scan(coll, query, hint))) n++;
  }
  n = Math.max(0, n - skip);
  if (limit) n = Math.min(n, limit);
  return { n };
}

export function distinct(ctx: CommandContext): Doc {
  const name = nameArg(ctx, 'distinct');
  refuse(ctx, []);
  const key = ctx.body.key;
  if (typeof key !== 'string' || !key) fail(ErrorCodes.TypeMismatch, "BSON field 'distinct.key' is missing or not a string");
  const coll = ctx.access.collection(ctx.db, name);
  const entries = findEntries(ctx, coll, docArg(ctx.body.query, 'query'), undefined);
  const seen = new Map<string, unknown>();
  for (const e of entries) {
    for (const v of pathValuesForIndex(e.exact, key as string)) {
      if (v === undefined) continue;
      const k = encodeKey(v);
      if (!seen.has(k)) seen.set(k, v);
    }
  }
  return { values: [...seen.values()].sort(compareValues) };
}

/**
 * The pipeline countDocuments sends ([$match], [$skip], [$limit], $group of { _id: 1, n: { $sum: 1 } }), counted
 * while scanning instead of loading every matching document into memory.
 */
function countingPipeline(ctx: CommandContext, coll: Collection, filter: Doc | undefined, stages: Doc[]): Doc[] | undefined {
  let skip = 0;
  let limit = Infinity;
  let i = 0;
  for (; i < stages.length - 1; i++) {
    const [op, arg] = Object.entries(stages[i])[0];
    if (op === '$skip' && skip === 0 && limit === Infinity) skip = toNumber(arg);
    else if (op === '$limit') limit = Math.min(limit, toNumber(arg));
    else return undefined;
  }
  const group = stages[i]?.$group;
  if (!isPlainObject(group) || Object.keys(group).length !== 2) return undefined;
  const [key, acc] = Object.entries(group).find(([k]) => k !== '_id') ?? [];
  const id = group._id;
  if (!key || !isPlainObject(acc) || Object.keys(acc).length !== 1 || !('$sum' in acc)) return undefined;
  if (!isNumeric(acc.$sum) || toNumber(acc.$sum) !== 1 || bsonType(acc.$sum) === 'Decimal128' || !(id === null || isNumeric(id))) return undefined;
  if (!Number.isFinite(skip) || skip < 0) return undefined;
  let n = 0;
  for (const _ of ctx.access.scan(coll, filter)) n++;
  n = Math.max(0, Math.min(n - skip, limit));
  return n === 0 ? [] : [{ _id: id, [key]: new Int32(n) }];
}

export function aggregate(ctx: CommandContext): Doc {
  ctx.server.counters.command++;
  const target = ctx.body.aggregate;
  const vars = parseLet(ctx.body.let, 'aggregate');
  if (toNumber(target) === 1) return collectionlessAggregate(ctx, vars);
  if (typeof target !== 'string') fail(ErrorCodes.InvalidNamespace, "Invalid aggregate namespace: 'aggregate' must be a collection name, or 1 for a pipeline starting with $documents");
  const name = target as string;
  refuse(ctx, ['explain']);
  if (!isPlainObject(ctx.body.cursor)) fail(ErrorCodes.FailedToParse, "The 'cursor' option is required, except for aggregate with the explain argument");
  const pipeline = validatePipeline(ctx.body.pipeline);
  const coll = ctx.access.collection(ctx.db, name);
  let stages = pipeline;
  let entries: Entry[] = [];
  const first = pipeline[0];
  const filter = first && '$match' in first ? bindFilter(first.$match as Doc, vars) : undefined;
  if (filter) stages = pipeline.slice(1); // a leading $match can use an index
  const hint = resolveHint(coll, ctx.body.hint, ns(ctx, name));
  const counted = coll && !hint.hint ? countingPipeline(ctx, coll, filter, stages) : undefined;
  if (counted) return { cursor: ctx.cursors.first(ns(ctx, name), counted, undefined) };
  if (coll) entries = [...restrictToHint(coll, hint, ctx.access.match(coll, filter, hint))];
  const readOnly = isReadOnlyPipeline(stages);
  const prepare = (es: Entry[]) => es.map((e) => (readOnly ? e.view : cloneValue(e.view)));
  const resolve = (other: string): Doc[] => {
    const c = ctx.access.collection(ctx.db, other);
    return c ? prepare(ctx.access.all(c)) : [];
  };
  const docs = stages.length
    ? runPipeline({ exact: entries.map((e) => e.exact), views: entries.map((e) => e.view) }, stages, resolve, mingoVariables(vars))
    : entries.map((e) => e.exact);
  const cursorOpts = ctx.body.cursor as Doc;
  return { cursor: ctx.cursors.first(ns(ctx, name), docs, batchSizeOf(cursorOpts.batchSize, undefined), false, ctx.access.alive) };
}

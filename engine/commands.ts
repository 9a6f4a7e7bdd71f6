// Command handlers. Each receives the parsed command and answers with the reply document MongoDB would give.
import os from 'node:os';
import { Int32, ObjectId } from 'bson';
import type { Access, FindOptions } from './access.ts';
import { type Catalog, validateNamespace } from './catalog.ts';
import { type Collection, type Entry, type IndexSpec, entryFromBytes, fieldPicker, validateIndexSpec } from './collection.ts';
import { Cursors, batchSizeOf } from './cursors.ts';
import { ErrorCodes, MongoServerError, fail } from './errors.ts';
import { applyProjection, projectedFields, validateProjection } from './projection.ts';
import { RawDoc } from './raw.ts';
import { FieldNames, pickFields, startsWithId } from './raw-bson.ts';
import { decodeSequenceDoc, rawDocumentsOf } from './wire.ts';
import { isReadOnlyPipeline, runPipeline, validatePipeline } from './aggregation.ts';
import { compileFilter, parseSort, sortBy } from './query.ts';
import { applyReplacement, applyUpdate, isOperatorUpdate, upsertSeed } from './update.ts';
import { COLL_MOD_FIELDS, collMod } from './coll-mod.ts';
import { collectionlessAggregate } from './collectionless.ts';
import { resolveHint, restrictToHint } from './hints.ts';
import type { Plan } from './planner.ts';
import { type PipelineUpdateContext, applyPipelineUpdate, checkUpdatePipeline } from './pipeline-update.ts';
import { type WarnLogger, createValidationOptions, validateDocument, validatorApplies } from './validation.ts';
import { bindFilter, mingoVariables, parseLet } from './variables.ts';
import { type Doc, bsonType, cloneValue, compareValues, encodeKey, isNumeric, isPlainObject, pathValuesForIndex, toNumber, valuesEqual } from './values.ts';

export interface ServerInfo {
  host: string;
  port: number;
  setName: string;
  electionId: ObjectId;
  startedAt: number;
  persistent: boolean;
  connections: { current: number; total: number };
  counters: Record<'insert' | 'query' | 'update' | 'delete' | 'getmore' | 'command', number>;
}

export interface CommandContext {
  db: string;
  body: Doc;
  access: Access;
  catalog: Catalog;
  cursors: Cursors;
  server: ServerInfo;
  connectionId: number;
  inTransaction: boolean;
  logger: WarnLogger;
}

export const VERSION = '7.0.14';
export const MAX_WIRE_VERSION = 21;

// ---------------------------------------------------------------------------------------------------------
// Helpers

const nameArg = (ctx: CommandContext, field: string): string => {
  const v = ctx.body[field];
  if (typeof v !== 'string' || v.length === 0) {
    fail(ErrorCodes.InvalidNamespace, `collection name has invalid type ${v === null ? 'null' : typeof v}`);
  }
  return v as string;
};

const intArg = (v: unknown, name: string, fallback: number): number => {
  if (v === undefined || v === null) return fallback;
  const n = toNumber(v);
  if (!Number.isFinite(n) || !Number.isInteger(n)) fail(ErrorCodes.TypeMismatch, `Field '${name}' must be a number`);
  return n;
};

const docArg = (v: unknown, name: string): Doc | undefined => {
  if (v === undefined || v === null) return undefined;
  if (!isPlainObject(v)) fail(ErrorCodes.TypeMismatch, `BSON field '${name}' is the wrong type '${Array.isArray(v) ? 'array' : typeof v}', expected type 'object'`);
  return v as Doc;
};

/** Options MongoDB supports that this engine would silently ignore: refuse them instead. */
function refuse(ctx: CommandContext, fields: string[]): void {
  for (const f of fields) {
    if (ctx.body[f] !== undefined && ctx.body[f] !== false) {
      fail(ErrorCodes.NotImplemented, `option '${f}' of '${Object.keys(ctx.body)[0]}' is not supported by the embedded engine`);
    }
  }
  const collation = ctx.body.collation as Doc | undefined;
  if (collation && !(Object.keys(collation).length === 1 && collation.locale === 'simple')) {
    fail(ErrorCodes.NotImplemented, 'collations other than the simple binary one are not supported by the embedded engine');
  }
}

/** Refuses an `_id` MongoDB refuses: an array, a regular expression, an object with `$`-prefixed fields. */
function checkId(id: unknown): void {
  if (Array.isArray(id)) fail(ErrorCodes.InvalidIdField, "The '_id' value cannot be of type array");
  if (id instanceof RegExp || (id as { _bsontype?: string })?._bsontype === 'BSONRegExp') {
    fail(ErrorCodes.InvalidIdField, "The '_id' value cannot be of type regex");
  }
  if (isPlainObject(id) && Object.keys(id).some((k) => k.startsWith('$'))) {
    fail(ErrorCodes.DollarPrefixedFieldName, "_id fields may not contain '$'-prefixed fields");
  }
}

/** Prepares a document for insertion: _id first, generated when absent, never an array or undefined. */
function withId(doc: Doc): Doc {
  if (!isPlainObject(doc)) fail(ErrorCodes.TypeMismatch, 'documents to insert must be objects');
  const id = doc._id === undefined ? new ObjectId() : doc._id;
  checkId(id);
  // Already in shape (as the driver sends them): the same object, so its bytes off the wire can be stored as they are.
  for (const k in doc) {
    if (k === '_id') return doc;
    break;
  }
  const out: Doc = { _id: id };
  for (const k of Object.keys(doc)) if (k !== '_id') out[k] = doc[k];
  return out;
}

/**
 * A document to insert read from the bytes it arrived as (engine/raw-bson.ts): only `_id` and the fields the
 * indexes read are decoded, the rest only if a validator asks. Undefined when its `_id` is not its first field.
 */
function entryToInsert(bytes: Uint8Array, indexed: FieldNames): Entry | undefined {
  if (!startsWithId(bytes)) return undefined;
  const fields = pickFields(bytes, indexed);
  checkId(fields._id);
  return entryFromBytes(bytes, fields);
}

const ns = (ctx: CommandContext, coll: string) => `${ctx.db}.${coll}`;

/**
 * Matching entries in the order asked for, lazily where an index gives that order (or none is asked for);
 * otherwise they are collected and sorted.
 */
function* findEntries(
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

// ---------------------------------------------------------------------------------------------------------
// Handshake and server information

function hello(ctx: CommandContext): Doc {
  const me = `${ctx.server.host}:${ctx.server.port}`;
  const now = new Date();
  return {
    helloOk: true,
    ismaster: true,
    isWritablePrimary: true,
    maxBsonObjectSize: 16 * 1024 * 1024,
    maxMessageSizeBytes: 48_000_000,
    maxWriteBatchSize: 100_000,
    localTime: now,
    logicalSessionTimeoutMinutes: 30,
    connectionId: ctx.connectionId,
    minWireVersion: 0,
    maxWireVersion: MAX_WIRE_VERSION,
    readOnly: false,
    setName: ctx.server.setName,
    setVersion: 1,
    electionId: ctx.server.electionId,
    hosts: [me],
    primary: me,
    me,
    secondary: false,
    lastWrite: { lastWriteDate: now, majorityWriteDate: now },
  };
}

function buildInfo(): Doc {
  return {
    version: VERSION,
    gitVersion: 'embedded',
    versionArray: VERSION.split('.').map(Number).concat(0),
    modules: [],
    allocator: 'system',
    javascriptEngine: 'none',
    sysInfo: 'deprecated',
    bits: 64,
    debug: false,
    maxBsonObjectSize: 16 * 1024 * 1024,
    storageEngines: ['embedded'],
  };
}

/** serverStatus.mem as MongoDB reports it (MiB), with the JavaScript side of this process besides. */
function memory(): Doc {
  const m = process.memoryUsage();
  const MiB = 1024 * 1024;
  return { bits: 64, resident: Math.round(m.rss / MiB), virtual: 0, supported: true, heapUsed: Math.round(m.heapUsed / MiB), heapTotal: Math.round(m.heapTotal / MiB), external: Math.round(m.external / MiB), arrayBuffers: Math.round(m.arrayBuffers / MiB) };
}

function serverStatus(ctx: CommandContext): Doc {
  const uptimeMillis = Date.now() - ctx.server.startedAt;
  return {
    host: os.hostname(),
    version: VERSION,
    process: 'oa-archive-embedded-engine',
    pid: process.pid,
    uptime: Math.floor(uptimeMillis / 1000),
    uptimeMillis,
    localTime: new Date(),
    connections: { current: ctx.server.connections.current, available: 10_000, totalCreated: ctx.server.connections.total },
    opcounters: { ...ctx.server.counters },
    storageEngine: { name: 'embedded', backend: 'sqlite', persistent: ctx.server.persistent },
    mem: memory(),
    repl: { setName: ctx.server.setName, isWritablePrimary: true, primary: `${ctx.server.host}:${ctx.server.port}` },
  };
}

function listDatabases(ctx: CommandContext): Doc {
  const filter = compileFilter(docArg(ctx.body.filter, 'filter'));
  const databases = [...ctx.catalog.dbs.entries()]
    .map(([name, colls]) => {
      let docs = 0;
      for (const c of colls.values()) docs += ctx.access.size(c);
      return { name, sizeOnDisk: docs * 100, empty: docs === 0 };
    })
    .filter((d) => filter.test(d))
    .sort((a, b) => a.name.localeCompare(b.name));
  if (ctx.body.nameOnly) return { databases: databases.map((d) => ({ name: d.name })) };
  const totalSize = databases.reduce((s, d) => s + d.sizeOnDisk, 0);
  return { databases, totalSize, totalSizeMb: Math.floor(totalSize / 1024 / 1024) };
}

// ---------------------------------------------------------------------------------------------------------
// Reads

function find(ctx: CommandContext): Doc {
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
function explain(ctx: CommandContext): Doc {
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

function getMore(ctx: CommandContext): Doc {
  ctx.server.counters.getmore++;
  const collection = nameArg(ctx, 'collection');
  return { cursor: ctx.cursors.more(ctx.body.getMore, collection, ctx.db, batchSizeOf(ctx.body.batchSize, undefined)) };
}

function killCursors(ctx: CommandContext): Doc {
  nameArg(ctx, 'killCursors');
  const ids = ctx.body.cursors;
  if (!Array.isArray(ids)) fail(ErrorCodes.TypeMismatch, "Field 'cursors' must be an array");
  const { killed, notFound } = ctx.cursors.kill(ids as unknown[]);
  return { cursorsKilled: killed, cursorsNotFound: notFound, cursorsAlive: [], cursorsUnknown: [] };
}

function count(ctx: CommandContext): Doc {
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

function distinct(ctx: CommandContext): Doc {
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

function aggregate(ctx: CommandContext): Doc {
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

// ---------------------------------------------------------------------------------------------------------
// Writes

interface WriteOutcome {
  reply: Doc;
  /** True when any statement failed: a transaction aborts on it. */
  failed: boolean;
}

function writeLoop<T>(items: T[], ordered: boolean, run: (item: T, index: number) => void): Doc[] {
  const errors: Doc[] = [];
  for (let i = 0; i < items.length; i++) {
    try {
      run(items[i], i);
    } catch (err) {
      if (!(err instanceof MongoServerError)) throw err;
      if (err.labels.includes('TransientTransactionError')) throw err; // conflicts abort the whole command
      errors.push(err.toWriteError(i));
      if (ordered) break;
    }
  }
  return errors;
}

function statements(ctx: CommandContext, field: string): Doc[] {
  const list = ctx.body[field];
  if (!Array.isArray(list)) fail(ErrorCodes.FailedToParse, `BSON field '${Object.keys(ctx.body)[0]}.${field}' is missing but a required field`);
  if ((list as unknown[]).length === 0) fail(ErrorCodes.InvalidLength, `Write batch sizes must be between 1 and 100000. Got 0 operations.`);
  return list as Doc[];
}

function insert(ctx: CommandContext): WriteOutcome {
  const name = nameArg(ctx, 'insert');
  validateNamespace(ctx.db, name);
  const arrived = rawDocumentsOf(ctx.body);
  const docs: Array<Doc | Uint8Array> = arrived?.length ? arrived : statements(ctx, 'documents');
  const coll = ctx.access.ensureCollection(ctx.db, name);
  const bypass = ctx.body.bypassDocumentValidation === true;
  const indexed = new FieldNames(coll.indexedFields());
  let n = 0;
  const writeErrors = writeLoop(docs, ctx.body.ordered !== false, (item) => {
    const entry = item instanceof Uint8Array ? entryToInsert(item, indexed) : undefined;
    if (entry) {
      if (validatorApplies(coll, bypass)) validateDocument(coll, entry.exact, { bypass, logger: ctx.logger });
      ctx.access.insertEntry(coll, entry);
    } else {
      // Decoded at arrival (a type outside the common ones), or its _id is not first: the whole document.
      const full = withId(item instanceof Uint8Array ? decodeSequenceDoc(item) : item);
      validateDocument(coll, full, { bypass, logger: ctx.logger });
      ctx.access.insert(coll, full);
    }
    n++;
  });
  ctx.server.counters.insert += n;
  return { reply: writeErrors.length ? { n, writeErrors } : { n }, failed: writeErrors.length > 0 };
}

/** Applies an update or replacement to one document; returns the new document and whether it changed. */
function updatedDoc(current: Doc, u: Doc | Doc[], query: Doc | undefined, arrayFilters: Doc[] | undefined, env: PipelineUpdateContext): { doc: Doc; modified: boolean } {
  if (Array.isArray(u)) return applyPipelineUpdate(current, u, env);
  if (isOperatorUpdate(u)) return applyUpdate(current, u, { arrayFilters, query, now: env.now });
  const doc = applyReplacement(current, u);
  return { doc, modified: !valuesEqual(doc, current) };
}

function upsertDoc(query: Doc | undefined, u: Doc | Doc[], arrayFilters: Doc[] | undefined, env: PipelineUpdateContext): Doc {
  const seed = upsertSeed(query ?? {});
  if (Array.isArray(u)) return withId(applyPipelineUpdate(seed, u, env).doc);
  const doc = isOperatorUpdate(u)
    ? applyUpdate(seed, u, { arrayFilters, query, isInsert: true, now: env.now }).doc
    : { ...(seed._id !== undefined && u._id === undefined ? { _id: seed._id } : {}), ...u };
  return withId(doc);
}

function checkUpdateArg(u: unknown, arrayFilters?: unknown): Doc | Doc[] {
  if (Array.isArray(u)) {
    if (arrayFilters !== undefined) fail(ErrorCodes.FailedToParse, 'arrayFilters may not be specified for pipeline-syle updates');
    return checkUpdatePipeline(u);
  }
  if (!isPlainObject(u)) fail(ErrorCodes.FailedToParse, 'Update argument must be either an object or an array');
  return u as Doc;
}

function update(ctx: CommandContext): WriteOutcome {
  const name = nameArg(ctx, 'update');
  const stmts = statements(ctx, 'updates');
  const env: PipelineUpdateContext = { variables: parseLet(ctx.body.let, 'update'), now: new Date() };
  const bypass = ctx.body.bypassDocumentValidation === true;
  let n = 0;
  let nModified = 0;
  const upserted: Doc[] = [];
  const writeErrors = writeLoop(stmts, ctx.body.ordered !== false, (stmt, index) => {
    const q = bindFilter(docArg(stmt.q, 'q'), env.variables, env.now);
    const u = checkUpdateArg(stmt.u, stmt.arrayFilters);
    const arrayFilters = stmt.arrayFilters as Doc[] | undefined;
    const multi = stmt.multi === true;
    if (multi && !Array.isArray(u) && !isOperatorUpdate(u)) fail(ErrorCodes.FailedToParse, 'multi update is not supported for replacement-style update');
    if (stmt.collation) fail(ErrorCodes.NotImplemented, 'collations are not supported by the embedded engine');
    let coll = ctx.access.collection(ctx.db, name);
    const hint = resolveHint(coll, stmt.hint, ns(ctx, name));
    const matches = [...restrictToHint(coll, hint, findEntries(ctx, coll, q, docArg(stmt.sort, 'sort'), multi ? undefined : 1, hint))];
    for (const entry of multi ? matches : matches.slice(0, 1)) {
      const { doc, modified } = updatedDoc(entry.exact, u, q, arrayFilters, env);
      if (modified) {
        validateDocument(coll!, doc, { before: entry.exact, bypass, logger: ctx.logger });
        ctx.access.replace(coll!, entry, doc);
        nModified++;
      }
      n++;
    }
    if (matches.length === 0 && stmt.upsert === true) {
      coll ??= ctx.access.ensureCollection(ctx.db, name);
      const doc = upsertDoc(q, u, arrayFilters, env);
      validateDocument(coll, doc, { bypass, logger: ctx.logger });
      ctx.access.insert(coll, doc);
      upserted.push({ index, _id: doc._id });
      n++;
    }
  });
  ctx.server.counters.update += stmts.length;
  const reply: Doc = { n, nModified };
  if (upserted.length) reply.upserted = upserted;
  if (writeErrors.length) reply.writeErrors = writeErrors;
  return { reply, failed: writeErrors.length > 0 };
}

function remove(ctx: CommandContext): WriteOutcome {
  const name = nameArg(ctx, 'delete');
  const stmts = statements(ctx, 'deletes');
  const vars = parseLet(ctx.body.let, 'delete');
  let n = 0;
  const writeErrors = writeLoop(stmts, ctx.body.ordered !== false, (stmt) => {
    const limit = intArg(stmt.limit, 'limit', 0);
    if (limit !== 0 && limit !== 1) fail(ErrorCodes.FailedToParse, 'The limit field in delete objects must be 0 or 1.');
    if (stmt.collation) fail(ErrorCodes.NotImplemented, 'collations are not supported by the embedded engine');
    const coll = ctx.access.collection(ctx.db, name);
    const q = bindFilter(docArg(stmt.q, 'q'), vars);
    const hint = resolveHint(coll, stmt.hint, ns(ctx, name));
    if (!coll) return void compileFilter(q);
    for (const entry of [...restrictToHint(coll, hint, ctx.access.match(coll, q, { limit, ...hint }))]) {
      ctx.access.delete(coll, entry);
      n++;
    }
  });
  ctx.server.counters.delete += stmts.length;
  return { reply: writeErrors.length ? { n, writeErrors } : { n }, failed: writeErrors.length > 0 };
}

function findAndModify(ctx: CommandContext): WriteOutcome {
  const name = nameArg(ctx, Object.keys(ctx.body)[0]);
  const env: PipelineUpdateContext = { variables: parseLet(ctx.body.let, 'findAndModify'), now: new Date() };
  const query = bindFilter(docArg(ctx.body.query, 'query'), env.variables, env.now);
  const fields = docArg(ctx.body.fields, 'fields');
  if (fields) validateProjection(fields, query);
  const removeIt = ctx.body.remove === true;
  const u = ctx.body.update;
  if (removeIt && u !== undefined) fail(ErrorCodes.FailedToParse, 'Cannot specify both an update and remove=true');
  if (!removeIt && u === undefined) fail(ErrorCodes.FailedToParse, 'Either an update or remove=true must be specified');
  if (removeIt && ctx.body.upsert === true) fail(ErrorCodes.FailedToParse, 'Cannot specify both upsert=true and remove=true');
  refuse(ctx, []);
  const returnNew = ctx.body.new === true;
  const project = (d: Doc | null) => (d && fields ? applyProjection(d, fields, query) : d);
  let coll = ctx.access.collection(ctx.db, name);
  const hint = resolveHint(coll, ctx.body.hint, ns(ctx, name));
  const [target] = restrictToHint(coll, hint, findEntries(ctx, coll, query, docArg(ctx.body.sort, 'sort'), 1, hint));
  const bypass = ctx.body.bypassDocumentValidation === true;
  if (removeIt) {
    if (target) ctx.access.delete(coll!, target);
    ctx.server.counters.delete++;
    return { reply: { lastErrorObject: { n: target ? 1 : 0 }, value: project(target?.exact ?? null) }, failed: false };
  }
  const update = checkUpdateArg(u, ctx.body.arrayFilters);
  const arrayFilters = ctx.body.arrayFilters as Doc[] | undefined;
  ctx.server.counters.update++;
  if (target) {
    const { doc, modified } = updatedDoc(target.exact, update, query, arrayFilters, env);
    if (modified) validateDocument(coll!, doc, { before: target.exact, bypass, logger: ctx.logger });
    if (modified) ctx.access.replace(coll!, target, doc);
    return { reply: { lastErrorObject: { n: 1, updatedExisting: true }, value: project(returnNew ? doc : target.exact) }, failed: false };
  }
  if (ctx.body.upsert === true) {
    coll ??= ctx.access.ensureCollection(ctx.db, name);
    const doc = upsertDoc(query, update, arrayFilters, env);
    validateDocument(coll, doc, { bypass, logger: ctx.logger });
    ctx.access.insert(coll, doc);
    return {
      reply: { lastErrorObject: { n: 1, updatedExisting: false, upserted: doc._id }, value: project(returnNew ? doc : null) },
      failed: false,
    };
  }
  return { reply: { lastErrorObject: { n: 0, updatedExisting: false }, value: null }, failed: false };
}

// ---------------------------------------------------------------------------------------------------------
// Catalog commands

const UNSUPPORTED_CREATE_OPTIONS = [
  'capped', 'size', 'max', 'viewOn', 'pipeline', 'timeseries',
  'clusteredIndex', 'changeStreamPreAndPostImages', 'expireAfterSeconds', 'storageEngine', 'indexOptionDefaults',
  'encryptedFields',
];

function create(ctx: CommandContext): Doc {
  const name = nameArg(ctx, 'create');
  validateNamespace(ctx.db, name);
  for (const opt of UNSUPPORTED_CREATE_OPTIONS) {
    if (ctx.body[opt] !== undefined) fail(ErrorCodes.InvalidOptions, `collection option '${opt}' is not supported by the embedded engine`);
  }
  refuse(ctx, []);
  const validation = createValidationOptions(ctx.body);
  if (ctx.access.collection(ctx.db, name)) fail(ErrorCodes.NamespaceExists, `Collection ${ctx.db}.${name} already exists.`);
  const coll = ctx.access.ensureCollection(ctx.db, name);
  if (Object.keys(validation).length) ctx.catalog.setOptions(coll, { ...coll.options, ...validation });
  return {};
}

function drop(ctx: CommandContext): Doc {
  const name = nameArg(ctx, 'drop');
  const coll = ctx.catalog.get(ctx.db, name);
  if (!coll) return { ns: ns(ctx, name) };
  const nIndexesWas = coll.indexes.size;
  ctx.catalog.drop(ctx.db, name);
  return { nIndexesWas, ns: ns(ctx, name) };
}

function dropDatabase(ctx: CommandContext): Doc {
  ctx.catalog.dropDatabase(ctx.db);
  return { dropped: ctx.db };
}

function listCollections(ctx: CommandContext): Doc {
  const filter = compileFilter(docArg(ctx.body.filter, 'filter'));
  const nameOnly = ctx.body.nameOnly === true;
  const docs = ctx.catalog
    .list(ctx.db)
    .map((c) => ({
      name: c.name,
      type: 'collection',
      options: c.options,
      info: { readOnly: false, uuid: c.uuid },
      idIndex: { v: 2, key: { _id: 1 }, name: '_id_' },
    }))
    .filter((d) => filter.test(d as Doc))
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((d) => (nameOnly ? { name: d.name, type: d.type } : d));
  const cursor = docArg(ctx.body.cursor, 'cursor');
  return { cursor: ctx.cursors.first(`${ctx.db}.$cmd.listCollections`, docs, batchSizeOf(cursor?.batchSize, undefined)) };
}

function createIndexes(ctx: CommandContext): Doc {
  const name = nameArg(ctx, 'createIndexes');
  validateNamespace(ctx.db, name);
  const specs = ctx.body.indexes;
  if (!Array.isArray(specs) || specs.length === 0) fail(ErrorCodes.BadValue, 'Must specify at least one index to create');
  const validated = (specs as unknown[]).map(validateIndexSpec);
  const existed = ctx.catalog.get(ctx.db, name) !== undefined;
  const coll = ctx.catalog.ensure(ctx.db, name);
  const numIndexesBefore = coll.indexes.size;
  let created = 0;
  for (const spec of validated) {
    const clean: IndexSpec = { v: 2, key: spec.key, name: spec.name };
    for (const opt of ['unique', 'sparse', 'partialFilterExpression', 'expireAfterSeconds', 'hidden'] as const) {
      if (spec[opt] !== undefined) clean[opt] = spec[opt] as never;
    }
    if (coll.checkNewIndex(clean) === 'new') {
      ctx.catalog.createIndex(coll, clean);
      created++;
    }
  }
  const reply: Doc = { numIndexesBefore, numIndexesAfter: coll.indexes.size, createdCollectionAutomatically: !existed };
  if (created === 0) reply.note = 'all indexes already exist';
  return reply;
}

function listIndexes(ctx: CommandContext): Doc {
  const name = nameArg(ctx, 'listIndexes');
  const coll = ctx.catalog.get(ctx.db, name);
  if (!coll) fail(ErrorCodes.NamespaceNotFound, `ns does not exist: ${ns(ctx, name)}`);
  const docs = [...coll!.indexes.values()].map((ix) => ({ ...ix.spec, v: 2 }));
  const cursor = docArg(ctx.body.cursor, 'cursor');
  return { cursor: ctx.cursors.first(ns(ctx, name), docs, batchSizeOf(cursor?.batchSize, undefined)) };
}

function dropIndexes(ctx: CommandContext): Doc {
  const name = nameArg(ctx, 'dropIndexes');
  const coll = ctx.catalog.get(ctx.db, name);
  if (!coll) fail(ErrorCodes.NamespaceNotFound, `ns not found ${ns(ctx, name)}`);
  const c = coll!;
  const nIndexesWas = c.indexes.size;
  const arg = ctx.body.index;
  let names: string[];
  if (arg === '*') names = [...c.indexes.keys()].filter((n) => n !== '_id_');
  else if (typeof arg === 'string') names = [arg];
  else if (Array.isArray(arg)) names = arg.map(String);
  else if (isPlainObject(arg)) {
    const match = [...c.indexes.values()].find((ix) => valuesEqual(ix.spec.key, arg));
    if (!match) fail(ErrorCodes.IndexNotFound, `can't find index with key: ${JSON.stringify(arg)}`);
    names = [match!.name];
  } else return fail(ErrorCodes.TypeMismatch, "BSON field 'index' must be a string, an array or an object");
  for (const n of names) {
    if (n === '_id_') fail(ErrorCodes.InvalidOptions, 'cannot drop _id index');
    if (!c.indexes.has(n)) fail(ErrorCodes.IndexNotFound, `index not found with name [${n}]`);
  }
  for (const n of names) ctx.catalog.dropIndex(c, n);
  return { nIndexesWas };
}

// ---------------------------------------------------------------------------------------------------------

export type CommandKind = 'read' | 'write' | 'catalog' | 'admin';

export interface CommandDef {
  kind: CommandKind;
  /** Fields this command accepts besides the generic ones; any other field is refused (40415). Unset: not checked. */
  fields?: string[];
  /** Allowed inside a multi-document transaction. */
  inTransaction?: boolean;
  /** A retryable write: replies are remembered per session and txnNumber. */
  retryable?: boolean;
  run: (ctx: CommandContext) => Doc | WriteOutcome;
}

const ok = (): Doc => ({});

export const COMMANDS: Record<string, CommandDef> = {
  hello: { kind: 'admin', run: hello },
  ismaster: { kind: 'admin', run: hello },
  isMaster: { kind: 'admin', run: hello },
  ping: { kind: 'admin', run: ok },
  buildInfo: { kind: 'admin', run: buildInfo },
  buildinfo: { kind: 'admin', run: buildInfo },
  serverStatus: { kind: 'admin', run: serverStatus },
  listDatabases: { kind: 'admin', run: listDatabases },
  connectionStatus: { kind: 'admin', run: () => ({ authInfo: { authenticatedUsers: [], authenticatedUserRoles: [] } }) },
  whatsmyuri: { kind: 'admin', run: (ctx) => ({ you: `127.0.0.1:${ctx.connectionId}` }) },
  getCmdLineOpts: { kind: 'admin', run: () => ({ argv: process.argv.slice(1), parsed: {} }) },
  hostInfo: { kind: 'admin', run: () => ({ system: { hostname: os.hostname(), numCores: os.cpus().length, memSizeMB: Math.round(os.totalmem() / 2 ** 20) }, os: { type: os.type() } }) },
  getParameter: {
    kind: 'admin',
    run: (ctx) => {
      if (ctx.body.featureCompatibilityVersion !== undefined) return { featureCompatibilityVersion: { version: '7.0' } };
      return fail(ErrorCodes.InvalidOptions, 'no option found to get');
    },
  },
  getLog: { kind: 'admin', run: () => ({ totalLinesWritten: 0, log: [] }) },
  find: { kind: 'read', inTransaction: true, fields: ['filter', 'sort', 'projection', 'hint', 'skip', 'limit', 'batchSize', 'singleBatch', 'max', 'min', 'returnKey', 'showRecordId', 'tailable', 'oplogReplay', 'noCursorTimeout', 'awaitData', 'allowPartialResults', 'collation', 'allowDiskUse', 'let'], run: find },
  explain: { kind: 'read', fields: ['explain', 'verbosity'], run: explain },
  getMore: { kind: 'read', inTransaction: true, fields: ['collection', 'batchSize', 'term', 'lastKnownCommittedOpTime'], run: getMore },
  killCursors: { kind: 'read', inTransaction: true, fields: ['cursors'], run: killCursors },
  count: { kind: 'read', fields: ['query', 'limit', 'skip', 'hint', 'collation', 'fields'], run: count },
  distinct: { kind: 'read', inTransaction: true, fields: ['key', 'query', 'collation'], run: distinct }, // hint: 7.1+
  aggregate: { kind: 'read', inTransaction: true, fields: ['pipeline', 'explain', 'allowDiskUse', 'cursor', 'bypassDocumentValidation', 'collation', 'hint', 'let'], run: aggregate },
  insert: { kind: 'write', inTransaction: true, retryable: true, fields: ['documents', 'ordered', 'bypassDocumentValidation'], run: insert },
  update: { kind: 'write', inTransaction: true, retryable: true, fields: ['updates', 'ordered', 'bypassDocumentValidation', 'let'], run: update },
  delete: { kind: 'write', inTransaction: true, retryable: true, fields: ['deletes', 'ordered', 'let'], run: remove },
  findAndModify: { kind: 'write', inTransaction: true, retryable: true, fields: ['query', 'sort', 'remove', 'update', 'new', 'fields', 'upsert', 'bypassDocumentValidation', 'arrayFilters', 'hint', 'let', 'collation'], run: findAndModify },
  findandmodify: { kind: 'write', inTransaction: true, retryable: true, fields: ['query', 'sort', 'remove', 'update', 'new', 'fields', 'upsert', 'bypassDocumentValidation', 'arrayFilters', 'hint', 'let', 'collation'], run: findAndModify },
  create: { kind: 'catalog', inTransaction: true, run: create },
  drop: { kind: 'catalog', fields: [], run: drop },
  dropDatabase: { kind: 'catalog', fields: [], run: dropDatabase },
  listCollections: { kind: 'read', fields: ['filter', 'nameOnly', 'authorizedCollections', 'cursor'], run: listCollections },
  createIndexes: { kind: 'catalog', fields: ['indexes', 'commitQuorum'], run: createIndexes },
  listIndexes: { kind: 'read', fields: ['cursor'], run: listIndexes },
  dropIndexes: { kind: 'catalog', fields: ['index'], run: dropIndexes },
  deleteIndexes: { kind: 'catalog', fields: ['index'], run: dropIndexes },
  collMod: { kind: 'catalog', fields: COLL_MOD_FIELDS, run: collMod },
};

/** Fields any command may carry: routing, sessions, transactions, concerns, API versioning. */
const GENERIC_FIELDS = new Set([
  '$db', 'lsid', 'txnNumber', 'autocommit', 'startTransaction', '$clusterTime', '$readPreference', 'readConcern',
  'writeConcern', 'comment', 'maxTimeMS', 'apiVersion', 'apiStrict', 'apiDeprecationErrors', 'mayBypassWriteBlocking',
  '$client',
]);

/** MongoDB refuses fields a command does not know; so does the engine, rather than ignoring them. */
export function checkFields(name: string, def: CommandDef, body: Doc): void {
  if (!def.fields) return;
  const keys = Object.keys(body);
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i];
    if (!GENERIC_FIELDS.has(k) && !def.fields.includes(k)) {
      fail(ErrorCodes.Location40415, `BSON field '${name}.${k}' is an unknown field.`, { codeName: 'Location40415' });
    }
  }
}

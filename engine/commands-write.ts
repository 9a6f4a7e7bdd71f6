// Writes: insert, update, delete, findAndModify; each statement's failure is a write error of its own.
import { ObjectId } from 'bson';
import { type CommandContext, docArg, intArg, nameArg, ns, refuse } from './command-context.ts';
import { findEntries } from './commands-read.ts';
import { type Entry, entryFromBytes } from './collection.ts';
import { ErrorCodes, MongoServerError, fail } from './errors.ts';
import { applyProjection, validateProjection } from './projection.ts';
import { FieldNames, pickFields, startsWithId } from './raw-bson.ts';
import { decodeSequenceDoc, rawDocumentsOf } from './wire.ts';
import { validateNamespace } from './catalog.ts';
import { compileFilter } from './query.ts';
import { applyReplacement, applyUpdate, isOperatorUpdate, upsertSeed } from './update.ts';
import { resolveHint, restrictToHint } from './hints.ts';
import { type PipelineUpdateContext, applyPipelineUpdate, checkUpdatePipeline } from './pipeline-update.ts';
import { validateDocument, validatorApplies } from './validation.ts';
import { bindFilter, parseLet } from './variables.ts';
import { valuesEqual } from './value-order.ts';
import { type Doc, isPlainObject } from './values.ts';

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

export interface WriteOutcome {
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

export function insert(ctx: CommandContext): WriteOutcome {
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

export function update(ctx: CommandContext): WriteOutcome {
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

export function remove(ctx: CommandContext): WriteOutcome {
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

export function findAndModify(ctx: CommandContext): WriteOutcome {
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

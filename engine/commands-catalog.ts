// Catalog commands: collections and indexes created, listed and dropped.
import { type CommandContext, docArg, nameArg, ns, refuse } from './command-context.ts';
import { validateNamespace } from './catalog.ts';
import { type IndexSpec, validateIndexSpec } from './collection.ts';
import { batchSizeOf } from './cursors.ts';
import { ErrorCodes, fail } from './errors.ts';
import { compileFilter } from './query.ts';
import { createValidationOptions } from './validation.ts';
import { valuesEqual } from './value-order.ts';
import { type Doc, isPlainObject } from './values.ts';

const UNSUPPORTED_CREATE_OPTIONS = [
  'capped', 'size', 'max', 'viewOn', 'pipeline', 'timeseries',
  'clusteredIndex', 'changeStreamPreAndPostImages', 'expireAfterSeconds', 'storageEngine', 'indexOptionDefaults',
  'encryptedFields',
];

export function create(ctx: CommandContext): Doc {
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

export function drop(ctx: CommandContext): Doc {
  const name = nameArg(ctx, 'drop');
  const coll = ctx.catalog.get(ctx.db, name);
  if (!coll) return { ns: ns(ctx, name) };
  const nIndexesWas = coll.indexes.size;
  ctx.catalog.drop(ctx.db, name);
  return { nIndexesWas, ns: ns(ctx, name) };
}

export function dropDatabase(ctx: CommandContext): Doc {
  ctx.catalog.dropDatabase(ctx.db);
  return { dropped: ctx.db };
}

export function listCollections(ctx: CommandContext): Doc {
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

export function createIndexes(ctx: CommandContext): Doc {
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

export function listIndexes(ctx: CommandContext): Doc {
  const name = nameArg(ctx, 'listIndexes');
  const coll = ctx.catalog.get(ctx.db, name);
  if (!coll) fail(ErrorCodes.NamespaceNotFound, `ns does not exist: ${ns(ctx, name)}`);
  const docs = [...coll!.indexes.values()].map((ix) => ({ ...ix.spec, v: 2 }));
  const cursor = docArg(ctx.body.cursor, 'cursor');
  return { cursor: ctx.cursors.first(ns(ctx, name), docs, batchSizeOf(cursor?.batchSize, undefined)) };
}

export function dropIndexes(ctx: CommandContext): Doc {
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

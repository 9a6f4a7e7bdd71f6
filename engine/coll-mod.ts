// The collMod command (src/mongo/db/catalog/coll_mod.cpp): hiding and unhiding an index, changing a TTL index's
// expireAfterSeconds, and the collection's validator, validationLevel and validationAction. Changes go through
// the catalog (Catalog.setIndexSpec / Catalog.setOptions), which keeps them with the collection's stored
// description, so they survive a restart. Views, time series, capped sizes, change stream pre-images and
// unique-index conversion are refused as not supported.
import { Long } from 'bson';
import type { CommandContext } from './command-context.ts';
import type { Collection, Index, IndexSpec } from './collection.ts';
import { ErrorCodes, fail } from './errors.ts';
import { typeName } from './value-strings.ts';
import { checkValidator, validationActionArg, validationLevelArg } from './validation.ts';
import { type Doc, bsonType, isNumeric, isPlainObject, toNumber } from './values.ts';
import { valuesEqual } from './value-order.ts';

/** Fields collMod knows (anything else: 40415); the ones after `index` ... `validationAction` are refused. */
export const COLL_MOD_FIELDS = [
  'index', 'validator', 'validationLevel', 'validationAction', 'viewOn', 'pipeline', 'expireAfterSeconds', 'timeseries',
  'changeStreamPreAndPostImages', 'cappedSize', 'cappedMax', 'recordPreImages', 'dryRun', 'collectionUUID',
];

const UNSUPPORTED = ['viewOn', 'pipeline', 'expireAfterSeconds', 'timeseries', 'changeStreamPreAndPostImages', 'cappedSize', 'cappedMax', 'recordPreImages', 'dryRun'];

/** index.expireAfterSeconds as collMod coerces it: truncated toward zero, clamped to int32, NaN as 0. */
function ttlSeconds(v: unknown): number {
  if (!isNumeric(v) || typeof v === 'boolean') {
    fail(ErrorCodes.TypeMismatch, `BSON field 'collMod.index.expireAfterSeconds' is the wrong type '${typeName(v)}', expected types '[long, int, decimal, double]'`);
  }
  let n = toNumber(v);
  if (Number.isNaN(n)) n = 0;
  if (bsonType(v) === 'Decimal128') {
    // Decimal128 rounds half to even rather than truncating.
    const f = Math.floor(n);
    const diff = n - f;
    n = diff > 0.5 || (diff === 0.5 && f % 2 !== 0) ? f + 1 : f;
  } else n = Math.trunc(n);
  if (n < 0) fail(ErrorCodes.InvalidOptions, `TTL index 'expireAfterSeconds' option must be within an acceptable range, try a lower number: ${n}`);
  return Math.min(n, 2147483647);
}

function findIndex(coll: Collection, spec: Doc): Index {
  const hasName = spec.name !== undefined;
  const hasKey = spec.keyPattern !== undefined;
  if (hasName && hasKey) fail(ErrorCodes.InvalidOptions, 'Cannot specify both key pattern and name.');
  if (!hasName && !hasKey) fail(ErrorCodes.InvalidOptions, 'Must specify either index name or key pattern.');
  if (hasName) {
    if (typeof spec.name !== 'string') fail(ErrorCodes.TypeMismatch, `BSON field 'collMod.index.name' is the wrong type '${typeName(spec.name)}', expected type 'string'`);
    const index = coll.indexes.get(spec.name as string);
    if (!index) fail(ErrorCodes.IndexNotFound, `cannot find index ${spec.name} for ns ${coll.ns}`);
    return index!;
  }
  if (!isPlainObject(spec.keyPattern)) {
    fail(ErrorCodes.TypeMismatch, `BSON field 'collMod.index.keyPattern' is the wrong type '${typeName(spec.keyPattern)}', expected type 'object'`);
  }
  const matches = [...coll.indexes.values()].filter((ix) => valuesEqual(ix.spec.key, spec.keyPattern));
  if (matches.length === 0) fail(ErrorCodes.IndexNotFound, `cannot find index ${JSON.stringify(spec.keyPattern)} for ns ${coll.ns}`);
  if (matches.length > 1) fail(ErrorCodes.AmbiguousIndexKeyPattern, `index keyPattern ${JSON.stringify(spec.keyPattern)} matches ${matches.length} indexes, must use index name`);
  return matches[0];
}

function modifyIndex(coll: Collection, arg: unknown, catalog: CommandContext['catalog'], reply: Doc): void {
  if (!isPlainObject(arg)) fail(ErrorCodes.TypeMismatch, `BSON field 'collMod.index' is the wrong type '${typeName(arg)}', expected type 'object'`);
  const spec = arg as Doc;
  for (const k of Object.keys(spec)) {
    if (!['name', 'keyPattern', 'hidden', 'expireAfterSeconds', 'unique', 'prepareUnique', 'forceNonUnique'].includes(k)) {
      fail(ErrorCodes.Location40415, `BSON field 'collMod.index.${k}' is an unknown field.`, { codeName: 'Location40415' });
    }
  }
  const index = findIndex(coll, spec);
  const has = (k: string) => spec[k] !== undefined && spec[k] !== null;
  if (!has('hidden') && !has('expireAfterSeconds') && !has('unique') && !has('prepareUnique') && !has('forceNonUnique')) {
    fail(ErrorCodes.InvalidOptions, 'no expireAfterSeconds, hidden, unique, or prepareUnique field');
  }
  if (has('unique') || has('prepareUnique') || has('forceNonUnique')) {
    fail(ErrorCodes.NotImplemented, 'collMod: converting an index to or from unique is not supported by the embedded engine');
  }
  const next: IndexSpec = { ...index.spec };
  if (has('expireAfterSeconds')) {
    const seconds = ttlSeconds(spec.expireAfterSeconds);
    if (index.name === '_id_') fail(ErrorCodes.InvalidOptions, 'the _id field does not support TTL indexes');
    if (Object.keys(index.spec.key).length !== 1) fail(ErrorCodes.InvalidOptions, 'TTL indexes are single-field indexes, compound indexes do not support TTL');
    if (index.spec.expireAfterSeconds !== undefined) reply.expireAfterSeconds_old = Long.fromNumber(toNumber(index.spec.expireAfterSeconds));
    reply.expireAfterSeconds_new = Long.fromNumber(seconds);
    next.expireAfterSeconds = seconds;
  }
  if (has('hidden')) {
    if (typeof spec.hidden !== 'boolean') fail(ErrorCodes.TypeMismatch, `BSON field 'collMod.index.hidden' is the wrong type '${typeName(spec.hidden)}', expected type 'bool'`);
    if (index.name === '_id_') fail(ErrorCodes.BadValue, 'can\'t hide _id index');
    const was = index.spec.hidden === true;
    if (was !== spec.hidden) {
      reply.hidden_old = was;
      reply.hidden_new = spec.hidden;
    }
    if (spec.hidden) next.hidden = true;
    else delete next.hidden;
  }
  catalog.setIndexSpec(coll, index, next);
}

export function collMod(ctx: CommandContext): Doc {
  const name = ctx.body.collMod;
  if (typeof name !== 'string' || name === '') fail(ErrorCodes.InvalidNamespace, `collection name has invalid type ${typeName(name)}`);
  for (const f of UNSUPPORTED) {
    if (ctx.body[f] !== undefined) fail(ErrorCodes.NotImplemented, `collMod option '${f}' is not supported by the embedded engine`);
  }
  const coll = ctx.catalog.get(ctx.db, name as string);
  if (!coll) fail(ErrorCodes.NamespaceNotFound, 'ns does not exist');
  const c = coll!;
  const catalog = ctx.catalog;
  const reply: Doc = {};
  // Everything is checked before anything changes.
  const validator = ctx.body.validator !== undefined && ctx.body.validator !== null ? checkValidator(ctx.body.validator, 'collMod') : undefined;
  const level = validationLevelArg(ctx.body.validationLevel, 'collMod');
  const action = validationActionArg(ctx.body.validationAction, 'collMod');
  if (ctx.body.index !== undefined) modifyIndex(c, ctx.body.index, catalog, reply);
  if (validator !== undefined || level || action) {
    const options: Doc = { ...c.options };
    if (validator !== undefined) {
      options.validator = validator;
      options.validationLevel ??= 'strict';
      options.validationAction ??= 'error';
    }
    if (level) options.validationLevel = level;
    if (action) options.validationAction = action;
    catalog.setOptions(c, options);
  }
  return reply;
}

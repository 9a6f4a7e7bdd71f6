// Database-level aggregation, `{aggregate: 1}` (db.aggregate() in the driver), with a leading $documents stage:
// the documents it lists (an array, or an expression giving one) go through the rest of the pipeline. Other
// collection-less first stages ($currentOp, $listLocalSessions, $changeStream ...) are not supported; a stage
// that needs a collection answers InvalidNamespace as MongoDB does.
import { evalExpr } from 'mingo/core';
import { CONTEXT, changeStreamsUnsupported, runPipeline, validatePipeline } from './aggregation.ts';
import type { CommandContext } from './command-context.ts';
import { batchSizeOf } from './cursors.ts';
import { ErrorCodes, MongoServerError } from './errors.ts';
import { exactValue } from './exact-values.ts';
import { type Vars, bindExpression, mingoVariables } from './variables.ts';
import { type Doc, cloneValue, isPlainObject, toView } from './values.ts';

const NOT_SUPPORTED = new Set(['$currentOp', '$listLocalSessions', '$listSessions', '$querySettings', '$listClusterCatalog', '$queryStats']);

/** The documents of a $documents stage, in exact form. */
function documentsOf(arg: unknown, vars: Vars | undefined): Doc[] {
  let docs: unknown;
  if (Array.isArray(arg) && !JSON.stringify(toView(arg) ?? null).includes('"$')) docs = cloneValue(arg);
  else {
    try {
      docs = exactValue(evalExpr({}, toView(bindExpression(arg, vars, new Date())), { context: CONTEXT, variables: mingoVariables(vars), scriptEnabled: false } as never));
    } catch (err) {
      if (err instanceof MongoServerError) throw err;
      throw new MongoServerError(ErrorCodes.BadValue, `$documents: ${(err as Error).message}`);
    }
  }
  if (!Array.isArray(docs)) throw new MongoServerError(5858203, 'an array is expected', { codeName: 'Location5858203' });
  return docs.map((d) => {
    if (!isPlainObject(d)) {
      throw new MongoServerError(40228, `'replacement document' must evaluate to an object, but resulting value was: ${JSON.stringify(toView(d))}`, {
        codeName: 'Location40228',
      });
    }
    return d;
  });
}

/** The reply of `{aggregate: 1, pipeline: [{$documents: ...}, ...], cursor: {...}}`. */
export function collectionlessAggregate(ctx: CommandContext, vars: Vars | undefined): Doc {
  const pipeline = ctx.body.pipeline;
  if (!Array.isArray(pipeline)) throw new MongoServerError(ErrorCodes.TypeMismatch, "'pipeline' option must be specified as an array");
  if (!isPlainObject(ctx.body.cursor)) throw new MongoServerError(ErrorCodes.FailedToParse, "The 'cursor' option is required, except for aggregate with the explain argument");
  const first = pipeline[0];
  const firstName = isPlainObject(first) ? Object.keys(first)[0] : undefined;
  if (firstName !== '$documents') {
    if (firstName === '$changeStream') throw changeStreamsUnsupported();
    if (firstName && NOT_SUPPORTED.has(firstName)) {
      throw new MongoServerError(ErrorCodes.NotImplemented, `${firstName} is not supported by the embedded engine`);
    }
    throw new MongoServerError(ErrorCodes.InvalidNamespace, `{aggregate: 1} is not valid for '${firstName ?? ''}'; a collection is required.`);
  }
  const docs = documentsOf((first as Doc).$documents, vars);
  const rest = validatePipeline(pipeline.slice(1));
  const resolve = (other: string): Doc[] => {
    const c = ctx.access.collection(ctx.db, other);
    return c ? ctx.access.all(c).map((e) => cloneValue(e.view)) : [];
  };
  const out = rest.length ? runPipeline({ exact: docs, views: docs.map((d) => toView(d) as Doc) }, rest, resolve, mingoVariables(vars)) : docs;
  const cursor = ctx.body.cursor as Doc;
  return { cursor: ctx.cursors.first(`${ctx.db}.$cmd.aggregate`, out, batchSizeOf(cursor.batchSize, undefined)) };
}

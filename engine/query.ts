// Filters, sorts and aggregation through mingo, over the view form of documents (see values.ts).
import { Aggregator, Query } from 'mingo';
import { ErrorCodes, MongoServerError } from './errors.ts';
import { type Doc, compareValues, isPlainObject, pathValuesForIndex, toView } from './values.ts';

// $where, $function and $accumulator would run client-supplied JavaScript inside the server process.
const MINGO_OPTIONS = { scriptEnabled: false } as const;

const translate = (err: unknown, what: string): MongoServerError => {
  if (err instanceof MongoServerError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (/unknown|not supported|invalid|unsupported/i.test(message) && /\$\w+/.test(message)) {
    const op = /\$\w+/.exec(message)?.[0] ?? '';
    return new MongoServerError(ErrorCodes.BadValue, `unknown operator: ${op}`, { codeName: 'BadValue' });
  }
  return new MongoServerError(ErrorCodes.BadValue, `${what}: ${message}`);
};

export interface Matcher {
  test(view: Doc): boolean;
}

const matchAll: Matcher = { test: () => true };

const SCALAR_TYPES = new Set(['ObjectId', 'Int32', 'Double', 'Long', 'Decimal128']);

/** Values for which equality is plain BSON-order equality (no null/missing, regex, array or document rules). */
const isSimpleScalar = (v: unknown): boolean =>
  typeof v === 'string' ||
  typeof v === 'boolean' ||
  (typeof v === 'number' && !Number.isNaN(v)) ||
  v instanceof Date ||
  SCALAR_TYPES.has((v as { _bsontype?: string } | null)?._bsontype ?? '');

/**
 * Filters made only of `field: scalar` equalities are by far the most common (lookups by id or key), and
 * mingo's per-query set-up costs more than evaluating them; they are matched directly, with MongoDB's rule
 * that a path through arrays matches when any element equals the value.
 */
function equalityMatcher(filter: Doc): Matcher | undefined {
  const entries = Object.entries(filter);
  if (entries.length > 4) return undefined;
  for (const [k, v] of entries) if (k.startsWith('$') || !isSimpleScalar(v)) return undefined;
  const conds = entries.map(([path, v]) => {
    const want = toView(v);
    const equal = (have: unknown) => have !== undefined && compareValues(have, want) === 0;
    if (path.includes('.')) return (view: Doc) => pathValuesForIndex(view, path).some(equal);
    return (view: Doc) => {
      const have = view[path];
      return Array.isArray(have) ? have.some(equal) : equal(have);
    };
  });
  return { test: (view) => conds.every((c) => c(view)) };
}

/** Compiles a filter given in exact form. An empty filter matches everything without calling mingo. */
export function compileFilter(filter: Doc | undefined | null): Matcher {
  if (!filter || Object.keys(filter).length === 0) return matchAll;
  if (!isPlainObject(filter)) throw new MongoServerError(ErrorCodes.TypeMismatch, 'filter must be an object');
  const fast = equalityMatcher(filter);
  if (fast) return fast;
  try {
    const q = new Query(toView(filter) as Doc, MINGO_OPTIONS);
    return {
      test: (view) => {
        try {
          return q.test(view);
        } catch (err) {
          throw translate(err, 'invalid filter');
        }
      },
    };
  } catch (err) {
    throw translate(err, 'invalid filter');
  }
}

// ---------------------------------------------------------------------------------------------------------
// Sorting by MongoDB's rules: array fields sort by their smallest element ascending, largest descending.

export type SortSpec = Array<[path: string, direction: 1 | -1]>;

export function parseSort(sort: unknown): SortSpec | undefined {
  if (sort === undefined || sort === null) return undefined;
  if (!isPlainObject(sort)) throw new MongoServerError(ErrorCodes.TypeMismatch, 'sort must be an object');
  const spec: SortSpec = [];
  for (const [path, raw] of Object.entries(sort)) {
    const dir = Number(toView(raw));
    if (dir !== 1 && dir !== -1) {
      if (isPlainObject(raw) && '$meta' in raw) throw new MongoServerError(ErrorCodes.BadValue, '$meta sort is not supported');
      throw new MongoServerError(ErrorCodes.BadValue, `$sort key ordering must be 1 (for ascending) or -1 (for descending)`);
    }
    spec.push([path, dir]);
  }
  return spec.length ? spec : undefined;
}

function sortKey(doc: Doc, path: string, dir: 1 | -1): unknown {
  const values = pathValuesForIndex(doc, path);
  if (values.length === 0) return null;
  let best = values[0];
  for (let i = 1; i < values.length; i++) {
    const c = compareValues(values[i], best);
    if ((dir === 1 && c < 0) || (dir === -1 && c > 0)) best = values[i];
  }
  return best === undefined ? null : best;
}

/** Sorts items by their exact documents; stable, as MongoDB's sort is for equal keys in practice. */
export function sortBy<T>(items: T[], spec: SortSpec, docOf: (t: T) => Doc): T[] {
  const keyed = items.map((item, i) => ({ item, i, keys: spec.map(([p, d]) => sortKey(docOf(item), p, d)) }));
  keyed.sort((a, b) => {
    for (let k = 0; k < spec.length; k++) {
      const c = compareValues(a.keys[k], b.keys[k]);
      if (c) return c * spec[k][1];
    }
    return a.i - b.i;
  });
  return keyed.map((k) => k.item);
}

// ---------------------------------------------------------------------------------------------------------
// Aggregation.

/** Stages the engine runs through mingo; anything else is refused with MongoDB's "Unrecognized pipeline stage". */
const SUPPORTED_STAGES = new Set([
  '$match', '$group', '$sort', '$project', '$unwind', '$lookup', '$facet', '$count', '$limit', '$skip',
  '$addFields', '$set', '$unset', '$replaceRoot', '$replaceWith', '$sortByCount', '$bucket', '$bucketAuto',
  '$sample', '$redact', '$graphLookup', '$unionWith', '$setWindowFields', '$densify', '$fill',
]);

export function validatePipeline(pipeline: unknown): Doc[] {
  if (!Array.isArray(pipeline)) throw new MongoServerError(ErrorCodes.TypeMismatch, "'pipeline' option must be specified as an array");
  for (const stage of pipeline) {
    if (!isPlainObject(stage) || Object.keys(stage).length !== 1) {
      throw new MongoServerError(ErrorCodes.Location40323, 'A pipeline stage specification object must contain exactly one field.');
    }
    const name = Object.keys(stage)[0];
    if (name === '$out' || name === '$merge') {
      throw new MongoServerError(ErrorCodes.NotImplemented, `${name} is not supported by the embedded engine`);
    }
    if (!SUPPORTED_STAGES.has(name)) {
      throw new MongoServerError(ErrorCodes.Location40324, `Unrecognized pipeline stage name: '${name}'`, { codeName: 'Location40324' });
    }
  }
  return pipeline as Doc[];
}

// Stages that never modify the documents they receive, so stored views can be handed to mingo as they are and
// documents that pass through unchanged map back to their exact form. Other stages may write into their
// input objects, so they get copies.
const READ_ONLY_STAGES = new Set(['$match', '$sort', '$limit', '$skip', '$count', '$group', '$sortByCount']);

export function isReadOnlyPipeline(pipeline: Doc[]): boolean {
  return pipeline.every((stage) => {
    const [name, arg] = Object.entries(stage)[0];
    if (name === '$facet' && isPlainObject(arg)) return Object.values(arg).every((sub) => Array.isArray(sub) && isReadOnlyPipeline(sub as Doc[]));
    return READ_ONLY_STAGES.has(name);
  });
}

export function runPipeline(views: Doc[], pipeline: Doc[], resolveCollection: (name: string) => Doc[]): Doc[] {
  try {
    const agg = new Aggregator(toView(pipeline) as Doc[], { ...MINGO_OPTIONS, collectionResolver: resolveCollection });
    return agg.run(views) as Doc[];
  } catch (err) {
    throw translate(err, 'aggregation failed');
  }
}

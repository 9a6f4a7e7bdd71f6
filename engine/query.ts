// Filters (see matcher.ts) and sorts.
export type { Matcher } from './matcher.ts';
import { type Matcher, compileMatcher } from './matcher.ts';
import { ErrorCodes, MongoServerError } from './errors.ts';
import { type Doc, isPlainObject, pathValuesForIndex, toView } from './values.ts';
import { compareValues } from './value-order.ts';

const matchAll: Matcher = { test: () => true, fields: [] };

/** Compiles a filter given in exact form. An empty filter matches everything. */
export function compileFilter(filter: Doc | undefined | null): Matcher {
  if (!filter || Object.keys(filter).length === 0) return matchAll;
  if (!isPlainObject(filter)) throw new MongoServerError(ErrorCodes.TypeMismatch, 'filter must be an object');
  return compileMatcher(filter);
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

// Index hints (find, count, aggregate, update and delete statements, findAndModify): an index name or a key
// pattern, resolved against the collection's indexes before anything is read. A hint that names no index, or
// only a hidden one, fails as the query planner fails (BadValue, "hint provided does not correspond to an
// existing index"); a key pattern that two indexes share must be hinted by name (IndexNotFound). `{$natural: 1}`
// and `{$natural: -1}` ask for a scan in storage order. Against a collection that does not exist any hint is
// accepted (there is nothing to plan), and an empty document means no hint.
import type { Collection, Entry } from './collection.ts';
import { ErrorCodes, MongoServerError } from './errors.ts';
import { type Doc, isPlainObject, toNumber, toView } from './values.ts';

/** What the storage layer gets: an index name, or '$natural' with a direction. */
export interface ResolvedHint {
  hint?: string;
  naturalDirection?: 1 | -1;
}

const noSuchIndex = (ns: string): MongoServerError =>
  new MongoServerError(
    ErrorCodes.BadValue,
    `error processing query: ns=${ns} planner returned error :: caused by :: hint provided does not correspond to an existing index`,
  );

const sameKeyPattern = (a: Doc, b: Doc): boolean => {
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k, i) => {
    if (kb[i] !== k) return false;
    // Directions compare by value (1, 1.0, Long(1), Decimal128('1') are one direction); special types by name.
    return toView(a[k]) === toView(b[k]);
  });
};

/** Resolves a command's `hint` against the collection (undefined when it does not exist). */
export function resolveHint(coll: Collection | undefined, hint: unknown, ns: string): ResolvedHint {
  if (hint === undefined) return {};
  if (typeof hint !== 'string' && !isPlainObject(hint)) {
    throw new MongoServerError(ErrorCodes.FailedToParse, 'hint must be either a string (an index name) or a document (a key pattern)');
  }
  if (isPlainObject(hint)) {
    const keys = Object.keys(hint);
    if (keys.length === 0) return {};
    if (keys.includes('$natural')) {
      if (keys.length !== 1) throw new MongoServerError(ErrorCodes.BadValue, '$natural hint cannot be combined with other fields');
      return { hint: '$natural', naturalDirection: toNumber(hint.$natural) < 0 ? -1 : 1 };
    }
  }
  if (!coll) return {};
  const visible = [...coll.indexes.values()].filter((ix) => ix.spec.hidden !== true);
  if (typeof hint === 'string') {
    const index = visible.find((ix) => ix.name === hint);
    if (!index) throw noSuchIndex(ns);
    return { hint: index.name };
  }
  const matches = visible.filter((ix) => sameKeyPattern(ix.spec.key, hint as Doc));
  if (matches.length === 0) throw noSuchIndex(ns);
  if (matches.length > 1) {
    throw new MongoServerError(
      ErrorCodes.IndexNotFound,
      `error processing query: ns=${ns} planner returned error :: caused by :: Hint matched multiple indexes, must hint by index name. Matched: ${matches[0].name} and ${matches[1].name}`,
    );
  }
  return { hint: matches[0].name };
}

/**
 * A hinted sparse or partial index holds only some documents, and a query that scans it sees only those
 * (count with such a hint counts only indexed documents). Applied after matching; other hints pass everything.
 */
export function restrictToHint<T extends Pick<Entry, 'exact' | 'view'>>(coll: Collection | undefined, resolved: ResolvedHint, entries: Iterable<T>): Iterable<T> {
  if (!coll || !resolved.hint || resolved.hint === '$natural') return entries;
  const index = coll.indexes.get(resolved.hint);
  if (!index || (index.spec.sparse !== true && index.spec.partialFilterExpression === undefined)) return entries;
  return (function* () {
    for (const e of entries) if (index.keysOf(e) !== undefined) yield e;
  })();
}

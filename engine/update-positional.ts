// Positional matching: which element of an array made the query match (MongoDB's "elemMatchKey"), for the
// positional `$` of updates and projections.
import type { Matcher } from './matcher.ts';
import { setField } from './exact-values.ts';
import { compileQuery, hasOwn, parseIndex } from './update-tree.ts';
import { type Doc, getPath, isPlainObject } from './values.ts';

/** A shallow copy of `view` along `parts` with the value at the end replaced. */
function replaceAt(view: unknown, parts: string[], i: number, value: unknown): unknown {
  if (i === parts.length) return value;
  if (Array.isArray(view)) {
    const idx = parseIndex(parts[i]);
    if (idx === undefined) return view;
    const copy = view.slice();
    copy[idx] = replaceAt(view[idx], parts, i + 1, value);
    return copy;
  }
  if (!isPlainObject(view)) return view;
  const copy: Doc = { ...view };
  setField(copy, parts[i], replaceAt(view[parts[i]], parts, i + 1, value));
  return copy;
}

/**
 * The index of the first element of the array at `arrayParts` (in `doc`, exact form) for which the query
 * matches the document when that array is reduced to the element alone; undefined when there is none.
 */
export function matchArrayIndex(doc: Doc, arrayParts: string[], query: Doc): number | undefined {
  const arr = getPath(doc, arrayParts.join('.'));
  if (!Array.isArray(arr)) return undefined;
  let q: Matcher;
  try {
    q = compileQuery(query);
  } catch {
    return undefined;
  }
  for (let i = 0; i < arr.length; i++) {
    try {
      if (q.test(replaceAt(doc, arrayParts, 0, [arr[i]]) as Doc)) return i;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Field paths the query constrains, in order, looking through $and / $or / $nor. */
export function queryPaths(query: Doc, out: string[] = []): string[] {
  for (const [k, v] of Object.entries(query)) {
    if (k === '$and' || k === '$or' || k === '$nor') {
      if (Array.isArray(v)) for (const c of v) if (isPlainObject(c)) queryPaths(c, out);
    } else if (!k.startsWith('$')) out.push(k);
  }
  return out;
}

/** The path of the first array met when walking `parts` through `doc` (numeric parts index arrays). */
function firstArrayPrefix(doc: unknown, parts: string[]): string[] | undefined {
  let cur = doc;
  for (let i = 0; i < parts.length; i++) {
    if (Array.isArray(cur)) {
      const idx = parseIndex(parts[i]);
      if (idx === undefined) return parts.slice(0, i);
      cur = cur[idx];
    } else if (isPlainObject(cur)) {
      cur = hasOwn(cur, parts[i]) ? cur[parts[i]] : undefined;
    } else return undefined;
  }
  return Array.isArray(cur) ? parts : undefined;
}

/**
 * The array position the query matched, as MongoDB records it for the positional `$` operator, for the
 * array at `arrayParts`: when the query constrains that array, the first of its elements that satisfies the
 * query on its own; otherwise the position matched in the first array the query reaches.
 */
export function positionalMatch(doc: Doc, query: Doc | undefined, arrayParts: string[]): string | undefined {
  if (!query || !isPlainObject(query)) return undefined;
  const paths = queryPaths(query);
  const plain = arrayParts.filter((p) => parseIndex(p) === undefined).join('.');
  if (paths.some((p) => p === plain || p.startsWith(`${plain}.`))) {
    const idx = matchArrayIndex(doc, arrayParts, query);
    if (idx !== undefined) return String(idx);
  }
  for (const path of paths) {
    const prefix = firstArrayPrefix(doc, path.split('.'));
    if (!prefix) continue;
    const idx = matchArrayIndex(doc, prefix, query);
    if (idx !== undefined) return String(idx);
  }
  return undefined;
}

// find() projections as MongoDB 4.4+ applies them (src/mongo/db/query/projection_parser.cpp and the projection
// executor): inclusion or exclusion of dotted paths (through arrays of documents), `_id` included by default,
// nested sub-projections ({a: {b: 1}}), the find-only operators $slice, $elemMatch and the positional `a.$`,
// and constant literals. Aggregation expressions and $meta are refused.
import { type Matcher, compileMatcher } from './matcher.ts';
import { ErrorCodes, MongoServerError } from './errors.ts';
import { exactValue, setField } from './exact-values.ts';
import { matchArrayIndex } from './update-positional.ts';
import { typeName, valueString } from './value-strings.ts';
import { type Doc, isNumeric, isPlainObject, toNumber } from './values.ts';

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

const located = (code: number, message: string): MongoServerError => new MongoServerError(code, message, { codeName: `Location${code}` });
const badValue = (message: string): MongoServerError => new MongoServerError(ErrorCodes.BadValue, message);

type Leaf =
  | { kind: 'bool'; include: boolean }
  | { kind: 'slice'; skip?: number; limit: number }
  | { kind: 'elemMatch'; query: Matcher }
  | { kind: 'positional' }
  | { kind: 'literal'; value: unknown };

interface PNode {
  kind: 'node';
  children: Map<string, PNode | Leaf>;
}

interface Compiled {
  root: PNode;
  inclusion: boolean;
  slices: Array<{ path: string[]; skip?: number; limit: number }>;
  positional?: string[];
  query?: Doc;
  computed: boolean;
}

interface ParseContext {
  root: PNode;
  query?: Doc;
  type?: 'inclusion' | 'exclusion';
  idSpecified: boolean;
  idIncludedEntirely: boolean;
  idExcludedEntirely: boolean;
  hasPositional: boolean;
  hasElemMatch: boolean;
  hasFindSlice: boolean;
  slices: Compiled['slices'];
  positional?: string[];
}

const newNode = (): PNode => ({ kind: 'node', children: new Map() });

/** FieldPath validation. */
function fieldPath(path: string): string[] {
  if (path === '') throw located(40352, 'FieldPath cannot be constructed with empty string');
  const parts = path.split('.');
  for (const p of parts) {
    if (p === '') throw located(15998, 'FieldPath field names may not be empty strings.');
    if (p.startsWith('$') && p !== '$id' && p !== '$ref' && p !== '$db') {
      throw located(16410, "FieldPath field names may not start with '$'. Consider using $getField or $setField.");
    }
  }
  return parts;
}

function addNodeAtPath(parent: PNode, parts: string[], child: PNode | Leaf): void {
  let cur = parent;
  for (let i = 0; i < parts.length; i++) {
    const existing = cur.children.get(parts[i]);
    if (i === parts.length - 1) {
      if (existing) {
        // A sub-projection object may add to a node the dotted paths created ({'a.b': 1, a: {c: 1}}).
        if (existing.kind === 'node' && child.kind === 'node') return;
        throw located(31250, `Path collision at ${parts.join('.')}`);
      }
      cur.children.set(parts[i], child);
      return;
    }
    if (!existing) {
      const n = newNode();
      cur.children.set(parts[i], n);
      cur = n;
    } else if (existing.kind === 'node') {
      cur = existing;
    } else {
      throw located(31249, `Path collision at ${parts.join('.')} remaining portion ${parts.slice(1).join('.')}`);
    }
  }
}

function nodeAt(parent: PNode, parts: string[]): PNode {
  let cur = parent;
  for (const p of parts) cur = cur.children.get(p) as PNode;
  return cur;
}

function findFirstPositional(path: string): [number, number] | undefined {
  const mid = path.indexOf('.$.');
  if (mid !== -1) return [mid, mid + 3];
  if (path.endsWith('.$')) return [path.length - 2, path.length];
  if (path === '$') return [0, 1];
  return undefined;
}

const isInclusionOrExclusion = (v: unknown): boolean => typeof v === 'boolean' || isNumeric(v);
const trueValue = (v: unknown): boolean => (typeof v === 'boolean' ? v : toNumber(v) !== 0);

/** BSONElement::numberInt: truncation towards zero, saturating. */
function numberInt(v: unknown): number {
  const n = Math.trunc(toNumber(v));
  if (Number.isNaN(n)) return 0;
  return Math.max(-0x80000000, Math.min(0x7fffffff, n));
}

function queryMentions(query: Doc, field: string): boolean {
  for (const [k, v] of Object.entries(query)) {
    if (k === '$and' || k === '$or' || k === '$nor') {
      if (Array.isArray(v) && v.some((c) => isPlainObject(c) && queryMentions(c, field))) return true;
    } else if (!k.startsWith('$') && k.split('.')[0] === field) return true;
  }
  return false;
}

/** Values we can treat as constants: anything but strings naming fields ("$a"), objects and arrays holding those. */
function isConstant(v: unknown): boolean {
  if (typeof v === 'string') return !v.startsWith('$');
  if (Array.isArray(v)) return v.every(isConstant);
  if (isPlainObject(v)) return false;
  return true;
}

function parseInclusion(ctx: ParseContext, name: string, parent: PNode, parentPath: string[] | undefined): void {
  const isTopLevelId = name === '_id' && parent === ctx.root;
  const positional = findFirstPositional(name);
  if (!positional) {
    addNodeAtPath(parent, fieldPath(name), { kind: 'bool', include: true });
    if (isTopLevelId) ctx.idIncludedEntirely = true;
  } else {
    if (ctx.hasPositional) throw located(31276, 'Cannot specify more than one positional projection per query.');
    if (ctx.hasElemMatch) throw located(31256, 'Cannot specify positional operator and $elemMatch.');
    const matchField = parentPath ? parentPath[0] : name.split('.')[0];
    if (!ctx.query) throw located(51050, 'Projections with a positional operator require a matcher');
    if (!queryMentions(ctx.query, matchField)) {
      throw located(31277, `Positional projection '${name}' does not match the query document.`);
    }
    if (name.endsWith('.$.')) throw located(31270, "Path cannot end with '.$.'");
    const [begin, end] = positional;
    const rest = name.slice(end);
    if (findFirstPositional(rest) || rest === '$') throw located(31287, `Cannot use positional operator twice: ${name}`);
    const base = fieldPath(name.slice(0, begin));
    addNodeAtPath(parent, base, { kind: 'positional' });
    ctx.hasPositional = true;
    ctx.positional = [...(parentPath ?? []), ...base];
  }
  if (!isTopLevelId) {
    if (ctx.type === 'exclusion') throw located(31253, `Cannot do inclusion on field ${name} in exclusion projection`);
    ctx.type = 'inclusion';
  }
}

function parseExclusion(ctx: ParseContext, name: string, parent: PNode): void {
  addNodeAtPath(parent, fieldPath(name), { kind: 'bool', include: false });
  if (name === '_id' && parent === ctx.root) {
    ctx.idExcludedEntirely = true;
  } else {
    if (ctx.type === 'inclusion') throw located(31254, `Cannot do exclusion on field ${name} in inclusion projection`);
    ctx.type = 'exclusion';
  }
}

function parseLiteral(ctx: ParseContext, name: string, value: unknown, parent: PNode, isLiteral = false): void {
  if (!isLiteral && !isConstant(value)) {
    throw badValue(`Projection value for field '${name}' is an aggregation expression, which is not supported: ${valueString(value)}`);
  }
  addNodeAtPath(parent, fieldPath(name), { kind: 'literal', value: exactValue(value) });
  if (ctx.type === 'exclusion') {
    throw located(31310, `Cannot use an expression ${name}: ${valueString(value)} in an exclusion projection`);
  }
  ctx.type = 'inclusion';
}

function parseFindSlice(ctx: ParseContext, parts: string[], arg: unknown, parent: PNode, parentPath: string[] | undefined): void {
  let leaf: Leaf;
  if (isNumeric(arg)) {
    leaf = { kind: 'slice', limit: numberInt(arg) };
  } else if (Array.isArray(arg)) {
    if (arg.length !== 2) throw located(31272, '$slice array argument should be of form [skip, limit]');
    const [skip, limit] = arg;
    if (!isNumeric(skip)) throw located(31257, `$slice expects the skip argument to be a number, got ${typeName(skip)}`);
    if (!isNumeric(limit)) throw located(31258, `$slice expects the limit argument to be a number, got ${typeName(limit)}`);
    if (numberInt(limit) <= 0) throw located(31259, `$slice limit must be positive, got ${numberInt(limit)}`);
    leaf = { kind: 'slice', skip: numberInt(skip), limit: numberInt(limit) };
  } else {
    throw located(31273, '$slice only supports numbers and [skip, limit] arrays');
  }
  addNodeAtPath(parent, parts, leaf);
  ctx.hasFindSlice = true;
  ctx.slices.push({ path: [...(parentPath ?? []), ...parts], skip: leaf.skip, limit: leaf.limit });
}

function parseSubObject(ctx: ParseContext, name: string, obj: Doc, parent: PNode, parentPath: string[] | undefined): void {
  const keys = Object.keys(obj);
  if (keys.length === 1 && keys[0].startsWith('$')) {
    const op = keys[0];
    const arg = obj[op];
    const parts = fieldPath(name);
    switch (op) {
      case '$slice':
        parseFindSlice(ctx, parts, arg, parent, parentPath);
        return;
      case '$elemMatch': {
        if (!isPlainObject(arg)) throw located(31274, `elemMatch: Invalid argument, object required, but got ${typeName(arg)}`);
        if (ctx.hasPositional) throw located(31255, 'Cannot specify positional operator and $elemMatch.');
        if (parts.length !== 1 || parent !== ctx.root) throw located(31275, 'Cannot use $elemMatch projection on a nested field.');
        const query = compileMatcher({ [name]: { $elemMatch: arg } });
        addNodeAtPath(parent, parts, { kind: 'elemMatch', query });
        ctx.hasElemMatch = true;
        return;
      }
      case '$meta':
        throw badValue('$meta is not supported');
      case '$literal':
        parseLiteral(ctx, name, arg, parent, true);
        return;
      default:
        throw badValue(`Projection expression ${op} for field '${name}' is not supported`);
    }
  }
  if (keys.length === 0) throw located(51270, `An empty sub-projection is not a valid value. Found empty object at path`);
  const parts = fieldPath(name);
  addNodeAtPath(parent, parts, newNode());
  const node = nodeAt(parent, parts);
  const full = [...(parentPath ?? []), ...parts];
  for (const k of keys) parseElement(ctx, k, obj[k], node, full);
}

function parseElement(ctx: ParseContext, name: string, value: unknown, parent: PNode, parentPath: string[] | undefined): void {
  const positional = findFirstPositional(name);
  if (isPlainObject(value)) {
    if (positional) throw located(31271, 'positional projection cannot be used with an expression or sub object');
    parseSubObject(ctx, name, value, parent, parentPath);
  } else if (isInclusionOrExclusion(value)) {
    if (trueValue(value)) parseInclusion(ctx, name, parent, parentPath);
    else parseExclusion(ctx, name, parent);
  } else {
    if (positional) throw located(31308, 'positional projection cannot be used with a literal');
    parseLiteral(ctx, name, value, parent);
  }
}

function compile(projection: Doc, query: Doc | undefined): Compiled {
  if (!isPlainObject(projection)) throw new MongoServerError(ErrorCodes.TypeMismatch, 'projection must be an object');
  const ctx: ParseContext = {
    root: newNode(),
    query: query && isPlainObject(query) ? query : undefined,
    idSpecified: false,
    idIncludedEntirely: false,
    idExcludedEntirely: false,
    hasPositional: false,
    hasElemMatch: false,
    hasFindSlice: false,
    slices: [],
  };
  for (const [name, value] of Object.entries(projection)) {
    ctx.idSpecified ||= name === '_id' || name.startsWith('_id.');
    parseElement(ctx, name, value, ctx.root, undefined);
  }
  // computeProjectionType: find() rules for projections with no plain inclusion or exclusion.
  if (!ctx.type) {
    if (ctx.hasFindSlice) ctx.type = ctx.idIncludedEntirely ? 'inclusion' : 'exclusion';
    else if (ctx.hasElemMatch) ctx.type = 'inclusion';
    else if (ctx.idIncludedEntirely) ctx.type = 'inclusion';
    else ctx.type = 'exclusion';
  }
  const inclusion = ctx.type === 'inclusion';
  if (!ctx.idSpecified && inclusion) addNodeAtPath(ctx.root, ['_id'], { kind: 'bool', include: true });
  if (!inclusion && ctx.idIncludedEntirely) ctx.root.children.delete('_id');
  return {
    root: ctx.root,
    inclusion,
    slices: ctx.slices,
    positional: ctx.positional,
    query: ctx.query,
    computed: hasComputed(ctx.root),
  };
}

const cache = new WeakMap<object, { query: Doc | undefined; compiled: Compiled }>();

function compiled(projection: Doc, query: Doc | undefined): Compiled {
  const hit = cache.get(projection);
  if (hit && hit.query === query) return hit.compiled;
  const c = compile(projection, query);
  cache.set(projection, { query, compiled: c });
  return c;
}

// ---------------------------------------------------------------------------------------------------------
// Application.

const MISSING = Symbol('missing');

function includeObject(src: Doc, node: PNode): Doc {
  const out: Doc = {};
  for (const k of Object.keys(src)) {
    const child = node.children.get(k);
    if (!child) continue;
    if (child.kind === 'node') {
      const v = includeValue(src[k], child);
      if (v !== MISSING) setField(out, k, v);
    } else if ((child.kind === 'bool' && child.include) || child.kind === 'slice' || child.kind === 'positional') {
      setField(out, k, src[k]);
    }
    // $elemMatch and literals are computed afterwards.
  }
  return out;
}

function includeValue(v: unknown, node: PNode): unknown {
  if (isPlainObject(v)) return includeObject(v, node);
  if (Array.isArray(v)) {
    const out: unknown[] = [];
    for (const e of v) {
      if (isPlainObject(e)) out.push(includeObject(e, node));
      else if (Array.isArray(e)) out.push(includeValue(e, node));
      // Scalars inside arrays are dropped by an inclusion below them.
    }
    return out;
  }
  return MISSING;
}

function excludeObject(src: Doc, node: PNode): Doc {
  const out: Doc = {};
  for (const k of Object.keys(src)) {
    const child = node.children.get(k);
    if (child?.kind === 'bool' && !child.include) continue;
    setField(out, k, child?.kind === 'node' ? excludeValue(src[k], child) : src[k]);
  }
  return out;
}

function excludeValue(v: unknown, node: PNode): unknown {
  if (isPlainObject(v)) return excludeObject(v, node);
  if (Array.isArray(v)) return v.map((e) => (isPlainObject(e) || Array.isArray(e) ? excludeValue(e, node) : e));
  return v;
}

function hasComputed(node: PNode): boolean {
  for (const c of node.children.values()) {
    if (c.kind === 'literal' || c.kind === 'elemMatch' || (c.kind === 'node' && hasComputed(c))) return true;
  }
  return false;
}

function elemMatchValue(rootDoc: Doc, field: string, query: Matcher): unknown {
  const arr = rootDoc[field];
  if (!Array.isArray(arr)) return MISSING;
  for (const e of arr) if (query.test({ [field]: [e] })) return [e];
  return MISSING;
}

/** ProjectionNode::applyExpressions: computed fields, in projection order, into a freshly built `out`. */
function computeInto(out: Doc, node: PNode, rootDoc: Doc): void {
  for (const [k, child] of node.children) {
    if (child.kind === 'literal') setField(out, k, exactValue(child.value));
    else if (child.kind === 'elemMatch') {
      const v = elemMatchValue(rootDoc, k, child.query);
      if (v === MISSING) delete out[k];
      else setField(out, k, v);
    } else if (child.kind === 'node' && hasComputed(child)) {
      setField(out, k, computeValue(hasOwn(out, k) ? out[k] : MISSING, child, rootDoc));
    }
  }
}

function computeValue(v: unknown, node: PNode, rootDoc: Doc): unknown {
  if (isPlainObject(v)) {
    computeInto(v, node, rootDoc);
    return v;
  }
  if (Array.isArray(v)) return v.map((e) => computeValue(e, node, rootDoc));
  const fresh: Doc = {};
  computeInto(fresh, node, rootDoc);
  return fresh;
}

function sliceArray(arr: unknown[], skip: number | undefined, limit: number): unknown[] {
  const len = arr.length;
  let start = 0;
  let forward: number;
  if (skip === undefined) {
    if (limit < 0) {
      start = Math.max(0, len + limit);
      forward = len - start;
    } else forward = Math.min(len, limit);
  } else if (skip < 0) {
    start = Math.max(0, len + skip);
    forward = Math.min(len - start, limit);
  } else {
    start = Math.min(len, skip);
    forward = Math.min(len - start, limit);
  }
  return arr.slice(start, start + forward);
}

/** projection_executor_utils::applyFindSliceProjection, on the projected document. */
function sliceDoc(doc: Doc, path: string[], i: number, skip: number | undefined, limit: number): Doc {
  const field = path[i];
  if (!hasOwn(doc, field)) return doc;
  let v = doc[field];
  const last = i + 1 === path.length;
  if (Array.isArray(v)) {
    v = last ? sliceArray(v, skip, limit) : v.map((e) => (isPlainObject(e) ? sliceDoc(e, path, i + 1, skip, limit) : e));
  } else if (isPlainObject(v) && !last) {
    v = sliceDoc(v, path, i + 1, skip, limit);
  } else return doc;
  const out = { ...doc };
  setField(out, field, v);
  return out;
}

function setNested(doc: Doc, path: string[], value: unknown): Doc {
  const out = { ...doc };
  setField(out, path[0], path.length === 1 ? value : setNested(doc[path[0]] as Doc, path.slice(1), value));
  return out;
}

/** projection_executor_utils::applyFindPositionalProjection. */
function positionalDoc(pre: Doc, post: Doc, path: string[], query: Doc): Doc {
  let sub: unknown = post;
  for (let i = 0; i < path.length; i++) {
    const v = isPlainObject(sub) ? sub[path[i]] : undefined;
    if (Array.isArray(v)) {
      const prefix = path.slice(0, i + 1);
      const idx = matchArrayIndex(pre, prefix, query);
      if (idx === undefined) {
        throw located(51246, "Executor error during find command :: caused by :: positional operator '.$' couldn't find a matching element in the array");
      }
      if (idx >= v.length) throw located(51247, "positional operator '.$' element mismatch");
      return setNested(post, prefix, [v[idx]]);
    }
    if (!isPlainObject(v)) return post;
    sub = v;
  }
  return post;
}

/**
 * Checks a projection once per query, throwing the server's errors. Pass the query filter when the
 * projection may use the positional `a.$` form.
 */
export function validateProjection(projection: Doc, query?: Doc): void {
  compiled(projection, query);
}

/**
 * The top-level fields an inclusion projection reads of a document (Entry.pick), or null when it reads the whole
 * document (an exclusion) or the filter with it (the positional `a.$`).
 */
export function projectedFields(projection: Doc, query?: Doc): string[] | null {
  const c = compiled(projection, query);
  return c.inclusion && !c.positional ? [...c.root.children.keys()] : null;
}

/** The projected document, fields in the order of the source document. */
export function applyProjection(doc: Doc, projection: Doc | undefined | null, query?: Doc): Doc {
  if (!projection || Object.keys(projection).length === 0) return doc;
  const c = compiled(projection, query);
  let out = c.inclusion ? includeObject(doc, c.root) : excludeObject(doc, c.root);
  if (c.computed) computeInto(out, c.root, doc);
  if (c.positional && c.query) out = positionalDoc(doc, out, c.positional, c.query);
  for (const s of c.slices) out = sliceDoc(out, s.path, 0, s.skip, s.limit);
  return out;
}

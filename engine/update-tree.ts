// The parsed form of an update: a tree of path components with a leaf per modifier, the working document's
// elements, and ModifierNode::apply (one modifier applied to one element, or the missing path created).
import { type Matcher, compileMatcher } from './matcher.ts';
import { ErrorCodes, MongoServerError } from './errors.ts';
import { setField } from './exact-values.ts';
import { elementString } from './value-strings.ts';
import { type Doc, isPlainObject } from './values.ts';

// ---------------------------------------------------------------------------------------------------------
// Small helpers shared by the update modules.

export const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

export const err = (code: number, message: string, codeName?: string): MongoServerError =>
  new MongoServerError(code, message, codeName ? { codeName } : {});

export const badValue = (message: string): MongoServerError => err(ErrorCodes.BadValue, message);

/** Bytewise (UTF-8) string order, like std::map<std::string> in the server. */
export function byteCompare(a: string, b: string): number {
  if (a === b) return 0;
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(a) && /^[\x00-\x7f]*$/.test(b)) return a < b ? -1 : 1;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export const parseIndex = (s: string): number | undefined => (/^\d+$/.test(s) ? Number(s) : undefined);

// Conditions ($pull, arrayFilters, the positional match) use the engine's matcher on exact values.
export function compileQuery(cond: Doc): Matcher {
  return compileMatcher(cond);
}

export const safeTest = (q: Matcher, obj: unknown): boolean => q.test(obj as Doc);

export const isFilterIdentifier = (part: string): boolean => part.length >= 3 && part.startsWith('$[') && part.endsWith(']');

export const idString = (env: Env): string => (hasOwn(env.root, '_id') ? elementString('_id', env.root._id) : '');

// ---------------------------------------------------------------------------------------------------------
// Update tree.

export interface ObjNode {
  kind: 'obj';
  children: Map<string, UNode>; // '$' is the positional child
}
export interface ArrNode {
  kind: 'arr';
  children: Map<string, UNode>; // keyed by array filter identifier; '' for $[]
}
export interface Leaf {
  kind: 'leaf';
  op: string;
  impl: LeafImpl;
}
export type UNode = ObjNode | ArrNode | Leaf;

export const NOOP = Symbol('noop');
export const REMOVE = Symbol('remove');
type Change = typeof NOOP | typeof REMOVE | { value: unknown };

export interface LeafCtx {
  path: string; // dotted path of the element
  field: string; // its own name (array index for elements)
  env: Env;
}

export interface LeafImpl {
  /** Whether the modifier creates a missing path (allowCreation). */
  creates: boolean;
  /** $unset: a missing path is never an error. */
  nonViableOk?: boolean;
  insertOnly?: boolean;
  existing?(cur: unknown, lc: LeafCtx): Change;
  fresh?(lc: LeafCtx): unknown;
  /** Leaves with their own application logic ($rename and its placeholder). */
  custom?(st: State, env: Env): void;
}

export interface Env {
  root: Doc; // working copy
  original: Doc;
  query: Doc | undefined;
  filters: Map<string, Matcher>;
  isInsert: boolean;
  now: Date;
  matched: Map<string, string | undefined>; // positional matches by array path
  modified: boolean;
}

/** A reference to a value in the working document: its container and key (the root has no container). */
export class Elem {
  constructor(
    readonly container: Doc | unknown[] | null,
    readonly key: string | number,
    private readonly rootDoc?: Doc,
  ) {}

  get value(): unknown {
    if (this.container === null) return this.rootDoc;
    return Array.isArray(this.container) ? this.container[this.key as number] : this.container[this.key as string];
  }

  set value(v: unknown) {
    if (Array.isArray(this.container)) this.container[this.key as number] = v;
    else if (this.container) setField(this.container, this.key as string, v);
  }

  get name(): string {
    return String(this.key);
  }

  get inArray(): boolean {
    return Array.isArray(this.container);
  }

  remove(): void {
    if (Array.isArray(this.container)) this.container[this.key as number] = null;
    else if (this.container) delete this.container[this.key as string];
  }

  toString(): string {
    return elementString(this.name, this.value);
  }
}

export interface State {
  elem: Elem; // deepest existing element on the path
  taken: string[]; // path of elem
  toCreate: string[]; // remaining components that do not exist
}

export function childElem(e: Elem, field: string): Elem | undefined {
  const v = e.value;
  if (isPlainObject(v)) return hasOwn(v, field) ? new Elem(v, field) : undefined;
  if (Array.isArray(v)) {
    const idx = parseIndex(field);
    return idx !== undefined && idx < v.length ? new Elem(v, idx) : undefined;
  }
  return undefined;
}

/** ModifierNode::apply: update an existing element, or create the missing path. */
export function applyModifier(impl: LeafImpl, st: State, env: Env): void {
  if (st.toCreate.length === 0) {
    const path = st.taken.join('.');
    const change = impl.existing!(st.elem.value, { path, field: st.elem.name, env });
    if (change === NOOP) return;
    if (st.taken[0] === '_id') {
      throw err(ErrorCodes.ImmutableField, `Performing an update on the path '${path}' would modify the immutable field '_id'`);
    }
    if (change === REMOVE) st.elem.remove();
    else st.elem.value = change.value;
    env.modified = true;
    return;
  }
  const target = st.elem.value;
  const first = st.toCreate[0];
  if (!impl.creates) {
    if (impl.nonViableOk) return;
    // UpdateLeafNode::checkViability
    if (isPlainObject(target) || (Array.isArray(target) && parseIndex(first) !== undefined)) return;
    throw err(
      ErrorCodes.PathNotViable,
      `Cannot use the part (${first}) of (${[...st.taken, ...st.toCreate].join('.')}) to traverse the element ({${st.elem.toString()}})`,
    );
  }
  // pathsupport::createPathAt
  const notViable = () => err(ErrorCodes.PathNotViable, `Cannot create field '${first}' in element {${st.elem.toString()}}`);
  let index: number | undefined;
  if (Array.isArray(target)) {
    index = parseIndex(first);
    if (index === undefined) throw notViable();
    if (index - target.length > 1500000) throw err(34, "can't backfill more than 1500000 elements", 'CannotBackfillArray');
  } else if (!isPlainObject(target)) throw notViable();
  if (st.taken.length === 0 && first.startsWith('$')) {
    throw err(
      52,
      `The dollar ($) prefixed field '${first}' in '${first}' is not allowed in the context of an update's replacement document. Consider using an aggregation pipeline with $replaceWith.`,
      'DollarPrefixedFieldName',
    );
  }
  const lc: LeafCtx = { path: [...st.taken, ...st.toCreate].join('.'), field: st.toCreate[st.toCreate.length - 1], env };
  let value = impl.fresh!(lc);
  for (let i = st.toCreate.length - 1; i >= 1; i--) {
    const wrap: Doc = {};
    setField(wrap, st.toCreate[i], value);
    value = wrap;
  }
  if (st.taken[0] === '_id') {
    throw err(
      ErrorCodes.ImmutableField,
      `Updating the path '${st.taken.join('.')}' to ${st.elem.toString()} would modify the immutable field '_id'`,
    );
  }
  if (Array.isArray(target)) {
    while (target.length < index!) target.push(null);
    target.push(value);
  } else setField(target as Doc, first, value);
  env.modified = true;
}

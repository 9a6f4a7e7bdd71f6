// Parsing: the update document and its array filters into the update tree, refusing conflicting paths before
// anything is applied.
import type { Matcher } from './matcher.ts';
import { ErrorCodes } from './errors.ts';
import { KNOWN_MODIFIERS, makeLeaf, placeholderLeaf, renameLeaf } from './update-operators.ts';
import { type ArrNode, type Leaf, type LeafImpl, type ObjNode, badValue, compileQuery, err, isFilterIdentifier } from './update-tree.ts';
import { elementString, typeName, valueString } from './value-strings.ts';
import { type Doc, isPlainObject } from './values.ts';

interface ParseEnv {
  filters: Map<string, Matcher>;
  used: Set<string>;
}

function checkUpdatablePath(path: string): string[] {
  if (path === '') throw err(56, 'An empty update path is not valid.', 'EmptyFieldName');
  const parts = path.split('.');
  if (parts.some((p) => p === '')) {
    throw err(56, `The update path '${path}' contains an empty field name, which is not allowed.`, 'EmptyFieldName');
  }
  const positions = parts.flatMap((p, i) => (p === '$' ? [i] : []));
  if (positions.length > 1) throw badValue(`Too many positional (i.e. '$') elements found in path '${path}'`);
  if (positions[0] === 0) throw badValue(`Cannot have positional (i.e. '$') element in the first position in path '${path}'`);
  return parts;
}

function childName(parts: string[], i: number, path: string, pe: ParseEnv): string {
  const part = parts[i];
  if (!isFilterIdentifier(part)) return part;
  if (i === 0) {
    throw badValue(`Cannot have array filter identifier (i.e. '$[<id>]') element in the first position in path '${path}'`);
  }
  const id = part.slice(2, -1);
  if (id !== '') {
    if (!pe.filters.has(id)) throw badValue(`No array filter found for identifier '${id}' in path '${path}'`);
    pe.used.add(id);
  }
  return id;
}

/** UpdateObjectNode::parseAndMerge: places a leaf at `path`, refusing paths that conflict with others. */
function mergeLeaf(root: ObjNode, path: string, op: string, makeImpl: () => LeafImpl, pe: ParseEnv): void {
  const parts = checkUpdatablePath(path);
  const leaf: Leaf = { kind: 'leaf', op, impl: makeImpl() };
  let cur: ObjNode | ArrNode = root;
  const conflict = (upTo: number) =>
    err(ErrorCodes.ConflictingUpdateOperators, `Updating the path '${path}' would create a conflict at '${parts.slice(0, upTo).join('.')}'`);
  for (let i = 0; i < parts.length - 1; i++) {
    const name = childName(parts, i, path, pe);
    const shouldBeArray = isFilterIdentifier(parts[i + 1]);
    let child = cur.children.get(name);
    if (child) {
      if (child.kind !== (shouldBeArray ? 'arr' : 'obj')) throw conflict(i + 1);
    } else {
      child = shouldBeArray ? { kind: 'arr', children: new Map() } : { kind: 'obj', children: new Map() };
      cur.children.set(name, child);
    }
    cur = child as ObjNode | ArrNode;
  }
  const last = childName(parts, parts.length - 1, path, pe);
  if (cur.children.has(last)) throw conflict(parts.length);
  cur.children.set(last, leaf);
}

export function parseArrayFilters(list: Doc[] | undefined): Map<string, Matcher> {
  const filters = new Map<string, Matcher>();
  if (list === undefined || list === null) return filters;
  if (!Array.isArray(list)) throw err(ErrorCodes.TypeMismatch, 'arrayFilters must be an array');
  for (const f of list) {
    if (!isPlainObject(f)) throw err(ErrorCodes.TypeMismatch, `Each array filter must be an object, found ${typeName(f)}`);
    const ids = new Set<string>();
    const collect = (q: Doc): void => {
      for (const [k, v] of Object.entries(q)) {
        if (k === '$and' || k === '$or' || k === '$nor') {
          if (Array.isArray(v)) for (const c of v) if (isPlainObject(c)) collect(c);
        } else if (!k.startsWith('$')) ids.add(k.split('.')[0]);
      }
    };
    collect(f);
    if (ids.size === 0) throw err(ErrorCodes.FailedToParse, 'Cannot use an expression without a top-level field name in arrayFilters');
    const [id, other] = [...ids];
    if (other !== undefined) {
      throw err(ErrorCodes.FailedToParse, `Error parsing array filter :: caused by :: Expected a single top-level field name, found '${id}' and '${other}'`);
    }
    if (!/^[a-z][a-zA-Z0-9]*$/.test(id)) {
      throw badValue(
        `Error parsing array filter :: caused by :: The top-level field name must be an alphanumeric string beginning with a lowercase letter, found '${id}'`,
      );
    }
    if (filters.has(id)) throw err(ErrorCodes.FailedToParse, `Found multiple array filters with the same top-level field name ${id}`);
    filters.set(id, compileQuery(f));
  }
  return filters;
}

export function parseUpdate(update: Doc, filters: Map<string, Matcher>): ObjNode {
  const root: ObjNode = { kind: 'obj', children: new Map() };
  const pe: ParseEnv = { filters, used: new Set() };
  for (const [op, spec] of Object.entries(update)) {
    if (!KNOWN_MODIFIERS.has(op)) {
      throw err(ErrorCodes.FailedToParse, `Unknown modifier: ${op}. Expected a valid update modifier or pipeline-style update specified as an array`);
    }
    if (!isPlainObject(spec)) {
      throw err(
        ErrorCodes.FailedToParse,
        `Modifiers operate on fields but we found type ${typeName(spec)} instead. For example: {$mod: {<field>: ...}} not {${elementString(op, spec)}}`,
      );
    }
    for (const [path, arg] of Object.entries(spec)) {
      if (op === '$rename') {
        mergeLeaf(root, path, '$rename-source', () => placeholderLeaf, pe);
        if (typeof arg !== 'string') throw badValue(`The 'to' field for $rename must be a string: ${elementString(path, arg)}`);
        mergeLeaf(root, arg, op, () => renameLeaf(path, arg), pe);
      } else {
        mergeLeaf(root, path, op, () => makeLeaf(op, path, arg), pe);
      }
    }
  }
  for (const id of filters.keys()) {
    if (!pe.used.has(id)) {
      throw err(ErrorCodes.FailedToParse, `The array filter for identifier '${id}' was not used in the update ${valueString(update)}`);
    }
  }
  return root;
}

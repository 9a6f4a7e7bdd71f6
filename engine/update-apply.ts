// Application: the update tree applied to the working document, the children of every level visited in
// field-name order, positional and array-filter children merged into the element they select.
import { ErrorCodes } from './errors.ts';
import { positionalMatch } from './update-positional.ts';
import { type ArrNode, Elem, type Env, type Leaf, type ObjNode, type State, type UNode, applyModifier, badValue, byteCompare, childElem, err, safeTest } from './update-tree.ts';

function mergeNodes(a: UNode, b: UNode, path: string[]): UNode {
  if (a.kind !== b.kind || a.kind === 'leaf' || b.kind === 'leaf') {
    throw err(ErrorCodes.ConflictingUpdateOperators, `Update created a conflict at '${path.join('.')}'`);
  }
  const children = new Map<string, UNode>(a.children);
  for (const [k, child] of b.children) {
    const mine = children.get(k);
    const seg = a.kind === 'arr' ? `$[${k}]` : k;
    children.set(k, mine ? mergeNodes(mine, child, [...path, seg]) : child);
  }
  return { kind: a.kind, children } as UNode;
}

function applyNode(node: UNode, st: State, env: Env): void {
  if (node.kind === 'obj') applyObject(node, st, env);
  else if (node.kind === 'arr') applyArray(node, st, env);
  else applyLeaf(node, st, env);
}

function applyChild(child: UNode, field: string, st: State, env: Env): void {
  let sub: State;
  if (st.toCreate.length === 0) {
    const ce = childElem(st.elem, field);
    sub = ce ? { elem: ce, taken: [...st.taken, field], toCreate: [] } : { elem: st.elem, taken: st.taken, toCreate: [field] };
  } else {
    sub = { elem: st.elem, taken: st.taken, toCreate: [...st.toCreate, field] };
  }
  applyNode(child, sub, env);
  // The child may have created the missing part of our own path: continue from there.
  if (st.toCreate.length) {
    let e = childElem(st.elem, st.toCreate[0]);
    if (e) {
      for (const part of st.toCreate.slice(1)) e = childElem(e!, part);
      if (e) {
        st.elem = e;
        st.taken = [...st.taken, ...st.toCreate];
        st.toCreate = [];
      }
    }
  }
}

export function applyObject(node: ObjNode, st: State, env: Env): void {
  const positional = node.children.get('$');
  let matched: string | undefined;
  if (positional) {
    const arrayParts = [...st.taken, ...st.toCreate];
    const key = arrayParts.join('.');
    if (!env.matched.has(key)) env.matched.set(key, positionalMatch(env.original, env.query, arrayParts));
    matched = env.matched.get(key);
    if (matched === undefined) throw badValue('The positional operator did not find the match needed from the query.');
  }
  const names = [...node.children.keys()].filter((k) => k !== '$').sort(byteCompare);
  let pending = positional !== undefined;
  for (const name of names) {
    const child = node.children.get(name)!;
    if (pending && name === matched) {
      const merged = mergeNodes(positional!, child, [...st.taken, ...st.toCreate, name]);
      applyChild(merged, name, st, env);
      pending = false;
      continue;
    }
    if (pending && byteCompare(matched!, name) < 0) {
      applyChild(positional!, matched!, st, env);
      pending = false;
    }
    applyChild(child, name, st, env);
  }
  if (pending) applyChild(positional!, matched!, st, env);
}

function applyArray(node: ArrNode, st: State, env: Env): void {
  if (st.toCreate.length) {
    throw badValue(`The path '${[...st.taken, ...st.toCreate].join('.')}' must exist in the document in order to apply array updates.`);
  }
  const arr = st.elem.value;
  if (!Array.isArray(arr)) throw badValue(`Cannot apply array updates to non-array element ${st.elem.toString()}`);
  const ids = [...node.children.keys()].sort(byteCompare);
  // Decide every element's updates before changing any of them.
  const plan = arr.map((elem) => {
    return ids.filter((id) => id === '' || safeTest(env.filters.get(id)!, { [id]: elem }));
  });
  plan.forEach((matching, i) => {
    if (!matching.length) return;
    const path = [...st.taken, String(i)];
    let merged = node.children.get(matching[0])!;
    for (const id of matching.slice(1)) merged = mergeNodes(merged, node.children.get(id)!, path);
    applyNode(merged, { elem: new Elem(arr, i), taken: path, toCreate: [] }, env);
  });
}

function applyLeaf(leaf: Leaf, st: State, env: Env): void {
  const impl = leaf.impl;
  if (impl.insertOnly && !env.isInsert) return;
  if (impl.custom) {
    impl.custom(st, env);
    return;
  }
  applyModifier(impl, st, env);
}

// The ownership rules of docs/architecture.md ("Ownership rules") as a check over source text. Each .ts file under
// subgraphs/ (generated/ aside) belongs to a module: oa, archive, sync, operations, or the assembly point
// subgraphs/sync-service.ts. A file breaks the rules when an import resolves into another module's folder (allowed:
// the assembly → sync and operations), or when a string literal equals a collection name that
// another module owns (a `kind:` discriminant aside). Owned names are those of the mongoose schemas' `collection:`
// options and the collection argument of `model(name, schema, collection)` calls in each module's folder;
// collections declared in platform/ are shared machinery (rule 5) and free for all.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

export type Module = 'oa' | 'archive' | 'sync' | 'operations' | 'assembly';
type Owner = Module | 'platform';

const MODULE_FOLDERS: readonly Module[] = ['oa', 'archive', 'sync', 'operations'];
export const ASSEMBLY_FILE = 'subgraphs/sync-service.ts';

/** Modules a module may import besides itself. */
const MAY_IMPORT: Record<Module, readonly Module[]> = { oa: [], archive: [], sync: [], operations: [], assembly: ['sync', 'operations'] };
/** Whose collection names a module may spell. */
const MAY_NAME: Record<Module, readonly Owner[]> = { oa: ['oa'], archive: ['archive'], sync: ['sync'], operations: ['operations'], assembly: ['sync', 'operations'] };
/** The log consumers' positions: shared machinery like platform's collections, whichever module declares them. */
const SHARED_COLLECTIONS: readonly string[] = ['sync_cursors'];

/** A discriminant that happens to equal a collection name (the workflow's assignee rule `{ kind: 'employees' }`). */
const isDiscriminant = (n: ts.Node): boolean => {
  const parent = n.parent && ts.isAsExpression(n.parent) ? n.parent.parent : n.parent;
  return !!parent && ts.isPropertyAssignment(parent) && ts.isIdentifier(parent.name) && parent.name.text === 'kind';
};

export type Rule = 'unknown module' | 'cross-module import' | 'foreign collection';

export interface Violation {
  file: string;
  line: number;
  rule: Rule;
  detail: string;
}

export const formatViolation = (v: Violation): string => `${v.file}:${v.line}: ${v.rule}: ${v.detail}`;

/** The module of a path relative to the repository (posix separators); null outside the module folders. */
export function moduleOf(file: string): Module | null {
  if (file === ASSEMBLY_FILE) return 'assembly';
  const folder = /^subgraphs\/([^/]+)\//.exec(file)?.[1];
  return MODULE_FOLDERS.find((m) => m === folder) ?? null;
}

const ownerOf = (file: string): Owner | null => (file.startsWith('platform/') ? 'platform' : moduleOf(file));

const parse = (file: string, text: string): ts.SourceFile => ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
const lineOf = (sf: ts.SourceFile, node: ts.Node): number => sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;

function walk(node: ts.Node, visit: (n: ts.Node) => void): void {
  visit(node);
  node.forEachChild((child) => walk(child, visit));
}

/** A string literal, or a const of the same file initialised with one (`collection: COLLECTION`). */
function stringValue(sf: ts.SourceFile, expr: ts.Expression): string | null {
  if (ts.isStringLiteralLike(expr)) return expr.text;
  if (!ts.isIdentifier(expr)) return null;
  let found: string | null = null;
  walk(sf, (n) => {
    if (ts.isVariableDeclaration(n) && ts.isIdentifier(n.name) && n.name.text === expr.text && n.initializer && ts.isStringLiteralLike(n.initializer)) found = n.initializer.text;
  });
  return found;
}

/** Collection names declared in a file: `collection:` options and the third argument of `model(…)`. */
function declaredCollections(sf: ts.SourceFile): string[] {
  const names: string[] = [];
  walk(sf, (n) => {
    if (ts.isPropertyAssignment(n) && (ts.isIdentifier(n.name) || ts.isStringLiteral(n.name)) && n.name.text === 'collection') {
      const name = stringValue(sf, n.initializer);
      if (name) names.push(name);
    }
    if (ts.isCallExpression(n) && n.arguments.length >= 3) {
      const callee = n.expression;
      const called = ts.isPropertyAccessExpression(callee) ? callee.name.text : ts.isIdentifier(callee) ? callee.text : null;
      const name = called === 'model' ? stringValue(sf, n.arguments[2]) : null;
      if (name) names.push(name);
    }
  });
  return names;
}

/** Each collection name with the modules (or platform) that declare it. */
export function collectionOwners(files: ReadonlyMap<string, string>): Map<string, Set<Owner>> {
  const owners = new Map<string, Set<Owner>>();
  for (const [file, text] of files) {
    const owner = ownerOf(file);
    if (!owner) continue;
    for (const name of declaredCollections(parse(file, text))) {
      const set = owners.get(name) ?? new Set<Owner>();
      set.add(owner);
      owners.set(name, set);
    }
  }
  return owners;
}

/** Module specifiers of static and dynamic imports, re-exports and `import('…')` types. */
function importsOf(sf: ts.SourceFile): Array<{ specifier: ts.StringLiteralLike }> {
  const out: Array<{ specifier: ts.StringLiteralLike }> = [];
  walk(sf, (n) => {
    let spec: ts.Node | undefined;
    if (ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) spec = n.moduleSpecifier;
    else if (ts.isImportEqualsDeclaration(n) && ts.isExternalModuleReference(n.moduleReference)) spec = n.moduleReference.expression;
    else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword) spec = n.arguments[0];
    else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument)) spec = n.argument.literal;
    if (spec && ts.isStringLiteralLike(spec)) out.push({ specifier: spec });
  });
  return out;
}

/**
 * Checks the files under subgraphs/ of `files` (repository-relative posix paths to source text); `files` must also
 * hold every file that declares collections (platform/ included), since the owners are read from them.
 */
export function checkOwnership(files: ReadonlyMap<string, string>): Violation[] {
  const owners = collectionOwners(files);
  const violations: Violation[] = [];
  for (const [file, text] of files) {
    if (!file.startsWith('subgraphs/') || !file.endsWith('.ts') || file.includes('/generated/')) continue;
    const module = moduleOf(file);
    if (!module) {
      violations.push({ file, line: 1, rule: 'unknown module', detail: `belongs to none of ${MODULE_FOLDERS.join(', ')} (nor is it ${ASSEMBLY_FILE})` });
      continue;
    }
    const sf = parse(file, text);
    const specifiers = new Set<ts.Node>();
    for (const { specifier } of importsOf(sf)) {
      specifiers.add(specifier);
      if (!specifier.text.startsWith('.')) continue;
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier.text));
      const into = moduleOf(target);
      if (into && into !== module && !MAY_IMPORT[module].includes(into)) {
        violations.push({ file, line: lineOf(sf, specifier), rule: 'cross-module import', detail: `${module} imports ${target} of ${into}` });
      }
    }
    walk(sf, (n) => {
      if (!ts.isStringLiteralLike(n) || specifiers.has(n) || isDiscriminant(n)) return;
      const declaredBy = owners.get(n.text);
      if (!declaredBy || declaredBy.has('platform') || SHARED_COLLECTIONS.includes(n.text)) return;
      if ([...declaredBy].some((o) => MAY_NAME[module].includes(o))) return;
      violations.push({ file, line: lineOf(sf, n), rule: 'foreign collection', detail: `'${n.text}' is a collection of ${[...declaredBy].join(', ')}` });
    });
  }
  return violations.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line);
}

/** The .ts files of subgraphs/ and platform/ in the repository at `root`. */
export function readSources(root: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const dir of ['subgraphs', 'platform']) {
    for (const entry of readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })) {
      const file = `${dir}/${entry.split(path.sep).join('/')}`;
      if (file.endsWith('.ts') && !file.includes('/generated/')) files.set(file, readFileSync(path.join(root, file), 'utf8'));
    }
  }
  return files;
}

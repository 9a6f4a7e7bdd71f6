// Operations one subgraph answers alone, sent to it as the client wrote them (docs/architecture.md#decision-1).
// Stitching costs the gateway an execution of the whole answer: every field of every row resolved again, every
// object annotated. An operation whose every field one subgraph resolves itself (no entity join, no @requires),
// that the caller may read whole by the caller-only rules (gateway/operation-rules.ts) and that selects no
// sensitive field (masked per record by gateway/permissions.ts), needs none of that: the subgraph gets the
// client's text, variables and operation name in one call, signed like any other, and its answer is the answer.
// Anything else (a join, a refused field, a sensitive field, introspection) runs stitched, as before.
import {
  type ConstDirectiveNode,
  type DocumentNode,
  type ExecutionResult,
  GraphQLError,
  type GraphQLNamedType,
  type GraphQLObjectType,
  type GraphQLSchema,
  Kind,
  type OperationDefinitionNode,
  type SourceLocation,
  TypeInfo,
  isAbstractType,
  isObjectType,
  parse,
  visit,
  visitWithTypeInfo,
} from 'graphql';
import { ruleFor } from '../schema/permissions.ts';
import type { GatewayContext } from './supergraph.ts';

/** Which subgraphs resolve a field, and which know a type, by the supergraph's join directives. */
export interface JoinMap {
  /** Subgraph names (lower case, as `join__graph(name:)` gives them) → URL in the supergraph. */
  urls: ReadonlyMap<string, string>;
  types: ReadonlyMap<string, ReadonlySet<string>>;
  fields: ReadonlyMap<string, ReadonlySet<string>>;
}

const argOf = (d: ConstDirectiveNode, name: string) => d.arguments?.find((a) => a.name.value === name)?.value;
const enumArg = (d: ConstDirectiveNode, name: string) => {
  const v = argOf(d, name);
  return v?.kind === Kind.ENUM ? v.value : undefined;
};
const stringArg = (d: ConstDirectiveNode, name: string) => {
  const v = argOf(d, name);
  return v?.kind === Kind.STRING ? v.value : undefined;
};
const trueArg = (d: ConstDirectiveNode, name: string) => {
  const v = argOf(d, name);
  return v?.kind === Kind.BOOLEAN && v.value;
};

/**
 * Reads the join directives of a composed supergraph: a field with `@join__field` belongs to the graphs named there
 * (not where it is `external`, `usedOverridden` or needs `requires`); a field without any, to every graph of its type.
 */
export function joinMapOf(supergraphSdl: string): JoinMap {
  const doc = parse(supergraphSdl, { noLocation: true });
  const graphNames = new Map<string, string>();
  const urls = new Map<string, string>();
  const types = new Map<string, Set<string>>();
  const fields = new Map<string, Set<string>>();
  for (const def of doc.definitions) {
    if (def.kind === Kind.ENUM_TYPE_DEFINITION && def.name.value === 'join__Graph') {
      for (const v of def.values ?? []) {
        const d = v.directives?.find((x) => x.name.value === 'join__graph');
        const name = d && stringArg(d, 'name');
        if (!d || !name) continue;
        graphNames.set(v.name.value, name);
        urls.set(name, stringArg(d, 'url') ?? '');
      }
    }
  }
  const graphOf = (d: ConstDirectiveNode) => graphNames.get(enumArg(d, 'graph') ?? '');
  for (const def of doc.definitions) {
    if (def.kind !== Kind.OBJECT_TYPE_DEFINITION && def.kind !== Kind.INTERFACE_TYPE_DEFINITION) continue;
    const typeGraphs = new Set((def.directives ?? []).filter((d) => d.name.value === 'join__type').map(graphOf).filter((g): g is string => !!g));
    types.set(def.name.value, typeGraphs);
    for (const f of def.fields ?? []) {
      const joins = (f.directives ?? []).filter((d) => d.name.value === 'join__field');
      const owners = !joins.length
        ? typeGraphs
        : new Set(joins.filter((d) => !trueArg(d, 'external') && !trueArg(d, 'usedOverridden') && !argOf(d, 'requires')).map(graphOf).filter((g): g is string => !!g));
      fields.set(`${def.name.value}.${f.name.value}`, owners);
    }
  }
  return { urls, types, fields };
}

/** The object types a field of `t` may be read on: `t` itself, or each type of an interface or union. */
export const objectTypesOf = (schema: GraphQLSchema, t: GraphQLNamedType | null | undefined): readonly GraphQLObjectType[] =>
  !t ? [] : isObjectType(t) ? [t] : isAbstractType(t) ? schema.getPossibleTypes(t) : [];

const intersect = (a: ReadonlySet<string>, b: ReadonlySet<string> | undefined): Set<string> => new Set([...a].filter((x) => b?.has(x)));

/**
 * The one subgraph that answers the whole document alone (every operation and fragment in it), or null. Decided
 * once per parsed document (Apollo's document cache reuses them). The caller's side is operation-rules.ts's.
 */
export function singleSubgraphOf(schema: GraphQLSchema, joins: JoinMap, document: DocumentNode): string | null {
  const known = decided.get(document);
  if (known !== undefined) return known;
  let candidates: Set<string> | null = new Set(joins.urls.keys());
  const narrowTo = (owners: ReadonlySet<string> | undefined) => {
    if (candidates) candidates = intersect(candidates, owners);
    if (candidates && !candidates.size) candidates = null;
  };
  const objectsOf = (t: GraphQLNamedType | null | undefined) => objectTypesOf(schema, t);
  const typeInfo = new TypeInfo(schema);
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      enter(node) {
        if (!candidates) return false;
        if (node.kind === Kind.INLINE_FRAGMENT || node.kind === Kind.FRAGMENT_DEFINITION) {
          for (const t of objectsOf(typeInfo.getType() as GraphQLNamedType | null)) narrowTo(joins.types.get(t.name));
          return undefined;
        }
        if (node.kind !== Kind.FIELD) return undefined;
        const name = node.name.value;
        if (name === '__typename') return undefined;
        if (name.startsWith('__')) return void (candidates = null); // introspection is the gateway's, never a subgraph's
        const parent = typeInfo.getParentType();
        const objects = objectsOf(parent);
        if (!parent || !objects.length) return void (candidates = null);
        if (!isObjectType(parent)) narrowTo(joins.fields.get(`${parent.name}.${name}`));
        for (const t of objects) {
          // Sensitive fields are masked per record by the gateway: never passed through.
          if (ruleFor(t.name, name)?.kind === 'sensitive') return void (candidates = null);
          narrowTo(joins.fields.get(`${t.name}.${name}`));
        }
        return undefined;
      },
    }),
  );
  const chosen = candidates ? ([...(candidates as Set<string>)].sort()[0] ?? null) : null;
  decided.set(document, chosen);
  return chosen;
}

const decided = new WeakMap<DocumentNode, string | null>();

interface SubgraphAnswer {
  data?: Record<string, unknown> | null;
  errors?: Array<{ message?: unknown; path?: unknown; extensions?: unknown; locations?: unknown } | null>;
}

const isLocation = (l: unknown): l is SourceLocation => l !== null && typeof l === 'object' && Number.isInteger((l as SourceLocation).line) && Number.isInteger((l as SourceLocation).column);

/** A subgraph's error as the gateway's: message, path, extensions, and its locations (in the client's own text, sent verbatim). */
function errorOf(e: { message?: unknown; path?: unknown; extensions?: unknown; locations?: unknown } | null): GraphQLError {
  const error = new GraphQLError(typeof e?.message === 'string' ? e.message : 'Unknown error', {
    path: Array.isArray(e?.path) ? (e.path as Array<string | number>) : undefined,
    extensions: e?.extensions !== null && typeof e?.extensions === 'object' ? (e.extensions as Record<string, unknown>) : undefined,
  });
  if (Array.isArray(e?.locations) && e.locations.every(isLocation)) (error as { locations?: SourceLocation[] }).locations = e.locations.map(({ line, column }) => ({ line, column }));
  return error;
}

/** The subgraph's JSON answer, or null. Its body is never logged: it may echo the request. */
function parseAnswer(text: string): SubgraphAnswer | null {
  try {
    return JSON.parse(text) as SubgraphAnswer | null;
  } catch {
    return null;
  }
}

export interface PassThroughOptions {
  joins: JoinMap;
  /** Subgraph name → URL (overrides the supergraph's). */
  urls: Readonly<Record<string, string>>;
  /** The subgraph's fetch, signing the caller's identity and keeping the time limit (gateway/supergraph.ts). */
  fetchFor: (subgraph: string) => (url: string, init: RequestInit, context?: unknown) => Promise<Response>;
}

export interface PassThroughRequest {
  source: string;
  variables?: Record<string, unknown>;
  operationName?: string | null;
  /** The operation run: a call that fails without a GraphQL answer fails each of its root fields, by path. */
  operation: OperationDefinitionNode;
}

/** The response keys of an operation's root fields (inline fragments at the root included). */
const rootKeys = (operation: OperationDefinitionNode): string[] =>
  operation.selectionSet.selections.flatMap((s) => (s.kind === Kind.FIELD ? [(s.alias ?? s.name).value] : s.kind === Kind.INLINE_FRAGMENT ? rootKeys({ ...operation, selectionSet: s.selectionSet }) : []));

/** A call that brought no GraphQL answer: an error on each root field, with what the executor's own would carry. */
const failedCall = (request: PassThroughRequest, message: string, extensions: Record<string, unknown>, originalError?: Error): ExecutionResult => ({
  data: null,
  errors: rootKeys(request.operation).map((key) => new GraphQLError(message, { path: [key], extensions, originalError })),
});

/** Sends the client's operation to one subgraph and reads its answer as the operation's result. */
export function passThrough(opts: PassThroughOptions) {
  const fetches = new Map<string, ReturnType<PassThroughOptions['fetchFor']>>();
  return async (subgraph: string, request: PassThroughRequest, context: GatewayContext): Promise<ExecutionResult> => {
    const url = opts.urls[subgraph] ?? opts.joins.urls.get(subgraph) ?? '';
    let call = fetches.get(subgraph);
    if (!call) fetches.set(subgraph, (call = opts.fetchFor(subgraph)));
    const body = JSON.stringify({ query: request.source, variables: request.variables, operationName: request.operationName ?? undefined });
    let text: string;
    let status = 0;
    try {
      const res = await call(url, { method: 'POST', headers: { accept: 'application/graphql-response+json, application/json', 'content-type': 'application/json' }, body }, context);
      status = res.status;
      text = await res.text();
    } catch (err) {
      if (err instanceof GraphQLError) return failedCall(request, err.message, { ...err.extensions }, err);
      return failedCall(request, `The ${subgraph} service could not be reached`, { code: 'SUBREQUEST_HTTP_ERROR' }, err as Error);
    }
    const answer = parseAnswer(text);
    if (answer === null || typeof answer !== 'object' || (answer.data == null && !Array.isArray(answer.errors))) {
      return failedCall(request, `The ${subgraph} service answered without a GraphQL result`, { code: 'RESPONSE_VALIDATION_FAILED', response: { status } });
    }
    const errors = Array.isArray(answer.errors) ? answer.errors.map(errorOf) : undefined;
    // No data at all (variables the subgraph could not coerce): a request error, as the stitched path answers it (400).
    if (answer.data === undefined) return { errors };
    return errors?.length ? { data: answer.data, errors } : { data: answer.data };
  };
}

// Queries across subgraphs that the caller may read whole, run by a query planner (docs/architecture.md#decision-1).
// Stitching answers a join by executing the whole answer again at the gateway, field by field, each row annotated
// and merged: about twice the CPU of a planner that sends each subgraph its part and merges the JSON answers. The
// shield needs those resolvers, but an operation the caller may read whole by the caller-only rules
// (gateway/operation-rules.ts) and that selects no sensitive field (masked per record) needs no rule at any field:
// the subgraphs still apply their row scope and role checks (decision 2). Such queries run on Hive Router's query
// planner (`@graphql-hive/router-query-planner`, MIT, Rust through a native addon) and its plan executor
// (`@graphql-hive/router-runtime`), each subgraph call signed and timed as any other (gateway/supergraph.ts
// `subgraphCall`). Mutations, subscriptions, introspection, the gateway's own fields (node, nodes), refused and
// sensitive fields stay stitched; so does everything if the planner cannot be loaded on this platform.
import { buildHTTPExecutor } from '@graphql-tools/executor-http';
import { type DocumentNode, type ExecutionResult, type GraphQLSchema, Kind, TypeInfo, buildASTSchema, parse, visit, visitWithTypeInfo } from 'graphql';
import { ruleFor } from '../schema/permissions.ts';
import { type JoinMap, objectTypesOf } from './single-subgraph.ts';
import { type GatewayContext, type SupergraphOptions, subgraphCall } from './supergraph.ts';

/**
 * Whether the planner may run this document: every operation a query, every field one the supergraph's subgraphs
 * resolve (the gateway's own node/nodes are not), no introspection, no sensitive field. Decided once per parsed
 * document; the caller's side (allowed whole) is operation-rules.ts's.
 */
export function plannable(schema: GraphQLSchema, joins: JoinMap, document: DocumentNode): boolean {
  const known = decided.get(document);
  if (known !== undefined) return known;
  let ok = true;
  const typeInfo = new TypeInfo(schema);
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      enter(node) {
        if (!ok) return false;
        if (node.kind === Kind.OPERATION_DEFINITION && node.operation !== 'query') return void (ok = false);
        if (node.kind !== Kind.FIELD) return undefined;
        const name = node.name.value;
        if (name === '__typename') return undefined;
        if (name.startsWith('__')) return void (ok = false);
        const objects = objectTypesOf(schema, typeInfo.getParentType());
        if (!objects.length) return void (ok = false);
        for (const t of objects) {
          if (ruleFor(t.name, name)?.kind === 'sensitive' || !joins.fields.get(`${t.name}.${name}`)?.size) return void (ok = false);
        }
        return undefined;
      },
    }),
  );
  decided.set(document, ok);
  return ok;
}

const decided = new WeakMap<DocumentNode, boolean>();

interface ExecutionRequest {
  document: DocumentNode;
  variables?: Record<string, unknown>;
  operationName?: string;
  context: GatewayContext;
}
type Executor = (request: ExecutionRequest) => Promise<ExecutionResult> | ExecutionResult;
interface RouterHandler {
  executor: Executor;
}
// Loaded by name and used through the little declared here: its type declarations pull in the DOM library.
const ROUTER_RUNTIME: string = '@graphql-hive/router-runtime';

export type PlannedExecution = (request: ExecutionRequest) => Promise<ExecutionResult>;

/**
 * The planner's executor over the supergraph, built on first use; null once it could not be loaded (every operation
 * then runs stitched). `onUnavailable` hears why, once.
 */
export function plannedExecution(opts: SupergraphOptions, joins: JoinMap, onUnavailable: (err: unknown) => void = () => {}): () => Promise<PlannedExecution | null> {
  let built: Promise<PlannedExecution | null> | undefined;
  const build = async (): Promise<PlannedExecution | null> => {
    try {
      const { unifiedGraphHandler } = (await import(ROUTER_RUNTIME)) as { unifiedGraphHandler(opts: Record<string, unknown>): Promise<RouterHandler> };
      const executors = new Map<string, Executor>();
      for (const [name, url] of joins.urls) {
        executors.set(
          name,
          buildHTTPExecutor({
            endpoint: opts.urls[name] ?? url,
            fetch: subgraphCall(name, opts) as never,
            // Each caller's identity goes out on its own call, never shared with an identical one.
            deduplicateInflightRequests: false,
          }) as unknown as Executor,
        );
      }
      const handler = await unifiedGraphHandler({
        unifiedGraph: buildASTSchema(parse(opts.supergraphSdl, { noLocation: true }), { assumeValidSDL: true }),
        getUnifiedGraphSDL: () => opts.supergraphSdl,
        onSubgraphExecute: (subgraph: string, request: ExecutionRequest) => {
          const executor = executors.get(subgraph.toLowerCase());
          if (!executor) throw new Error(`no subgraph named ${subgraph} in the supergraph`);
          return executor(request);
        },
      });
      return async (request) => (await handler.executor(request)) as ExecutionResult;
    } catch (err) {
      onUnavailable(err);
      return null;
    }
  };
  return () => (built ??= build());
}

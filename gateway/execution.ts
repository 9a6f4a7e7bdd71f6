// How the gateway runs operations, built once from the supergraph (docs/architecture.md#decision-1): the shielded
// supergraph for operations with a field the caller may be refused, the masked-only one for operations the caller
// may read whole (gateway/operation-rules.ts), and the pass-through for those one subgraph answers alone
// (gateway/single-subgraph.ts), and the query planner for queries across subgraphs the caller may read whole
// (gateway/planned.ts).
import type { Logger } from '../platform/logger.ts';
import { applyMaskingOnly, applyPermissions } from './permissions.ts';
import { plannedExecution } from './planned.ts';
import { joinMapOf, passThrough } from './single-subgraph.ts';
import { type SupergraphOptions, buildSupergraphSchema, subgraphCall } from './supergraph.ts';

export function gatewayExecution(opts: SupergraphOptions, logger?: Logger) {
  const supergraph = buildSupergraphSchema(opts);
  const joins = joinMapOf(opts.supergraphSdl);
  // Without the planner's native addon on this platform, every operation runs stitched: said once, without a stack.
  const unavailable = (err: unknown) => logger?.warn({ err: { message: err instanceof Error ? err.message : String(err) } }, 'query planner unavailable: queries across subgraphs run stitched');
  return {
    planned: { joins, execution: plannedExecution(opts, joins, unavailable) },
    schema: applyPermissions(supergraph),
    maskedOnlySchema: applyMaskingOnly(supergraph),
    passThrough: { joins, send: passThrough({ joins, urls: opts.urls, fetchFor: (subgraph) => subgraphCall(subgraph, opts) }) },
  };
}

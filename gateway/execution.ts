// How the gateway runs operations, built once from the supergraph (docs/architecture.md#decision-1): the shielded
// supergraph for operations with a field the caller may be refused, the masked-only one for operations the caller
// may read whole (gateway/operation-rules.ts), and the pass-through for those one subgraph answers alone
// (gateway/single-subgraph.ts).
import { applyMaskingOnly, applyPermissions } from './permissions.ts';
import { joinMapOf, passThrough } from './single-subgraph.ts';
import { type SupergraphOptions, buildSupergraphSchema, subgraphCall } from './supergraph.ts';

export function gatewayExecution(opts: SupergraphOptions) {
  const supergraph = buildSupergraphSchema(opts);
  const joins = joinMapOf(opts.supergraphSdl);
  return {
    schema: applyPermissions(supergraph),
    maskedOnlySchema: applyMaskingOnly(supergraph),
    passThrough: { joins, send: passThrough({ joins, urls: opts.urls, fetchFor: (subgraph) => subgraphCall(subgraph, opts) }) },
  };
}

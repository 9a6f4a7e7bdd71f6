// The gateway's executable supergraph (docs/architecture.md#decision-1): @graphql-tools/federation stitches the subgraphs
// from the composed supergraph SDL into a schema with resolvers, so permission rules can run on every field.
// Every call to a subgraph carries the caller's identity, signed for that call with INTERNAL_SECRET.
import { readFileSync } from 'node:fs';
import { getStitchedSchemaFromSupergraphSdl } from '@graphql-tools/federation';
import type { GraphQLSchema } from 'graphql';
import { type Principal, INTERNAL_IDENTITY_HEADER, signPrincipal } from '../platform/identity.ts';

export const DEFAULT_SUPERGRAPH = new URL('../schema/supergraph.graphql', import.meta.url);

/** What the gateway keeps per request; executors read the principal from it. */
export interface GatewayContext {
  principal: Principal | null;
}

export interface SupergraphOptions {
  /** The composed supergraph SDL (schema/supergraph.graphql by default, or any file given by path). */
  supergraphSdl: string;
  /** Subgraph name (oa, archive …) → URL; subgraphs not listed keep the URL the supergraph names. */
  urls: Readonly<Record<string, string>>;
  internalSecret: string;
  /** Per subgraph call; a subgraph that does not answer in time fails only its own fields. */
  timeoutMs: number;
  /** The fetch used for a subgraph's calls (metrics time them). */
  fetchFor?: (subgraph: string) => typeof fetch;
}

export const loadSupergraphSdl = (path: string | URL = DEFAULT_SUPERGRAPH): string => readFileSync(path, 'utf8');

export function buildSupergraphSchema(opts: SupergraphOptions): GraphQLSchema {
  return getStitchedSchemaFromSupergraphSdl({
    supergraphSdl: opts.supergraphSdl,
    // Entity fetches of one request to one subgraph go out as one batched request.
    batch: true,
    httpExecutorOpts: ({ name, endpoint }) => ({
      endpoint: opts.urls[name.toLowerCase()] ?? endpoint,
      timeout: opts.timeoutMs,
      ...(opts.fetchFor ? { fetch: opts.fetchFor(name.toLowerCase()) as never } : {}),
      headers: (request): Record<string, string> => {
        const principal = (request?.context as GatewayContext | undefined)?.principal;
        // No principal, no signature: the subgraph answers 401 rather than trusting an anonymous call.
        return principal ? { [INTERNAL_IDENTITY_HEADER]: signPrincipal(principal, opts.internalSecret, 60) } : {};
      },
    }),
  });
}

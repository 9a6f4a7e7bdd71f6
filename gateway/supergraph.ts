// The gateway's executable supergraph (docs/architecture.md#decision-1): @graphql-tools/federation stitches the subgraphs
// from the composed supergraph SDL into a schema with resolvers, so permission rules can run on every field.
// Every call to a subgraph carries the caller's identity, signed with INTERNAL_SECRET for that one HTTP request:
// its audience (the subgraph), method and the exact body bytes sent (platform/identity.ts).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { getStitchedSchemaFromSupergraphSdl } from '@graphql-tools/federation';
import type { GraphQLSchema } from 'graphql';
import { type Principal, type RequestOrigin, INTERNAL_IDENTITY_HEADER, signPrincipal } from '../platform/identity.ts';

export const DEFAULT_SUPERGRAPH = new URL('../schema/supergraph.graphql', import.meta.url);

/** What the gateway keeps per request; executors read the principal from it. */
export interface GatewayContext {
  principal: Principal | null;
  /** The client request behind the call (request id, address, operationName), signed into each identity. */
  origin?: RequestOrigin;
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

/**
 * The fetch for subgraph calls: @whatwg-node's, over node:http with keep-alive (the HTTP executor's own default, and
 * the Hive gateway's). Node's global fetch (undici) cost about 8% of the gateway's CPU on a 100-claim list more.
 */
// Required untyped: its type declarations pull in the DOM library, which clashes with this project's Node types.
export const subgraphFetch = (createRequire(import.meta.url)('@whatwg-node/fetch') as { fetch: typeof fetch }).fetch;

export function buildSupergraphSchema(opts: SupergraphOptions): GraphQLSchema {
  return getStitchedSchemaFromSupergraphSdl({
    supergraphSdl: opts.supergraphSdl,
    // Entity fetches of one request to one subgraph go out as one batched request.
    batch: true,
    httpExecutorOpts: ({ name, endpoint }) => ({
      endpoint: opts.urls[name.toLowerCase()] ?? endpoint,
      timeout: opts.timeoutMs,
      // The identity is signed in fetch, which sees the final method and body bytes.
      fetch: signingFetch(name.toLowerCase(), opts.internalSecret, opts.fetchFor?.(name.toLowerCase()) ?? subgraphFetch) as never,
      // Identical concurrent queries must not share one call: each caller's identity goes out on its own.
      deduplicateInflightRequests: false,
    }),
  });
}

type ExecutorFetch = (url: string, init: RequestInit, context?: unknown) => Promise<Response>;

/**
 * The executor's fetch for one subgraph: signs the caller's principal (from the execution context) for this
 * request, its audience, method and body, with the client request's origin. No principal, no signature: the
 * subgraph answers 401 rather than trusting an anonymous call.
 */
export function signingFetch(subgraph: string, secret: string, inner: typeof fetch): ExecutorFetch {
  return async (url, init, context) => {
    const ctx = context as GatewayContext | undefined;
    if (!ctx?.principal) return inner(url, init);
    const { body } = init;
    if (body != null && typeof body !== 'string') throw new TypeError('subgraph request body must be a string to be signed');
    const token = await signPrincipal(ctx.principal, secret, { audience: subgraph, method: init.method ?? 'GET', body }, { origin: ctx.origin });
    const headers = new Headers(init.headers);
    headers.set(INTERNAL_IDENTITY_HEADER, token);
    return inner(url, { ...init, headers });
  };
}

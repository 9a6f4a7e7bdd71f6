// A GraphQL call to a subgraph as the gateway makes it: JSON over HTTP with the caller's identity signed for this
// one request (its audience, method and body; platform/identity.ts).
import { type Principal, INTERNAL_IDENTITY_HEADER, signPrincipal } from '../../platform/identity.ts';

export interface GqlResult<T = Record<string, unknown>> {
  status: number;
  data?: T;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

/** A subgraph as a signer sees it: where it listens and the audience its identities are minted for. */
export interface SubgraphTarget {
  url: string;
  /** oa, archive or sync. */
  audience: string;
}

/** POSTs `body` to the subgraph with a fresh identity for `who` (none for null). */
export async function signedPost(target: SubgraphTarget, secret: string, who: Principal | null, body: string, headers: Record<string, string> = {}): Promise<Response> {
  const all: Record<string, string> = { 'content-type': 'application/json', ...headers };
  if (who) all[INTERNAL_IDENTITY_HEADER] = await signPrincipal(who, secret, { audience: target.audience, method: 'POST', body });
  return fetch(target.url, { method: 'POST', headers: all, body });
}

export async function signedGraphql<T>(target: SubgraphTarget, secret: string, who: Principal | null, query: string, variables?: Record<string, unknown>): Promise<GqlResult<T>> {
  const res = await signedPost(target, secret, who, JSON.stringify({ query, variables }));
  const body = (await res.json()) as GqlResult<T>;
  return { status: res.status, data: body.data, errors: body.errors };
}

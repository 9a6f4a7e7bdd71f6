// A GraphQL call to a subgraph as the gateway makes it: JSON over HTTP with the caller's identity signed.
import { type Principal, INTERNAL_IDENTITY_HEADER, signPrincipal } from '../../platform/identity.ts';

export interface GqlResult<T = Record<string, unknown>> {
  status: number;
  data?: T;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

export async function signedGraphql<T>(url: string, secret: string, who: Principal | null, query: string, variables?: Record<string, unknown>): Promise<GqlResult<T>> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (who) headers[INTERNAL_IDENTITY_HEADER] = signPrincipal(who, secret);
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  const body = (await res.json()) as GqlResult<T>;
  return { status: res.status, data: body.data, errors: body.errors };
}

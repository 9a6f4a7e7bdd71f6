// The gateway learns who an employee is from the oa subgraph, as a service identity of its own.
import { type Principal, INTERNAL_IDENTITY_HEADER, isRole, signPrincipal } from '../platform/identity.ts';
import type { DirectoryEntry, DirectoryLookup } from './auth.ts';

const GATEWAY: Principal = { sub: 'gateway', roles: [], departmentId: null, kind: 'service' };
const QUERY = 'query($id: ID!) { employee(id: $id) { roles department { id } } }';

export function oaDirectoryLookup(opts: { oaUrl: string; internalSecret: string; timeoutMs: number }): DirectoryLookup {
  return async (sub) => {
    const res = await fetch(opts.oaUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [INTERNAL_IDENTITY_HEADER]: signPrincipal(GATEWAY, opts.internalSecret, 60) },
      body: JSON.stringify({ query: QUERY, variables: { id: sub } }),
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
    if (!res.ok) throw new Error(`directory lookup failed with HTTP ${res.status}`);
    const body = (await res.json()) as { data?: { employee: { roles: string[]; department: { id: string } } | null }; errors?: unknown[] };
    if (body.errors?.length || !body.data) throw new Error('directory lookup failed');
    const e = body.data.employee;
    if (!e) return null;
    const entry: DirectoryEntry = { roles: e.roles.filter(isRole), departmentId: e.department.id };
    return entry;
  };
}

/** Readiness of a subgraph: it answers a signed `{ __typename }` with 200. */
export function subgraphReachable(url: string, internalSecret: string, timeoutMs: number): () => Promise<void> {
  return async () => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [INTERNAL_IDENTITY_HEADER]: signPrincipal(GATEWAY, internalSecret, 60) },
      body: '{"query":"{ __typename }"}',
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (res.status !== 200) throw new Error(`subgraph answered HTTP ${res.status}`);
    await res.body?.cancel();
  };
}

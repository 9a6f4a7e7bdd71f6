// The gateway learns who an employee is from the oa subgraph, as a service identity of its own.
import { identityHeaders, isRole, servicePrincipal } from '../platform/identity.ts';
import { probeSubgraph } from '../platform/probe.ts';
import type { DirectoryEntry, DirectoryLookup } from './auth.ts';

/** The gateway's own identity towards the subgraphs (directory lookups, probes, reports). */
export const GATEWAY_SERVICE = servicePrincipal('gateway');
const QUERY = 'query($id: ID!) { employee(id: $id) { roles department { id } } }';

export function oaDirectoryLookup(opts: { oaUrl: string; internalSecret: string; timeoutMs: number }): DirectoryLookup {
  return async (sub) => {
    const res = await fetch(opts.oaUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...identityHeaders(GATEWAY_SERVICE, opts.internalSecret) },
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
    const r = await probeSubgraph(url, GATEWAY_SERVICE, internalSecret, timeoutMs);
    if (!r.up) throw new Error(`subgraph not ready: ${r.reason}`);
  };
}

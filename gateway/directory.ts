// The gateway learns who an employee is from the oa subgraph, as a service identity of its own.
import { isRole, servicePrincipal } from '../platform/identity.ts';
import { SubgraphCallError, probeSubgraph, subgraphClient } from '../platform/integration/subgraph-client.ts';
import type { DirectoryEntry, DirectoryLookup } from './auth.ts';

/** The gateway's own identity towards the subgraphs (directory lookups, probes, reports). */
export const GATEWAY_SERVICE = servicePrincipal('gateway');
const QUERY = 'query($id: ID!) { employee(id: $id) { roles department { id } } }';

type EmployeeAnswer = { employee: { roles: string[]; department: { id: string } } | null };

export function oaDirectoryLookup(opts: { oaUrl: string; internalSecret: string; timeoutMs: number }): DirectoryLookup {
  const oa = subgraphClient({ name: 'oa', url: opts.oaUrl, as: GATEWAY_SERVICE, internalSecret: opts.internalSecret, timeoutMs: opts.timeoutMs });
  return async (sub) => {
    let data: EmployeeAnswer;
    try {
      data = await oa<EmployeeAnswer>(QUERY, { id: sub });
    } catch (err) {
      // An answer fails the lookup by its HTTP status when that is not a success; no answer at all keeps the
      // client's message (timeout, unreachable).
      if (!(err instanceof SubgraphCallError) || err.status === null) throw err;
      throw new Error(err.status >= 200 && err.status < 300 ? 'directory lookup failed' : `directory lookup failed with HTTP ${err.status}`);
    }
    const e = data.employee;
    if (!e) return null;
    const entry: DirectoryEntry = { roles: e.roles.filter(isRole), departmentId: e.department.id };
    return entry;
  };
}

/** Readiness of a subgraph (`name`: oa, archive, sync): it answers a signed `{ __typename }` with 200. */
export function subgraphReachable(target: { name: string; url: string }, internalSecret: string, timeoutMs: number): () => Promise<void> {
  return async () => {
    const r = await probeSubgraph(target, GATEWAY_SERVICE, internalSecret, timeoutMs);
    if (!r.up) throw new Error(`subgraph not ready: ${r.reason}`);
  };
}

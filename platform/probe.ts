// Is a subgraph up? It answers a signed `{ __typename }` with 200 in time. Used by the gateway's readiness check
// and by the sync service's system status and SUBGRAPH_DOWN rule, so both mean the same by "up".
import { type Principal, identityHeaders } from './identity.ts';

export interface ProbeResult {
  up: boolean;
  /** Round trip, also when it failed. */
  latencyMs: number;
  /** Why it is not up: an HTTP status, or `timeout` / `unreachable`. */
  reason: string | null;
}

export async function probeSubgraph(url: string, as: Principal, secret: string, timeoutMs: number): Promise<ProbeResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...identityHeaders(as, secret) },
      body: '{"query":"{ __typename }"}',
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.body?.cancel();
    return { up: res.status === 200, latencyMs: elapsed(), reason: res.status === 200 ? null : `HTTP ${res.status}` };
  } catch (err) {
    return { up: false, latencyMs: elapsed(), reason: (err as Error).name === 'TimeoutError' ? 'timeout' : 'unreachable' };
  }
}

// What the gateway benchmark's parent (bench/gateway.ts) and its child processes (bench/gateway-child.ts) share:
// the secrets of the run, the messages they exchange over IPC, and a GraphQL call over HTTP.
import { type Principal, identityHeaders } from '../platform/identity.ts';

export const SECRET = 'bench-internal-secret-0123456789abcdef0123';
export const JWT_SECRET = 'bench-client-jwt-secret-0123456789abcdef01';

/** The roles every benchmark client has (through a gateway: in its JWT; directly: signed by the load generator). */
export const AUDITOR: Principal = { sub: 'auditor-bench', roles: ['AUDITOR'], departmentId: null, kind: 'user' };

/** Child → parent, once: where it listens. */
export interface ReadyMessage {
  t: 'ready';
  urls: Record<string, string>;
}

/** Child → parent, answering `{ t: 'stats', id }`: the child's own CPU time and memory, and what it counted. */
export interface StatsMessage {
  t: 'stats';
  id: number;
  /** process.cpuUsage(), microseconds. */
  user: number;
  system: number;
  /** process.resourceUsage().maxRSS, KiB. */
  maxRss: number;
  /** Subgraphs child: HTTP requests received by each subgraph so far. */
  requests?: Record<string, number>;
}

export type ParentMessage = { t: 'stats'; id: number } | { t: 'stop' };
export type ChildMessage = ReadyMessage | StatsMessage | { t: 'error'; message: string };

export type Headers = Record<string, string> | ((body: string) => Promise<Record<string, string>>);

/** POSTs one GraphQL request; throws on GraphQL errors. `headers`: fixed, or made for the body (an internal identity is signed per request, over its body). */
export async function call(url: string, body: unknown, headers: Headers): Promise<Record<string, unknown>> {
  const payload = JSON.stringify(body);
  const extra = typeof headers === 'function' ? await headers(payload) : headers;
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...extra }, body: payload });
  const json = (await res.json()) as { data?: Record<string, unknown>; errors?: unknown[] };
  if (json.errors?.length || !json.data) throw new Error(`${url}: ${JSON.stringify(json.errors ?? json).slice(0, 300)}`);
  return json.data;
}

/** Headers carrying `p`'s internal identity for one request to subgraph `audience`, signed over its body. */
export const signed = (p: Principal, audience = 'oa') => (body: string) => identityHeaders(p, SECRET, { audience, method: 'POST', body });

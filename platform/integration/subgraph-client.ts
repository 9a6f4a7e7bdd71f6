// The one way a service calls another over GraphQL (docs/architecture.md): a POST signed as a service principal
// with INTERNAL_SECRET (platform/identity.ts), a fresh identity per request bound to the target and body, bounded by a per-call timeout, that resolves with `data` or throws
// one SubgraphCallError. The gateway uses it for directory lookups, audit delivery, heartbeats and readiness; the
// sync service for its pipeline and system status. Its messages are stored, logged and shown to operators, so
// they name the target and the cause only: never a token, a response body or a stack.
import { type Principal, identityHeaders } from '../identity.ts';
import { SpanKind, context, currentTraceparent, failSpan, startSpan, trace, TRACEPARENT } from '../tracing.ts';

/** GraphQL error codes that refuse the request itself: repeating the same call cannot help. */
export const PERMANENT_CODES: ReadonlySet<string> = new Set(['BAD_USER_INPUT', 'FORBIDDEN', 'UNAUTHENTICATED', 'GRAPHQL_VALIDATION_FAILED']);

/** Messages are cut here: a GraphQL error message is the only text taken from an answer. */
const MAX_MESSAGE = 500;

/** How a call failed: no answer in time, no connection, an HTTP answer without usable data, a GraphQL error. */
export type SubgraphFailure = 'timeout' | 'unreachable' | 'http' | 'graphql';

export interface SubgraphCallErrorDetail {
  target: string;
  failure: SubgraphFailure;
  status?: number | null;
  code?: string | null;
}

/** A failed call; `message` is safe to store and show operators (no tokens, no bodies). */
export class SubgraphCallError extends Error {
  /** The target as the client names it; null when a caller raised the error itself. */
  readonly target: string | null;
  readonly failure: SubgraphFailure | null;
  /** The HTTP status when the target answered at all. */
  readonly status: number | null;
  /** The first GraphQL error's code. */
  readonly code: string | null;

  constructor(
    message: string,
    /** False when repeating the same call cannot help (the request itself is refused). */
    readonly retryable = true,
    detail?: SubgraphCallErrorDetail,
  ) {
    super(message);
    this.name = 'SubgraphCallError';
    this.target = detail?.target ?? null;
    this.failure = detail?.failure ?? null;
    this.status = detail?.status ?? null;
    this.code = detail?.code ?? null;
  }
}

export interface SubgraphClientOptions {
  /** The target subgraph: `oa`, `archive`, `sync`; named in messages and the audience the identity is signed for. */
  name: string;
  url: string;
  /** Who the calls are signed as (servicePrincipal in platform/identity.ts). */
  as: Principal;
  internalSecret: string;
  /** Bounds each call, reading the answer included. */
  timeoutMs: number;
  /** Replaces the global fetch (tests). */
  fetch?: typeof fetch;
  /** The component calling, whose span the call is (platform/tracing.ts); default: the service principal's name. */
  from?: string;
}

/** One operation; resolves with its `data`, or throws SubgraphCallError. */
export type SubgraphCall = <T>(query: string, variables: Record<string, unknown>) => Promise<T>;

interface GraphQLAnswer<T> {
  data?: T | null;
  errors?: { message?: unknown; extensions?: { code?: unknown } | null }[];
}

// Signing happens inside the caller's try, as it always has: a failure to sign counts as not reaching the target.
// Every request gets its own identity, for this audience, method and body (single use, 10 s).
// The identity carries when this caller stops waiting (`dl`): the subgraph refuses the request past it, starts no
// transaction for it and commits none (platform/integration/served-request.ts), so a call this client reported as
// timed out was not applied, and a request queued behind others does no work for a caller that is gone.
async function send(doFetch: typeof fetch, target: { name: string; url: string }, as: Principal, secret: string, timeoutMs: number, body: string): Promise<Response> {
  const identity = await identityHeaders(as, secret, { audience: target.name, method: 'POST', body }, { origin: { deadline: Date.now() + timeoutMs } });
  // The caller's trace goes along (platform/tracing.ts): the call's span, or the job's or request's context.
  const traceparent = currentTraceparent();
  return doFetch(target.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...identity, ...(traceparent ? { [TRACEPARENT]: traceparent } : {}) },
    body,
    signal: AbortSignal.timeout(timeoutMs),
  });
}

// AbortSignal.timeout rejects with a DOMException named TimeoutError; anything else means no connection.
const timedOut = (err: unknown): boolean => (err as { name?: unknown } | null)?.name === 'TimeoutError';

export function subgraphClient(opts: SubgraphClientOptions): SubgraphCall {
  const doFetch = opts.fetch ?? fetch;
  const target = opts.name;
  const fail = (message: string, failure: SubgraphFailure, status: number | null = null, code: string | null = null) =>
    new SubgraphCallError(message.slice(0, MAX_MESSAGE), code === null || !PERMANENT_CODES.has(code), { target, failure, status, code });

  const from = opts.from ?? (opts.as.kind === 'service' ? opts.as.sub : 'client');
  const call = async <T>(query: string, variables: Record<string, unknown>): Promise<T> => {
    let res: Response;
    try {
      res = await send(doFetch, opts, opts.as, opts.internalSecret, opts.timeoutMs, JSON.stringify({ query, variables }));
    } catch (err) {
      throw timedOut(err) ? fail(`${target} subgraph no answer within ${opts.timeoutMs} ms`, 'timeout') : fail(`${target} subgraph unreachable`, 'unreachable');
    }
    let body: GraphQLAnswer<T>;
    try {
      body = (await res.json()) as GraphQLAnswer<T>;
      if (body === null || typeof body !== 'object') throw new TypeError('not a GraphQL answer');
    } catch {
      throw fail(`${target} subgraph answered HTTP ${res.status} without GraphQL`, 'http', res.status);
    }
    if (Array.isArray(body.errors) && body.errors.length) {
      const first = body.errors[0];
      const code = first?.extensions?.code;
      const known = typeof code === 'string' ? code : 'INTERNAL_SERVER_ERROR';
      throw fail(`${target}: ${known}: ${String(first?.message ?? '')}`, 'graphql', res.status, known);
    }
    if (!res.ok || body.data == null) throw fail(`${target} subgraph answered HTTP ${res.status}`, 'http', res.status);
    return body.data;
  };
  // A CLIENT span per call when spans are recorded; otherwise the call goes out in the caller's context as it is.
  return async <T>(query: string, variables: Record<string, unknown>): Promise<T> => {
    const parent = context.active();
    const span = startSpan(from, `POST ${target}`, { kind: SpanKind.CLIENT, attributes: { 'server.address': target } }, parent);
    if (!span.isRecording()) return call<T>(query, variables);
    try {
      return await context.with(trace.setSpan(parent, span), () => call<T>(query, variables));
    } catch (err) {
      failSpan(span, err);
      throw err;
    } finally {
      span.end();
    }
  };
}

export interface ProbeResult {
  up: boolean;
  /** Round trip, also when it failed. */
  latencyMs: number;
  /** Why it is not up: an HTTP status, or `timeout` / `unreachable`. */
  reason: string | null;
}

/**
 * Is a subgraph up? It answers a signed `{ __typename }` with 200 in time; the body is not read. The gateway's
 * readiness check and the sync service's system status and SUBGRAPH_DOWN rule both use it, so both mean the same
 * by "up".
 */
export async function probeSubgraph(target: { name: string; url: string }, as: Principal, secret: string, timeoutMs: number): Promise<ProbeResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  try {
    const res = await send(fetch, target, as, secret, timeoutMs, '{"query":"{ __typename }"}');
    await res.body?.cancel();
    return { up: res.status === 200, latencyMs: elapsed(), reason: res.status === 200 ? null : `HTTP ${res.status}` };
  } catch (err) {
    return { up: false, latencyMs: elapsed(), reason: timedOut(err) ? 'timeout' : 'unreachable' };
  }
}

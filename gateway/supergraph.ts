// The gateway's executable supergraph (docs/architecture.md#decision-1): @graphql-tools/federation stitches the subgraphs
// from the composed supergraph SDL into a schema with resolvers, so permission rules can run on every field.
// Every call to a subgraph carries the caller's identity, signed with INTERNAL_SECRET for that one HTTP request:
// its audience (the subgraph), method and the exact body bytes sent (platform/identity.ts).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { getStitchedSchemaFromSupergraphSdl } from '@graphql-tools/federation';
import { checkInputScalars } from './input-scalars.ts';
import { withNodeField } from './node.ts';
import { GraphQLError, type GraphQLSchema, getOperationAST, parse } from 'graphql';
import { type Principal, type RequestOrigin, INTERNAL_IDENTITY_HEADER, signPrincipal } from '../platform/identity.ts';
import { SpanKind, TRACEPARENT, context, currentTraceparent, failSpan, startSpan, trace } from '../platform/tracing.ts';

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
  // Money, Date and DateTime inputs are checked here, in the client's words (gateway/input-scalars.ts).
  return checkInputScalars(getStitchedSchemaFromSupergraphSdl({
    supergraphSdl: opts.supergraphSdl,
    // Entity fetches of one request to one subgraph go out as one batched request.
    batch: true,
    // node(id) and nodes(ids) for the main entities (gateway/node.ts).
    onStitchingOptions: (options) => withNodeField(options as never),
    httpExecutorOpts: ({ name, endpoint }) => ({
      endpoint: opts.urls[name.toLowerCase()] ?? endpoint,
      // The time limit is kept by timedFetch, not by the executor's `timeout` option (see there).
      // The identity is signed in fetch, which sees the final method and body bytes.
      fetch: subgraphCall(name.toLowerCase(), opts) as never,
      // Identical concurrent queries must not share one call: each caller's identity goes out on its own.
      deduplicateInflightRequests: false,
    }),
  }));
}

/**
 * How much longer a mutation's answer is awaited past the time limit. The subgraph's signed deadline (a second
 * before the limit) stops its transactions from starting or committing, but a commit that passed its last check may
 * still land a little later on a loaded machine: only the subgraph's own answer tells. So a mutation is answered as
 * the subgraph answers it (applied, or DEADLINE_EXCEEDED: nothing applied), and OUTCOME_UNKNOWN only when no answer
 * came in this grace either (the client retries with its Idempotency-Key to learn the outcome).
 */
export const MUTATION_GRACE_MS = 5_000;

/**
 * Whether a subgraph call runs a mutation: the stitched executor's documents and a client's own text passed through
 * (gateway/single-subgraph.ts) alike, so only bodies that name `mutation` at all are parsed.
 */
export function isMutationCall(body: unknown): boolean {
  if (typeof body !== 'string' || !body.includes('mutation')) return false;
  try {
    const { query, operationName } = JSON.parse(body) as { query?: unknown; operationName?: unknown };
    if (typeof query !== 'string') return false;
    return getOperationAST(parse(query, { noLocation: true }), typeof operationName === 'string' ? operationName : undefined)?.operation === 'mutation';
  } catch {
    return false;
  }
}

/**
 * A subgraph call limited to `timeoutMs`, its answer's body included, with one plain timer cleared when the body has
 * been read. The HTTP executor's own `timeout` option makes an AbortSignal.timeout per call and joins it to its other
 * signal with weak references and a finalization registry; every one of them later fires and builds a DOMException:
 * about 3% of the gateway's CPU on a 100-claim list. A query past its limit fails its own fields with
 * DEADLINE_EXCEEDED; a mutation is waited for MUTATION_GRACE_MS more (see there), then fails with OUTCOME_UNKNOWN.
 */
export function timedFetch(subgraph: string, timeoutMs: number, inner: typeof fetch, graceMs = MUTATION_GRACE_MS): typeof fetch {
  return async (url, init) => {
    const ctrl = new AbortController();
    const outer = init?.signal;
    const cancel = () => ctrl.abort(outer?.reason);
    const mutation = isMutationCall(init?.body);
    let timedOut: 'DEADLINE_EXCEEDED' | 'OUTCOME_UNKNOWN' | null = null;
    const cut = (code: 'DEADLINE_EXCEEDED' | 'OUTCOME_UNKNOWN') => {
      timedOut = code;
      ctrl.abort();
    };
    let timer = setTimeout(() => {
      if (mutation) timer = setTimeout(() => cut('OUTCOME_UNKNOWN'), graceMs);
      else cut('DEADLINE_EXCEEDED');
    }, timeoutMs);
    outer?.addEventListener('abort', cancel, { once: true });
    const done = () => {
      clearTimeout(timer);
      outer?.removeEventListener('abort', cancel);
    };
    const failed = (err: unknown): never => {
      done();
      if (timedOut === 'OUTCOME_UNKNOWN') {
        throw new GraphQLError(`The ${subgraph} service did not answer in time; the mutation may or may not have been applied: retry it with the same Idempotency-Key to learn its outcome`, {
          extensions: { code: 'OUTCOME_UNKNOWN' },
        });
      }
      if (timedOut) throw new GraphQLError(`The ${subgraph} service did not answer in time`, { extensions: { code: 'DEADLINE_EXCEEDED' } });
      throw err;
    };
    if (outer?.aborted) cancel();
    const res = await inner(url, { ...init, signal: ctrl.signal }).catch(failed);
    const text = res.text.bind(res);
    // The executor reads the body once, as text; the limit holds until it has.
    (res as { text: () => Promise<string> }).text = () =>
      text().then((body) => {
        done();
        return body;
      }, failed);
    return res;
  };
}

/** One subgraph's calls: the caller's identity signed, within the time limit, over the given fetch. */
export const subgraphCall = (subgraph: string, opts: Pick<SupergraphOptions, 'internalSecret' | 'timeoutMs' | 'fetchFor'>): ExecutorFetch =>
  tracedFetch(subgraph, signingFetch(subgraph, opts.internalSecret, timedFetch(subgraph, opts.timeoutMs, opts.fetchFor?.(subgraph) ?? subgraphFetch)));

/**
 * A CLIENT span per subgraph call (platform/tracing.ts), ended once the answer's body is read; the call goes out in
 * it, so signingFetch sends its traceparent. Without an exported trace, no span: the request's context goes on as is.
 */
export function tracedFetch(subgraph: string, inner: ExecutorFetch): ExecutorFetch {
  return async (url, init, ctx) => {
    const parent = context.active();
    const span = startSpan('gateway', `POST ${subgraph}`, { kind: SpanKind.CLIENT }, parent);
    if (!span.isRecording()) return inner(url, init, ctx);
    span.setAttributes({ 'server.address': subgraph, 'http.request.method': 'POST' });
    let res: Response;
    try {
      res = await context.with(trace.setSpan(parent, span), () => inner(url, init, ctx));
    } catch (err) {
      failSpan(span, err);
      span.end();
      throw err;
    }
    span.setAttribute('http.response.status_code', res.status);
    const text = res.text.bind(res);
    (res as { text: () => Promise<string> }).text = () =>
      text().then(
        (body) => (span.end(), body),
        (err: unknown) => (failSpan(span, err), span.end(), Promise.reject(err)),
      );
    return res;
  };
}

export type ExecutorFetch = (url: string, init: RequestInit, context?: unknown) => Promise<Response>;

/**
 * The executor's fetch for one subgraph: signs the caller's principal (from the execution context) for this
 * request, its audience, method and body, with the client request's origin. No principal, no signature: the
 * subgraph answers 401 rather than trusting an anonymous call.
 */
export function signingFetch(subgraph: string, secret: string, inner: typeof fetch): ExecutorFetch {
  return async (url, init, context) => {
    const ctx = context as GatewayContext | undefined;
    if (!ctx?.principal) return inner(url, init);
    // The trace context of the call (tracedFetch's span, or the client request's): platform/tracing.ts.
    const traceparent = currentTraceparent();
    const { body } = init;
    if (body != null && typeof body !== 'string') throw new TypeError('subgraph request body must be a string to be signed');
    const token = await signPrincipal(ctx.principal, secret, { audience: subgraph, method: init.method ?? 'GET', body }, { origin: ctx.origin });
    // The executor builds a plain header object per call: the token joins it without a Headers copy.
    const plain = init.headers !== null && typeof init.headers === 'object' && !Array.isArray(init.headers) && !(init.headers instanceof Headers);
    if (plain) return inner(url, { ...init, headers: { ...(init.headers as Record<string, string>), [INTERNAL_IDENTITY_HEADER]: token, ...(traceparent ? { [TRACEPARENT]: traceparent } : {}) } });
    const headers = new Headers(init.headers);
    headers.set(INTERNAL_IDENTITY_HEADER, token);
    if (traceparent) headers.set(TRACEPARENT, traceparent);
    return inner(url, { ...init, headers });
  };
}

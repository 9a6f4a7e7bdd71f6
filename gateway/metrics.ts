// Prometheus metrics of the gateway: requests and errors by operation and code, request latency, and the latency
// of each subgraph call. Served as text at /metrics, to whom platform/metrics-http.ts allows (METRICS_TOKEN or
// METRICS_PORT).
//
// Bounded cardinality (issue 14): the project has no persisted documents, so the `operation` label is a bounded set
// instead. A name becomes a label only when it is the name of the operation the gateway resolved in a document that
// passed validation (never the client's `operationName` field alone), matches OPERATION_LABEL (a GraphQL name of at
// most 64 characters), and is among the first MAX_OPERATION_LABELS distinct names this instance has seen; every
// other name is counted as `other`, an operation without a name as `anonymous`. Error codes are bounded the same way
// (`OTHER`). So however many names clients invent, the exposition grows by at most that many label values.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApolloServerPlugin } from '@apollo/server';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from '../platform/logger.ts';
import { type MetricsAccess, type MetricsListener, metricsRoute, startMetricsListener } from '../platform/metrics-http.ts';

/** How many distinct operation names get a label of their own; later ones are counted as `other`. */
export const MAX_OPERATION_LABELS = 200;
/** A GraphQL name of at most 64 characters. */
export const OPERATION_LABEL = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const MAX_CODE_LABELS = 50;
const CODE_LABEL = /^[A-Z][A-Z0-9_]{0,39}$/;

/** Admits the first `max` distinct values that match `pattern`; anything else is `fallback`. */
class BoundedLabels {
  private readonly seen = new Set<string>();
  constructor(
    private readonly pattern: RegExp,
    private readonly max: number,
    private readonly fallback: string,
  ) {}
  label(value: string): string {
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.max || !this.pattern.test(value)) return this.fallback;
    this.seen.add(value);
    return value;
  }
}

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: 'gateway_requests_total', help: 'GraphQL requests by operation and outcome code', labelNames: ['operation', 'code'], registers: [this.registry] });
  readonly errors = new Counter({ name: 'gateway_errors_total', help: 'GraphQL errors by operation and code', labelNames: ['operation', 'code'], registers: [this.registry] });
  /**
   * How the gateway ran each HTTP operation: `single_subgraph` (sent to its subgraph as written), `planned` (the query
   * planner), `planner_fallback` (a query the planner took but could not run, run stitched), `stitched`.
   */
  readonly executionPaths = new Counter({ name: 'gateway_execution_paths_total', help: 'HTTP operations by how the gateway ran them', labelNames: ['path'], registers: [this.registry] });
  readonly latency = new Histogram({
    name: 'gateway_request_duration_seconds',
    help: 'GraphQL request latency by operation',
    labelNames: ['operation'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly subgraphLatency = new Histogram({
    name: 'gateway_subgraph_request_duration_seconds',
    help: 'Latency of calls from the gateway to each subgraph',
    labelNames: ['subgraph', 'status'],
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  /** Registries of other parts in the same process (the sync subgraph in `npm start`), served with these. */
  private readonly merged: Registry[] = [];
  private readonly operations: BoundedLabels;
  private readonly codes = new BoundedLabels(CODE_LABEL, MAX_CODE_LABELS, 'OTHER');
  /** Who may read /metrics (default: anyone on the main port, as in development). */
  readonly access: MetricsAccess;
  private readonly route: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

  constructor(opts: { processMetrics?: boolean; access?: MetricsAccess; maxOperationLabels?: number } = {}) {
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.operations = new BoundedLabels(OPERATION_LABEL, opts.maxOperationLabels ?? MAX_OPERATION_LABELS, 'other');
    this.access = opts.access ?? { kind: 'open' };
    this.route = metricsRoute(this.access, () => [this.registry, ...this.merged]);
  }

  /** The `operation` label of a request: see the rule at the top of this file. */
  operationLabel(resolved: string | null | undefined, requested: string | null | undefined): string {
    if (resolved) return this.operations.label(resolved);
    // No operation resolved (a parse or validation failure): the client's name is not trusted as a label.
    return requested ? 'other' : 'anonymous';
  }

  trackSubscriptions(open: () => number): void {
    new Gauge({
      name: 'gateway_subscriptions_open',
      help: 'syncEvents subscriptions open on this instance (WebSocket and SSE)',
      registers: [this.registry],
      collect() {
        this.set(open());
      },
    });
  }

  merge(registry: Registry): void {
    this.merged.push(registry);
  }

  /** An Apollo plugin counting requests and errors and timing them, labelled by operation name. */
  plugin(): ApolloServerPlugin {
    return {
      requestDidStart: async () => {
        const started = process.hrtime.bigint();
        return {
          willSendResponse: async ({ request, errors, operation: resolved, operationName }) => {
            const operation = resolved ? this.operationLabel(operationName ?? null, null) : this.operationLabel(null, request.operationName);
            const codes = (errors ?? []).map((e) => this.codes.label(String(e.extensions?.code ?? 'INTERNAL_SERVER_ERROR')));
            for (const code of codes) this.errors.inc({ operation, code });
            this.requests.inc({ operation, code: codes[0] ?? 'OK' });
            this.latency.observe({ operation }, Number(process.hrtime.bigint() - started) / 1e9);
          },
        };
      },
    };
  }

  /** Wraps fetch so every call to a subgraph is timed. */
  timedFetch(subgraph: string, inner: typeof fetch): typeof fetch {
    return async (input, init) => {
      const end = this.subgraphLatency.startTimer({ subgraph });
      try {
        const res = await inner(input, init);
        end({ status: String(res.status) });
        return res;
      } catch (err) {
        end({ status: 'error' });
        throw err;
      }
    };
  }

  /**
   * Handles /metrics on the main port as the access rule says (401 without the token); answers false for other
   * paths, and for /metrics when it is served on METRICS_PORT or not at all (the caller answers 404).
   */
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    return this.route(req, res);
  }

  /** With METRICS_PORT, the listener of its own on 127.0.0.1; null otherwise. */
  listen(logger: Logger): Promise<MetricsListener | null> {
    return startMetricsListener(this.access, () => [this.registry, ...this.merged], logger);
  }
}

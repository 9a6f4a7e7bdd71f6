// Prometheus metrics of the gateway: requests and errors by operation and code, request latency, and the latency
// of each subgraph call. Served as text at /metrics.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApolloServerPlugin } from '@apollo/server';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: 'gateway_requests_total', help: 'GraphQL requests by operation and outcome code', labelNames: ['operation', 'code'], registers: [this.registry] });
  readonly errors = new Counter({ name: 'gateway_errors_total', help: 'GraphQL errors by operation and code', labelNames: ['operation', 'code'], registers: [this.registry] });
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

  constructor(opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
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
          willSendResponse: async ({ request, errors, operationName }) => {
            const operation = operationName ?? request.operationName ?? 'anonymous';
            const codes = (errors ?? []).map((e) => String(e.extensions?.code ?? 'INTERNAL_SERVER_ERROR'));
            for (const code of codes) this.errors.inc({ operation, code });
            this.requests.inc({ operation, code: codes[0] ?? 'OK' });
            this.latency.observe({ operation }, Number(process.hrtime.bigint() - started) / 1e9);
          },
        };
      },
    };
  }

  /** Wraps fetch so every call to a subgraph is timed. */
  timedFetch(subgraph: string): typeof fetch {
    return async (input, init) => {
      const end = this.subgraphLatency.startTimer({ subgraph });
      try {
        const res = await fetch(input, init);
        end({ status: String(res.status) });
        return res;
      } catch (err) {
        end({ status: 'error' });
        throw err;
      }
    };
  }

  /** Handles GET /metrics; answers false for other paths. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    if ((req.url ?? '').split('?', 1)[0] !== '/metrics') return false;
    const registry = this.merged.length ? Registry.merge([this.registry, ...this.merged]) : this.registry;
    const body = await registry.metrics();
    res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
    res.end(body);
    return true;
  }
}

// Prometheus metrics of the sync service: lag as a histogram (observed as jobs succeed), job outcomes, and the
// backlog, failures and lag percentiles of syncStatus read from the database at scrape time, so every instance
// reports the same figures. Served at /metrics by the sync process, and merged into the gateway's in `npm start`.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { EventLog } from '../../platform/events.ts';
import type { SyncModels } from './models.ts';
import type { OperationsModels } from './alerts/models.ts';
import { syncStatus } from './status.ts';

export class SyncMetrics {
  readonly registry = new Registry();
  private readonly lag = new Histogram({
    name: 'sync_lag_seconds',
    help: 'Approval to filing of each synced claim',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900],
    registers: [this.registry],
  });
  private readonly jobs = new Counter({ name: 'sync_jobs_total', help: 'Sync job runs by outcome', labelNames: ['outcome'], registers: [this.registry] });

  constructor(models: SyncModels, events: EventLog, ops?: OperationsModels) {
    const registry = this.registry;
    let pending: Promise<Awaited<ReturnType<typeof syncStatus>>> | null = null;
    // One status query per scrape, shared by the gauges below.
    const status = () => (pending ??= syncStatus(models, events).finally(() => setTimeout(() => (pending = null), 0)));
    const gauge = (name: string, help: string, read: (s: Awaited<ReturnType<typeof syncStatus>>) => number) =>
      new Gauge({
        name,
        help,
        registers: [registry],
        async collect() {
          this.set(read(await status()));
        },
      });
    gauge('sync_backlog', 'Approved claims not yet filed', (s) => s.backlog);
    gauge('sync_failed_jobs', 'Jobs waiting to retry after a failure', (s) => s.failed);
    gauge('sync_dead_jobs', 'Jobs out of attempts, waiting for retrySyncJob', (s) => s.dead);
    gauge('sync_events_pending', 'Events in the log the pipeline has not consumed yet', (s) => s.head - s.position);
    if (ops) {
      // The figures of systemStatus (subgraph health as last probed, open alerts, webhooks, gateways).
      new Gauge({
        name: 'ops_open_alerts',
        help: 'Alerts OPEN or ACKNOWLEDGED, by rule and severity',
        labelNames: ['rule', 'severity'],
        registers: [registry],
        async collect() {
          this.reset();
          const rows = await ops.Alert.aggregate<{ _id: { rule: string; severity: string }; n: number }>([{ $match: { open: true } }, { $group: { _id: { rule: '$rule', severity: '$severity' }, n: { $sum: 1 } } }]);
          for (const r of rows) this.set({ rule: r._id.rule, severity: r._id.severity }, r.n);
        },
      });
      new Gauge({
        name: 'ops_subgraph_up',
        help: 'Whether each subgraph answered its last probe (1) or not (0)',
        labelNames: ['subgraph'],
        registers: [registry],
        async collect() {
          this.reset();
          for (const h of await ops.SubgraphHealth.find().lean()) this.set({ subgraph: h._id }, h.status === 'UP' ? 1 : 0);
        },
      });
      new Gauge({
        name: 'ops_subgraph_probe_ms',
        help: 'Round trip of the last probe of each subgraph',
        labelNames: ['subgraph'],
        registers: [registry],
        async collect() {
          this.reset();
          for (const h of await ops.SubgraphHealth.find().lean()) if (h.latencyMs !== null) this.set({ subgraph: h._id }, h.latencyMs);
        },
      });
      new Gauge({
        name: 'ops_webhook_dead_deliveries',
        help: 'Webhook deliveries dead-lettered',
        registers: [registry],
        async collect() {
          this.set(await models.SyncJob.db.collection('webhook_deliveries').countDocuments({ status: 'DEAD' }));
        },
      });
      new Gauge({
        name: 'ops_gateway_subscriptions_open',
        help: 'Open subscriptions over the gateway instances that reported in the last 30 s',
        registers: [registry],
        async collect() {
          const fresh = await ops.GatewayInstance.find({ seenAt: { $gte: new Date(Date.now() - 30_000) } }).lean();
          this.set(fresh.reduce((n, g) => n + g.openSubscriptions, 0));
        },
      });
    }
    new Gauge({
      name: 'sync_lag_ms',
      help: 'Sync lag percentiles over the last hour, approval to filing',
      labelNames: ['quantile'],
      registers: [registry],
      async collect() {
        const s = await status();
        this.reset();
        for (const [q, v] of [['0.5', s.lagP50Ms], ['0.95', s.lagP95Ms], ['0.99', s.lagP99Ms]] as const) if (v !== null) this.set({ quantile: q }, v);
      },
    });
  }

  jobSucceeded(lagMs: number): void {
    this.jobs.inc({ outcome: 'succeeded' });
    this.lag.observe(lagMs / 1000);
  }

  jobFailed(dead: boolean): void {
    this.jobs.inc({ outcome: dead ? 'dead' : 'failed' });
  }
}

// Prometheus metrics of the sync service: lag as a histogram (observed as jobs succeed), job outcomes, and the
// backlog, failures and pending events of syncStatus read from the database at scrape time, so every instance
// reports the same figures. Served at /metrics by the sync process, and merged into the gateway's in `npm start`;
// operations registers its gauges on the same registry (subgraphs/sync-service.ts).
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { EventLog } from '../../platform/integration/events.ts';
import type { SyncModels } from './models.ts';
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

  constructor(models: SyncModels, events: EventLog) {
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
    // Lag percentiles come from the histogram sync_lag_seconds (histogram_quantile in PromQL); the last hour's
    // percentiles of the database stay in syncStatus. No gauge with a `quantile` label (issue 14).
  }

  jobSucceeded(lagMs: number): void {
    this.jobs.inc({ outcome: 'succeeded' });
    this.lag.observe(lagMs / 1000);
  }

  jobFailed(dead: boolean): void {
    this.jobs.inc({ outcome: dead ? 'dead' : 'failed' });
  }
}

// The status sampler: every STATUS_SAMPLE_MS, on one sync instance at a time (the `sync-status-history` lease),
// records what systemStatus shows (database, subgraphs, backlog, dead jobs, failing webhooks, open alerts and
// subscriptions) plus the lag: the age of the oldest approval not yet filed, and the p95 lag of the jobs completed
// since the previous sample. Subgraphs are not probed twice: the alert monitor's probes (stored in
// `subgraph_health`, alerts/health.ts) are used while younger than one sample interval; a subgraph probed longer ago
// (the monitor off, slower, or SUBGRAPH_DOWN disabled) is probed here, through the same function and store.
import type { Lease } from '../../../platform/integration/lease.ts';
import { WorkerLoop } from '../../../platform/integration/worker-loop.ts';
import type { Logger } from '../../../platform/logger.ts';
import { probeSubgraphs } from '../alerts/health.ts';
import type { SubgraphHealthDoc } from '../alerts/models.ts';
import { type SystemStatusSources, systemStatus } from '../system-status.ts';
import { type StatusSampleDoc, statusSampleModel } from './models.ts';

export interface StatusSamplerOptions {
  sources: SystemStatusSources;
  lease: Lease;
  logger: Logger;
  /** STATUS_SAMPLE_MS: also how old a stored probe may be to count as this sample's. */
  intervalMs: number;
  clock?: () => Date;
}

export class StatusSampler {
  private readonly loop: WorkerLoop<StatusSampleDoc>;
  private readonly samples;

  constructor(private readonly o: StatusSamplerOptions) {
    this.samples = statusSampleModel(o.sources.connection);
    this.loop = new WorkerLoop({ work: () => this.record(), lease: o.lease, logger: o.logger, failure: 'recording a status sample failed', runOnStart: true });
  }

  /** Creates the collection's indexes (the TTL index among them). */
  async init(): Promise<void> {
    await this.samples.init();
  }

  /** One sample now (lease holder only: null when another instance samples). */
  sample(): Promise<StatusSampleDoc | null> {
    return this.loop.runNow();
  }

  /** A sample at once, then one every intervalMs after the one before ended. */
  start(): void {
    if (this.o.intervalMs > 0) this.loop.start(this.o.intervalMs);
  }

  /** Waits for the sample in flight, then gives the lease up. */
  stop(): Promise<void> {
    return this.loop.stop();
  }

  private async record(): Promise<StatusSampleDoc> {
    const src = this.o.sources;
    const now = this.o.clock?.() ?? new Date();
    const previous = await this.samples.findOne({}, { at: 1 }).sort({ at: -1 }).lean<{ at: Date }>();
    // Since the previous sample (whichever instance took it), at most the hour syncStatus's lag looks at.
    const since = new Date(Math.max(previous ? previous.at.getTime() : 0, now.getTime() - src.sync.lagWindowMs));
    const [status, oldest, completed] = await Promise.all([systemStatus(src, now, () => this.health(now)), src.sync.oldestUnfiledApproval(), src.sync.completedBetween(since, now)]);
    const doc = {
      at: now,
      database: status.database,
      databaseLatencyMs: status.databaseLatencyMs,
      subgraphs: status.subgraphs.filter((s) => src.targets.some((t) => t.name === s.name)).map((s) => ({ name: s.name, status: s.status, latencyMs: s.latencyMs })),
      backlog: status.sync.backlog,
      deadJobs: status.sync.dead,
      oldestPendingMs: oldest ? Math.max(0, now.getTime() - oldest.getTime()) : 0,
      lagP95Ms: completed.lagP95Ms,
      synced: completed.synced,
      failingWebhooks: status.failingWebhooks,
      openAlerts: status.openAlerts,
      openSubscriptions: status.openSubscriptions,
    };
    return (await this.samples.create(doc)).toObject();
  }

  /** The stored probes younger than one interval, and fresh probes of the other targets. */
  private async health(now: Date): Promise<SubgraphHealthDoc[]> {
    const src = this.o.sources;
    const stored = await src.ops.SubgraphHealth.find({ _id: { $in: src.targets.map((t) => t.name) } }).lean<SubgraphHealthDoc[]>();
    const fresh = stored.filter((h) => now.getTime() - new Date(h.checkedAt).getTime() < this.o.intervalMs);
    const stale = src.targets.filter((t) => !fresh.some((h) => h._id === t.name));
    const probed = stale.length ? await probeSubgraphs(src.ops, stale, src.internalSecret, src.probeTimeoutMs, now) : [];
    const byName = new Map([...fresh, ...probed].map((h) => [h._id, h]));
    return src.targets.flatMap((t) => byName.get(t.name) ?? []);
  }
}

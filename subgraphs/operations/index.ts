// The operations module: system status and its history, anomaly alerts (rules, monitor, fault-handling actions), the audit trail,
// sync statistics and users' feedback. It reads the sync module's state (jobs, reconciliations, webhook deliveries, syncStatus)
// through the port it declares (ports.ts, SyncMonitor), and the event log; the sync module knows nothing of it: what an
// alert action does in sync is handed in as functions. Served with sync by the `sync` subgraph (subgraphs/sync-service.ts),
// which also starts and stops the monitor and the status sampler.
import type { Connection } from 'mongoose';
import type { Registry } from 'prom-client';
import type { AlertRuleOverrides } from '../../platform/config.ts';
import { Lease } from '../../platform/integration/lease.ts';
import { syncServiceClient } from '../../platform/integration/sync-client.ts';
import type { Logger } from '../../platform/logger.ts';
import { probeSubgraphs } from './alerts/health.ts';
import { operationsModels } from './alerts/models.ts';
import { AlertMonitor } from './alerts/monitor.ts';
import { type ArchiveAccessCounts, type ArchiveCustodyYears, ruleSettings } from './alerts/rules.ts';
import { type AlertActionRunner, AlertService } from './alerts/service.ts';
import type { AuditBatch } from './audit/batch.ts';
import { auditTrailFor } from './audit/trail.ts';
import type { OperationsServices, SyncView } from './context.ts';
import { type ClaimVisibility, FeedbackService, type RecordVisibility } from './feedback/service.ts';
import { registerOperationsMetrics } from './metrics.ts';
import { resolvers } from './resolvers.ts';
import { StatusSampler } from './status-history/sampler.ts';

export const OPERATIONS_SDL_PATH = new URL('../../schema/operations.graphql', import.meta.url);

export interface OperationsSettings {
  /** How often the anomaly rules run (0: only when asked, as tests do). */
  alertIntervalMs: number;
  alertRules: AlertRuleOverrides;
  /** How often the status history is sampled (STATUS_SAMPLE_MS; 0: only when asked, as tests do). */
  statusSampleMs: number;
}

/** The alert actions that act on the sync module (retry a job, replay a delivery, reconcile again). */
export type SyncActions = Omit<AlertActionRunner, 'verifyArchiveChain'>;

export interface OperationsModuleOptions {
  connection: Connection;
  logger: Logger;
  internalSecret: string;
  /** The subgraphs probed for system status and SUBGRAPH_DOWN; the archive also verifies its chain. */
  oaUrl: string;
  archiveUrl: string;
  settings: OperationsSettings;
  sync: SyncView;
  actions: SyncActions;
  /** The archive's access counts (its port), for BULK_ACCESS; handed in by subgraphs/sync-service.ts. */
  archiveAccess: ArchiveAccessCounts;
  /** The archive's custody per year (its port), for HANDOVER_OVERDUE; handed in by subgraphs/sync-service.ts. */
  archiveCustody?: ArchiveCustodyYears;
  /** Whether a user may read a claim (oa's port) or an archive record (the archive's): what feedback may name. */
  visibility: { claims: ClaimVisibility; records: RecordVisibility };
  /** The batch the integration's own audit entries go to (the sync module feeds it too). */
  ownAudit: AuditBatch;
  /** Where the operations gauges are registered: the sync module's registry, so one /metrics serves both. */
  registry: Registry;
  /** Per call to the archive subgraph. */
  subgraphTimeoutMs?: number;
  /** How long the monitor's lease outlives its holder (SYNC_LEASE_TTL_MS). */
  leaseTtlMs?: number;
  clock?: () => Date;
}

export interface OperationsModule {
  services: OperationsServices;
  resolvers: typeof resolvers;
}

export async function createOperationsModule(opts: OperationsModuleOptions): Promise<OperationsModule> {
  const { connection } = opts;
  const { monitor: sync, events } = opts.sync;
  const ops = operationsModels(connection);
  const archive = syncServiceClient({ name: 'archive', url: opts.archiveUrl, internalSecret: opts.internalSecret, timeoutMs: opts.subgraphTimeoutMs ?? 10_000 });
  const verifyChain = async () =>
    (await archive<{ verifyArchiveChain: { ok: boolean; firstBrokenArchiveNo: string | null; problem: string | null } }>(`{ verifyArchiveChain { ok firstBrokenArchiveNo problem } }`, {})).verifyArchiveChain;
  await auditTrailFor(connection).init();
  const alerts = new AlertService({
    connection,
    models: ops,
    events,
    clock: opts.clock,
    runner: { ...opts.actions, verifyArchiveChain: async () => (await verifyChain()).ok },
  });
  await alerts.init();
  const feedback = new FeedbackService({ connection, events, visibility: opts.visibility, clock: opts.clock });
  await feedback.init();
  const targets = [
    { name: 'oa', url: opts.oaUrl },
    { name: 'archive', url: opts.archiveUrl },
  ];
  const statusSources = { connection, sync, ops, targets, internalSecret: opts.internalSecret, probeTimeoutMs: 2000 };
  const monitor = new AlertMonitor({
    alerts,
    settings: ruleSettings(opts.settings.alertRules),
    lease: new Lease(connection, 'sync-alerts', opts.leaseTtlMs),
    logger: opts.logger.child({ component: 'alerts' }),
    clock: opts.clock,
    context: () => ({
      connection,
      sync,
      events,
      archiveAccess: opts.archiveAccess,
      archiveCustody: opts.archiveCustody,
      status: () => sync.status(),
      probe: () => probeSubgraphs(ops, targets, opts.internalSecret, 2000),
      verifyChain,
    }),
  });
  const sampler = new StatusSampler({
    sources: statusSources,
    lease: new Lease(connection, 'sync-status-history', opts.leaseTtlMs),
    logger: opts.logger.child({ component: 'status-history' }),
    intervalMs: opts.settings.statusSampleMs,
    clock: opts.clock,
  });
  await sampler.init();
  registerOperationsMetrics(opts.registry, ops, sync);
  return { services: { connection, sync: opts.sync, ops, alerts, monitor, statusSources, ownAudit: opts.ownAudit, feedback, sampler }, resolvers };
}

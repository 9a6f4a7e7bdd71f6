// The `sync` subgraph: the pipeline that turns approved claims into vouchers and archive records, its jobs,
// status and reconciliation, the sync event log as an API, webhook delivery, and the operations of the
// integration (system status, anomaly alerts, the audit trail, sync statistics). Background work runs under
// database leases, so any number of instances may run.
import { readFileSync } from 'node:fs';
import { parse } from 'graphql';
import type { Connection } from 'mongoose';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import type { AlertRuleOverrides } from '../../platform/config.ts';
import type { EventBus } from '../../platform/event-bus.ts';
import { EventLog, localAppends } from '../../platform/events.ts';
import { Lease } from '../../platform/lease.ts';
import type { Logger } from '../../platform/logger.ts';
import { type Route, Subgraph } from '../../platform/subgraph.ts';
import type { SyncContext, SyncServices } from './context.ts';
import { SyncMetrics } from './metrics.ts';
import { syncModels } from './models.ts';
import { SyncPipeline } from './pipeline.ts';
import { reconcile } from './reconcile.ts';
import { resolvers } from './resolvers.ts';
import { subgraphClient } from './subgraph-client.ts';
import { WebhookService } from './webhooks/service.ts';
import { operationsModels } from './alerts/models.ts';
import { AlertMonitor } from './alerts/monitor.ts';
import { ruleSettings } from './alerts/rules.ts';
import { AlertService } from './alerts/service.ts';
import { probeSubgraphs } from './alerts/health.ts';
import { syncStatus } from './status.ts';
import { auditTrailFor } from './audit/index.ts';
import { AuditBatch } from './audit/batch.ts';

export const SYNC_SDL_PATHS = [new URL('../../schema/sync.graphql', import.meta.url), new URL('../../schema/operations.graphql', import.meta.url)];

export interface SyncSettings {
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  pollMs: number;
  reconcileIntervalMs: number;
  reconcileGraceMs: number;
  timeZone: string;
  webhookMaxAttempts: number;
  webhookTimeoutMs: number;
  webhookAllowPrivateTargets: boolean;
  /** How often the anomaly rules run (0: only when asked, as tests do). */
  alertIntervalMs: number;
  alertRules: AlertRuleOverrides;
}

export interface SyncSubgraphOptions {
  connection: Connection;
  logger: Logger;
  internalSecret: string;
  production: boolean;
  oaUrl: string;
  archiveUrl: string;
  /** Where new events are announced to subscribers (in-process or Redis); null: nobody listens. */
  bus: EventBus | null;
  settings: SyncSettings;
  /** Per call to the oa and archive subgraphs. */
  subgraphTimeoutMs?: number;
  /** How long a lease outlives its holder (SYNC_LEASE_TTL_MS); holders renew it every poll. */
  leaseTtlMs?: number;
  clock?: () => Date;
  publicRoutes?: Route[];
}

export async function createSyncSubgraph(opts: SyncSubgraphOptions): Promise<{ subgraph: Subgraph<SyncContext>; services: SyncServices; metrics: SyncMetrics }> {
  const models = syncModels(opts.connection);
  const timeoutMs = opts.subgraphTimeoutMs ?? 10_000;
  const archive = subgraphClient({ name: 'archive', url: opts.archiveUrl, internalSecret: opts.internalSecret, timeoutMs });
  const events = new EventLog(opts.connection);
  await events.events.init();
  const ops = operationsModels(opts.connection);
  const ownAudit = new AuditBatch(auditTrailFor(opts.connection), opts.logger.child({ component: 'audit' }));
  const metrics = new SyncMetrics(models, events, ops);
  const pipeline = new SyncPipeline({
    connection: opts.connection,
    events,
    models,
    oa: subgraphClient({ name: 'oa', url: opts.oaUrl, internalSecret: opts.internalSecret, timeoutMs }),
    archive,
    bus: opts.bus,
    lease: new Lease(opts.connection, 'sync-pipeline', opts.leaseTtlMs),
    logger: opts.logger.child({ component: 'sync-pipeline' }),
    metrics,
    maxAttempts: opts.settings.maxAttempts,
    baseDelayMs: opts.settings.retryBaseMs,
    maxDelayMs: opts.settings.retryMaxMs,
    audit: async (e) => ownAudit.add({ ...e, actor: 'sync', roles: [], address: null }),
    // Three calls (claim, voucher, filing), each bounded by the call timeout, and a margin.
    runTimeoutMs: 3 * timeoutMs + 5000,
    clock: opts.clock,
  });
  await pipeline.init();
  const webhooks = new WebhookService({
    connection: opts.connection,
    events,
    logger: opts.logger.child({ component: 'webhooks' }),
    masterSecret: opts.internalSecret,
    allowPrivateTargets: opts.settings.webhookAllowPrivateTargets,
    maxAttempts: opts.settings.webhookMaxAttempts,
    timeoutMs: opts.settings.webhookTimeoutMs,
    lease: new Lease(opts.connection, 'sync-webhooks', opts.leaseTtlMs),
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  await webhooks.init();
  await auditTrailFor(opts.connection).init();
  const reconcileOptions = { connection: opts.connection, models, events, timeZone: opts.settings.timeZone, graceMs: opts.settings.reconcileGraceMs };
  const verifyChain = async () =>
    (await archive<{ verifyArchiveChain: { ok: boolean; firstBrokenArchiveNo: string | null; problem: string | null } }>(`{ verifyArchiveChain { ok firstBrokenArchiveNo problem } }`, {})).verifyArchiveChain;
  const alerts = new AlertService({
    connection: opts.connection,
    models: ops,
    events,
    clock: opts.clock,
    runner: {
      retrySyncJob: async (id) => void (await pipeline.retry(id)),
      replayWebhookDelivery: async (id) => void (await webhooks.replay(id)),
      reconcile: async (year, period, by) => (await reconcile(reconcileOptions, year, period, 'MANUAL', by)).differences.length,
      verifyArchiveChain: async () => (await verifyChain()).ok,
    },
  });
  await alerts.init();
  const targets = [
    { name: 'oa', url: opts.oaUrl },
    { name: 'archive', url: opts.archiveUrl },
  ];
  const statusSources = { connection: opts.connection, models, ops, events, targets, internalSecret: opts.internalSecret, probeTimeoutMs: 2000 };
  const monitor = new AlertMonitor({
    alerts,
    settings: ruleSettings(opts.settings.alertRules),
    lease: new Lease(opts.connection, 'sync-alerts', opts.leaseTtlMs),
    logger: opts.logger.child({ component: 'alerts' }),
    clock: opts.clock,
    context: () => ({
      connection: opts.connection,
      models,
      events,
      status: () => syncStatus(models, events),
      probe: () => probeSubgraphs(ops, targets, opts.internalSecret, 2000),
      verifyChain,
    }),
  });
  const services: SyncServices = {
    connection: opts.connection,
    models,
    events,
    pipeline,
    webhooks,
    reconcile: reconcileOptions,
    ops,
    alerts,
    monitor,
    statusSources,
    ownAudit,
  };
  const subgraph = new Subgraph<SyncContext>({
    name: 'sync',
    typeDefs: parse(SYNC_SDL_PATHS.map((p) => readFileSync(p, 'utf8')).join('\n')),
    resolvers: resolvers as GraphQLResolverMap<SyncContext>,
    secret: opts.internalSecret,
    logger: opts.logger,
    production: opts.production,
    publicRoutes: opts.publicRoutes,
    context: (principal) => ({ ...services, principal }),
  });
  return { subgraph, services, metrics };
}

export interface RunningSync {
  url: string;
  port: number;
  services: SyncServices;
  metrics: SyncMetrics;
  close(): Promise<void>;
}

/** Serves the subgraph and runs the pipeline, webhook delivery and scheduled reconciliation. */
export async function startSyncSubgraph(opts: SyncSubgraphOptions & { port: number; host?: string }): Promise<RunningSync> {
  const { subgraph, services, metrics } = await createSyncSubgraph(opts);
  const running = await subgraph.listen(opts.port, opts.host);
  const { pipeline, webhooks } = services;
  pipeline.start(opts.settings.pollMs);
  webhooks.start(opts.settings.pollMs);
  if (opts.settings.alertIntervalMs > 0) services.monitor.start(opts.settings.alertIntervalMs);
  // Appends in this process ring at once; others are seen at the next poll.
  const wake = () => {
    pipeline.wake();
    void webhooks.tick().catch(() => undefined);
  };
  localAppends.on('appended', wake);
  // Held for most of an interval: of several instances, one reconciles per interval.
  const reconcileLease = new Lease(opts.connection, 'sync-reconcile', Math.max(1000, opts.settings.reconcileIntervalMs * 0.9));
  const reconciling =
    opts.settings.reconcileIntervalMs > 0 ? setInterval(() => void scheduledReconcile(opts, services, reconcileLease), opts.settings.reconcileIntervalMs) : null;
  return {
    url: running.url,
    port: running.port,
    services,
    metrics,
    close: async () => {
      localAppends.off('appended', wake);
      if (reconciling) clearInterval(reconciling);
      await Promise.all([pipeline.stop(), webhooks.stop(), services.monitor.stop()]);
      await services.ownAudit.flush();
      await running.close();
    },
  };
}

/** The current and the previous period, by the lease holder only. */
async function scheduledReconcile(opts: SyncSubgraphOptions, services: SyncServices, lease: Lease): Promise<void> {
  try {
    if (!(await lease.acquire())) return;
    const now = opts.clock?.() ?? new Date();
    const [y, m] = new Intl.DateTimeFormat('en-CA', { timeZone: opts.settings.timeZone, year: 'numeric', month: '2-digit' }).format(now).split('-').map(Number);
    const previous = m === 1 ? [y - 1, 12] : [y, m - 1];
    for (const [year, period] of [previous, [y, m]]) {
      const started = Date.now();
      const run = await reconcile({ ...services.reconcile, now }, year, period, 'SCHEDULED', 'sync');
      services.ownAudit.add({ at: now, actor: 'sync', roles: [], address: null, action: `mutation reconcile scheduled ${year}-${String(period).padStart(2, '0')}`, operationName: null, outcome: 'OK', durationMs: Date.now() - started });
      if (run.differences.length) opts.logger.warn({ fiscalYear: year, period, differences: run.differences.length }, 'reconciliation found differences');
    }
  } catch (err) {
    opts.logger.error({ err: (err as Error).message }, 'scheduled reconciliation failed');
  }
}

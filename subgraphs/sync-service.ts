// The `sync` subgraph as served: the sync module (subgraphs/sync/) and the operations module (subgraphs/operations/)
// behind one endpoint serving schema/sync.graphql + schema/operations.graphql, as the supergraph composes it. This
// is the one place that knows both: it hands operations what it reads of sync (sync's monitor,
// subgraphs/sync/monitor.ts, as the port operations declares, subgraphs/operations/ports.ts) and the alert actions
// that act on sync, hands sync the audit sink operations keeps, hands each what it reads of oa and the archive
// (their ports, as the process's assembler passes them in), merges the resolvers, and starts and stops the
// background work (pipeline, webhook delivery, alert monitor, status sampler, scheduled reconciliation). Background
// work runs under database leases, so any number of instances may run.
import { readFileSync } from 'node:fs';
import { parse } from 'graphql';
import type { Connection } from 'mongoose';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import { localAppends } from '../platform/integration/events.ts';
import { type EventBus, STORED } from '../platform/integration/event-bus.ts';
import type { Principal, RequestOrigin } from '../platform/identity.ts';
import type { Logger } from '../platform/logger.ts';
import { type Route, Subgraph } from '../platform/subgraph.ts';
import { AuditBatch } from './operations/audit/batch.ts';
import { AuditOutbox } from './operations/audit/outbox.ts';
import { ensureServedRequestIndexes, sweepIdempotencyKeys } from '../platform/integration/served-request.ts';
import { WorkerLoop } from '../platform/integration/worker-loop.ts';
import { type AuditSealOptions, auditTrailFor } from './operations/audit/trail.ts';
import type { OperationsServices } from './operations/context.ts';
import type { ArchiveAccessCounts, ArchiveCustodyYears } from './operations/alerts/rules.ts';
import type { ClaimVisibility, RecordVisibility } from './operations/feedback/service.ts';
import { OPERATIONS_SDL_PATH, type OperationsSettings, createOperationsModule } from './operations/index.ts';
import type { SyncServices } from './sync/context.ts';
import { SYNC_SDL_PATH, type SyncSettings, createSyncModule } from './sync/index.ts';
import type { SyncMetrics } from './sync/metrics.ts';
import type { SyncAuditEntry } from './sync/job-runner.ts';
import { syncMonitor } from './sync/monitor.ts';
import { type ReconcileSources, reconcile } from './sync/reconcile.ts';
import { startReconcileSchedule } from './sync/reconcile-schedule.ts';

export const SYNC_SDL_PATHS = [SYNC_SDL_PATH, OPERATIONS_SDL_PATH];

export type SyncSubgraphSettings = SyncSettings & OperationsSettings;

/** What sync and operations read of oa and the archive in-process: parts of their ports. */
export interface SyncPorts {
  oa: { approvedClaims: ReconcileSources['claims']; claims: ClaimVisibility };
  archive: { ledger: ReconcileSources['ledger']; access: ArchiveAccessCounts; records: RecordVisibility; custody?: ArchiveCustodyYears };
}

export interface SyncSubgraphOptions {
  connection: Connection;
  logger: Logger;
  internalSecret: string;
  production: boolean;
  oaUrl: string;
  archiveUrl: string;
  /** The gateway, for webhooks' GraphQL selections (GATEWAY_URL); null: webhooks cannot have one. */
  gatewayUrl?: string | null;
  /** Where new events are announced to subscribers (in-process or Redis); null: nobody listens. */
  bus: EventBus | null;
  settings: SyncSubgraphSettings;
  /**
   * The ports of oa and the archive (subgraphs/oa/ports.ts, subgraphs/archive/ports.ts), built by whoever assembles
   * the process (scripts/sync-options.ts, test stacks): this file imports neither subgraph.
   */
  ports: SyncPorts;
  /** Per call to the oa and archive subgraphs. */
  subgraphTimeoutMs?: number;
  /** How long a lease outlives its holder (SYNC_LEASE_TTL_MS); holders renew it every poll. */
  leaseTtlMs?: number;
  clock?: () => Date;
  publicRoutes?: Route[];
  /** Seals the audit trail's head outside the database (the archive's key configuration); production always has it. */
  seal?: AuditSealOptions;
}

/** Both modules' services: what the served subgraph's resolvers receive, with the principal. */
export type SyncSubgraphServices = SyncServices & OperationsServices;
/** `origin`: where the request came from, as the gateway signed it (requests served over HTTP have it). */
export type SyncSubgraphContext = SyncSubgraphServices & { principal: Principal; origin?: RequestOrigin };

export async function createSyncSubgraph(opts: SyncSubgraphOptions): Promise<{ subgraph: Subgraph<SyncSubgraphContext>; services: SyncSubgraphServices; metrics: SyncMetrics }> {
  const trail = auditTrailFor(opts.connection);
  if (opts.seal) {
    // Sealed from its current head on (a trail from before seals, too); then after every append.
    await trail.useSeal(opts.seal);
    opts.logger.info({ alg: opts.seal.key.alg, keyId: opts.seal.key.keyId, dir: opts.seal.dir }, 'audit trail head sealed');
  }
  // The integration's own actions (sync jobs, scheduled reconciliations) go to the audit trail in batches.
  const ownAudit = new AuditBatch(trail, opts.logger.child({ component: 'audit' }));
  const sync = await createSyncModule({
    ...opts,
    reconcileSources: { claims: opts.ports.oa.approvedClaims, ledger: opts.ports.archive.ledger },
    audit: async (e) => ownAudit.add(asSyncActor(e)),
  });
  const { pipeline, webhooks } = sync.services;
  const operations = await createOperationsModule({
    ...opts,
    sync: {
      monitor: syncMonitor({ connection: opts.connection, models: sync.services.models, events: sync.services.events }),
      events: sync.services.events,
      timeZone: opts.settings.timeZone,
    },
    archiveAccess: opts.ports.archive.access,
    archiveCustody: opts.ports.archive.custody,
    visibility: { claims: opts.ports.oa.claims, records: opts.ports.archive.records },
    actions: {
      retrySyncJob: async (id) => void (await pipeline.retry(id)),
      replayWebhookDelivery: async (id) => void (await webhooks.replay(id)),
      reconcile: async (year, period, by) => (await reconcile(sync.services.reconcile, year, period, 'MANUAL', by)).differences.length,
    },
    ownAudit,
    registry: sync.metrics.registry,
  });
  const services: SyncSubgraphServices = { ...sync.services, ...operations.services };
  const subgraph = new Subgraph<SyncSubgraphContext>({
    name: 'sync',
    typeDefs: parse(SYNC_SDL_PATHS.map((p) => readFileSync(p, 'utf8')).join('\n')),
    // Root types have fields from each module; the other types belong to one (the scalars to sync).
    resolvers: {
      ...sync.resolvers,
      ...operations.resolvers,
      Query: { ...sync.resolvers.Query, ...operations.resolvers.Query },
      Mutation: { ...sync.resolvers.Mutation, ...operations.resolvers.Mutation },
    } as GraphQLResolverMap<SyncSubgraphContext>,
    secret: opts.internalSecret,
    connection: opts.connection,
    logger: opts.logger,
    production: opts.production,
    publicRoutes: opts.publicRoutes,
    context: (principal, origin) => ({ ...services, principal, origin }),
  });
  return { subgraph, services, metrics: sync.metrics };
}

/** The sync service's own entries carry its name and no roles or address (no client made them); a correction, its ADMIN's. */
const asSyncActor = (e: SyncAuditEntry) => ({ ...e, actor: e.actor ?? 'sync', roles: e.roles ?? [], address: null });

export interface RunningSync {
  url: string;
  port: number;
  /** The address the server is bound to. */
  address: string;
  services: SyncSubgraphServices;
  metrics: SyncMetrics;
  close(): Promise<void>;
}

/** Serves the subgraph and runs the pipeline, webhook delivery, the alert monitor, the status sampler and scheduled reconciliation. */
export async function startSyncSubgraph(opts: SyncSubgraphOptions & { port: number; host?: string }): Promise<RunningSync> {
  const { subgraph, services, metrics } = await createSyncSubgraph(opts);
  const running = await subgraph.listen(opts.port, opts.host);
  const { pipeline, webhooks } = services;
  // The entries subgraphs wrote in their mutations' transactions, chained into the trail.
  await ensureServedRequestIndexes(opts.connection);
  const outbox = new AuditOutbox(opts.connection, auditTrailFor(opts.connection), opts.logger.child({ component: 'audit-outbox' }));
  outbox.start(opts.settings.pollMs);
  // Idempotency-Keys past their 24 hours (platform/integration/served-request.ts), for every subgraph of the database.
  const keySweep = new WorkerLoop({ work: () => sweepIdempotencyKeys(opts.connection), logger: opts.logger, failure: 'sweeping expired Idempotency-Keys failed', runOnStart: true });
  keySweep.start(60_000);
  pipeline.start(opts.settings.pollMs);
  webhooks.start(opts.settings.pollMs);
  if (opts.settings.alertIntervalMs > 0) services.monitor.start(opts.settings.alertIntervalMs);
  services.sampler.start();
  // Appends in this process ring at once; others are seen at the next poll.
  const wake = () => {
    pipeline.wake();
    webhooks.wake();
  };
  localAppends.on('appended', wake);
  // …and those of the oa and archive processes when they ring (STORED) on the bus.
  const unsubscribe = opts.bus?.subscribe((events) => {
    if (events.some((e) => e.type === STORED.type)) wake();
  });
  const reconciling = startReconcileSchedule({
    reconcile: services.reconcile,
    intervalMs: opts.settings.reconcileIntervalMs,
    logger: opts.logger,
    clock: opts.clock,
    audit: (e: SyncAuditEntry) => services.ownAudit.add(asSyncActor(e)),
  });
  return {
    url: running.url,
    port: running.port,
    address: running.address,
    services,
    metrics,
    close: async () => {
      localAppends.off('appended', wake);
      unsubscribe?.();
      await Promise.all([pipeline.stop(), webhooks.stop(), services.monitor.stop(), services.sampler.stop(), reconciling?.stop(), outbox.stop(), keySweep.stop()]);
      await services.ownAudit.flush();
      await running.close();
    },
  };
}

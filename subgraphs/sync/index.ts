// The sync module: the pipeline that turns approved claims into vouchers and archive records, its jobs, status and
// reconciliation, the sync event log as an API, and webhook delivery. Served with operations by the `sync`
// subgraph (subgraphs/sync-service.ts), which also starts and stops the background work. Background work runs
// under database leases, so any number of instances may run.
import type { Connection } from 'mongoose';
import type { EventBus } from '../../platform/integration/event-bus.ts';
import { EventLog } from '../../platform/integration/events.ts';
import { Lease } from '../../platform/integration/lease.ts';
import type { Logger } from '../../platform/logger.ts';
import type { SyncServices } from './context.ts';
import { SyncMetrics } from './metrics.ts';
import { syncModels } from './models.ts';
import type { SyncAuditEntry } from './job-runner.ts';
import { SyncPipeline } from './pipeline.ts';
import type { ReconcileSources } from './reconcile.ts';
import { resolvers } from './resolvers.ts';
import { subgraphClient } from './subgraph-client.ts';
import { WebhookService } from './webhooks/service.ts';
import { ApiKeyService } from './api-keys/service.ts';

export const SYNC_SDL_PATH = new URL('../../schema/sync.graphql', import.meta.url);

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
  /** Requests a minute of a new API key when its creator names none (API_KEY_RATE_LIMIT; default 600). */
  apiKeyRateLimitPerMinute?: number;
}

export interface SyncModuleOptions {
  connection: Connection;
  logger: Logger;
  internalSecret: string;
  oaUrl: string;
  archiveUrl: string;
  /** The gateway, through which webhooks' selections run (GATEWAY_URL); null: webhooks cannot have one. */
  gatewayUrl?: string | null;
  /** Where new events are announced to subscribers (in-process or Redis); null: nobody listens. */
  bus: EventBus | null;
  settings: SyncSettings;
  /** Per call to the oa and archive subgraphs. */
  subgraphTimeoutMs?: number;
  /** How long a lease outlives its holder (SYNC_LEASE_TTL_MS); holders renew it every poll. */
  leaseTtlMs?: number;
  clock?: () => Date;
  /** Records the pipeline's jobs in the audit trail. */
  audit?: (entry: SyncAuditEntry) => Promise<unknown>;
  /** What reconciliation reads of oa and the archive: their ports, handed in by subgraphs/sync-service.ts. */
  reconcileSources: ReconcileSources;
}

export interface SyncModule {
  services: SyncServices;
  metrics: SyncMetrics;
  resolvers: typeof resolvers;
}

/** How long the pipeline waits for the archive's answer to a batch (unless subgraphTimeoutMs sets every call's). */
export const ARCHIVE_CALL_TIMEOUT_MS = 60_000;

export async function createSyncModule(opts: SyncModuleOptions): Promise<SyncModule> {
  const models = syncModels(opts.connection);
  const timeoutMs = opts.subgraphTimeoutMs ?? 10_000;
  // Filing a batch copies and checks its claims' originals (up to 100 claims, 300 files): on a loaded machine that
  // takes longer than a request's 10 s, and a batch given up on is done again job by job, which loads the archive more
  // (the 10,000-claim documents run: 1,462 jobs DEAD with "no answer within 10000 ms"). A background pipeline waits.
  const archiveTimeoutMs = opts.subgraphTimeoutMs ?? ARCHIVE_CALL_TIMEOUT_MS;
  const events = new EventLog(opts.connection);
  await events.events.init();
  const metrics = new SyncMetrics(models, events);
  const pipeline = new SyncPipeline({
    connection: opts.connection,
    events,
    models,
    oa: subgraphClient({ name: 'oa', url: opts.oaUrl, internalSecret: opts.internalSecret, timeoutMs }),
    archive: subgraphClient({ name: 'archive', url: opts.archiveUrl, internalSecret: opts.internalSecret, timeoutMs: archiveTimeoutMs }),
    bus: opts.bus,
    lease: new Lease(opts.connection, 'sync-pipeline', opts.leaseTtlMs),
    logger: opts.logger.child({ component: 'sync-pipeline' }),
    metrics,
    maxAttempts: opts.settings.maxAttempts,
    baseDelayMs: opts.settings.retryBaseMs,
    maxDelayMs: opts.settings.retryMaxMs,
    audit: opts.audit,
    // Three calls (claim, voucher, filing), each bounded by its timeout, and a margin.
    runTimeoutMs: timeoutMs + 2 * archiveTimeoutMs + 5000,
    clock: opts.clock,
  });
  await pipeline.init();
  const apiKeys = new ApiKeyService(opts.connection, { logger: opts.logger.child({ component: 'api-keys' }), clock: opts.clock, defaultRateLimitPerMinute: opts.settings.apiKeyRateLimitPerMinute });
  await apiKeys.init();
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
    // Selections run through the gateway under their API key.
    gatewayUrl: opts.gatewayUrl ?? null,
    apiKeys,
  });
  await webhooks.init();
  const reconcile = { connection: opts.connection, models, events, timeZone: opts.settings.timeZone, graceMs: opts.settings.reconcileGraceMs, ...opts.reconcileSources };
  return { services: { connection: opts.connection, models, events, pipeline, webhooks, apiKeys, reconcile }, metrics, resolvers };
}

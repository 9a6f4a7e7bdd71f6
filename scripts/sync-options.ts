// How a process builds the sync subgraph's options from the configuration.
import type { Connection } from 'mongoose';
import { type Config, sealKeySetting } from '../platform/config.ts';
import { loadSealKey } from '../platform/integration/chain-seal.ts';
import { loadTimestampAuthority, timestampWarning } from '../platform/integration/timestamp-authority.ts';
import type { EventBus } from '../platform/integration/event-bus.ts';
import type { Logger } from '../platform/logger.ts';
import { archivePorts } from '../subgraphs/archive/ports.ts';
import { oaPorts } from '../subgraphs/oa/ports.ts';
import type { SyncSubgraphOptions } from '../subgraphs/sync-service.ts';

export async function syncOptions(config: Config, logger: Logger, connection: Connection, urls: { oa: string; archive: string; gateway?: string }, bus: EventBus): Promise<SyncSubgraphOptions> {
  return {
    connection,
    logger: logger.child({ subgraph: 'sync' }),
    internalSecret: config.internalSecret,
    production: config.nodeEnv === 'production',
    oaUrl: urls.oa,
    archiveUrl: urls.archive,
    gatewayUrl: urls.gateway ?? config.gatewayUrl,
    bus,
    // Reconciliation and BULK_ACCESS read oa and the archive in the shared database, through their ports.
    ports: { oa: oaPorts(connection), archive: archivePorts(connection) },
    leaseTtlMs: config.syncLeaseTtlMs,
    // The audit trail's head is sealed with the archive's key configuration (ARCHIVE_SEAL_*), never from the database.
    seal: {
      key: await loadSealKey(sealKeySetting(config), config.archiveSealDir),
      dir: config.archiveSealDir,
      tsa: await loadTimestampAuthority(config.archiveTsa),
      onTimestampError: timestampWarning(logger.child({ subgraph: 'sync' })),
    },
    settings: {
      maxAttempts: config.syncMaxAttempts,
      retryBaseMs: config.syncRetryBaseMs,
      retryMaxMs: config.syncRetryMaxMs,
      pollMs: config.syncPollMs,
      reconcileIntervalMs: config.reconcileIntervalMs,
      reconcileGraceMs: config.reconcileGraceMs,
      timeZone: config.businessTimeZone,
      webhookMaxAttempts: config.webhookMaxAttempts,
      webhookTimeoutMs: config.webhookTimeoutMs,
      webhookAllowPrivateTargets: config.webhookAllowPrivateTargets,
      apiKeyRateLimitPerMinute: config.apiKeyRateLimit,
      alertIntervalMs: config.alertIntervalMs,
      alertRules: config.alertRules,
      statusSampleMs: config.statusSampleMs,
    },
  };
}

// `npm run start:gateway`: the gateway alone, for production layouts (PORT, default 4000; OA_URL, ARCHIVE_URL,
// SYNC_URL; REDIS_URL so that subscribers here hear of events the sync instances publish).
import type { AddressInfo } from 'node:net';
import { healthRoutes } from '../gateway/health.ts';
import { subgraphReachable } from '../gateway/directory.ts';
import { auditSpoolFile } from '../gateway/audit-spool.ts';
import { createGateway } from '../gateway/index.ts';
import { gatewayHttpServer } from '../gateway/http-front.ts';
import { reportReady, supervisedChild, supervisedEventBus } from '../platform/supervisor.ts';
import { logMetricsAccess } from '../platform/metrics-http.ts';
import { runProcess } from './process.ts';

await runProcess(undefined, async ({ config, logger, lifecycle }) => {
  if (!config.redisUrl && !supervisedChild()) logger.warn('REDIS_URL is not set: subscribers learn of new events only by polling the sync subgraph (every few seconds)');
  // Under `npm start` without REDIS_URL, the sync subgraph's events arrive through the supervisor.
  const bus = supervisedEventBus(config.redisUrl, logger);
  lifecycle.registerShutdown('event bus', () => bus.close());
  const gateway = await createGateway(config, logger, { oa: config.oaUrl, archive: config.archiveUrl, sync: config.syncUrl }, { supergraphPath: config.supergraphPath ?? undefined, bus, auditSpool: auditSpoolFile(config) });
  const health = healthRoutes({
    checks: {
      oa: subgraphReachable({ name: 'oa', url: config.oaUrl }, config.internalSecret, 2000),
      archive: subgraphReachable({ name: 'archive', url: config.archiveUrl }, config.internalSecret, 2000),
      sync: subgraphReachable({ name: 'sync', url: config.syncUrl }, config.internalSecret, 2000),
    },
    draining: () => lifecycle.shuttingDown,
    logger,
  });
  const server = gatewayHttpServer(gateway, { health, logger, production: config.nodeEnv === 'production' });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, () => resolve());
  });
  lifecycle.registerShutdown('http server', () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeIdleConnections(); }));
  lifecycle.registerShutdown('gateway', () => gateway.stop());
  const metricsListener = await gateway.metrics.listen(logger); // METRICS_PORT: /metrics on 127.0.0.1 only
  if (metricsListener) lifecycle.registerShutdown('metrics listener', () => metricsListener.close());
  logMetricsAccess(logger, gateway.metrics.access, metricsListener ?? undefined);
  const { port } = server.address() as AddressInfo;
  reportReady({ port });
  logger.info({ port, oa: config.oaUrl, archive: config.archiveUrl, sync: config.syncUrl, events: bus.kind }, 'gateway listening');
});

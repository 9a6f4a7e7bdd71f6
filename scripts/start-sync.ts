// `npm run start:sync`: the sync subgraph alone, for production layouts (PORT, default SYNC_PORT or 4003; OA_URL,
// ARCHIVE_URL; MONGODB_URI; REDIS_URL to announce events to every gateway). Several may run: database leases let
// one consume events and deliver webhooks at a time. Serves /metrics (Prometheus) beside /graphql, or on METRICS_PORT
// (127.0.0.1), as platform/metrics-http.ts says.
import { connectDatabase } from '../platform/database.ts';
import { logMetricsAccess, metricsAccess, metricsRoute, startMetricsListener } from '../platform/metrics-http.ts';
import { reportReady, supervisedChild, supervisedEventBus } from '../platform/supervisor.ts';
import { type RunningSync, startSyncSubgraph } from '../subgraphs/sync-service.ts';
import { runProcess } from './process.ts';
import { syncOptions } from './sync-options.ts';

await runProcess(process.env.SYNC_PORT ?? '4003', async ({ config, logger, lifecycle }) => {
  const database = await connectDatabase(config, logger);
  lifecycle.registerShutdown('database', () => database.close());
  if (!config.redisUrl && !supervisedChild()) logger.warn('REDIS_URL is not set: gateways in other processes learn of new events only by polling');
  // Under `npm start` without REDIS_URL, events reach the gateway through the supervisor.
  const bus = supervisedEventBus(config.redisUrl, logger);
  lifecycle.registerShutdown('event bus', () => bus.close());
  let sync: RunningSync | undefined;
  const access = metricsAccess(config);
  const metricsOnPort = metricsRoute(access, () => sync!.metrics.registry);
  sync = await startSyncSubgraph({
    ...(await syncOptions(config, logger, database.connection, { oa: config.oaUrl, archive: config.archiveUrl }, bus)),
    port: config.port,
    host: supervisedChild() ? config.subgraphHost : undefined,
    publicRoutes: [
      async (req, res) => {
        if ((req.url ?? '').split('?', 1)[0] !== '/metrics') return false;
        if (!sync) return (res.writeHead(503).end(), true);
        return metricsOnPort(req, res);
      },
    ],
  });
  const running = sync;
  lifecycle.registerShutdown('sync subgraph', () => running.close());
  // METRICS_PORT: /metrics on 127.0.0.1 only; production without it or METRICS_TOKEN serves /metrics nowhere.
  const metricsListener = await startMetricsListener(access, () => running.metrics.registry, logger);
  if (metricsListener) lifecycle.registerShutdown('metrics listener', () => metricsListener.close());
  logMetricsAccess(logger, access, metricsListener ?? undefined);
  reportReady({ port: sync.port, url: sync.url, address: sync.address });
  logger.info({ port: sync.port, oa: config.oaUrl, archive: config.archiveUrl, events: bus.kind }, 'sync subgraph listening');
});

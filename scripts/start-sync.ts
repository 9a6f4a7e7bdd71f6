// `npm run start:sync`: the sync subgraph alone, for production layouts (PORT, default SYNC_PORT or 4003; OA_URL,
// ARCHIVE_URL; MONGODB_URI; REDIS_URL to announce events to every gateway). Several may run: database leases let
// one consume events and deliver webhooks at a time. Serves /metrics (Prometheus) beside /graphql.
import { connectDatabase } from '../platform/database.ts';
import { createEventBus } from '../platform/integration/event-bus.ts';
import { type RunningSync, startSyncSubgraph } from '../subgraphs/sync-service.ts';
import { runProcess } from './process.ts';
import { syncOptions } from './sync-options.ts';

await runProcess(process.env.SYNC_PORT ?? '4003', async ({ config, logger, lifecycle }) => {
  const database = await connectDatabase(config, logger);
  lifecycle.registerShutdown('database', () => database.close());
  if (!config.redisUrl) logger.warn('REDIS_URL is not set: gateways in other processes learn of new events only by polling');
  const bus = createEventBus(config.redisUrl, logger);
  lifecycle.registerShutdown('event bus', () => bus.close());
  let sync: RunningSync | undefined;
  sync = await startSyncSubgraph({
    ...(await syncOptions(config, logger, database.connection, { oa: config.oaUrl, archive: config.archiveUrl }, bus)),
    port: config.port,
    publicRoutes: [
      async (req, res) => {
        if ((req.url ?? '').split('?', 1)[0] !== '/metrics' || req.method !== 'GET') return false;
        if (!sync) return (res.writeHead(503).end(), true);
        const { registry } = sync.metrics;
        res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' }).end(await registry.metrics());
        return true;
      },
    ],
  });
  const running = sync;
  lifecycle.registerShutdown('sync subgraph', () => running.close());
  logger.info({ port: sync.port, oa: config.oaUrl, archive: config.archiveUrl, events: bus.kind }, 'sync subgraph listening');
});

// `npm run start:single`: everything in one process (what `npm start` was before it supervised one process per
// part, scripts/start.ts): simpler to debug, but one core. The all-in-one process: configuration, logging, the database (embedded unless MONGODB_URI), the oa
// subgraph on OA_PORT, the archive subgraph on ARCHIVE_PORT, the sync subgraph with its pipeline and webhooks on
// SYNC_PORT (all three on SUBGRAPH_HOST, loopback by default: only this process calls them), and on PORT the gateway (/graphql over HTTP and graphql-ws, /graphql/stream over SSE, /graphiql in
// development, /metrics) with the health routes. Events fan out in-process, or through Redis with REDIS_URL.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { healthRoutes } from '../gateway/health.ts';
import { connectDatabase, pingDatabase } from '../platform/database.ts';
import { runProcess } from './process.ts';
import { oaOptions } from './oa-options.ts';
import { startOaSubgraph } from '../subgraphs/oa/index.ts';
import { startArchiveSubgraph } from '../subgraphs/archive/index.ts';
import { archiveOptions } from './archive-options.ts';
import { auditSpoolFile } from '../gateway/audit-spool.ts';
import { createGateway } from '../gateway/index.ts';
import { gatewayHttpServer } from '../gateway/http-front.ts';
import { subgraphReachable } from '../gateway/directory.ts';
import { createEventBus } from '../platform/integration/event-bus.ts';
import { logMetricsAccess } from '../platform/metrics-http.ts';
import { entryUrls } from '../platform/entry-urls.ts';
import { startSyncSubgraph } from '../subgraphs/sync-service.ts';
import { syncOptions } from './sync-options.ts';

await runProcess(undefined, async ({ config, logger, lifecycle }) => {
  const database = await connectDatabase(config, logger);
  lifecycle.registerShutdown('database', () => database.close());

  const oa = await startOaSubgraph({ ...(await oaOptions(config, logger, database.connection, config.oaPort)), host: config.subgraphHost });
  lifecycle.registerShutdown('oa subgraph', () => oa.close());
  const archive = await startArchiveSubgraph({ ...(await archiveOptions(config, logger, database.connection)), port: config.archivePort, host: config.subgraphHost, overdueIntervalMs: config.escalationIntervalMs });
  lifecycle.registerShutdown('archive subgraph', () => archive.close());
  const bus = createEventBus(config.redisUrl, logger);
  lifecycle.registerShutdown('event bus', () => bus.close());
  const sync = await startSyncSubgraph({ ...(await syncOptions(config, logger, database.connection, { oa: oa.url, archive: archive.url, gateway: config.gatewayUrl ?? `http://127.0.0.1:${config.port}/graphql` }, bus)), port: config.syncPort, host: config.subgraphHost });
  lifecycle.registerShutdown('sync subgraph', () => sync.close());

  const health = healthRoutes({
    checks: {
      database: pingDatabase(database.connection),
      oa: subgraphReachable({ name: 'oa', url: oa.url }, config.internalSecret, 2000),
      archive: subgraphReachable({ name: 'archive', url: archive.url }, config.internalSecret, 2000),
      sync: subgraphReachable({ name: 'sync', url: sync.url }, config.internalSecret, 2000),
    },
    draining: () => lifecycle.shuttingDown,
    logger,
  });
  const gateway = await createGateway(config, logger, { oa: oa.url, archive: archive.url, sync: sync.url }, { supergraphPath: config.supergraphPath ?? undefined, bus, auditSpool: auditSpoolFile(config) });
  gateway.metrics.merge(sync.metrics.registry);
  const server = gatewayHttpServer(gateway, { health, logger, production: config.nodeEnv === 'production' });
  await listen(server, config.port);
  lifecycle.registerShutdown('http server', () => closeServer(server));
  // Stopped before the HTTP server closes (shutdown runs in reverse): open WebSocket and SSE streams end first.
  lifecycle.registerShutdown('gateway', () => gateway.stop());
  // /metrics (gateway, sync and operations together): on PORT, on METRICS_PORT (127.0.0.1) or, in production without
  // METRICS_TOKEN or METRICS_PORT, nowhere (platform/metrics-http.ts).
  const metricsListener = await gateway.metrics.listen(logger);
  if (metricsListener) lifecycle.registerShutdown('metrics listener', () => metricsListener.close());
  logMetricsAccess(logger, gateway.metrics.access, metricsListener ?? undefined);

  const { port } = server.address() as AddressInfo;
  logger.info(
    {
      port,
      ...entryUrls(port, config.nodeEnv === 'production'),
      database: database.engine ? 'embedded' : 'mongodb',
      databaseUri: database.uri,
      oa: oa.url,
      archive: archive.url,
      sync: sync.url,
      subgraphAddresses: { oa: oa.address, archive: archive.address, sync: sync.address },
      events: bus.kind,
      ...(database.dataDir === undefined ? {} : { dataDir: database.dataDir }),
    },
    'listening',
  );
});

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new Error(`PORT ${port} is already in use; choose another with PORT=…`) : err);
    server.once('error', onError);
    server.listen(port, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** Stops accepting connections and waits for in-flight requests; idle keep-alive sockets are closed. */
function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    server.closeIdleConnections();
  });
}

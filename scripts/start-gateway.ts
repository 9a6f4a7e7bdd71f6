// `npm run start:gateway`: the gateway alone, for production layouts (PORT, default 4000; OA_URL, ARCHIVE_URL,
// SYNC_URL; REDIS_URL so that subscribers here hear of events the sync instances publish).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { healthRoutes } from '../gateway/health.ts';
import { subgraphReachable } from '../gateway/directory.ts';
import { auditSpoolFile } from '../gateway/audit-spool.ts';
import { createGateway } from '../gateway/index.ts';
import { ideRoutes } from '../gateway/ide.ts';
import { consoleRoutes } from '../gateway/console.ts';
import { errorBody, json } from '../platform/apollo-http.ts';
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
  // The IDE only in development; production has neither it nor introspection.
  const ide = config.nodeEnv === 'production' ? null : ideRoutes();
  const operatorConsole = consoleRoutes({ logger }); // /console, in production too (it holds no data; needs a token)
  const server = createServer((req, res) => {
    if (health(req, res)) return;
    if (ide?.(req, res)) return;
    if (operatorConsole(req, res)) return;
    gateway
      .handle(req, res)
      .then(async (handled) => handled || (await gateway.metrics.handle(req, res)) || json(res, 404, errorBody(`Not found: ${req.method ?? ''} ${(req.url ?? '').split('?', 1)[0]}`, 'NOT_FOUND')))
      .catch((err: unknown) => {
        logger.error({ err }, 'request failed');
        if (!res.headersSent) json(res, 500, errorBody('Internal server error', 'INTERNAL_SERVER_ERROR'));
        else res.end();
      });
  });
  gateway.attach(server);
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

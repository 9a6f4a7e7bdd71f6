// `npm run start:gateway`: the gateway alone, for production layouts (PORT, default 4000; OA_URL, ARCHIVE_URL).
import { createServer } from 'node:http';
import { healthRoutes } from '../gateway/health.ts';
import { subgraphReachable } from '../gateway/directory.ts';
import { createGateway } from '../gateway/index.ts';
import { ideRoutes } from '../gateway/ide.ts';
import { errorBody, json } from '../platform/apollo-http.ts';
import { runProcess } from './process.ts';

await runProcess(undefined, async ({ config, logger, lifecycle }) => {
  const gateway = await createGateway(config, logger, { oa: config.oaUrl, archive: config.archiveUrl }, config.supergraphPath ?? undefined);
  lifecycle.registerShutdown('gateway', () => gateway.stop());
  const health = healthRoutes({
    checks: { oa: subgraphReachable(config.oaUrl, config.internalSecret, 2000), archive: subgraphReachable(config.archiveUrl, config.internalSecret, 2000) },
    draining: () => lifecycle.shuttingDown,
    logger,
  });
  // The IDE only in development; production has neither it nor introspection.
  const ide = config.nodeEnv === 'production' ? null : ideRoutes();
  const server = createServer((req, res) => {
    if (health(req, res)) return;
    if (ide?.(req, res)) return;
    gateway
      .handle(req, res)
      .then(async (handled) => handled || (await gateway.metrics.handle(req, res)) || json(res, 404, errorBody('Not found', 'NOT_FOUND')))
      .catch((err: unknown) => {
        logger.error({ err }, 'request failed');
        if (!res.headersSent) json(res, 500, errorBody('Internal server error', 'INTERNAL_SERVER_ERROR'));
        else res.end();
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, () => resolve());
  });
  lifecycle.registerShutdown('http server', () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeIdleConnections(); }));
  logger.info({ port: config.port, oa: config.oaUrl, archive: config.archiveUrl }, 'gateway listening');
});

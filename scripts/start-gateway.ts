// `npm run start:gateway`: the gateway alone, for production layouts (PORT, default 4000; OA_URL, ARCHIVE_URL).
import { createServer } from 'node:http';
import { healthRoutes } from '../gateway/health.ts';
import { subgraphReachable } from '../gateway/directory.ts';
import { createGateway } from '../gateway/index.ts';
import { ideRoutes } from '../gateway/ide.ts';
import { ConfigError, loadConfig } from '../platform/config.ts';
import { errorBody, json } from '../platform/apollo-http.ts';
import { createLogger } from '../platform/logger.ts';
import { onShutdown } from '../platform/shutdown.ts';

let config;
try {
  config = loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
}
const logger = createLogger(config);
for (const variable of config.developmentDefaults) logger.warn({ variable }, `${variable} is not set: using the public development default (refused in production)`);
const lifecycle = onShutdown(logger, config.shutdownTimeoutMs);
lifecycle.installSignalHandlers();
try {
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
} catch (err) {
  logger.error({ reason: err instanceof Error ? err.message : String(err) }, 'start-up failed');
  const result = await lifecycle.shutdown('start-up failed');
  process.exit(result.exitCode === 0 ? 1 : result.exitCode);
}

// `npm run start:archive`: the archive subgraph alone, for production layouts (PORT, default 4002; MONGODB_URI).
import { ConfigError, loadConfig } from '../platform/config.ts';
import { connectDatabase } from '../platform/database.ts';
import { createLogger } from '../platform/logger.ts';
import { onShutdown } from '../platform/shutdown.ts';
import { startArchiveSubgraph } from '../subgraphs/archive/index.ts';
import { archiveOptions } from './archive-options.ts';

let config;
try {
  config = loadConfig({ ...process.env, PORT: process.env.PORT ?? process.env.ARCHIVE_PORT ?? '4002' });
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
  const database = await connectDatabase(config, logger);
  lifecycle.registerShutdown('database', () => database.close());
  const archive = await startArchiveSubgraph({ ...archiveOptions(config, logger, database.connection), port: config.port, overdueIntervalMs: config.escalationIntervalMs });
  lifecycle.registerShutdown('archive subgraph', () => archive.close());
} catch (err) {
  logger.error({ reason: err instanceof Error ? err.message : String(err) }, 'start-up failed');
  const result = await lifecycle.shutdown('start-up failed');
  process.exit(result.exitCode === 0 ? 1 : result.exitCode);
}

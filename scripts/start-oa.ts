// `npm run start:oa`: the oa subgraph alone, for production layouts (PORT, default 4001; MONGODB_URI).
import { ConfigError, loadConfig } from '../platform/config.ts';
import { connectDatabase } from '../platform/database.ts';
import { createLogger } from '../platform/logger.ts';
import { onShutdown } from '../platform/shutdown.ts';
import { startOaSubgraph } from '../subgraphs/oa/index.ts';
import { oaOptions } from './oa-options.ts';

let config;
try {
  // Alone, the subgraph listens on PORT; its default is the oa port.
  config = loadConfig({ ...process.env, PORT: process.env.PORT ?? process.env.OA_PORT ?? '4001' });
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
  const oa = await startOaSubgraph(await oaOptions(config, logger, database.connection, config.port));
  lifecycle.registerShutdown('oa subgraph', () => oa.close());
} catch (err) {
  logger.error({ reason: err instanceof Error ? err.message : String(err) }, 'start-up failed');
  const result = await lifecycle.shutdown('start-up failed');
  process.exit(result.exitCode === 0 ? 1 : result.exitCode);
}

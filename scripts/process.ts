// What every process of the project does first and last: validated configuration (a bad value stops it with a
// message naming the variable), the logger, warnings for development defaults, signal handling, and a clean
// shutdown when start-up fails.
import { type Config, ConfigError, loadConfig } from '../platform/config.ts';
import { type Logger, createLogger } from '../platform/logger.ts';
import { type ShutdownRegistry, onShutdown } from '../platform/shutdown.ts';

export interface ProcessContext {
  config: Config;
  logger: Logger;
  lifecycle: ShutdownRegistry;
}

/** Runs `main` as a process; `defaultPort` applies when PORT is unset (each part alone has its own port). */
export async function runProcess(defaultPort: string | undefined, main: (ctx: ProcessContext) => Promise<void>): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(defaultPort === undefined ? process.env : { ...process.env, PORT: process.env.PORT ?? defaultPort });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
  const logger = createLogger(config);
  for (const variable of config.developmentDefaults) logger.warn({ variable }, `${variable} is not set: using the public development default (refused in production)`);
  const lifecycle = onShutdown(logger, config.shutdownTimeoutMs);
  // Installed first, so Ctrl-C during start-up still closes whatever has opened.
  lifecycle.installSignalHandlers();
  try {
    await main({ config, logger, lifecycle });
  } catch (err) {
    // A configuration problem found only when a part starts (the embedded database in production) is reported
    // like any other: on stderr, naming the variable.
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      const result = await lifecycle.shutdown('start-up failed');
      process.exit(result.exitCode === 0 ? 1 : result.exitCode);
    }
    // Expected start-up failures (port in use, database unreachable) are reported without a stack trace.
    logger.error({ reason: err instanceof Error ? err.message : String(err) }, 'start-up failed');
    logger.debug({ err }, 'start-up failure detail');
    const result = await lifecycle.shutdown('start-up failed');
    process.exit(result.exitCode === 0 ? 1 : result.exitCode);
  }
}

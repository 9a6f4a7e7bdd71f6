// What every process of the project does first and last: validated configuration (a bad value stops it with a
// message naming the variable), the logger, warnings for development defaults, signal handling, and a clean
// shutdown when start-up fails.
import { type Config, ConfigError, loadConfig } from '../platform/config.ts';
import { type Logger, createLogger, logProcessWarnings } from '../platform/logger.ts';
import { startTracing } from '../platform/tracing.ts';
import { type ShutdownRegistry, onShutdown } from '../platform/shutdown.ts';
import { awaitTurn, followSupervisor, supervisedChild } from '../platform/supervisor.ts';

export interface ProcessContext {
  config: Config;
  logger: Logger;
  lifecycle: ShutdownRegistry;
}

export interface RunProcessOptions {
  /** The overall shutdown deadline (default SHUTDOWN_TIMEOUT_MS). */
  shutdownTimeoutMs?: (config: Config) => number;
}

/**
 * Runs `main` as a process; `defaultPort` applies when PORT is unset (each part alone has its own port). A part
 * `npm start` supervises (platform/supervisor.ts) stops on SIGTERM or when the supervisor goes, ignores SIGINT,
 * and leaves the development-default warnings to the supervisor.
 */
export async function runProcess(defaultPort: string | undefined, main: (ctx: ProcessContext) => Promise<void>, options: RunProcessOptions = {}): Promise<void> {
  // A part `npm start` supervises loads its code alongside the others, then waits for its turn (and its inputs).
  await awaitTurn();
  let config: Config;
  try {
    config = loadConfig(defaultPort === undefined ? process.env : { ...process.env, PORT: process.env.PORT ?? defaultPort });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
  const logger = createLogger(config);
  logProcessWarnings(logger);
  const supervised = supervisedChild();
  if (!supervised) for (const variable of config.developmentDefaults) logger.warn({ variable }, `${variable} is not set: using the public development default (refused in production)`);
  const lifecycle = onShutdown(logger, options.shutdownTimeoutMs?.(config) ?? config.shutdownTimeoutMs);
  // Installed first, so Ctrl-C during start-up still closes whatever has opened.
  if (supervised) {
    lifecycle.installSignalHandlers(['SIGTERM']);
    followSupervisor(lifecycle, logger, config.shutdownTimeoutMs);
  } else lifecycle.installSignalHandlers();
  // Trace context in every process (platform/tracing.ts); spans are exported only when OTEL_* variables ask for it.
  // Registered first, so it runs last: the spans of the shutdown itself go out too.
  const tracing = await startTracing({ logger });
  if (tracing.enabled) lifecycle.registerShutdown('tracing', () => tracing.shutdown());
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

// Graceful shutdown: parts register close hooks as they start; on the first signal the hooks run once, in
// reverse registration order (stop accepting → finish in-flight work → close the database), under one
// overall deadline. Running the hooks (`shutdown`) is separate from the signal wiring so tests can drive it.

/** The subset of a pino logger this module uses. */
export interface ShutdownLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export type ShutdownHook = () => Promise<void> | void;

export interface ShutdownResult {
  /** 0 when every hook finished, 1 when one failed or the deadline elapsed. */
  exitCode: 0 | 1;
  /** Hooks that had not finished when the deadline elapsed. */
  timedOut: string[];
  /** Hooks that threw. */
  failed: string[];
}

export interface ShutdownRegistry {
  /** Adds a hook; hooks run in reverse order of registration (one added during shutdown runs next). */
  registerShutdown(name: string, fn: ShutdownHook): void;
  /** Runs the hooks once; later calls return the same promise. */
  shutdown(reason: string): Promise<ShutdownResult>;
  /** True once shutdown has begun (readiness probes can report draining). */
  readonly shuttingDown: boolean;
  /**
   * Wires SIGINT and SIGTERM: the first runs `shutdown` then exits with its code; a second forces exit 1.
   * Returns a function that removes the handlers.
   */
  installSignalHandlers(signals?: readonly NodeJS.Signals[]): () => void;
}

export interface ShutdownOptions {
  /** Replaced in tests; defaults to process.exit. */
  exit?: (code: number) => void;
}

/** Signals within this time of the first belong to the same interrupt. */
export const DUPLICATE_SIGNAL_WINDOW_MS = 1000;

export function onShutdown(logger: ShutdownLogger, timeoutMs: number, options: ShutdownOptions = {}): ShutdownRegistry {
  const hooks: { name: string; fn: ShutdownHook }[] = [];
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let running: Promise<ShutdownResult> | undefined;

  async function runHooks(reason: string): Promise<ShutdownResult> {
    logger.info({ reason, hooks: [...hooks].reverse().map((h) => h.name), timeoutMs }, 'shutting down');
    const failed: string[] = [];
    let current: string | undefined;
    let abandoned = false;

    // Pops from the registry itself, so a part that finishes starting during shutdown still gets closed.
    const sequence = (async () => {
      for (let hook = hooks.pop(); hook !== undefined && !abandoned; hook = hooks.pop()) {
        const started = Date.now();
        current = hook.name;
        try {
          await hook.fn();
          logger.info({ hook: hook.name, ms: Date.now() - started }, 'shutdown step finished');
        } catch (err) {
          failed.push(hook.name);
          logger.error({ hook: hook.name, err }, 'shutdown step failed');
        }
        current = undefined;
      }
    })();

    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const outcome = await Promise.race([sequence.then(() => 'done' as const), deadline]);
    clearTimeout(timer);

    if (outcome === 'timeout') {
      abandoned = true;
      // The step still running and the ones that will not run.
      const timedOut = [...(current === undefined ? [] : [current]), ...[...hooks].reverse().map((h) => h.name)];
      logger.error({ timeoutMs, pending: timedOut }, 'shutdown timed out');
      return { exitCode: 1, timedOut, failed };
    }
    if (failed.length > 0) {
      logger.warn({ failed }, 'shutdown finished with errors');
      return { exitCode: 1, timedOut: [], failed };
    }
    logger.info({}, 'shutdown complete');
    return { exitCode: 0, timedOut: [], failed };
  }

  const registry: ShutdownRegistry = {
    registerShutdown(name, fn) {
      hooks.push({ name, fn });
    },
    shutdown(reason) {
      running ??= runHooks(reason);
      return running;
    },
    get shuttingDown() {
      return running !== undefined;
    },
    installSignalHandlers(signals = ['SIGINT', 'SIGTERM']) {
      let firstAt = 0;
      const handler = (signal: NodeJS.Signals) => {
        if (running) {
          // One Ctrl-C often arrives more than once: the terminal signals the whole process group and npm or tsx
          // relay it too. Only a signal sent after a pause means "stop now".
          if (Date.now() - firstAt < DUPLICATE_SIGNAL_WINDOW_MS) return;
          logger.warn({ signal }, 'second signal received; forcing exit');
          exit(1);
          return;
        }
        firstAt = Date.now();
        void registry.shutdown(signal).then((result) => exit(result.exitCode));
      };
      for (const s of signals) process.on(s, handler);
      return () => {
        for (const s of signals) process.off(s, handler);
      };
    },
  };
  return registry;
}

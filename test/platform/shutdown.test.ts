import { describe, expect, it } from 'vitest';
import { DUPLICATE_SIGNAL_WINDOW_MS, onShutdown, type ShutdownLogger } from '../../platform/shutdown.ts';

interface Entry {
  level: 'info' | 'warn' | 'error';
  obj: Record<string, unknown>;
  msg: string | undefined;
}

function recordingLogger(): ShutdownLogger & { entries: Entry[] } {
  const entries: Entry[] = [];
  const at = (level: Entry['level']) => (obj: object, msg?: string) => {
    entries.push({ level, obj: obj as Record<string, unknown>, msg });
  };
  return { entries, info: at('info'), warn: at('warn'), error: at('error') };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe('onShutdown', () => {
  it('runs hooks once, in reverse registration order, each awaited before the next', async () => {
    const logger = recordingLogger();
    const registry = onShutdown(logger, 1000);
    const order: string[] = [];
    registry.registerShutdown('database', async () => {
      order.push('database:start');
      await sleep(5);
      order.push('database:end');
    });
    registry.registerShutdown('in-flight', async () => {
      order.push('in-flight:start');
      await sleep(20);
      order.push('in-flight:end');
    });
    registry.registerShutdown('http server', () => {
      order.push('http server');
    });

    expect(registry.shuttingDown).toBe(false);
    const first = registry.shutdown('SIGINT');
    const second = registry.shutdown('SIGTERM');
    expect(registry.shuttingDown).toBe(true);
    expect(second).toBe(first);
    const result = await first;

    expect(result).toEqual({ exitCode: 0, timedOut: [], failed: [] });
    expect(order).toEqual(['http server', 'in-flight:start', 'in-flight:end', 'database:start', 'database:end']);
    const steps = logger.entries.filter((e) => e.msg === 'shutdown step finished').map((e) => e.obj.hook);
    expect(steps).toEqual(['http server', 'in-flight', 'database']);
    expect(logger.entries[0]).toMatchObject({ msg: 'shutting down', obj: { reason: 'SIGINT', hooks: ['http server', 'in-flight', 'database'] } });
    expect(logger.entries.at(-1)?.msg).toBe('shutdown complete');
  });

  it('reports exit code 1 and the pending hooks when the timeout elapses', async () => {
    const logger = recordingLogger();
    const registry = onShutdown(logger, 50);
    let databaseClosed = false;
    registry.registerShutdown('database', () => {
      databaseClosed = true;
    });
    registry.registerShutdown('stuck', () => new Promise<void>(() => undefined));
    registry.registerShutdown('http server', () => undefined);

    const started = Date.now();
    const result = await registry.shutdown('SIGTERM');
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(result).toEqual({ exitCode: 1, timedOut: ['stuck', 'database'], failed: [] });
    expect(logger.entries.find((e) => e.msg === 'shutdown timed out')?.obj).toEqual({ timeoutMs: 50, pending: ['stuck', 'database'] });
    await sleep(20);
    expect(databaseClosed).toBe(false);
  });

  it('keeps going after a failing hook and reports exit code 1', async () => {
    const logger = recordingLogger();
    const registry = onShutdown(logger, 1000);
    const ran: string[] = [];
    registry.registerShutdown('database', () => {
      ran.push('database');
    });
    registry.registerShutdown('broken', () => {
      throw new Error('close failed');
    });
    const result = await registry.shutdown('test');
    expect(result).toEqual({ exitCode: 1, timedOut: [], failed: ['broken'] });
    expect(ran).toEqual(['database']);
    expect(logger.entries.find((e) => e.msg === 'shutdown step failed')?.obj.hook).toBe('broken');
  });

  it('runs a hook registered while shutdown is in progress', async () => {
    const registry = onShutdown(recordingLogger(), 1000);
    const ran: string[] = [];
    registry.registerShutdown('first', async () => {
      ran.push('first');
      registry.registerShutdown('late', () => {
        ran.push('late');
      });
    });
    expect((await registry.shutdown('test')).exitCode).toBe(0);
    expect(ran).toEqual(['first', 'late']);
  });

  it('exits with the shutdown result on the first signal, ignores its duplicates, and forces exit 1 on a later one', async () => {
    const logger = recordingLogger();
    const exits: number[] = [];
    const registry = onShutdown(logger, 10_000, { exit: (code) => exits.push(code) });
    let release!: () => void;
    registry.registerShutdown('slow', () => new Promise<void>((r) => (release = r)));
    // SIGUSR2 stands in for SIGINT/SIGTERM so the test runner's own handlers are not involved.
    const uninstall = registry.installSignalHandlers(['SIGUSR2']);
    try {
      process.kill(process.pid, 'SIGUSR2');
      await sleep(20);
      expect(registry.shuttingDown).toBe(true);
      expect(exits).toEqual([]);

      // The same interrupt delivered twice (terminal and npm both signal) does not force anything.
      process.kill(process.pid, 'SIGUSR2');
      await sleep(20);
      expect(exits).toEqual([]);

      await sleep(DUPLICATE_SIGNAL_WINDOW_MS);
      process.kill(process.pid, 'SIGUSR2');
      await sleep(20);
      expect(exits).toEqual([1]);
      expect(logger.entries.some((e) => e.msg === 'second signal received; forcing exit')).toBe(true);

      release();
      await sleep(20);
      expect(exits).toEqual([1, 0]);
    } finally {
      uninstall();
    }
  });
});

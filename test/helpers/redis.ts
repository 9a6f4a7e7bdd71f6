// A Redis for the tests that need one (scale-out): REDIS_URL when set, else the usual local server on 6379, else one
// started here from `redis-server` on the PATH (nothing kept on disk), else a clear error saying what to install.
import { type ChildProcess, spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from './ports.ts';
import { until } from './wait.ts';

async function answers(url: string): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => {}); // the answer is the boolean; no stray log line
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

export interface TestRedis {
  url: string;
  /** Stops the server this helper started (none when it found one running). */
  stop(): Promise<void>;
}

export async function testRedis(usual = 'redis://127.0.0.1:6379'): Promise<TestRedis> {
  const configured = process.env.REDIS_URL;
  const url = configured ?? usual;
  if (await answers(url)) return { url, stop: async () => {} };
  if (configured) throw new Error(`REDIS_URL is ${configured}, and no Redis answered there.`);
  const port = await freePort();
  let child: ChildProcess;
  try {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
  } catch {
    throw new Error('This test needs Redis: none answered on 127.0.0.1:6379 and `redis-server` is not on the PATH. Install it (Debian: apt-get install redis-server) or set REDIS_URL.');
  }
  const started = `redis://127.0.0.1:${port}`;
  await until(() => answers(started), `redis-server on port ${port}`, 10_000);
  return {
    url: started,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
    },
  };
}

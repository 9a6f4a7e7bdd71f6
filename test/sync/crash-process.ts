// The all-in-one process (`node --import tsx scripts/start.ts`) as a child of a crash test: its JSON log lines, its
// readiness, and SIGKILL of its whole process group. Every child started here is tracked, so afterAll (and, as a
// last resort, the test worker's exit) kills whatever is still running.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CONFIG_VARIABLES } from '../../platform/config.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface Listening {
  port: number;
  oa: string;
  archive: string;
  sync: string;
  /** http://127.0.0.1:PORT/graphql */
  graphqlUrl: string;
  /** ws://127.0.0.1:PORT/graphql */
  wsUrl: string;
  base: string;
}

export interface AllInOne {
  readonly pid: number;
  readonly lines: LogLine[];
  /** Resolves with the exit code and signal once the process has been reaped. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The `listening` line, then GET /readyz answering 200; rejects if the process exits first or at the deadline. */
  ready(timeoutMs?: number): Promise<Listening>;
  /** SIGKILL to the process group; resolves once the process has exited. */
  kill(): Promise<void>;
  /** stdout and stderr so far (for failure messages). */
  output(): string;
}

const running = new Set<ChildProcess>();

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    // detached: the child leads its own process group; the minus sign signals all of it.
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

// The worker may end without running afterAll (a crash of the worker itself): take the children along.
process.once('exit', () => {
  for (const child of running) killGroup(child);
});

/** Kills every child still running and waits for each to be reaped. */
export async function killAllChildren(): Promise<void> {
  const children = [...running];
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          killGroup(child);
        }),
    ),
  );
}

export function startAllInOne(env: Record<string, string>): AllInOne {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const name of CONFIG_VARIABLES) delete childEnv[name];
  Object.assign(childEnv, env);
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  running.add(child);
  const lines: LogLine[] = [];
  let out = '';
  let pending = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  child.stdout!.on('data', (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    out += text;
    pending += text;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const raw = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (!raw.startsWith('{')) continue;
      try {
        lines.push(JSON.parse(raw) as LogLine);
      } catch {
        // a line cut by SIGKILL
      }
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  let dead = false;
  void exited.then(() => (dead = true));

  const output = () => out.slice(-8000);

  return {
    pid: child.pid!,
    lines,
    exited,
    output,
    async ready(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      const fail = (what: string) => new Error(`${what} (pid ${child.pid})\n${output()}`);
      let line: LogLine | undefined;
      while (!(line = lines.find((l) => l.msg === 'listening'))) {
        if (dead) throw fail('the process exited before logging "listening"');
        if (Date.now() > deadline) throw fail('no "listening" line in time');
        await sleep(20);
      }
      const port = line.port as number;
      const base = `http://127.0.0.1:${port}`;
      for (;;) {
        if (dead) throw fail('the process exited before it was ready');
        const status = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(3000) }).then(
          (r) => r.status,
          () => 0,
        );
        if (status === 200) break;
        if (Date.now() > deadline) throw fail(`/readyz did not answer 200 in time (last status ${status})`);
        await sleep(50);
      }
      return { port, oa: String(line.oa), archive: String(line.archive), sync: String(line.sync), base, graphqlUrl: `${base}/graphql`, wsUrl: `ws://127.0.0.1:${port}/graphql` };
    },
    async kill() {
      killGroup(child);
      await exited;
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** mulberry32: a small seeded PRNG, so that a failing run can be replayed with its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

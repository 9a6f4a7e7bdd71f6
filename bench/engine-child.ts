// The engine benchmark's settings and its child process (bench/engine.ts): the engine started as `npm run db` starts
// it, connected to, stopped, and its memory sampled from /proc.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { connectionString, parseReadyLine, readCredentialsFile } from '../engine/index.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CLAIMS = Number(process.env.BENCH_ENGINE_CLAIMS ?? 200_000);
export const ARCHIVES = Number(process.env.BENCH_ENGINE_ARCHIVES ?? 20_000);
export const SMALL_FILES = Number(process.env.BENCH_ENGINE_FILES ?? 50);
export const SMALL_FILE_MB = 10;
export const LARGE_FILE_MB = Number(process.env.BENCH_ENGINE_LARGE_MB ?? 100);
export const BATCH = 1_000;
export const CACHE_MB = Number(process.env.ENGINE_CACHE_MB ?? 256);
export const LOOKUPS = 2_000;
export const CRASH_ROUNDS = 3;
/** Claims inserted again with an fsync at every commit, in a fresh directory, to compare the two --fsync modes. */
export const FSYNC_SAMPLE = 50_000;
/** Claims inserted as pre-encoded messages (insertPreEncoded), and how many times. */
export const PRE_ENCODED = 60_000;
export const PRE_ENCODED_RUNS = 3;
/** The whole run stops (children killed, directory removed) past this. */
export const BUDGET_MS = 30 * 60_000;

export const MiB = 1024 * 1024;
export const t0 = Date.now();
export const progress = (msg: string) => console.log(`  [engine ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${msg}`);
export const mb = (bytes: number) => `${(bytes / MiB).toFixed(0)} MB`;
export const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
export const now = () => performance.now();

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))];
}

// ---------------------------------------------------------------------------------------------------------
// The engine in a child process

export const cliSource = () => ['engine/cli.ts', 'engine/serve-cli.ts'].filter((f) => fs.existsSync(path.join(ROOT, f))).map((f) => fs.readFileSync(path.join(ROOT, f), 'utf8')).join('\n');

/** How the CLI takes the page cache size: a flag, the environment, or not at all (its default, 256 MB, applies). */
export function cacheOption(): { args: string[]; note: string } {
  const source = cliSource();
  if (source.includes('cache-mb')) return { args: ['--cache-mb', String(CACHE_MB)], note: `--cache-mb ${CACHE_MB}` };
  if (source.includes('ENGINE_CACHE_MB')) return { args: [], note: `ENGINE_CACHE_MB=${CACHE_MB}` };
  return { args: [], note: `the CLI takes no cache option yet: the engine's default page cache (256 MB) applies` };
}

/** When commits reach the disk: the CLI's --fsync (ENGINE_FSYNC), if it has it; undefined leaves its default. */
export const FSYNC = process.env.ENGINE_FSYNC;
export const hasFsyncOption = () => /--fsync\b/.test(cliSource());
export const fsyncArgs = (mode: string | undefined): string[] => (mode && hasFsyncOption() ? ['--fsync', mode] : []);
export const fsyncNote = (mode: string | undefined): string =>
  hasFsyncOption() ? `--fsync ${mode ?? 'default (interval: in the OS before the answer, on disk within a second)'}` : 'fsync at every commit (the CLI has no --fsync)';

export interface Child {
  proc: ChildProcess;
  pid: number;
  uri: string;
  /** From spawn to the ready line. */
  readyMs: number;
  spawnedAt: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}

export const live = new Set<ChildProcess>();

export async function startChild(dbPath: string, fsync = FSYNC): Promise<Child> {
  const spawnedAt = now();
  const args = ['--import', 'tsx', 'engine/cli.ts', '--port', '0', '--dbpath', dbPath, ...cacheOption().args, ...fsyncArgs(fsync)];
  const proc = spawn(process.execPath, args, {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ENGINE_CACHE_MB: String(CACHE_MB) },
  });
  live.add(proc);
  let out = '';
  const keep = (chunk: Buffer) => {
    out += chunk.toString('utf8');
    if (out.length > 64_000) out = out.slice(-32_000);
  };
  proc.stderr!.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => {
      live.delete(proc);
      resolve({ code, signal });
    }),
  );
  const uri = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`engine not ready within 120 s:\n${out}`)), 120_000);
    proc.stdout!.on('data', (chunk: Buffer) => {
      keep(chunk);
      const ready = parseReadyLine(out);
      if (ready) {
        clearTimeout(timer);
        resolve(connectionString(readCredentialsFile(ready.credentialsPath), ready.host, ready.port));
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`engine exited (${code ?? signal}) before it was ready:\n${out}`));
    });
  });
  return { proc, pid: proc.pid!, uri, readyMs: now() - spawnedAt, spawnedAt, exited, output: () => out };
}

export async function stopChild(child: Child): Promise<void> {
  child.proc.kill('SIGINT');
  const { code } = await child.exited;
  if (code !== 0) throw new Error(`engine exited with ${code} on SIGINT:\n${child.output()}`);
}

export function connect(uri: string): Promise<MongoClient> {
  // No retries: a write interrupted by kill -9 must fail, not be sent again to the next engine.
  return MongoClient.connect(uri, { retryWrites: false, retryReads: false, serverSelectionTimeoutMS: 5_000, maxPoolSize: 4 });
}

// ---------------------------------------------------------------------------------------------------------
// Memory of the child: VmRSS sampled, VmHWM (peak since the process started) at the end

export function procStatus(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(s)?.[1] ?? NaN) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

export class RssSampler {
  max = 0;
  samples = 0;
  private readonly timer: NodeJS.Timeout;
  constructor(private readonly pid: number) {
    this.timer = setInterval(() => this.sample(), 100);
    this.sample();
  }
  sample(): void {
    const s = procStatus(this.pid);
    if (s && s.rss > this.max) this.max = s.rss;
    this.samples++;
  }
  stop(): { maxRss: number; hwm: number; samples: number } {
    clearInterval(this.timer);
    this.sample();
    return { maxRss: this.max, hwm: procStatus(this.pid)?.hwm ?? NaN, samples: this.samples };
  }
}

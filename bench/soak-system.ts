// The soak benchmark's system under test (bench/soak.ts): `scripts/start.ts`, the supervisor of `npm start`, as a child
// of the bench with the bench's Node and exec arguments (tsx), in production on the embedded database, a fresh
// DATA_DIR, free ports and secrets of its own; and what /proc says of its processes.
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { createWriteStream, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CONFIG_VARIABLES } from '../platform/config.ts';
import { freePorts } from '../test/helpers/ports.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const JWT_SECRET = `soak-client-jwt-secret-${randomUUID()}`;
const INTERNAL_SECRET = `soak-internal-secret-${randomUUID()}`;
const METRICS_TOKEN = `soak-metrics-token-${randomUUID()}`;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface System {
  child: ChildProcess;
  listening: LogLine;
  /** Lines at warn level or above (kept, bounded). */
  warnings: LogLine[];
  /** The engine's "slow command" lines (engine/slow-log.ts; kept, bounded). */
  slow: LogLine[];
  lineCount: () => number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output: () => string;
}

export async function startSystem(dataDir: string): Promise<System> {
  const keyFile = path.join(dataDir, 'seal.pem');
  await writeFile(keyFile, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), { mode: 0o600 });
  const [port, oaPort, archivePort, syncPort] = await freePorts(4);
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of CONFIG_VARIABLES) delete env[name];
  Object.assign(env, {
    NODE_ENV: 'production',
    DATA_DIR: path.join(dataDir, 'data'),
    PORT: String(port),
    OA_PORT: String(oaPort),
    ARCHIVE_PORT: String(archivePort),
    SYNC_PORT: String(syncPort),
    INTERNAL_SECRET,
    JWT_SECRET,
    EMBEDDED_DATABASE_IN_PRODUCTION: 'true',
    ARCHIVE_SEAL_PRIVATE_KEY_FILE: keyFile,
    METRICS_TOKEN,
    // `listening` is an info line: at LOG_LEVEL=warn the supervisor would never say where it listens. No part logs
    // per request at info (only start-up, shutdown and rare events), so info costs nothing under load.
    LOG_LEVEL: 'info',
  });
  const child = spawn(process.execPath, [...process.execArgv, 'scripts/start.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const warnings: LogLine[] = [];
  const slow: LogLine[] = [];
  let listening: LogLine | undefined;
  let lines = 0;
  let tail = '';
  const keepTail = (text: string) => (tail = (tail + text).slice(-8000));
  // BENCH_SOAK_LOG=<file>: every line the system printed, kept for reading after the run (what the summary leaves out).
  const logFile = process.env.BENCH_SOAK_LOG ? createWriteStream(process.env.BENCH_SOAK_LOG) : null;
  // One JSON line per log event (node:readline splits the stream into lines).
  createInterface({ input: child.stdout! }).on('line', (raw) => {
    logFile?.write(`${raw}\n`);
    keepTail(`${raw}\n`);
    if (!raw.startsWith('{')) return;
    let line: LogLine;
    try {
      line = JSON.parse(raw) as LogLine;
    } catch {
      return;
    }
    lines++;
    if (line.msg === 'listening') listening = line;
    if (line.level >= 40 && warnings.length < 2000) warnings.push(line);
    if (line.msg === 'slow command' && slow.length < 5000) slow.push(line);
  });
  child.stderr!.on('data', (chunk: Buffer) => keepTail(chunk.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let dead = false;
  void exited.then(() => (dead = true));
  const deadline = Date.now() + 120_000;
  while (!listening) {
    if (dead) throw new Error(`the system exited before logging "listening"\n${tail}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`no "listening" line within 120 s\n${tail}`);
    }
    await sleep(50);
  }
  return { child, listening, warnings, slow, lineCount: () => lines, exited, output: () => tail };
}

export async function stopSystem(system: System): Promise<string> {
  if (system.child.exitCode !== null || system.child.signalCode !== null) return `already exited (${system.child.exitCode ?? system.child.signalCode})`;
  system.child.kill('SIGINT');
  const result = await Promise.race([system.exited, sleep(90_000).then(() => null)]);
  if (result) return `exit code ${result.code ?? result.signal}`;
  system.child.kill('SIGKILL');
  await system.exited;
  return 'did not exit within 90 s of SIGINT: killed';
}

// ---------------------------------------------------------------------------------------------------------------
// measurement helpers

export function rssKb(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}
const CLOCK_TICKS = 100;
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS; // utime, stime
  } catch {
    return NaN;
  }
}


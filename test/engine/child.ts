// Runs the engine's CLI in a child process and waits for its ready line. The line names the credentials file
// (DBPATH/credentials.json, or a temporary one for --memory), never the password: the URI handed to tests is
// made from that file, as any client of `npm run db` would make it.
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type EngineCredentials, connectionString, parseReadyLine, readCredentialsFile } from '../../engine/index.ts';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface EngineChild {
  proc: ChildProcess;
  /** mongodb://oa-archive:PASSWORD@HOST:PORT/?authSource=admin, from the credentials file. */
  uri: string;
  /** `uri` naming a database. */
  uriFor(dbName: string): string;
  host: string;
  port: number;
  /** The file the ready line named, and what it holds. */
  credentialsPath: string;
  credentials: EngineCredentials;
  /** Everything the child printed so far (stdout and stderr). */
  output(): string;
  /** Resolves with the exit code and signal once the child has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const live = new Set<ChildProcess>();

/** Kills every child still running (for afterAll). */
export function killAllChildren(): void {
  for (const p of live) killProcess(p, 'SIGKILL');
  live.clear();
}

export interface SpawnOptions {
  /** `npm run db -- ...` instead of `node --import tsx engine/cli.ts ...`. */
  viaNpm?: boolean;
  /** How long to wait for the ready line. */
  timeoutMs?: number;
}

/** Starts the CLI with `args`, resolving once it prints "embedded engine ready: mongodb://oa-archive:***@HOST:PORT/…". */
export function spawnEngine(args: string[], opts: SpawnOptions = {}): Promise<EngineChild> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  // The npm form runs in its own process group, so a signal can reach npm, tsx and node together (like Ctrl-C).
  const proc = opts.viaNpm
    ? spawn('npm', ['run', '--silent', 'db', '--', ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    : spawn(process.execPath, ['--import', 'tsx', 'engine/cli.ts', ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  let out = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('exit', (code, signal) => {
      live.delete(proc);
      resolve({ code, signal });
    });
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      killProcess(proc, 'SIGKILL');
      reject(new Error(`engine did not report ready within ${timeoutMs} ms; output:\n${out}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const ready = parseReadyLine(out);
      if (ready) {
        clearTimeout(timer);
        proc.stdout!.off('data', onData);
        proc.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
        let credentials: EngineCredentials;
        try {
          credentials = readCredentialsFile(ready.credentialsPath);
        } catch (err) {
          killProcess(proc, 'SIGKILL');
          reject(err as Error);
          return;
        }
        const { host, port, credentialsPath } = ready;
        resolve({
          proc,
          uri: connectionString(credentials, host, port),
          uriFor: (dbName) => connectionString(credentials, host, port, dbName),
          host,
          port,
          credentialsPath,
          credentials,
          output: () => out,
          exited,
        });
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', (c: Buffer) => (out += c.toString('utf8')));
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`engine exited (code ${code}, signal ${signal}) before it was ready; output:\n${out}`));
    });
  });
}

/** Sends `signal` to the process, or to its whole group when it was started detached (the npm form). */
export function killProcess(proc: ChildProcess, signal: NodeJS.Signals): void {
  if (!proc.pid || proc.exitCode !== null || proc.signalCode !== null) return;
  try {
    process.kill(proc.spawnargs[0] === 'npm' ? -proc.pid : proc.pid, signal);
  } catch {
    // already gone
  }
}

/** Waits for the child to exit, failing after `ms`. */
export async function exitWithin(child: EngineChild, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`process did not exit within ${ms} ms; output:\n${child.output()}`)), ms);
  });
  try {
    return await Promise.race([child.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Parses the JSON log lines the CLI prints (one object a line), skipping other lines. */
export function logLines(output: string): Array<Record<string, unknown>> {
  const lines: Array<Record<string, unknown>> = [];
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // not a log line
    }
  }
  return lines;
}

// `npm start` as a supervisor: the database (embedded engine, unless MONGODB_URI), the oa, archive and sync
// subgraphs and the gateway each run in a process of their own (the same Node and loader as this one), started in
// that order, each once the one before is ready, and stopped in the reverse order: the gateway first (no new
// requests), then sync, archive, oa, and the database last, so every write the others made is flushed.
//
// The parent side (`supervise`) and the child side (`supervisedChild`, `reportReady`, `followSupervisor`,
// `supervisedEventBus`) share this module. All parts are spawned at once, so loading their code overlaps; each then
// waits for its turn. Children talk to the supervisor over Node's IPC channel:
//   supervisor → child  {type:'start', env}  your turn: the addresses of the parts before you (ports, URLs)
//   child → supervisor  {type:'ready', …}    once it listens (its address, the database's URI)
//   child → supervisor  {type:'events', …}   new events in the log: relayed to every other child (the gateway's
//                                             subscribers hear of them at once, as in one process; REDIS_URL
//                                             replaces this when parts run on several machines)
// A child whose IPC channel closes (the supervisor died, even by SIGKILL) shuts itself down cleanly, so no orphan
// keeps the data directory's lock or a port; it first waits (up to SHUTDOWN_TIMEOUT_MS) for the parts started
// after it to exit, so even then the gateway goes first and the database last. Children ignore SIGINT (Ctrl-C
// reaches the whole process group): the supervisor stops them in order with SIGTERM. If a child dies on its own, the supervisor stops the others and
// exits 1: whatever runs `npm start` (systemd, Kubernetes, a shell loop) restarts the whole.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Config } from './config.ts';
import { checkEmbeddedDatabase } from './config.ts';
import type { EventEmitter } from 'node:events';
import { type BusEvent, type BusListener, type EventBus, LocalEventBus, createEventBus, ringWhenStored } from './integration/event-bus.ts';
import { type Logger, redactUri } from './logger.ts';
import type { ShutdownRegistry } from './shutdown.ts';
import { entryUrls } from './entry-urls.ts';
// The database process's V8 flags (a module of constants: the supervisor loads no engine code with it).
import { ENGINE_V8_FLAGS } from '../engine/process-flags.ts';

/** Set in the environment of every child the supervisor starts. */
export const SUPERVISED_ENV = 'OA_ARCHIVE_SUPERVISED';


/** How long one part may take to become ready before start-up fails. */
export const PART_START_TIMEOUT_MS = 120_000;

const SCRIPTS = fileURLToPath(new URL('../scripts/', import.meta.url));

export type PartName = 'database' | 'oa' | 'archive' | 'sync' | 'gateway';

export interface ReadyReport {
  port: number;
  /** Subgraphs: their /graphql URL and the address they are bound to. */
  url?: string;
  address?: string;
  /** Database: the connection string for the other parts (with the password: sent over the private IPC channel only). */
  uri?: string;
  /** Database: the same with the password masked. */
  safeUri?: string;
  dataDir?: string;
}

interface ReadyMessage extends ReadyReport {
  type: 'ready';
}

/** Supervisor → child: start now, with these variables added to the environment. */
interface StartMessage {
  type: 'start';
  env: Record<string, string>;
}

/** Supervisor → child, once all are ready: the parts to outlive if the supervisor goes. */
interface StopAfterMessage {
  type: 'stop-after';
  pids: number[];
}

interface EventsMessage {
  type: 'events';
  events: BusEvent[];
}

// ---------------------------------------------------------------------------------------------------------------
// Child side

/** True in a process `npm start` started (and whose IPC channel to it is open). */
export function supervisedChild(): boolean {
  return process.env[SUPERVISED_ENV] === '1' && typeof process.send === 'function';
}

/**
 * In a supervised child, before its configuration is read: waits for the supervisor's turn signal and adds the
 * variables it carries (PORT, MONGODB_URI, OA_URL, …) to process.env. Until then SIGTERM or the supervisor's end
 * exits at once (nothing has started) and SIGINT is ignored.
 */
export function awaitTurn(): Promise<void> {
  if (!supervisedChild()) return Promise.resolve();
  return new Promise((resolve) => {
    const leave = () => process.exit(0);
    const ignore = () => undefined;
    const onMessage = (message: unknown) => {
      const m = message as Partial<StartMessage> | null;
      if (m?.type !== 'start' || typeof m.env !== 'object' || m.env === null) return;
      process.off('message', onMessage);
      process.off('SIGTERM', leave);
      process.off('SIGINT', ignore);
      process.off('disconnect', leave);
      Object.assign(process.env, m.env);
      resolve();
    };
    process.on('message', onMessage);
    process.on('SIGTERM', leave);
    process.on('SIGINT', ignore);
    process.on('disconnect', leave);
    if (!process.connected) leave();
  });
}

/** Tells the supervisor this part is ready (no-op when not supervised). */
export function reportReady(report: ReadyReport): void {
  if (!supervisedChild() || !process.connected) return;
  const message: ReadyMessage = { type: 'ready', ...report };
  process.send!(message);
}

/**
 * In a supervised child: SIGINT is ignored (the supervisor decides the order), and when the IPC channel to the
 * supervisor closes (it exited or was killed) the part shuts down with its usual hooks and exits.
 */
export function followSupervisor(lifecycle: ShutdownRegistry, logger: Logger, waitMs: number, exit: (code: number) => void = (code) => process.exit(code)): void {
  process.on('SIGINT', () => undefined);
  let after: number[] = [];
  process.on('message', (message: unknown) => {
    const m = message as Partial<StopAfterMessage> | null;
    if (m?.type === 'stop-after' && Array.isArray(m.pids)) after = m.pids.filter((pid) => Number.isInteger(pid));
  });
  let going = false;
  const gone = async () => {
    if (going || lifecycle.shuttingDown) return;
    going = true;
    logger.warn({ waitingFor: after.filter(alive) }, 'the supervisor is gone: shutting down once the parts started after this one have exited');
    const deadline = Date.now() + waitMs;
    while (after.some(alive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    const result = await lifecycle.shutdown('supervisor gone');
    exit(result.exitCode);
  };
  process.on('disconnect', () => void gone());
  if (!process.connected) void gone();
}

/** Whether process `pid` still runs (a zombie waiting to be reaped does not). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && existsSync('/proc/self/stat')) return false;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Without REDIS_URL, a supervised child's events travel through the supervisor to the other children. */
class SupervisorEventBus implements EventBus {
  readonly kind = 'local' as const;
  private readonly local = new LocalEventBus();
  private readonly onMessage = (message: unknown) => {
    const m = message as Partial<EventsMessage> | null;
    if (m?.type === 'events' && Array.isArray(m.events)) void this.local.publish(m.events);
  };

  constructor() {
    process.on('message', this.onMessage);
  }

  async publish(events: BusEvent[]): Promise<void> {
    if (!events.length) return;
    await this.local.publish(events);
    if (!process.connected) return;
    const message: EventsMessage = { type: 'events', events: events.map((e) => ({ seq: e.seq, type: e.type })) };
    process.send!(message);
  }

  subscribe(listener: BusListener): () => void {
    return this.local.subscribe(listener);
  }

  async close(): Promise<void> {
    process.off('message', this.onMessage);
    await this.local.close();
  }
}

/**
 * In a process that writes events (oa, archive) with a bus to other processes (REDIS_URL, or supervised): rings
 * STORED after each commit that appended events, so the sync process reads them at once rather than at its next
 * poll. Returns what stops it, or null where no other process would hear.
 */
export function ringSyncWhenStored(redisUrl: string | undefined, logger: Logger, appends: EventEmitter): { close(): Promise<void> } | null {
  if (!redisUrl && !supervisedChild()) return null;
  const bus = supervisedEventBus(redisUrl, logger);
  const stop = ringWhenStored(bus, appends);
  return {
    close: async () => {
      stop();
      await bus.close();
    },
  };
}

/** The event bus of a part: Redis with REDIS_URL, the supervisor's relay when supervised, in-process otherwise. */
export function supervisedEventBus(redisUrl: string | undefined, logger: Logger): EventBus {
  return redisUrl || !supervisedChild() ? createEventBus(redisUrl, logger) : new SupervisorEventBus();
}

// ---------------------------------------------------------------------------------------------------------------
// Supervisor side

interface Part {
  name: PartName;
  label: string;
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  ready: Promise<ReadyReport>;
}

/** The runtime flags of this process that children share (the loader), without debugger flags (their port). */
function sharedExecArgv(): string[] {
  return process.execArgv.filter((arg) => !/^--inspect/.test(arg) && !/^--debug/.test(arg));
}

function spawnPart(name: PartName, label: string, script: string, env: NodeJS.ProcessEnv, extraArgv: string[], onEvents: (from: Part, message: EventsMessage) => void): Part {
  const child = spawn(process.execPath, [...extraArgv, ...sharedExecArgv(), `${SCRIPTS}${script}`], {
    env: { ...env, [SUPERVISED_ENV]: '1' },
    // Log lines go straight to this process's stdout and stderr: each part writes whole JSON lines.
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let part: Part;
  const ready = new Promise<ReadyReport>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${label} was not ready within ${PART_START_TIMEOUT_MS / 1000} s`)), PART_START_TIMEOUT_MS);
    child.on('message', (message: unknown) => {
      const m = message as { type?: string } | null;
      if (m?.type === 'ready') {
        clearTimeout(timer);
        const { type: _type, ...report } = m as ReadyMessage;
        resolve(report);
      } else if (m?.type === 'events') onEvents(part, m as EventsMessage);
    });
    // Spawning failed, or a message could not be sent (the child is exiting: its exit is handled on its own).
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${label} could not be started: ${err.message}`));
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${label} exited (${signal ?? `code ${code}`}) before it was ready`));
    });
  });
  ready.catch(() => undefined); // observed by whoever awaits it; never an unhandled rejection
  part = { name, label, child, exited, ready };
  return part;
}

/** SIGTERM, then up to `timeoutMs` for the part to exit; SIGKILL after. Throws unless it exited with code 0. */
async function stopPart(part: Part, timeoutMs: number, logger: Logger): Promise<void> {
  const { child } = part;
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([part.exited, new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)))]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    logger.error({ part: part.name, pid: child.pid, timeoutMs }, `${part.label} did not stop within SHUTDOWN_TIMEOUT_MS: killed`);
    child.kill('SIGKILL');
    await part.exited;
    throw new Error(`${part.label} did not stop in time`);
  }
  if (outcome.code !== 0) throw new Error(`${part.label} exited with ${outcome.signal ?? `code ${outcome.code}`}`);
  logger.info({ part: part.name, pid: child.pid }, `${part.label} stopped`);
}

/** Total shutdown budget of the supervisor: each of the five parts gets SHUTDOWN_TIMEOUT_MS. */
export function supervisorShutdownBudget(config: Pick<Config, 'shutdownTimeoutMs'>): number {
  return config.shutdownTimeoutMs * 5 + 1000;
}

/**
 * Starts every part in order and logs `listening` once all are ready. Failures reject (the caller stops what was
 * started); a part that exits on its own later stops the others and ends this process with exit code 1.
 */
export async function supervise({ config, logger, lifecycle }: { config: Config; logger: Logger; lifecycle: ShutdownRegistry }): Promise<void> {
  const parts: Part[] = [];
  const relay = (from: Part, message: EventsMessage) => {
    for (const part of parts) if (part !== from && part.child.connected) part.child.send(message);
  };
  const base: NodeJS.ProcessEnv = { ...process.env };
  // Only the gateway listens on METRICS_PORT (the sync subgraph's metrics stay on its own /metrics).
  delete base.METRICS_PORT;

  const launch = (name: PartName, label: string, script: string, env: NodeJS.ProcessEnv, extraArgv: string[] = []): Part => {
    const part = spawnPart(name, label, script, env, extraArgv, relay);
    parts.push(part);
    // Registered at once: a failure or Ctrl-C during start-up still stops it.
    lifecycle.registerShutdown(name, () => stopPart(part, config.shutdownTimeoutMs, logger));
    void part.exited.then(({ code, signal }) => {
      if (lifecycle.shuttingDown) return;
      logger.error({ part: name, pid: part.child.pid, code, signal }, `${label} exited unexpectedly: stopping the others`);
      void lifecycle.shutdown(`${name} exited`).then(() => process.exit(1));
    });
    return part;
  };
  /** Gives the part its turn and waits until it is ready. */
  const run = async (part: Part, env: Record<string, string | undefined>): Promise<ReadyReport> => {
    const message: StartMessage = { type: 'start', env: Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined)) };
    if (part.child.connected) part.child.send(message);
    const report = await part.ready;
    logger.debug({ part: part.name, pid: part.child.pid, port: report.port }, `${part.label} ready`);
    return report;
  };

  // Refused in production without EMBEDDED_DATABASE_IN_PRODUCTION=true, before any process starts.
  const embedded = config.mongodbUri === undefined;
  if (embedded) checkEmbeddedDatabase(config);
  // Spawned together (their code loads in parallel), started one after the other.
  const databasePart = embedded ? launch('database', 'the database', 'start-database.ts', base, ENGINE_V8_FLAGS) : undefined;
  const oaPart = launch('oa', 'the oa subgraph', 'start-oa.ts', base);
  const archivePart = launch('archive', 'the archive subgraph', 'start-archive.ts', base);
  const syncPart = launch('sync', 'the sync subgraph', 'start-sync.ts', base);
  // The gateway needs no database: it is not handed the connection string.
  const gatewayEnv: NodeJS.ProcessEnv = { ...process.env };
  delete gatewayEnv.MONGODB_URI;
  const gatewayPart = launch('gateway', 'the gateway', 'start-gateway.ts', gatewayEnv);

  const database = databasePart ? await run(databasePart, {}) : undefined;
  const databaseUri = database ? database.uri : config.mongodbUri;
  if (!databaseUri) throw new Error('the database process reported no connection string');
  const oa = await run(oaPart, { PORT: String(config.oaPort), MONGODB_URI: databaseUri });
  const archive = await run(archivePart, { PORT: String(config.archivePort), MONGODB_URI: databaseUri });
  // The gateway starts after sync, on a port known now: sync reaches it for webhooks' selections.
  const sync = await run(syncPart, { PORT: String(config.syncPort), MONGODB_URI: databaseUri, OA_URL: oa.url, ARCHIVE_URL: archive.url, GATEWAY_URL: config.gatewayUrl ?? `http://127.0.0.1:${config.port}/graphql` });
  const gateway = await run(gatewayPart, { PORT: String(config.port), OA_URL: oa.url, ARCHIVE_URL: archive.url, SYNC_URL: sync.url });

  // If this process dies without stopping them, each part waits for those started after it (see the top of this file).
  parts.forEach((part, i) => {
    const message: StopAfterMessage = { type: 'stop-after', pids: parts.slice(i + 1).map((p) => p.child.pid!) };
    if (part.child.connected) part.child.send(message);
  });
  const port = gateway.port;
  logger.info(
    {
      port,
      ...entryUrls(port, config.nodeEnv === 'production'),
      database: database ? 'embedded' : 'mongodb',
      databaseUri: database ? database.safeUri : redactUri(databaseUri),
      oa: oa.url,
      archive: archive.url,
      sync: sync.url,
      subgraphAddresses: { oa: oa.address, archive: archive.address, sync: sync.address },
      events: config.redisUrl ? 'redis' : 'local',
      processes: Object.fromEntries(parts.map((p) => [p.name, p.child.pid])),
      ...(database ? { dataDir: database.dataDir } : {}),
    },
    'listening',
  );
}

// The command line of `npm run db` (entry: engine/cli.ts): arguments, the engine, the ready line, signals.
// Clients authenticate as the engine's user; the ready line says where its password is, never the password.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { LogLevel } from '../platform/config.ts';
import { createLogger, logProcessWarnings } from '../platform/logger.ts';
import { CREDENTIALS_FILE, readyLine, writePrivateFile } from './credentials.ts';
import { startEngine } from './server.ts';

const usage = `usage: npm run db -- [--port 27017] [--dbpath ./data/db | --memory] [--host 127.0.0.1]

  --port     TCP port to listen on (default 27017; 0 picks a free port)
  --dbpath   data directory (default ./data/db); every acknowledged write survives a crash; the first start
             creates the user oa-archive with a random password in DIR/credentials.json (mode 0600)
  --memory   keep data in memory only; new credentials every start, in a temporary credentials.json
             (mode 0600) that is removed on exit
  --host     address to bind (default 127.0.0.1; clients must authenticate on any address)
  --cache-mb page cache in MiB (default ENGINE_CACHE_MB or 256): the working set kept in memory; the data
             itself may be far larger
  --fsync    when commits reach the disk (default ENGINE_FSYNC or interval): interval = in the operating
             system before the answer, on disk within a second; commit = on disk before the answer
  --slow-ms  commands that take longer are logged as "slow command" with their shape, never their values
             (default ENGINE_SLOW_MS or 100)`;

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${usage}\n`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      port: { type: 'string', default: '27017' },
      dbpath: { type: 'string' },
      memory: { type: 'boolean', default: false },
      host: { type: 'string', default: '127.0.0.1' },
      'cache-mb': { type: 'string', default: process.env.ENGINE_CACHE_MB || '256' },
      fsync: { type: 'string', default: process.env.ENGINE_FSYNC || 'interval' },
      'slow-ms': { type: 'string', default: process.env.ENGINE_SLOW_MS || '100' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }));
} catch (err) {
  fail((err as Error).message);
}
if (values.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port: expected an integer 0..65535, got "${values.port}"`);
if (values.memory && values.dbpath) fail('--memory and --dbpath exclude each other');
const dbPath = values.memory ? null : path.resolve(values.dbpath ?? './data/db');
const cacheMb = Number(values['cache-mb']);
if (!Number.isInteger(cacheMb) || cacheMb < 8) fail(`--cache-mb: expected an integer of at least 8, got "${values['cache-mb']}"`);
const fsync = values.fsync;
if (fsync !== 'interval' && fsync !== 'commit') fail(`--fsync: expected interval or commit, got "${fsync}"`);
const slowMs = Number(values['slow-ms']);
if (!Number.isInteger(slowMs) || slowMs < 1) fail(`--slow-ms: expected a positive integer, got "${values['slow-ms']}"`);

// The same pino JSON lines as every other process of the project (platform/logger.ts), at LOG_LEVEL (default info).
const LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const level = LEVELS.find((l) => l === process.env.LOG_LEVEL) ?? 'info';
const logger = createLogger({ level });
logProcessWarnings(logger);

try {
  const engine = await startEngine({ host: values.host, port, dbPath, logger, cacheMb, fsync: fsync as 'interval' | 'commit', slowMs });
  // A memory-only engine's credentials exist only in this process: they go to a file of a new private
  // temporary directory (0700, the file 0600) for clients to read, removed when the engine stops.
  let credentialsPath = engine.credentialsPath;
  let temporaryDir: string | undefined;
  if (credentialsPath === null) {
    temporaryDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oa-engine-'));
    credentialsPath = path.join(temporaryDir, CREDENTIALS_FILE);
    writePrivateFile(credentialsPath, `${JSON.stringify(engine.credentials, null, 2)}\n`);
    const dir = temporaryDir;
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  let stopping = false;
  const stop = async () => {
    if (stopping) process.exit(1);
    stopping = true;
    await engine.close();
    process.exit(0);
  };
  // Before the ready line: a supervisor may signal as soon as it reads it, and the process may be descheduled right
  // after the write (a SIGTERM then found no handler and killed the engine without its clean stop).
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // A log line like the others; its message is the ready line programs look for (engine/credentials.ts parseReadyLine).
  logger.info({ uri: engine.safeUri, dbPath, credentialsFile: credentialsPath }, readyLine({ safeUri: engine.safeUri, dbPath, credentialsPath, temporary: temporaryDir !== undefined }));
} catch (err) {
  fail(`cannot start the engine: ${(err as Error).message}`);
}

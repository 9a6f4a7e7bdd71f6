// Handshake and server information: hello, buildInfo, serverStatus, listDatabases.
import os from 'node:os';
import { type CommandContext, docArg } from './command-context.ts';
import { compileFilter } from './query.ts';
import type { Doc } from './values.ts';

export const VERSION = '7.0.14';
export const MAX_WIRE_VERSION = 21;

export function hello(ctx: CommandContext): Doc {
  const me = `${ctx.server.host}:${ctx.server.port}`;
  const now = new Date();
  return {
    helloOk: true,
    ismaster: true,
    isWritablePrimary: true,
    maxBsonObjectSize: 16 * 1024 * 1024,
    maxMessageSizeBytes: 48_000_000,
    maxWriteBatchSize: 100_000,
    localTime: now,
    logicalSessionTimeoutMinutes: 30,
    connectionId: ctx.connectionId,
    minWireVersion: 0,
    maxWireVersion: MAX_WIRE_VERSION,
    readOnly: false,
    setName: ctx.server.setName,
    setVersion: 1,
    electionId: ctx.server.electionId,
    hosts: [me],
    primary: me,
    me,
    secondary: false,
    lastWrite: { lastWriteDate: now, majorityWriteDate: now },
  };
}

export function buildInfo(): Doc {
  return {
    version: VERSION,
    gitVersion: 'embedded',
    versionArray: VERSION.split('.').map(Number).concat(0),
    modules: [],
    allocator: 'system',
    javascriptEngine: 'none',
    sysInfo: 'deprecated',
    bits: 64,
    debug: false,
    maxBsonObjectSize: 16 * 1024 * 1024,
    storageEngines: ['embedded'],
  };
}

/** serverStatus.mem as MongoDB reports it (MiB), with the JavaScript side of this process besides. */
function memory(): Doc {
  const m = process.memoryUsage();
  const MiB = 1024 * 1024;
  return { bits: 64, resident: Math.round(m.rss / MiB), virtual: 0, supported: true, heapUsed: Math.round(m.heapUsed / MiB), heapTotal: Math.round(m.heapTotal / MiB), external: Math.round(m.external / MiB), arrayBuffers: Math.round(m.arrayBuffers / MiB) };
}

export function serverStatus(ctx: CommandContext): Doc {
  const uptimeMillis = Date.now() - ctx.server.startedAt;
  return {
    host: os.hostname(),
    version: VERSION,
    process: 'oa-archive-embedded-engine',
    pid: process.pid,
    uptime: Math.floor(uptimeMillis / 1000),
    uptimeMillis,
    localTime: new Date(),
    connections: { current: ctx.server.connections.current, available: 10_000, totalCreated: ctx.server.connections.total },
    opcounters: { ...ctx.server.counters },
    storageEngine: { name: 'embedded', backend: 'sqlite', persistent: ctx.server.persistent },
    mem: memory(),
    repl: { setName: ctx.server.setName, isWritablePrimary: true, primary: `${ctx.server.host}:${ctx.server.port}` },
  };
}

export function listDatabases(ctx: CommandContext): Doc {
  const filter = compileFilter(docArg(ctx.body.filter, 'filter'));
  const databases = [...ctx.catalog.dbs.entries()]
    .map(([name, colls]) => {
      let docs = 0;
      for (const c of colls.values()) docs += ctx.access.size(c);
      return { name, sizeOnDisk: docs * 100, empty: docs === 0 };
    })
    .filter((d) => filter.test(d))
    .sort((a, b) => a.name.localeCompare(b.name));
  if (ctx.body.nameOnly) return { databases: databases.map((d) => ({ name: d.name })) };
  const totalSize = databases.reduce((s, d) => s + d.sizeOnDisk, 0);
  return { databases, totalSize, totalSizeMb: Math.floor(totalSize / 1024 / 1024) };
}

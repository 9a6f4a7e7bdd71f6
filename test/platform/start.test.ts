// End to end: `npm start` as a real child process on the embedded engine: a supervisor with one process per part
// (database, oa, archive, sync, gateway).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, DEVELOPMENT_DEFAULTS } from '../../platform/config.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The logged (masked) URI of the embedded database with the password from DATA_DIR/credentials.json put in. */
function withPassword(loggedUri: unknown, dataDir: string): { uri: string; password: string } {
  const { password } = JSON.parse(readFileSync(path.join(dataDir, 'credentials.json'), 'utf8')) as { password: string };
  return { uri: String(loggedUri).replace(':***@', `:${encodeURIComponent(password)}@`), password };
}

interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

interface Started {
  child: ChildProcess;
  lines: LogLine[];
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
  waitFor(predicate: (line: LogLine) => boolean, what: string): Promise<LogLine>;
}

/** Every process the tests start; whatever a failing test left running is killed afterwards. */
const spawned: ChildProcess[] = [];

function start(env: Record<string, string>): Started {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const name of CONFIG_VARIABLES) delete childEnv[name];
  // The subgraphs take free ports too, so test processes never collide on the defaults.
  Object.assign(childEnv, { OA_PORT: '0', ARCHIVE_PORT: '0', SYNC_PORT: '0' }, env);

  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  spawned.push(child);
  const lines: LogLine[] = [];
  let out = '';
  let err = '';
  let pending = '';
  const waiters: { predicate: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  child.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
    pending += chunk.toString('utf8');
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const text = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (!text.trim()) continue;
      const line = JSON.parse(text) as LogLine; // NODE_ENV=test and no TTY: every line is JSON
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.predicate(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

  return {
    child,
    lines,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(predicate, what) {
      const found = lines.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise<LogLine>((resolve, reject) => {
        waiters.push({ predicate, resolve });
        void exited.then((code) => reject(new Error(`process exited (${code}) before ${what}\nstdout:\n${out}\nstderr:\n${err}`)));
      });
    },
  };
}

const PARTS = ['database', 'oa', 'archive', 'sync', 'gateway'] as const;

/** The parent pid of a running process, or null once it has gone (a zombie counts as gone). */
function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' ? null : Number(fields[1]);
  } catch {
    return null;
  }
}

/** Polls until `condition` holds; fails with `what` at the deadline. */
async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The pid of every part, from the supervisor's `listening` line: five processes, children of the supervisor. */
function partPids(listening: LogLine, supervisor: number): Record<(typeof PARTS)[number], number> {
  const pids = listening.processes as Record<(typeof PARTS)[number], number>;
  expect(Object.keys(pids).sort()).toEqual([...PARTS].sort());
  expect(new Set([supervisor, ...Object.values(pids)]).size).toBe(PARTS.length + 1);
  for (const pid of Object.values(pids)) expect(parentOf(pid)).toBe(supervisor);
  return pids;
}

const adminToken = () =>
  new SignJWT({ roles: ['ADMIN'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('admin-e2e').setExpirationTime('5m').sign(new TextEncoder().encode(DEVELOPMENT_DEFAULTS.JWT_SECRET));

async function gatewayGraphql<T>(port: number, query: string, variables?: Record<string, unknown>): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${port}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${await adminToken()}` }, body: JSON.stringify({ query, variables }) });
  const body = (await res.json()) as { data?: T; errors?: unknown[] };
  if (res.status !== 200 || body.errors?.length || !body.data) throw new Error(`GraphQL ${res.status}: ${JSON.stringify(body)}`);
  return body.data;
}

const DEPARTMENTS = '{ departments { code name } }';

describe('npm start (embedded database)', () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'oa-start-'));
  });
  afterAll(async () => {
    for (const child of spawned) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });

  // Five processes start per run: allow for a busy machine.
  it('serves health routes, stops on SIGINT with exit code 0, and keeps its data across restarts', { timeout: 120_000 }, async () => {
    const dataPath = path.join(dataDir, 'nested', 'data'); // does not exist yet: start-up creates it
    const env = { NODE_ENV: 'test', PORT: '0', DATA_DIR: dataPath, LOG_LEVEL: 'info' };

    // ---- first run ----
    const first = start(env);
    const listening = await first.waitFor((l) => l.msg === 'listening', 'the listening log line');
    const port = listening.port as number;
    expect(port).toBeGreaterThan(0);
    expect(listening).toMatchObject({ database: 'embedded', dataDir: dataPath, wsUrl: `ws://localhost:${port}/graphql` });
    // Where to go next: the API, the IDE (development), the console and the event stream.
    expect(listening).toMatchObject({ api: `http://localhost:${port}/graphql`, ide: `http://localhost:${port}/graphiql`, console: `http://localhost:${port}/console`, stream: `http://localhost:${port}/graphql/stream` });
    // One process per part, each a child of the supervisor (the process `npm start` runs).
    const pids = partPids(listening, first.child.pid!);
    expect(listening.pid).toBe(first.child.pid);
    // Each part logs with its own pid: the subgraphs' lines come from their processes.
    expect(first.lines.find((l) => l.msg === 'oa subgraph listening')?.pid).toBe(pids.oa);
    expect(first.lines.find((l) => l.msg.startsWith('embedded database at '))?.pid).toBe(pids.database);
    // The oa subgraph refuses callers without the gateway's signature.
    expect(String(listening.oa)).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/graphql$/);
    // The subgraphs listen on loopback only (SUBGRAPH_HOST's default): not on the machine's other addresses.
    expect(listening.subgraphAddresses).toEqual({ oa: '127.0.0.1', archive: '127.0.0.1', sync: '127.0.0.1' });
    const external = Object.values(networkInterfaces()).flat().find((a) => a?.family === 'IPv4' && !a.internal)?.address;
    if (external) {
      for (const url of [listening.oa, listening.archive, listening.sync]) {
        await expect(fetch(String(url).replace('127.0.0.1', external), { method: 'POST', body: '{}' })).rejects.toThrow();
      }
    }
    const unsigned = await fetch(String(listening.oa), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ departments { id } }"}' });
    expect(unsigned.status).toBe(401);
    const archiveUnsigned = await fetch(String(listening.archive), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ verifyArchiveChain { ok } }"}' });
    expect(archiveUnsigned.status).toBe(401);
    // The gateway on PORT: no token, 401; a development token (JWT_SECRET's development default), the federated graph.
    const graphqlUrl = `http://127.0.0.1:${port}/graphql`;
    const anonymous = await fetch(graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ departments { id } }"}' });
    expect(anonymous.status).toBe(401);
    // Every JSON error names the request's trace (platform/tracing.ts), for the user to quote to an operator.
    const TRACE_ID = expect.stringMatching(/^[0-9a-f]{32}$/);
    expect(await anonymous.json()).toEqual({ errors: [{ message: 'Unauthenticated: a Bearer token or an API key is required', extensions: { code: 'UNAUTHENTICATED', traceId: TRACE_ID } }] });
    const token = await new SignJWT({ roles: ['AUDITOR'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('auditor-e2e').setExpirationTime('5m').sign(new TextEncoder().encode(DEVELOPMENT_DEFAULTS.JWT_SECRET));
    const federated = await fetch(graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: '{"query":"{ departments { id } verifyArchiveChain { ok checked } }"}' });
    expect(federated.status).toBe(200);
    expect(await federated.json()).toEqual({ data: { departments: [], verifyArchiveChain: { ok: true, checked: 0 } } });
    // GraphiQL in development, from the npm packages.
    const ide = await fetch(`http://127.0.0.1:${port}/graphiql`);
    expect(ide.status).toBe(200);
    expect(ide.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await ide.text()).toContain('<script src="/graphiql/graphiql.js"></script>');
    const ideScript = await fetch(`http://127.0.0.1:${port}/graphiql/graphiql.js`);
    expect(ideScript.headers.get('content-type')).toBe('text/javascript');
    expect(await ideScript.text()).toContain('createFetcher');
    // /metrics counts it, in Prometheus text, with the subgraph calls it made.
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/^gateway_requests_total\{operation="anonymous",code="OK"\} 1$/m);
    expect(metrics).toMatch(/^gateway_subgraph_request_duration_seconds_count\{subgraph="oa",status="200"\} [1-9]/m);
    expect(metrics).toMatch(/^gateway_subgraph_request_duration_seconds_count\{subgraph="archive",status="200"\} [1-9]/m);
    expect(metrics).toMatch(/^gateway_request_duration_seconds_bucket\{le="\+Inf",operation="anonymous"\} 1$/m);

    const embedded = first.lines.find((l) => l.msg.startsWith('embedded database at '));
    const quotedPath = dataPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    expect(embedded?.msg).toMatch(
      new RegExp(`^embedded database at mongodb://oa-archive:\\*\\*\\*@127\\.0\\.0\\.1:\\d+/\\?authSource=admin, data in ${quotedPath}, credentials in ${quotedPath}/credentials\\.json$`),
    );
    expect(embedded?.dataDir).toBe(dataPath);
    expect(embedded?.uri).toMatch(/^mongodb:\/\/oa-archive:\*\*\*@127\.0\.0\.1:\d+\/oa_archive\?authSource=admin$/);

    const warned = first.lines.filter((l) => l.level === 40 && typeof l.variable === 'string').map((l) => l.variable);
    expect(warned).toEqual(['INTERNAL_SECRET', 'JWT_SECRET']);

    const healthz = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(healthz.status).toBe(200);
    expect(await healthz.json()).toEqual({ status: 'ok' });
    const readyz = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(readyz.status).toBe(200);
    expect(await readyz.json()).toEqual({ status: 'ok', checks: { oa: 'ok', archive: 'ok', sync: 'ok' } });
    const other = await fetch(`http://127.0.0.1:${port}/nope`);
    expect(other.status).toBe(404);
    expect(await other.json()).toEqual({ errors: [{ message: 'Not found: GET /nope', extensions: { code: 'NOT_FOUND', traceId: TRACE_ID } }] });

    // Write through the database the process started, as any MongoDB client would: with the credentials from
    // DATA_DIR/credentials.json (without them, nothing).
    const { uri: firstUri, password } = withPassword(embedded?.uri, dataPath);
    const anonymousClient = await MongoClient.connect(String(embedded?.uri).replace('oa-archive:***@', ''));
    try {
      await expect(anonymousClient.db('oa_archive').collection('start_e2e').findOne({})).rejects.toMatchObject({ code: 13 });
    } finally {
      await anonymousClient.close();
    }
    const client = await MongoClient.connect(firstUri);
    try {
      await client.db('oa_archive').collection('start_e2e').insertOne({ _id: 'marker' as never, value: 42 });
    } finally {
      await client.close();
    }

    // A write through the gateway: the oa process writes it to the database process.
    await gatewayGraphql(port, 'mutation($input: CreateDepartmentInput!) { createDepartment(input: $input) { id } }', { input: { code: 'E2E', name: 'Written before Ctrl-C' } });

    // Ctrl-C: the supervisor stops the parts one by one, the gateway first and the database last, and exits 0.
    first.child.kill('SIGINT');
    expect(await first.exited).toBe(0);
    const supervisorLines = first.lines.filter((l) => l.pid === first.child.pid);
    expect(supervisorLines.map((l) => l.msg)).toEqual(expect.arrayContaining(['shutting down', 'shutdown complete']));
    const steps = supervisorLines.filter((l) => l.msg === 'shutdown step finished').map((l) => l.hook);
    expect(steps).toEqual(['gateway', 'sync', 'archive', 'oa', 'database']);
    // Every part shut down cleanly (its own hooks, then `shutdown complete`), one after the other in that order.
    const completedAt = PARTS.map((part) => first.lines.find((l) => l.pid === pids[part] && l.msg === 'shutdown complete')?.time as number);
    expect(completedAt.every((t) => typeof t === 'number')).toBe(true);
    expect([...completedAt].reverse()).toEqual([...completedAt].sort((a, b) => a - b));
    expect(first.lines.filter((l) => l.pid === pids.database).map((l) => l.msg)).toContain('embedded engine stopped');
    expect(first.lines.filter((l) => l.level >= 50)).toEqual([]);
    for (const pid of Object.values(pids)) expect(parentOf(pid)).toBeNull();
    expect(first.stderr()).toBe('');
    // The development secrets are named, never printed; nor is the database password.
    expect(first.stdout()).not.toContain(DEVELOPMENT_DEFAULTS.INTERNAL_SECRET);
    expect(first.stdout()).not.toContain(DEVELOPMENT_DEFAULTS.JWT_SECRET);
    expect(first.stdout()).not.toContain(password);
    expect(((await stat(path.join(dataPath, 'credentials.json'))).mode & 0o777)).toBe(0o600);

    // ---- second run on the same directory: the document survived ----
    const second = start(env);
    await second.waitFor((l) => l.msg === 'listening', 'the listening log line (second run)');
    const uri = second.lines.find((l) => l.msg.startsWith('embedded database at '))?.uri;
    const again = await MongoClient.connect(withPassword(uri, dataPath).uri); // the same password as the first run
    try {
      expect(await again.db('oa_archive').collection('start_e2e').findOne({ _id: 'marker' as never })).toEqual({ _id: 'marker', value: 42 });
    } finally {
      await again.close();
    }
    const listening2 = second.lines.find((l) => l.msg === 'listening')!;
    expect(await gatewayGraphql(listening2.port as number, DEPARTMENTS)).toEqual({ departments: [{ code: 'E2E', name: 'Written before Ctrl-C' }] });
    second.child.kill('SIGINT');
    expect(await second.exited).toBe(0);
    expect(second.stdout()).not.toContain(password);
  });

  it('takes its parts along when the supervisor is killed with SIGKILL, and starts again on the same DATA_DIR', { timeout: 120_000 }, async () => {
    const dataPath = path.join(dataDir, 'killed');
    const env = { NODE_ENV: 'test', PORT: '0', DATA_DIR: dataPath, LOG_LEVEL: 'info' };
    const first = start(env);
    const listening = await first.waitFor((l) => l.msg === 'listening', 'the listening log line');
    const pids = partPids(listening, first.child.pid!);
    await gatewayGraphql(listening.port as number, 'mutation($input: CreateDepartmentInput!) { createDepartment(input: $input) { id } }', { input: { code: 'KILL', name: 'Written before SIGKILL' } });

    first.child.kill('SIGKILL');
    await first.exited;
    // No part outlives the supervisor: each notices it is gone and stops (none holds the data directory's lock after).
    await until(() => Object.values(pids).every((pid) => parentOf(pid) === null), `the parts ${JSON.stringify(pids)} to exit`);
    for (const part of PARTS) expect(first.lines.some((l) => l.pid === pids[part] && l.msg === 'shutdown complete')).toBe(true);

    const second = start(env);
    const again = await second.waitFor((l) => l.msg === 'listening', 'the listening log line after the SIGKILL');
    expect(await gatewayGraphql(again.port as number, DEPARTMENTS)).toEqual({ departments: [{ code: 'KILL', name: 'Written before SIGKILL' }] });
    second.child.kill('SIGINT');
    expect(await second.exited).toBe(0);
    expect(existsSync(path.join(dataPath, 'credentials.json'))).toBe(true);
  });

  it('stops every other part and exits 1 when a part dies on its own', { timeout: 120_000 }, async () => {
    const run = start({ NODE_ENV: 'test', PORT: '0', DATA_DIR: path.join(dataDir, 'part-dies'), LOG_LEVEL: 'info' });
    const listening = await run.waitFor((l) => l.msg === 'listening', 'the listening log line');
    const pids = partPids(listening, run.child.pid!);
    process.kill(pids.archive, 'SIGKILL');
    expect(await run.exited).toBe(1);
    expect(run.lines.find((l) => l.msg === 'the archive subgraph exited unexpectedly: stopping the others')).toMatchObject({ part: 'archive', signal: 'SIGKILL' });
    // The others were stopped in order, cleanly, and none is left.
    const steps = run.lines.filter((l) => l.pid === run.child.pid && l.msg.startsWith('shutdown step ')).map((l) => `${l.hook as string} ${l.msg.slice('shutdown step '.length)}`);
    expect(steps).toEqual(['gateway finished', 'sync finished', 'archive failed', 'oa finished', 'database finished']);
    for (const part of ['gateway', 'sync', 'oa', 'database'] as const) expect(run.lines.some((l) => l.pid === pids[part] && l.msg === 'shutdown complete')).toBe(true);
    for (const pid of Object.values(pids)) expect(parentOf(pid)).toBeNull();
  });

  it('fails start-up with a clear message and stops the parts already started when one cannot start', { timeout: 120_000 }, async () => {
    // The gateway's port is taken: the database and the subgraphs start, the gateway fails.
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, resolve));
    const taken = (blocker.address() as AddressInfo).port;
    try {
      const run = start({ NODE_ENV: 'test', PORT: String(taken), DATA_DIR: path.join(dataDir, 'port-taken'), LOG_LEVEL: 'info' });
      expect(await run.exited).toBe(1);
      const failed = run.lines.find((l) => l.pid === run.child.pid && l.msg === 'start-up failed');
      expect(failed?.reason).toMatch(/^the gateway exited \(code 1\) before it was ready$/);
      expect(run.lines.some((l) => l.msg === 'listening')).toBe(false);
      const started = run.lines.filter((l) => l.msg === 'oa subgraph listening' || l.msg.startsWith('embedded database at ')).map((l) => l.pid as number);
      expect(started).toHaveLength(2);
      for (const pid of started) {
        expect(run.lines.some((l) => l.pid === pid && l.msg === 'shutdown complete')).toBe(true);
        expect(parentOf(pid)).toBeNull();
      }
    } finally {
      blocker.close();
    }
  });

  it('exits 1 with a readable message and no stack trace on bad configuration', async () => {
    const run = start({ NODE_ENV: 'test', PORT: 'abc', SHUTDOWN_TIMEOUT_MS: 'soon', DATA_DIR: dataDir });
    expect(await run.exited).toBe(1);
    expect(run.stderr()).toContain('PORT: expected an integer 0..65535, got "abc"');
    expect(run.stderr()).toContain('SHUTDOWN_TIMEOUT_MS: expected an integer 1..600000, got "soon"');
    expect(run.stderr()).not.toMatch(/\n\s+at /);
    expect(run.stdout()).toBe('');
  });

  it('refuses to start in production without secrets', async () => {
    const run = start({ NODE_ENV: 'production', PORT: '0', DATA_DIR: dataDir });
    expect(await run.exited).toBe(1);
    expect(run.stderr()).toContain('INTERNAL_SECRET: required in production');
    expect(run.stderr()).toContain('JWT_SECRET: required in production unless JWT_JWKS_URL is set');
  });

  it('refuses the embedded database in production unless EMBEDDED_DATABASE_IN_PRODUCTION=true', async () => {
    const prodDir = path.join(dataDir, 'prod-refused');
    const run = start({ NODE_ENV: 'production', PORT: '0', DATA_DIR: prodDir, INTERNAL_SECRET: 'production-internal-secret-for-the-start-test-0123', JWT_SECRET: 'production-jwt-secret-for-the-start-test-0123456789' });
    expect(await run.exited).toBe(1);
    expect(run.stderr()).toContain('MONGODB_URI: required in production: point it at a MongoDB replica set');
    expect(run.stderr()).toContain('set EMBEDDED_DATABASE_IN_PRODUCTION=true');
    expect(run.stderr()).not.toMatch(/\n\s+at /);
    await expect(stat(prodDir)).rejects.toThrow(); // refused before the engine started
  });

  it('in production serves neither the IDE nor introspection', { timeout: 120_000 }, async () => {
    const jwtSecret = 'production-jwt-secret-for-the-start-test-0123456789';
    const run = start({ NODE_ENV: 'production', PORT: '0', DATA_DIR: path.join(dataDir, 'prod'), LOG_LEVEL: 'info', INTERNAL_SECRET: 'production-internal-secret-for-the-start-test-0123', JWT_SECRET: jwtSecret, EMBEDDED_DATABASE_IN_PRODUCTION: 'true', ARCHIVE_SEAL_KEY: 'production-seal-key-for-the-start-test-0123456789' });
    const listening = await run.waitFor((l) => l.msg === 'listening', 'the listening log line');
    // Running production on the embedded database is allowed when asked for, with a warning naming what it gives up.
    const warning = run.lines.find((l) => l.variable === 'EMBEDDED_DATABASE_IN_PRODUCTION');
    expect(warning?.level).toBe(40);
    expect(warning?.msg).toContain('no replication, no automatic failover, and no backups');
    const base = `http://127.0.0.1:${listening.port as number}`;
    expect((await fetch(`${base}/graphiql`)).status).toBe(404);
    expect(listening.ide).toBeUndefined();
    // A browser's GET /graphql is not sent to an IDE that is not there.
    expect((await fetch(`${base}/graphql`, { headers: { accept: 'text/html' }, redirect: 'manual' })).status).not.toBe(302);
    const token = await new SignJWT({ roles: ['ADMIN'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('admin-prod').setExpirationTime('5m').sign(new TextEncoder().encode(jwtSecret));
    const introspection = await fetch(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: '{"query":"{ __schema { queryType { name } } }"}' });
    const body = (await introspection.json()) as { errors?: Array<{ message: string }> };
    expect(body.errors?.[0]?.message).toMatch(/introspection/i);
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(0);
  });
});

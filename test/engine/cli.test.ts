// `npm run db -- --port P --dbpath DIR` runs the engine alone so MongoDB tools can connect.
import { mkdtemp, rm } from 'node:fs/promises';
import fs from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import { afterAll, describe, expect, it } from 'vitest';
import { isEmbedded } from '../helpers/mongo.ts';
import { freePort } from '../helpers/ports.ts';
import { exitWithin, killAllChildren, killProcess, logLines, spawnEngine } from './child.ts';

const dirs: string[] = [];
const clients: MongoClient[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'engine-cli-'));
  dirs.push(dir);
  return dir;
}

async function connect(uri: string): Promise<MongoClient> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5000 });
  clients.push(client);
  await client.connect();
  return client;
}

/** Runs the CLI expecting it to exit before it is ready; returns the error text (exit code and output). */
async function failedStart(args: string[]): Promise<string> {
  return spawnEngine(args, { timeoutMs: 30_000 }).then(
    async (child) => {
      killProcess(child.proc, 'SIGKILL');
      throw new Error(`expected the CLI to refuse ${args.join(' ')}, but it started`);
    },
    (e: Error) => e.message,
  );
}

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {});
  killAllChildren();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe.runIf(isEmbedded)('npm run db (embedded engine only)', () => {
  it(
    'starts on the given port and data directory, serves a driver, and exits with code 0 on SIGINT',
    async () => {
      const dir = await tempDir();
      const port = await freePort();
      const child = await spawnEngine(['--port', String(port), '--dbpath', dir], { viaNpm: true, timeoutMs: 60_000 });
      expect(child.port).toBe(port);
      // How to connect, without the password: the user, the address, and where the password is.
      const credentialsPath = path.join(dir, 'credentials.json');
      expect(child.output()).toContain(
        `embedded engine ready: mongodb://oa-archive:***@127.0.0.1:${port}/?authSource=admin  (data: ${dir}; credentials in ${credentialsPath}, mode 0600); Ctrl-C stops`,
      );
      expect(child.credentialsPath).toBe(credentialsPath);
      expect(child.uri).toBe(`mongodb://oa-archive:${encodeURIComponent(child.credentials.password)}@127.0.0.1:${port}/?authSource=admin`);

      const client = await connect(child.uriFor('cli'));
      await client.db().collection('notes').insertOne({ _id: 'hello', text: 'from the CLI test' } as never);
      expect(await client.db().collection('notes').findOne({})).toEqual({ _id: 'hello', text: 'from the CLI test' });
      const hello = await client.db('admin').command({ hello: 1 });
      expect(hello.me).toBe(`127.0.0.1:${port}`);
      await client.close();

      // SIGINT to the engine process (its pid from serverStatus, as a supervisor would send it): npm run ends with 0.
      const client2 = await connect(child.uri);
      const { pid } = await client2.db('admin').command({ serverStatus: 1 });
      await client2.close();
      expect(pid).not.toBe(child.proc.pid); // npm runs tsx, which runs node
      process.kill(pid, 'SIGINT');
      const { code, signal } = await exitWithin(child, 20_000);
      expect({ code, signal }).toEqual({ code: 0, signal: null });
      // A clean stop folds the write-ahead log into the database file and leaves no pid behind.
      expect(fs.statSync(path.join(dir, 'engine.sqlite')).size).toBeGreaterThan(0);
      expect(fs.existsSync(path.join(dir, 'engine.sqlite-wal')) ? fs.statSync(path.join(dir, 'engine.sqlite-wal')).size : 0).toBe(0);
      expect(fs.existsSync(path.join(dir, 'engine.pid'))).toBe(false);
      const stopped = logLines(child.output()).find((l) => l.msg === 'embedded engine stopped');
      expect(stopped).toMatchObject({ level: 30, dbPath: dir }); // pino's info, as in every process
      expect(child.output()).not.toContain(child.credentials.password);

      // The data written through the CLI is there on the next start, behind the same credentials.
      const next = await spawnEngine(['--port', '0', '--dbpath', dir]);
      expect(next.credentials).toEqual(child.credentials);
      const again = await connect(next.uri);
      expect(await again.db('cli').collection('notes').findOne({ _id: 'hello' as never })).toEqual({ _id: 'hello', text: 'from the CLI test' });
      await again.close();
      next.proc.kill('SIGTERM');
      expect((await exitWithin(next, 20_000)).code).toBe(0);
    },
    120_000,
  );

  it(
    'stops cleanly on Ctrl-C (SIGINT to the whole process group of npm, tsx and node)',
    async () => {
      const dir = await tempDir();
      const child = await spawnEngine(['--port', '0', '--dbpath', dir], { viaNpm: true, timeoutMs: 60_000 });
      const client = await connect(child.uri);
      await client.db('cli').collection('ctrlc').insertOne({ kept: true });
      const { pid } = await client.db('admin').command({ serverStatus: 1 });
      await client.close();
      killProcess(child.proc, 'SIGINT');
      await exitWithin(child, 20_000); // npm itself reports the interrupt as its own exit status
      const stopped = logLines(child.output()).find((l) => l.msg === 'embedded engine stopped');
      expect(stopped).toMatchObject({ level: 30, dbPath: dir }); // pino's info, as in every process
      expect(fs.existsSync(path.join(dir, 'engine.lock'))).toBe(false);
      // The engine process itself is gone.
      const deadline = Date.now() + 5000;
      let alive = true;
      while (alive && Date.now() < deadline) {
        try {
          process.kill(pid, 0);
          await new Promise((r) => setTimeout(r, 50));
        } catch {
          alive = false;
        }
      }
      expect(alive).toBe(false);
      const next = await spawnEngine(['--port', '0', '--dbpath', dir]);
      const again = await connect(next.uri);
      expect(await again.db('cli').collection('ctrlc').countDocuments({ kept: true })).toBe(1);
      await again.close();
      next.proc.kill('SIGTERM');
      expect((await exitWithin(next, 20_000)).code).toBe(0);
    },
    120_000,
  );

  it('prints the port it picked for --port 0 and keeps memory-only data with --memory', async () => {
    const child = await spawnEngine(['--port', '0', '--memory']);
    expect(child.port).toBeGreaterThan(0);
    // Memory-only credentials go to a private temporary file, removed on exit.
    expect(child.output()).toContain(
      `embedded engine ready: mongodb://oa-archive:***@127.0.0.1:${child.port}/?authSource=admin  (data: memory only; credentials in ${child.credentialsPath}, mode 0600, removed on exit); Ctrl-C stops`,
    );
    expect(fs.statSync(child.credentialsPath).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(child.credentialsPath)).mode & 0o777).toBe(0o700);
    const client = await connect(child.uri);
    expect(await client.db('admin').command({ ping: 1 })).toMatchObject({ ok: 1 });
    await client.close();
    child.proc.kill('SIGINT');
    expect(await exitWithin(child, 20_000)).toEqual({ code: 0, signal: null });
    expect(fs.existsSync(path.dirname(child.credentialsPath))).toBe(false);
    expect(child.output()).not.toContain(child.credentials.password);
  }, 60_000);

  it('refuses bad arguments with exit code 2 and the usage text', async () => {
    const badPort = await failedStart(['--port', 'abc']);
    expect(badPort).toMatch(/exited \(code 2/);
    expect(badPort).toContain('--port: expected an integer 0..65535, got "abc"');
    expect(badPort).toContain('usage: npm run db --');
    const both = await failedStart(['--memory', '--dbpath', '/tmp/x']);
    expect(both).toMatch(/exited \(code 2/);
    expect(both).toContain('--memory and --dbpath exclude each other');
    const unknown = await failedStart(['--frobnicate']);
    expect(unknown).toMatch(/exited \(code 2/);
  }, 60_000);

  it('answers --help with the usage text and exit code 0', async () => {
    const help = await failedStart(['--help']);
    expect(help).toMatch(/exited \(code 0/);
    expect(help).toContain('usage: npm run db -- [--port 27017] [--dbpath ./data/db | --memory] [--host 127.0.0.1]');
  }, 60_000);

  it('reports a port already in use and exits with code 2', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
    const { port } = blocker.address() as net.AddressInfo;
    try {
      const msg = await failedStart(['--port', String(port), '--memory']);
      expect(msg).toMatch(/exited \(code 2/);
      expect(msg).toContain('cannot start the engine');
      expect(msg).toContain('EADDRINUSE');
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  }, 60_000);
});

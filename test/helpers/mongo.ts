// Test fixture: a MongoDB server for one test file.
//
// With MONGODB_URI set, every test file runs against that server (which must be a replica set, so sessions and
// transactions work), in a database of its own that is dropped afterwards. Without it, the file starts the
// embedded engine in memory on a free loopback port and closes it afterwards; its URI carries the engine's
// credentials (user oa-archive, authSource admin), so clients made from it authenticate. Tests of facts that only the
// embedded engine has (its data files, its CLI, its TTL monitor called directly, raw bytes against its port)
// are gated with `describe.runIf(isEmbedded)` and say "(embedded engine only)" in their names.
import { randomBytes } from 'node:crypto';
import { MongoClient, type Db, type MongoClientOptions } from 'mongodb';
import mongoose, { type Connection } from 'mongoose';
import { afterAll, beforeAll } from 'vitest';
import type { RunningEngine } from '../../engine/index.ts';

export const externalUri: string | undefined = process.env.MONGODB_URI || undefined;
export const isEmbedded = externalUri === undefined;

export interface MongoFixture {
  /** Connection string of the server (embedded: mongodb://oa-archive:PASSWORD@host:port/?authSource=admin, no database name). */
  readonly uri: string;
  /** A client connected in beforeAll and closed in afterAll. */
  readonly client: MongoClient;
  /** A database name unique to this file. */
  readonly dbName: string;
  /** `client.db(dbName)`. */
  readonly db: Db;
  /** The embedded engine this file started (undefined against an external server). */
  readonly engine: RunningEngine | undefined;
  /** `host:port` of the embedded engine, as it reports itself in hello. */
  readonly address: string;
  /** Another client (closed in afterAll), e.g. for a second connection or other options. */
  newClient(options?: MongoClientOptions): Promise<MongoClient>;
  /** A mongoose connection to this file's database (closed in afterAll). */
  mongoose(): Promise<Connection>;
}

/** Unique, valid database name: letters, digits and underscores, at most 38 characters. */
export function uniqueDbName(label: string): string {
  const clean = label.replace(/[^A-Za-z0-9]/g, '_').slice(0, 20);
  return `t_${clean}_${randomBytes(5).toString('hex')}`;
}

export function useMongo(label = 'engine'): MongoFixture {
  let engine: RunningEngine | undefined;
  let uri = '';
  let client: MongoClient | undefined;
  const dbName = uniqueDbName(label);
  const clients: MongoClient[] = [];
  const connections: Connection[] = [];

  beforeAll(async () => {
    if (externalUri) {
      uri = externalUri;
    } else {
      // Imported lazily so a run against a real server does not depend on the engine's modules.
      const { startEngine } = await import('../../engine/index.ts');
      engine = await startEngine({ port: 0, dbPath: null });
      uri = engine.uri;
    }
    client = new MongoClient(uri, { serverSelectionTimeoutMS: 10_000 });
    clients.push(client);
    await client.connect();
  });

  afterAll(async () => {
    for (const c of connections) await c.close().catch(() => {});
    if (client && externalUri) await client.db(dbName).dropDatabase().catch(() => {});
    for (const c of clients) await c.close().catch(() => {});
    await engine?.close();
  });

  const need = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`${what} is not ready: use it inside a test or a hook after useMongo's beforeAll`);
    return v;
  };

  return {
    get uri() {
      return need(uri || undefined, 'uri');
    },
    get client() {
      return need(client, 'client');
    },
    dbName,
    get db() {
      return need(client, 'client').db(dbName);
    },
    get engine() {
      return engine;
    },
    get address() {
      const e = need(engine, 'the embedded engine');
      return `${e.host}:${e.port}`;
    },
    async newClient(options: MongoClientOptions = {}) {
      const c = new MongoClient(need(uri || undefined, 'uri'), { serverSelectionTimeoutMS: 10_000, ...options });
      clients.push(c);
      await c.connect();
      return c;
    },
    async mongoose() {
      const conn = mongoose.createConnection(need(uri || undefined, 'uri'), { dbName, serverSelectionTimeoutMS: 10_000 });
      connections.push(conn);
      await conn.asPromise();
      return conn;
    },
  };
}

/** Runs `fn`, expecting it to reject; returns the rejection (fails the test when it resolves). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function rejection<E = Error & Record<string, any>>(fn: () => Promise<unknown>): Promise<E> {
  try {
    await fn();
  } catch (err) {
    return err as E;
  }
  throw new Error('expected the operation to fail, but it succeeded');
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

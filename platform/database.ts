// The one database connection of a process: the MongoDB named by MONGODB_URI, or, without it, the
// embedded MongoDB-wire engine persisting to DATA_DIR. Both are reached through the same mongoose code.
import { mkdir } from 'node:fs/promises';
import mongoose from 'mongoose';
import type { Connection } from 'mongoose';
import type { EngineLogger, RunningEngine } from '../engine/index.ts';
import type { Config } from './config.ts';
import { redactUri } from './logger.ts';

export const DEFAULT_DB_NAME = 'oa_archive';

export interface Database {
  connection: Connection;
  /** Connection string with the password masked: safe to log. */
  uri: string;
  /** Present when the embedded engine runs in this process. */
  engine?: RunningEngine;
  /** Absolute data directory of the embedded engine. */
  dataDir?: string;
  /** Closes mongoose, then the embedded engine (which flushes and snapshots). Idempotent. */
  close(): Promise<void>;
}

export interface ConnectDatabaseOptions {
  dbName?: string;
  /** How long the driver looks for a server before failing (default 10 s). */
  serverSelectionTimeoutMS?: number;
}

export type DatabaseLogger = EngineLogger;

export async function connectDatabase(
  config: Pick<Config, 'mongodbUri' | 'dataDir'>,
  logger: DatabaseLogger,
  options: ConnectDatabaseOptions = {},
): Promise<Database> {
  const dbName = options.dbName ?? DEFAULT_DB_NAME;
  const connectOptions = { dbName, serverSelectionTimeoutMS: options.serverSelectionTimeoutMS ?? 10_000 };

  if (config.mongodbUri !== undefined) {
    const uri = redactUri(config.mongodbUri);
    const connection = await open(config.mongodbUri, uri, connectOptions);
    logger.info({ uri, dbName }, `connected to MongoDB at ${uri}`);
    return { connection, uri, close: once(() => connection.close()) };
  }

  const dataDir = config.dataDir;
  try {
    await mkdir(dataDir, { recursive: true });
  } catch (err) {
    throw new Error(`Cannot create DATA_DIR ${dataDir}: ${(err as Error).message}`);
  }
  // Loaded only here, so processes that use MONGODB_URI never load the engine.
  const { startEngine } = await import('../engine/index.ts');
  const engine = await startEngine({ port: 0, dbPath: dataDir, logger });
  const uri = `${engine.uri}/${dbName}`;
  let connection: Connection;
  try {
    connection = await open(uri, uri, connectOptions);
  } catch (err) {
    await engine.close().catch(() => undefined);
    throw err;
  }
  logger.info({ uri, dbName, dataDir }, `embedded database at ${engine.uri}, data in ${dataDir}`);
  return {
    connection,
    uri,
    engine,
    dataDir,
    close: once(async () => {
      try {
        await connection.close();
      } finally {
        await engine.close();
      }
    }),
  };
}

async function open(uri: string, safeUri: string, options: mongoose.ConnectOptions): Promise<Connection> {
  const connection = mongoose.createConnection(uri, options);
  try {
    return await connection.asPromise();
  } catch (err) {
    await connection.close().catch(() => undefined);
    // Driver messages can include the connection string; keep credentials out.
    throw new Error(`Cannot connect to MongoDB at ${safeUri}: ${redactUri((err as Error).message)}`);
  }
}

/** Readiness check: the server answers `ping`. */
export function pingDatabase(connection: Connection): () => Promise<void> {
  return async () => {
    const db = connection.db;
    if (db === undefined) throw new Error('database connection is not open');
    await db.command({ ping: 1 });
  };
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
}

// The one database connection of a process: the MongoDB named by MONGODB_URI, or, without it, the
// embedded MongoDB-wire engine persisting to DATA_DIR. Both are reached through the same mongoose code.
// The embedded engine requires authentication like any MongoDB: this process starts it, so it connects with
// the credentials the engine hands back (kept in DATA_DIR/credentials.json, mode 0600), and logs them masked.
import { mkdir } from 'node:fs/promises';
import mongoose from 'mongoose';
import type { Connection } from 'mongoose';
import type { EngineLogger, RunningEngine } from '../engine/index.ts';
import { type Config, EMBEDDED_DATABASE_TRADE_OFFS, checkEmbeddedDatabase } from './config.ts';
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
  config: Pick<Config, 'mongodbUri' | 'dataDir'> & Partial<Pick<Config, 'nodeEnv' | 'embeddedDatabaseInProduction' | 'engineCacheMb' | 'engineFsync' | 'engineSlowMs'>>,
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

  const { engine, dataDir } = await openEmbeddedEngine(config, logger, 0);
  const uri = redactUri(engine.uriFor(dbName));
  let connection: Connection;
  try {
    connection = await open(engine.uriFor(dbName), uri, connectOptions);
  } catch (err) {
    await engine.close().catch(() => undefined);
    throw err;
  }
  logEmbeddedEngine(logger, engine, dataDir, dbName);
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

type EmbeddedEngineConfig = Pick<Config, 'dataDir'> & Partial<Pick<Config, 'nodeEnv' | 'embeddedDatabaseInProduction' | 'engineCacheMb' | 'engineFsync' | 'engineSlowMs'>>;

/**
 * Starts the embedded engine on DATA_DIR (loopback, `port`; 0 picks a free one): refused in production unless
 * EMBEDDED_DATABASE_IN_PRODUCTION=true (a ConfigError naming MONGODB_URI), DATA_DIR created private (0700).
 * Used by connectDatabase and by the database process `npm start` supervises (scripts/start-database.ts).
 */
export async function openEmbeddedEngine(config: EmbeddedEngineConfig, logger: DatabaseLogger, port: number): Promise<{ engine: RunningEngine; dataDir: string }> {
  // Production on the embedded engine only when asked for explicitly (a ConfigError naming MONGODB_URI otherwise).
  checkEmbeddedDatabase(config);
  if (config.nodeEnv === 'production') {
    logger.warn(
      { variable: 'EMBEDDED_DATABASE_IN_PRODUCTION', dataDir: config.dataDir },
      `EMBEDDED_DATABASE_IN_PRODUCTION=true: production runs on the embedded database, with ${EMBEDDED_DATABASE_TRADE_OFFS}`,
    );
  }
  const dataDir = config.dataDir;
  try {
    // Private to this account when created here: the data files hold what the database holds.
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new Error(`Cannot create DATA_DIR ${dataDir}: ${(err as Error).message}`);
  }
  // Loaded only here, so processes that use MONGODB_URI never load the engine.
  const { startEngine } = await import('../engine/index.ts');
  const engine = await startEngine({ port, dbPath: dataDir, logger, cacheMb: config.engineCacheMb, fsync: config.engineFsync, slowMs: config.engineSlowMs });
  return { engine, dataDir };
}

/** The line that says where the embedded database is (password masked) and where its credentials are. */
export function logEmbeddedEngine(logger: DatabaseLogger, engine: RunningEngine, dataDir: string, dbName = DEFAULT_DB_NAME): void {
  logger.info(
    { uri: redactUri(engine.uriFor(dbName)), dbName, dataDir, credentialsFile: engine.credentialsPath },
    `embedded database at ${engine.safeUri}, data in ${dataDir}, credentials in ${engine.credentialsPath}`,
  );
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

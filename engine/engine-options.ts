// The engine's options, and what a started engine hands back.
import type { EngineCredentials } from './credentials.ts';

export interface EngineLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface EngineOptions {
  /** Loopback by default. Clients must authenticate (SCRAM-SHA-256, see auth.ts) on any address. */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Data directory; null or undefined keeps everything in memory (and makes up new credentials per start). */
  dbPath?: string | null;
  logger?: EngineLogger;
  /** Replica-set name the engine reports (default "rs0"). */
  setName?: string;
  /** Idle time after which an open transaction is aborted (default 60 s, MongoDB's transactionLifetimeLimitSeconds). */
  transactionLifetimeMs?: number;
  /** How often expired TTL documents are removed (default 60 s, as MongoDB's TTL monitor). */
  ttlIntervalMs?: number;
  /** Page cache of the store in MiB (ENGINE_CACHE_MB, default 256): the working set kept in memory. */
  cacheMb?: number;
  /** When commits reach the disk (ENGINE_FSYNC, default 'interval'): see StoreOptions.fsync. */
  fsync?: 'interval' | 'commit';
  /** Write-ahead log size past which it is restarted (engine/log-restart.ts; default 64 MiB): tests make it small. */
  logRestartBytes?: number;
  /** Commands that take longer are logged at info, by shape (slow-log.ts; ENGINE_SLOW_MS, default 100 as MongoDB). */
  slowMs?: number;
}

export interface RunningEngine {
  host: string;
  port: number;
  /** `host:port`: safe to log. */
  address: string;
  /**
   * mongodb://oa-archive:PASSWORD@host:port/?authSource=admin, without a database name. It carries the password:
   * connect with it, never log or print it (use `safeUri`).
   */
  uri: string;
  /** `uri` with the password masked (`***`): what to log or print. */
  safeUri: string;
  /** `uri` naming database `dbName` (the user still authenticates against admin). Carries the password too. */
  uriFor(dbName: string): string;
  /** The engine's user (authSource admin, SCRAM-SHA-256) and its password. */
  credentials: EngineCredentials;
  /** DATA_DIR/credentials.json (mode 0600) holding `credentials`; null for a memory-only engine. */
  credentialsPath: string | null;
  dbPath: string | null;
  close(): Promise<void>;
}

// The engine's user and where its credentials live.
//
// One user, `oa-archive` in the admin database, with the root role. A data directory keeps two files, both
// created with mode 0600 and written atomically (temporary file, fsync, rename, fsync of the directory):
//   users.json         the server side: the SCRAM-SHA-256 verifier (salt, iteration count, StoredKey,
//                      ServerKey), as MongoDB keeps it in admin.system.users; never the password
//   credentials.json   the client side: {"username", "password", "authSource": "admin", "mechanism"}
// The first start in a directory creates both with a random password; later starts reuse them. A memory-only
// engine makes up fresh credentials at every start and keeps them in memory (RunningEngine.credentials).
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { type EngineUser, SCRAM_SHA_256, passwordMatches, scramCredential } from './auth.ts';

export const ENGINE_USER = 'oa-archive';
export const AUTH_SOURCE = 'admin';
export const USERS_FILE = 'users.json';
export const CREDENTIALS_FILE = 'credentials.json';
/** Length of generated passwords: 40 letters and digits, about 238 bits. */
const PASSWORD_LENGTH = 40;

/** What a client needs to connect: the contents of credentials.json. */
export interface EngineCredentials {
  username: string;
  password: string;
  authSource: string;
  mechanism: typeof SCRAM_SHA_256;
}

export interface CredentialStore {
  users: EngineUser[];
  credentials: EngineCredentials;
  /** DATA_DIR/credentials.json, or null for a memory-only engine. */
  credentialsPath: string | null;
}

interface StoreLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A random password of ASCII letters and digits (so SASLprep leaves it unchanged; see auth.ts). */
export function generatePassword(length = PASSWORD_LENGTH): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      // 248 = 4 * 62: bytes at or above it are dropped, so every character is equally likely.
      if (byte < 248 && out.length < length) out += ALPHANUMERIC[byte % 62];
    }
  }
  return out;
}

function userFor(credentials: EngineCredentials): EngineUser {
  return {
    user: credentials.username,
    db: credentials.authSource,
    roles: [{ role: 'root', db: 'admin' }],
    credentials: { [SCRAM_SHA_256]: scramCredential(credentials.password) },
  };
}

const fresh = (): EngineCredentials => ({ username: ENGINE_USER, password: generatePassword(), authSource: AUTH_SOURCE, mechanism: SCRAM_SHA_256 });

/** New random credentials, kept in memory only. */
export function memoryCredentials(): CredentialStore {
  const credentials = fresh();
  return { users: [userFor(credentials)], credentials, credentialsPath: null };
}

/**
 * Reads the credentials of the data directory `dir`, creating them on its first use. Throws, with a message
 * that says what to do, when the files are readable by other accounts, do not belong together, or only the
 * server side is left.
 */
export function loadOrCreateCredentials(dir: string, logger: StoreLogger): CredentialStore {
  const usersPath = path.join(dir, USERS_FILE);
  const credentialsPath = path.join(dir, CREDENTIALS_FILE);
  const haveUsers = fs.existsSync(usersPath);
  const haveCredentials = fs.existsSync(credentialsPath);

  if (!haveUsers && !haveCredentials) {
    const credentials = fresh();
    const users = [userFor(credentials)];
    // The client side first: a crash between the two writes leaves credentials.json, from which users.json
    // is made again on the next start. Both are published only if absent, so two processes starting on a new
    // directory at once cannot each publish a password of their own: the one that loses reads the other's.
    if (!writePrivateFile(credentialsPath, `${JSON.stringify(credentials, null, 2)}\n`, { exclusive: true })) {
      return loadOrCreateCredentials(dir, logger);
    }
    writePrivateFile(usersPath, `${JSON.stringify({ users }, null, 2)}\n`);
    logger.info({ user: credentials.username, credentialsFile: credentialsPath }, `created the engine's user ${credentials.username}; its password is in ${credentialsPath} (mode 0600)`);
    return { users, credentials, credentialsPath };
  }
  if (!haveCredentials) {
    throw new Error(
      `${credentialsPath} is missing but ${usersPath} exists, so the engine's password is unknown: restore ${CREDENTIALS_FILE}, ` +
        `or delete ${USERS_FILE} to have new credentials generated (clients then need the new password)`,
    );
  }
  const credentials = readCredentialsFile(credentialsPath);
  if (!haveUsers) {
    const users = [userFor(credentials)];
    writePrivateFile(usersPath, `${JSON.stringify({ users }, null, 2)}\n`);
    logger.warn({ usersFile: usersPath }, `${USERS_FILE} was missing: made again from ${CREDENTIALS_FILE}`);
    return { users, credentials, credentialsPath };
  }
  const users = readUsersFile(usersPath);
  const user = users.find((u) => u.user === credentials.username && u.db === credentials.authSource);
  if (!user || !passwordMatches(credentials.password, user.credentials[SCRAM_SHA_256])) {
    throw new Error(
      `${credentialsPath} does not match ${usersPath}: restore the file that belongs with the other, ` +
        `or delete both to have new credentials generated (clients then need the new password)`,
    );
  }
  return { users, credentials, credentialsPath };
}

/** Reads a credentials.json (mode must be 0600 or stricter). */
export function readCredentialsFile(file: string): EngineCredentials {
  const value = readPrivateJson(file) as Partial<EngineCredentials>;
  if (
    typeof value?.username !== 'string' ||
    typeof value.password !== 'string' ||
    value.password.length === 0 ||
    typeof value.authSource !== 'string' ||
    value.mechanism !== SCRAM_SHA_256
  ) {
    throw new Error(`${file} is not a credentials file: expected {"username", "password", "authSource", "mechanism": "${SCRAM_SHA_256}"}`);
  }
  return { username: value.username, password: value.password, authSource: value.authSource, mechanism: value.mechanism };
}

function readUsersFile(file: string): EngineUser[] {
  const value = readPrivateJson(file) as { users?: unknown };
  const users = value?.users;
  const valid =
    Array.isArray(users) &&
    users.every((u: EngineUser) => {
      const c = u?.credentials?.[SCRAM_SHA_256];
      return typeof u.user === 'string' && typeof u.db === 'string' && Array.isArray(u.roles) && c && Number.isInteger(c.iterationCount) && c.iterationCount >= 4096 && typeof c.salt === 'string' && typeof c.storedKey === 'string' && typeof c.serverKey === 'string';
    });
  if (!valid) throw new Error(`${file} is not a users file: expected {"users": [{"user", "db", "roles", "credentials": {"${SCRAM_SHA_256}": {...}}}]}`);
  return users as EngineUser[];
}

function readPrivateJson(file: string): unknown {
  const mode = fs.statSync(file).mode & 0o777;
  // Permission bits mean little on Windows, where Node reports 0666 for every writable file.
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw new Error(
      `${file} is accessible to other accounts (mode 0${mode.toString(8)}); it must be 0600: run chmod 600 ${file} ` +
        `(if others may have read it, delete ${CREDENTIALS_FILE} and ${USERS_FILE} instead to have new credentials generated)`,
    );
  }
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file} is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * Writes `text` to `file` atomically, readable by this account only: a temporary file created with mode 0600
 * (never wider, not even for a moment), fsynced, moved over `file`, then the directory fsynced. `exclusive`:
 * only if `file` does not exist yet (published with link(2), which fails rather than replace); returns false
 * when it already existed.
 */
export function writePrivateFile(file: string, text: string, opts: { exclusive?: boolean } = {}): boolean {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = fs.openSync(tmp, 'wx', 0o600);
  try {
    try {
      fs.writeSync(fd, text);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    if (opts.exclusive) {
      try {
        fs.linkSync(tmp, file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw err;
      }
    } else {
      fs.renameSync(tmp, file);
    }
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  try {
    const dirFd = fs.openSync(path.dirname(file), 'r');
    try {
      fs.fsyncSync(dirFd);
    } finally {
      fs.closeSync(dirFd);
    }
  } catch {
    // Directories cannot be opened for fsync on every platform (Windows); the file itself is in place.
  }
  return true;
}

// ---------------------------------------------------------------------------------------------------------
// Connection strings

const hostPart = (host: string, port: number) => `${host.includes(':') ? `[${host}]` : host}:${port}`;

/** mongodb://USER:PASSWORD@HOST:PORT/[DB]?authSource=admin, URL-encoded. Carries the password: never log it. */
export function connectionString(credentials: EngineCredentials, host: string, port: number, dbName = ''): string {
  const user = encodeURIComponent(credentials.username);
  const password = encodeURIComponent(credentials.password);
  return `mongodb://${user}:${password}@${hostPart(host, port)}/${encodeURIComponent(dbName)}?authSource=${encodeURIComponent(credentials.authSource)}`;
}

/** The same connection string with the password masked as `***` (what platform/logger.ts's redactUri makes of it). */
export function maskedConnectionString(credentials: EngineCredentials, host: string, port: number, dbName = ''): string {
  return `mongodb://${encodeURIComponent(credentials.username)}:***@${hostPart(host, port)}/${encodeURIComponent(dbName)}?authSource=${encodeURIComponent(credentials.authSource)}`;
}

// ---------------------------------------------------------------------------------------------------------
// The line `npm run db` prints when it is ready, and how programs that start it find the credentials

/** "embedded engine ready: mongodb://oa-archive:***@HOST:PORT/?authSource=admin  (data: …; credentials in FILE, mode 0600…)" */
export function readyLine(opts: { safeUri: string; dbPath: string | null; credentialsPath: string; temporary: boolean }): string {
  const data = opts.dbPath ?? 'memory only';
  const where = `credentials in ${opts.credentialsPath}, mode 0600${opts.temporary ? ', removed on exit' : ''}`;
  return `embedded engine ready: ${opts.safeUri}  (data: ${data}; ${where}); Ctrl-C stops`;
}

export interface ReadyAnnouncement {
  host: string;
  port: number;
  credentialsPath: string;
}

/** Finds the ready line in the output of `npm run db`; undefined until it has been printed whole. */
export function parseReadyLine(output: string): ReadyAnnouncement | undefined {
  const m = /embedded engine ready: mongodb:\/\/[^@\s]+@(\[[^\]]+\]|[^\s:/]+):(\d+)\/\S*\s+\(data: [^\n]*?; credentials in (.+?), mode 0600/.exec(output);
  if (!m) return undefined;
  return { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]), credentialsPath: m[3] };
}

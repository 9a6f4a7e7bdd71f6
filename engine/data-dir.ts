// The data directory: private to the account the engine runs as (0700, its files 0600), and locked by one live
// engine at a time.
import fs from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';

const LOCK_FILE = 'lock.sqlite';
const PID_FILE = 'engine.pid';

export function tmpRoot(): string {
  // /dev/shm keeps throw-away stores in memory where it exists.
  try {
    fs.accessSync('/dev/shm', fs.constants.W_OK);
    return '/dev/shm';
  } catch {
    return process.env.TMPDIR ?? '/tmp';
  }
}

export function prepareDirectory(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    fs.chmodSync(dir, 0o700);
  } catch (err) {
    throw new Error(`cannot make data directory ${dir} private (mode 0700): ${(err as Error).message}`);
  }
}

export function ownerOnlyFile(file: string): void {
  // SQLite gives its -wal and -shm files the mode of the database file, so they are owner-only too.
  fs.closeSync(fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600));
  fs.chmodSync(file, 0o600);
}

export function chmodIfPresent(file: string, mode: number): void {
  try {
    fs.chmodSync(file, mode);
  } catch {
    // created later, with the database file's mode
  }
}

/**
 * The directory lock is an exclusive SQLite lock (a POSIX record lock) on engine.lock, held by an open write
 * transaction for the life of the process. The kernel releases it when the process dies, even by kill -9 and
 * before its parent reaps it, so a supervisor can restart at once; a second live process is refused.
 */
const lockedHere = new Set<string>();

export function takeLock(dir: string): DatabaseSync {
  // Closing any descriptor of a file drops every POSIX lock this process holds on it, so a second open in the
  // same process must be refused before it touches the lock file.
  const key = fs.realpathSync(dir);
  if (lockedHere.has(key)) throw new Error(`data directory ${dir} is in use by another engine in this process; stop it first or choose another directory`);
  const file = path.join(dir, LOCK_FILE);
  const pidFile = path.join(dir, PID_FILE);
  ownerOnlyFile(file);
  const db = new DatabaseSync(file, { timeout: 0 });
  try {
    db.exec('PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = DELETE; BEGIN EXCLUSIVE;');
    db.exec('CREATE TABLE IF NOT EXISTS holder(pid INTEGER)');
  } catch (err) {
    db.close();
    let holder = '';
    try {
      holder = ` (process ${fs.readFileSync(pidFile, 'utf8').trim()})`;
    } catch {
      // no pid file
    }
    if (/locked|busy/i.test((err as Error).message)) {
      throw new Error(`data directory ${dir} is in use by another engine${holder}; stop it first or choose another directory`);
    }
    throw new Error(`cannot lock data directory ${dir}: ${(err as Error).message}`);
  }
  fs.writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o600 });
  lockedHere.add(key);
  return db;
}

/** Releases the lock `takeLock` took (the engine is stopping). */
export function releaseLock(dir: string, lock: DatabaseSync): void {
  if (lock.isOpen) {
    lock.close();
    lockedHere.delete(fs.realpathSync(dir));
  }
  fs.rmSync(path.join(dir, PID_FILE), { force: true });
}

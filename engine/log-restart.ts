// Restarting the write-ahead log under a load of overlapping transactions (checkpoint starvation).
//
// SQLite starts its log from the beginning again only once a checkpoint has copied all of it back and no reader
// still reads from it (https://www.sqlite.org/wal.html#avoiding_excessively_large_wal_files). Every transaction
// of the engine holds a snapshot, a read transaction of its own connection (store.ts), and under a steady load
// of mutations from several processes one was always open: at 50 approvals/s the log grew by 20 MB a second, past
// any size limit, and every read looked through it. The engine knows every snapshot it holds, so it can make the
// moment SQLite needs: once the log is past its limit, transactions starting now wait (engine/server.ts holds the
// command that starts one), those still open end, and at the first instant with none open the log is copied back
// and truncated. A transaction that stays open long (a client idle inside one) does not stall the others: they
// wait at most MAX_WAIT_MS, and the engine then leaves the log alone for a second.
import fs from 'node:fs';
import { parseMessage } from './wire.ts';

export const LOG_RESTART_BYTES = 32 * 1024 * 1024;
/** How long transactions starting while the log restarts wait at most for the open ones to end. */
export const MAX_WAIT_MS = 100;
/** After a restart that could not happen in time, how long before the engine tries again. */
const QUIET_MS = 1000;
/** Commits between two looks at the log's size (a stat of the file). */
const CHECK_EVERY = 16;

export interface LogRestartOptions {
  /** The log file, or null when there is none to watch. */
  walFile: string | null;
  limitBytes: number;
  /** Copies the log back and truncates it; false when it could not (a checkpoint of another thread, a write). */
  restart: () => boolean;
}

export class LogRestart {
  /** True while transactions about to start should wait for the restart. */
  wanted = false;
  private snapshots = 0;
  private commits = 0;
  private quietUntil = 0;
  private readonly waiters: Array<() => void> = [];
  private giveUp: NodeJS.Timeout | null = null;

  constructor(private readonly o: LogRestartOptions) {}

  opened(): void {
    this.snapshots++;
  }

  /** A snapshot closed; `writerIdle`: no write transaction is under way. */
  closed(writerIdle: boolean): void {
    this.snapshots--;
    if (this.wanted && this.snapshots === 0 && writerIdle) this.tryRestart();
  }

  /** A write transaction committed (the writer is idle now). */
  committed(): void {
    if (!this.wanted) {
      if (++this.commits < CHECK_EVERY || this.o.walFile === null) return;
      this.commits = 0;
      if (Date.now() < this.quietUntil || this.logBytes() < this.o.limitBytes) return;
      this.wanted = true;
      this.giveUp = setTimeout(() => {
        this.quietUntil = Date.now() + QUIET_MS;
        this.release();
      }, MAX_WAIT_MS);
      this.giveUp.unref();
    }
    if (this.snapshots === 0) this.tryRestart();
  }

  /** Runs `resume` once the log has restarted (or the wait is over); at once when no restart is wanted. */
  wait(resume: () => void): void {
    if (!this.wanted) return resume();
    this.waiters.push(resume);
  }

  /** Bytes in the log file now. */
  logBytes(): number {
    try {
      return this.o.walFile === null ? 0 : fs.statSync(this.o.walFile).size;
    } catch {
      return 0;
    }
  }

  private retry: NodeJS.Timeout | null = null;

  /** Restarts now, or, when another thread's checkpoint or a write is in the way, again in a millisecond. */
  private tryRestart(): void {
    if (this.retry) return;
    if (this.o.restart()) return this.release();
    this.retry = setTimeout(() => {
      this.retry = null;
      if (this.wanted && this.snapshots === 0) this.tryRestart();
    }, 1);
    this.retry.unref();
  }

  private release(): void {
    this.wanted = false;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    if (this.giveUp) clearTimeout(this.giveUp);
    this.giveUp = null;
    for (const resume of this.waiters.splice(0)) setImmediate(resume);
  }
}

/** Whether an OP_MSG starts a transaction (read only while the log restarts; a malformed one is answered as usual). */
export function startsTransaction(message: Buffer): boolean {
  try {
    const req = parseMessage(message);
    return req.kind === 'msg' && req.body.startTransaction === true;
  } catch {
    return false;
  }
}

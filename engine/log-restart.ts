// Restarting the write-ahead log under a load of overlapping transactions (checkpoint starvation).
//
// SQLite starts its log from the beginning again only once a checkpoint has copied all of it back and no reader
// still reads from it (https://www.sqlite.org/wal.html#avoiding_excessively_large_wal_files). Every transaction
// of the engine holds a snapshot, a read transaction of its own connection (store.ts), and under a steady load
// of mutations from several processes one was always open: at 50 approvals/s the log grew by 20 MB a second, past
// any size limit, and every read looked through it. The engine knows every snapshot it holds, so it can make the
// moment SQLite needs: once the log is past its limit, transactions starting now wait (engine/server.ts holds the
// command that starts one), those still open end, and at the first instant with none open the log is copied back
// and truncated. Transactions still at work are waited for, up to MAX_HOLD_MS: giving up at a fixed 100 ms, a
// transaction open 110 ms at a busy moment cost a restart, and a 5-minute soak once missed them for 50 s in a row, the
// log at 960 MB and every write slowed. One left open by a client that has gone quiet (no command for IDLE_MS) does
// not stall the others: after MAX_WAIT_MS the engine gives up and leaves the log alone for a second.
import fs from 'node:fs';
import { parseMessage } from './wire.ts';

/**
 * 64 MiB: a restart holds new transactions while the open ones end and the log is copied back (p50 about 60 ms in the
 * sync soak); at 32 MiB that came every second under its 30 MB/s of log, now every two.
 */
export const LOG_RESTART_BYTES = 64 * 1024 * 1024;
/** How long transactions starting while the log restarts wait for the open ones when one of those is idle. */
export const MAX_WAIT_MS = 100;
/** An open transaction is idle (its client gone quiet) once it has had no command for this long. */
export const IDLE_MS = 100;
/** The longest transactions starting while the log restarts wait, even for open ones still at work. */
export const MAX_HOLD_MS = 1000;
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
  /** The longest any open transaction has gone without a command (ms); 0 when none is open. */
  idleMs: () => number;
}

export class LogRestart {
  /** True while transactions about to start should wait for the restart. */
  wanted = false;
  private snapshots = 0;
  /** When the restart was wanted (Date.now()). */
  private wantedAt = 0;
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
      this.wantedAt = Date.now();
      this.waitUpTo(MAX_WAIT_MS);
    }
    if (this.snapshots === 0) this.tryRestart();
  }

  private waitUpTo(ms: number): void {
    this.giveUp = setTimeout(() => this.patience(), ms);
    this.giveUp.unref();
  }

  /** The wait is up: go on waiting while every open transaction is at work (up to MAX_HOLD_MS), or give up for a while. */
  private patience(): void {
    this.giveUp = null;
    const held = Date.now() - this.wantedAt;
    const idle = this.o.idleMs();
    if (held < MAX_HOLD_MS && idle < IDLE_MS) return this.waitUpTo(Math.max(1, Math.min(IDLE_MS - idle, MAX_HOLD_MS - held)));
    this.quietUntil = Date.now() + QUIET_MS;
    this.release();
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

// Checkpoints of the write-ahead log on a thread of their own.
//
// SQLite's automatic checkpoint runs inside the COMMIT that crosses its threshold, on the writer's thread: with
// claim-sized batches it was 70% of an insert's cost (30 of 44 ms per 1,000 documents of 2 KB, engine/README.md).
// Here a worker thread with its own connection runs PASSIVE checkpoints after commits, which never block the writer
// (https://www.sqlite.org/wal.html#checkpointing), so the copy into the database file and its fsync use the other
// core. The writer keeps a high automatic threshold as a last backstop, should both this thread and the log's restarts
// (log-restart.ts) fail: past it SQLite checkpoints in every commit until the log restarts, on the writer's thread.
import { Worker } from 'node:worker_threads';

/** Slots of the shared signal array. */
const COMMITS = 0;
const STOP = 1;
const CLOSED = 2;

/**
 * Bytes of log after which the writer checkpoints itself, in every commit while the log is longer (its restart needs a
 * moment without open transactions). Far above the restart's limit: at 64 MiB, one restart missed under load made every
 * commit copy and fsync on the writer's thread (12% fewer commits per second past it, measured on SQLite directly).
 */
export const BACKSTOP_BYTES = 512 * 1024 * 1024;

// Plain CommonJS, run with `eval`, so it loads the same way under tsx, vitest and a bare Node.
const WORKER = `
const { workerData } = require('node:worker_threads');
const { DatabaseSync } = require('node:sqlite');
const { file, synchronous, signal, pauseMs } = workerData;
let db;
try {
  db = new DatabaseSync(file, { timeout: 0 });
  db.exec('PRAGMA cache_size = -2048; PRAGMA synchronous = ' + synchronous);
  const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
  let done = 0;
  while (Atomics.load(signal, ${STOP}) === 0) {
    const commits = Atomics.load(signal, ${COMMITS});
    if (commits === done) {
      Atomics.wait(signal, ${COMMITS}, commits, 1000);
      continue;
    }
    try {
      checkpoint.get();
      done = commits;
    } catch {
      // an I/O error or a busy database: the next commit tries again, and the writer's backstop still applies
    }
    // A pause between checkpoints lets several commits share one (and its fsync); a stop ends it at once.
    Atomics.wait(signal, ${STOP}, 0, pauseMs);
  }
} finally {
  try { db?.close(); } catch {}
  Atomics.store(signal, ${CLOSED}, 1);
  Atomics.notify(signal, ${CLOSED});
}
`;

export class Checkpointer {
  private readonly signal = new Int32Array(new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT));
  private readonly worker: Worker;
  private stopped = false;

  constructor(file: string, synchronous: 'OFF' | 'NORMAL' | 'FULL', pauseMs = 50) {
    this.worker = new Worker(WORKER, { eval: true, workerData: { file, synchronous, signal: this.signal, pauseMs } });
    this.worker.unref();
    // An error the worker could not catch (it could not even start): the writer's backstop keeps checkpointing.
    this.worker.on('error', () => {});
  }

  /** After a commit: wakes the worker if it is waiting. */
  committed(): void {
    Atomics.add(this.signal, COMMITS, 1);
    Atomics.notify(this.signal, COMMITS);
  }

  /** Ends the worker and waits until its connection is closed, so the writer's closing checkpoint has the log alone. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    Atomics.store(this.signal, STOP, 1);
    Atomics.notify(this.signal, STOP);
    Atomics.notify(this.signal, COMMITS);
    if (Atomics.wait(this.signal, CLOSED, 0, 10_000) === 'timed-out') void this.worker.terminate();
  }
}

// Logical sessions: transaction state per session. The answer of each session's last retryable write is kept
// in the store with the write itself (server.ts), so a retry is answered instead of applied twice, even after
// a restart.
import { Long, type Timestamp } from 'bson';
import { LockTable, type Transaction } from './access.ts';
import { ErrorCodes, MongoServerError } from './errors.ts';
import { type Doc, bsonType } from './values.ts';

export type TxnState = 'none' | 'open' | 'committed' | 'aborted';

export interface Session {
  readonly key: string;
  lastUse: number;
  txnNumber: bigint;
  state: TxnState;
  txn?: Transaction;
  /** Reply of the last retryable write, by txnNumber (a cache of the store's sessions table). */
  retry?: { txnNumber: bigint; reply: Doc };
  /** The snapshot of a snapshot session (readConcern snapshot outside transactions), from its first read. */
  snapshot?: { txn: Transaction; atClusterTime: Timestamp };
}

export const noSuchTransaction = (n: bigint): MongoServerError =>
  new MongoServerError(ErrorCodes.NoSuchTransaction, `Transaction with { txnNumber: ${n} } has been aborted.`, {
    labels: ['TransientTransactionError'],
  });

export function txnNumberOf(v: unknown): bigint {
  if (bsonType(v) === 'Long') return BigInt((v as Long).toString());
  if (bsonType(v) === 'Int32' || typeof v === 'number') return BigInt(Number((v as { value?: number }).value ?? v));
  throw new MongoServerError(ErrorCodes.TypeMismatch, 'txnNumber must be a 64-bit integer');
}

export class Sessions {
  readonly locks = new LockTable();
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly transactionLifetimeMs: number,
    /** Opens a transaction: its snapshot of the store. */
    private readonly openTransaction: (locks: LockTable, label: string) => Transaction,
    private readonly sessionTimeoutMs = 30 * 60_000,
  ) {}

  get openTransactions(): number {
    let n = 0;
    for (const s of this.sessions.values()) if (s.state === 'open') n++;
    return n;
  }

  touch(lsid: unknown): Session {
    const id = (lsid as { id?: { toString(enc: string): string } } | undefined)?.id;
    if (!id || typeof id.toString !== 'function') throw new MongoServerError(ErrorCodes.BadValue, 'lsid must carry an id');
    const key = id.toString('hex');
    let s = this.sessions.get(key);
    if (!s) this.sessions.set(key, (s = { key, lastUse: Date.now(), txnNumber: -1n, state: 'none' }));
    s.lastUse = Date.now();
    return s;
  }

  /** Starts transaction `n` on the session, aborting an older one still open. */
  start(s: Session, n: bigint): Transaction {
    if (n < s.txnNumber) {
      throw new MongoServerError(ErrorCodes.TransactionTooOld, `Cannot start transaction ${n} on session because a newer transaction ${s.txnNumber} has already started`);
    }
    if (n === s.txnNumber && s.state !== 'none') {
      throw new MongoServerError(ErrorCodes.ConflictingOperationInProgress, `Transaction ${n} has already been started on this session`);
    }
    this.abort(s);
    s.txnNumber = n;
    s.state = 'open';
    s.txn = this.openTransaction(this.locks, `${s.key}:${n}`);
    return s.txn;
  }

  /** The open transaction a statement continues, or the error MongoDB gives when there is none. */
  continue(s: Session, n: bigint): Transaction {
    if (n !== s.txnNumber || s.state !== 'open' || !s.txn) throw noSuchTransaction(n);
    s.txn.lastUse = Date.now();
    return s.txn;
  }

  abort(s: Session): void {
    if (s.state === 'open' && s.txn) {
      s.txn.release();
      s.state = 'aborted';
    }
    s.txn = undefined;
  }

  end(lsids: unknown[]): void {
    for (const lsid of lsids) {
      try {
        const s = this.touch(lsid);
        this.abort(s);
        this.dropSnapshot(s);
        this.sessions.delete(s.key);
      } catch {
        // An unknown or malformed session id has nothing to end.
      }
    }
  }

  /**
   * The longest any open transaction or snapshot has gone without a command (ms): whether the log's restart may wait
   * for them (engine/log-restart.ts).
   */
  longestIdleMs(now = Date.now()): number {
    let idle = 0;
    for (const s of this.sessions.values()) {
      if (s.state === 'open' && s.txn) idle = Math.max(idle, now - s.txn.lastUse);
      if (s.snapshot) idle = Math.max(idle, now - s.snapshot.txn.lastUse);
    }
    return idle;
  }

  /** Aborts transactions idle past their lifetime and forgets idle sessions. Returns how many were aborted. */
  sweep(now = Date.now()): number {
    let aborted = 0;
    for (const s of this.sessions.values()) {
      if (s.state === 'open' && s.txn && now - s.txn.lastUse > this.transactionLifetimeMs) {
        this.abort(s);
        aborted++;
      }
      // A snapshot is history the store must keep: held as long as MongoDB's minSnapshotHistoryWindowInSeconds.
      if (s.snapshot && now - s.snapshot.txn.lastUse > SNAPSHOT_WINDOW_MS) this.dropSnapshot(s);
      if (s.state !== 'open' && now - s.lastUse > this.sessionTimeoutMs) {
        this.dropSnapshot(s);
        this.sessions.delete(s.key);
      }
    }
    return aborted;
  }

  /** The session's snapshot: taken now at `now`, or the one its earlier reads used (`atClusterTime`). */
  snapshotOf(s: Session, atClusterTime: Timestamp | undefined, now: () => Timestamp): Session['snapshot'] & object {
    if (atClusterTime !== undefined) {
      if (!s.snapshot || !s.snapshot.atClusterTime.equals(atClusterTime)) {
        throw new MongoServerError(ErrorCodes.SnapshotTooOld, `Read timestamp ${atClusterTime.toString()} is older than the oldest available timestamp.`);
      }
    } else if (!s.snapshot) {
      s.snapshot = { txn: this.openTransaction(this.locks, `${s.key}:snapshot`), atClusterTime: now() };
    }
    s.snapshot!.txn.lastUse = Date.now();
    return s.snapshot!;
  }

  private dropSnapshot(s: Session): void {
    s.snapshot?.txn.release();
    s.snapshot = undefined;
  }

  abortAll(): void {
    for (const s of this.sessions.values()) {
      this.abort(s);
      this.dropSnapshot(s);
    }
  }
}

export const toLong = (n: bigint): Long => Long.fromBigInt(n);

const SNAPSHOT_WINDOW_MS = 300_000;

// What the server answers for sessions itself, outside the COMMANDS table: commitTransaction and abortTransaction,
// and a retried write's recorded answer. Both read what the store remembers of a session, so they hold across a
// restart.
import { BSON } from 'bson';
import { commitTransaction } from './access.ts';
import type { Catalog } from './catalog.ts';
import { ErrorCodes, MongoServerError } from './errors.ts';
import { type Session, type Sessions, noSuchTransaction, txnNumberOf } from './sessions.ts';
import type { Store } from './store.ts';
import { type Doc, EXACT } from './values.ts';

/** The parts of the engine that sessions' commands use. */
interface SessionOwner {
  readonly store: Store;
  readonly sessions: Sessions;
  readonly catalog: Catalog;
}

export const sessionKey = (session: Session): Buffer => Buffer.from(session.key, 'hex');

/** Commands the server answers itself, outside the COMMANDS table (known, hence Unauthorized rather than CommandNotFound). */
export const SERVER_COMMANDS = new Set(['commitTransaction', 'abortTransaction', 'endSessions']);

/** The stored answer of retryable write `n` of a session, if that write was applied. */
export function recordedAnswer(store: Store, session: Session, n: bigint): Doc | undefined {
  if (session.retry?.txnNumber === n) return session.retry.reply;
  const row = store.session(sessionKey(session));
  if (row && BigInt(row.txn_number) === n && row.kind === 'write' && row.reply) {
    const reply = BSON.deserialize(row.reply, EXACT) as Doc;
    session.retry = { txnNumber: n, reply };
    return reply;
  }
  return undefined;
}

export function endTransaction(engine: SessionOwner, name: 'commitTransaction' | 'abortTransaction', body: Doc, session: Session | undefined): Doc {
  if (!session) throw new MongoServerError(ErrorCodes.InvalidOptions, `${name} requires a session (lsid)`);
  const n = txnNumberOf(body.txnNumber);
  const committedBefore = () => {
    if (n === session.txnNumber && session.state === 'committed') return true;
    // After a restart the session is new here, but the store remembers the commit.
    const row = session.state === 'none' ? engine.store.session(sessionKey(session)) : undefined;
    return row !== undefined && BigInt(row.txn_number) === n && row.kind === 'commit';
  };
  if (name === 'commitTransaction') {
    if (committedBefore()) return {}; // a retried commit
    const txn = engine.sessions.continue(session, n);
    try {
      commitTransaction(engine.catalog, txn, () => engine.store.recordSession(sessionKey(session), n, 'commit', null));
    } catch (err) {
      session.state = 'aborted';
      session.txn = undefined;
      throw err;
    }
    session.state = 'committed';
    session.txn = undefined;
    return {};
  }
  if (committedBefore()) {
    throw new MongoServerError(ErrorCodes.TransactionCommitted, 'Cannot abort transaction, transaction already committed');
  }
  if (n !== session.txnNumber || session.state !== 'open') throw noSuchTransaction(n);
  engine.sessions.abort(session);
  return {};
}

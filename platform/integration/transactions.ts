// Every transaction of the subgraphs runs through here. Transactions run concurrently: two that write the same
// document conflict, and the driver runs the loser again after a jittered backoff (`withTransaction`). The
// document every transaction used to write (the event log's sequence counter) is no longer written inside
// transactions (./events.ts), so conflicts are between transactions that really touch the same claim, voucher,
// chain head or number counter. (Until issue 18 they all ran one at a time per process behind one queue, because
// each event-writing transaction wrote that counter: the write path managed one transaction at a time.)
//
// Transactions that always write the same hot document (a hash chain's head, a number counter) name a *lane*: the
// transactions of one lane run one at a time in this process, as conflicts would make them anyway, without the
// wasted attempts (measured under the soak: up to 16 attempts per audit-trail append without its lane). Lanes of
// other processes still conflict and retry; correctness never depends on a lane.
//
// An attempt that does not commit tombstones the event seqs it drew (./events.ts), so readers of the log do not
// wait for them. A transaction run while a subgraph serves a user's mutation also writes that mutation's audit
// entry and checks its deadline and Idempotency-Key (./served-request.ts): they commit exactly when the mutation does.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { ClientSession, Connection } from 'mongoose';
import { abandonDrawnSeqs, forgetDrawnSeqs, isTakenSeq } from './events.ts';
import { abandonPastDeadline, beforeCommit } from './served-request.ts';

export interface TransactionOptions {
  /** Transactions of one lane run one at a time in this process (those writing the same hot document). */
  lane?: string;
}

/** Runs again a transaction whose event seq was tombstoned before it committed (it had run past GAP_TIMEOUT_MS). */
const TAKEN_SEQ_ATTEMPTS = 3;

/** The lanes held by the transaction running (a transaction of a lane may run another of it: it must not wait for itself). */
const held = new AsyncLocalStorage<ReadonlySet<string>>();
/** Per connection and lane, the promise the next transaction of the lane waits for. */
const tails = new WeakMap<Connection, Map<string, Promise<void>>>();

/** `connection.transaction(fn)`, in its lane, with the served request's checks last inside it. */
export async function transaction<T>(connection: Connection, fn: (session: ClientSession) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
  const { lane } = options;
  const holding = held.getStore();
  if (!lane || holding?.has(lane)) return retried(connection, fn);
  let queue = tails.get(connection);
  if (!queue) tails.set(connection, (queue = new Map()));
  const previous = queue.get(lane) ?? Promise.resolve();
  let release!: () => void;
  const tail = previous.then(() => new Promise<void>((resolve) => (release = resolve)));
  queue.set(lane, tail);
  await previous;
  try {
    return await held.run(new Set([...(holding ?? []), lane]), () => retried(connection, fn));
  } finally {
    release();
    if (queue.get(lane) === tail) queue.delete(lane);
  }
}

async function retried<T>(connection: Connection, fn: (session: ClientSession) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await committed(connection, fn);
    } catch (err) {
      if (attempt >= TAKEN_SEQ_ATTEMPTS || !isTakenSeq(err)) throw err;
    }
  }
}

async function committed<T>(connection: Connection, fn: (session: ClientSession) => Promise<T>): Promise<T> {
  // A request whose caller stopped waiting (while this waited in its lane) starts no transaction.
  abandonPastDeadline();
  let mark: (() => void) | null = null;
  let last = null as ClientSession | null;
  try {
    const result = (await connection.transaction(async (session) => {
      // The driver runs the callback again only after the previous attempt aborted.
      last = session;
      await abandonDrawnSeqs(session);
      const value = await fn(session);
      // Run again by the driver after a conflict, the checks run again too; only the committed attempt's mark counts.
      mark = await beforeCommit(connection, session);
      return value;
    })) as T;
    if (last) forgetDrawnSeqs(last);
    (mark as (() => void) | null)?.();
    return result;
  } catch (err) {
    // Not committed, or an unknown outcome: a seq whose event did commit keeps it.
    if (last) await abandonDrawnSeqs(last).catch(() => undefined);
    throw err;
  }
}

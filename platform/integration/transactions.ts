// Transactions of this process, one at a time per database connection. Every transaction that records a domain
// event increments the same sequence counter (the gap-free order of the event log), as claim, voucher and archive
// numbers share their counters: under snapshot isolation two such transactions that overlap cannot both commit,
// and the loser is aborted and retried. Under load that is a storm of wasted work in which long transactions
// (filing) starve. Queueing them here instead lets each run once. Transactions in other processes still
// conflict and retry as before; correctness never depends on this queue.
//
// A transaction run while a subgraph serves a user's mutation also writes that mutation's audit entry
// and checks its deadline and Idempotency-Key (./served-request.ts): they commit exactly when the mutation does.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { ClientSession, Connection } from 'mongoose';
import { beforeCommit } from './served-request.ts';

const holding = new AsyncLocalStorage<Connection>();
const tails = new WeakMap<Connection, Promise<void>>();

/** `connection.transaction(fn)`, after the transactions this process started on the connection before it. */
export async function transaction<T>(connection: Connection, fn: (session: ClientSession) => Promise<T>): Promise<T> {
  // Already inside one of ours (a service called from within a transaction that opened its own): run it, or
  // it would wait for itself.
  if (holding.getStore() === connection) return committed(connection, fn);
  const previous = tails.get(connection) ?? Promise.resolve();
  let release!: () => void;
  const done = new Promise<void>((resolve) => (release = resolve));
  const tail = previous.then(() => done);
  tails.set(connection, tail);
  await previous;
  try {
    return await holding.run(connection, () => committed(connection, fn));
  } finally {
    release();
    if (tails.get(connection) === tail) tails.delete(connection);
  }
}

/** `connection.transaction(fn)` with the served request's checks last inside it, and its marks once committed. */
async function committed<T>(connection: Connection, fn: (session: ClientSession) => Promise<T>): Promise<T> {
  let mark: (() => void) | null = null;
  const result = (await connection.transaction(async (session) => {
    const value = await fn(session);
    // Run again by the driver after a conflict, the checks run again too; only the committed attempt's mark counts.
    mark = await beforeCommit(connection, session);
    return value;
  })) as T;
  (mark as (() => void) | null)?.();
  return result;
}

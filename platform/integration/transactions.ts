// Transactions of this process, one at a time per database connection. Every transaction that records a domain
// event increments the same sequence counter (the gap-free order of the event log), as claim, voucher and archive
// numbers share their counters: under snapshot isolation two such transactions that overlap cannot both commit,
// and the loser is aborted and retried. Under load that is a storm of wasted work in which long transactions
// (filing) starve. Queueing them here instead lets each run once. Transactions in other processes still
// conflict and retry as before; correctness never depends on this queue.
//
// A transaction run while a subgraph serves a user's mutation also writes that mutation's audit entry
// (./request-audit.ts): the entry commits exactly when the mutation does.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { ClientSession, Connection } from 'mongoose';
import { writeNotedEntry } from './request-audit.ts';

const holding = new AsyncLocalStorage<Connection>();
const tails = new WeakMap<Connection, Promise<void>>();

/** `connection.transaction(fn)`, after the transactions this process started on the connection before it. */
export async function transaction<T>(connection: Connection, fn: (session: ClientSession) => Promise<T>): Promise<T> {
  // Already inside one of ours (a service called from within a transaction that opened its own): run it, or
  // it would wait for itself.
  if (holding.getStore() === connection) return connection.transaction(withEntry(connection, fn)) as Promise<T>;
  const previous = tails.get(connection) ?? Promise.resolve();
  let release!: () => void;
  const done = new Promise<void>((resolve) => (release = resolve));
  const tail = previous.then(() => done);
  tails.set(connection, tail);
  await previous;
  try {
    return (await holding.run(connection, () => connection.transaction(withEntry(connection, fn)))) as T;
  } finally {
    release();
    if (tails.get(connection) === tail) tails.delete(connection);
  }
}

const withEntry =
  <T>(connection: Connection, fn: (session: ClientSession) => Promise<T>) =>
  async (session: ClientSession): Promise<T> => {
    const result = await fn(session);
    await writeNotedEntry(connection, session);
    return result;
  };

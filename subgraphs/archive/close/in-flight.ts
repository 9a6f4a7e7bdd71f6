// Background work this process runs at most once at a time per database connection and key (a month being
// generated, a register passing custody): a second caller meanwhile (the worker loop beside the request that started
// it) leaves it to the first. Other processes are kept apart by the transactions' conditional updates, not by this.
import type { Connection } from 'mongoose';

export class InFlight {
  private readonly held = new WeakMap<Connection, Set<string>>();

  /** Runs `work` unless this process is already running it for `key`; then answers `busy`. */
  async run<T>(connection: Connection, key: string, busy: T, work: () => Promise<T>): Promise<T> {
    let keys = this.held.get(connection);
    if (!keys) this.held.set(connection, (keys = new Set()));
    if (keys.has(key)) return busy;
    keys.add(key);
    try {
      return await work();
    } finally {
      keys.delete(key);
    }
  }
}

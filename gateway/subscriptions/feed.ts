// The gateway's ear on the event bus: the highest seq announced so far, and subscribers waiting for a seq above
// the one they have read up to. Waiting is on a number, not a queue, so a slow or stalled subscriber costs the
// gateway nothing per event; it reads the events themselves from the log when it is ready (stream.ts).
import type { BusEvent, EventBus } from '../../platform/event-bus.ts';

interface Waiter {
  beyond: number;
  resolve: () => void;
}

export class SyncEventFeed {
  private watermark = 0;
  private readonly waiters = new Set<Waiter>();
  private readonly unsubscribe: () => void;

  constructor(bus: EventBus) {
    this.unsubscribe = bus.subscribe((events: BusEvent[]) => this.announce(events));
  }

  /** Highest seq announced on the bus. */
  get head(): number {
    return this.watermark;
  }

  private announce(events: BusEvent[]): void {
    for (const e of events) {
      const n = Number(e.seq);
      if (Number.isSafeInteger(n) && n > this.watermark) this.watermark = n;
    }
    for (const w of this.waiters) if (this.watermark > w.beyond) w.resolve();
  }

  /**
   * Resolves once an event above `beyond` has been announced, after `timeoutMs` (a periodic re-read covers a
   * missed announcement: pub/sub delivers at most once), or when `signal` aborts.
   */
  waitBeyond(beyond: number, timeoutMs: number, signal: AbortSignal): Promise<void> {
    if (this.watermark > beyond || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter: Waiter = {
        beyond,
        resolve: () => {
          clearTimeout(timer);
          signal.removeEventListener('abort', waiter.resolve);
          this.waiters.delete(waiter);
          resolve();
        },
      };
      const timer = setTimeout(waiter.resolve, timeoutMs);
      signal.addEventListener('abort', waiter.resolve, { once: true });
      this.waiters.add(waiter);
    });
  }

  close(): void {
    this.unsubscribe();
    for (const w of [...this.waiters]) w.resolve();
  }
}

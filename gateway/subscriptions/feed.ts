// The gateway's ear on the event bus: the highest seq announced so far, and subscribers waiting for a seq above
// the one they have read up to. Waiting is on a number, not a queue, so a slow or stalled subscriber costs the
// gateway nothing per event; it reads the events themselves from the log when it is ready (stream.ts).
import type { BusEvent, EventBus } from '../../platform/integration/event-bus.ts';

interface Waiter {
  beyond: number;
  resolve: () => void;
}

export interface FeedOptions {
  /**
   * Reads the newest seq of the log. While anyone waits, the feed asks every `pollMs`, once for the whole gateway:
   * pub/sub delivers at most once, and a gateway in another process than the log's writer without Redis has no
   * announcements at all.
   */
  readHead?: () => Promise<number>;
  pollMs?: number;
}

export class EventFeed {
  private watermark = 0;
  private readonly waiters = new Set<Waiter>();
  private readonly unsubscribe: () => void;
  private poller: NodeJS.Timeout | null = null;
  private polling = false;

  constructor(
    bus: EventBus,
    private readonly opts: FeedOptions = {},
  ) {
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
   * Resolves once an event above `beyond` has been announced (or read by the feed's own poll), after `timeoutMs`
   * (a last resort should the head be unreadable), or when `signal` aborts.
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
          if (!this.waiters.size) this.stopPolling();
          resolve();
        },
      };
      const timer = setTimeout(waiter.resolve, timeoutMs);
      signal.addEventListener('abort', waiter.resolve, { once: true });
      this.waiters.add(waiter);
      this.startPolling();
    });
  }

  private startPolling(): void {
    if (this.poller || !this.opts.readHead) return;
    this.poller = setInterval(() => void this.poll(), this.opts.pollMs ?? 2000);
  }

  private stopPolling(): void {
    if (this.poller) clearInterval(this.poller);
    this.poller = null;
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const head = await this.opts.readHead!();
      this.announce([{ seq: String(head), type: 'HEAD' }]);
    } catch {
      // The log's subgraph is down: subscribers wait for it, their own timeout re-reads at last.
    } finally {
      this.polling = false;
    }
  }

  close(): void {
    this.stopPolling();
    this.unsubscribe();
    for (const w of [...this.waiters]) w.resolve();
  }
}

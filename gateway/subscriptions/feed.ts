// The gateway's ear on the event bus: the highest seq announced so far, and subscribers waiting for a seq above
// the one they have read up to. Waiting is on a number, not a queue, so a slow or stalled subscriber costs the
// gateway nothing per event; it reads the events themselves from the log when it is ready (stream.ts).
import type { BusEvent, EventAudience, EventBus } from '../../platform/integration/event-bus.ts';

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

/** One announcement that moved the head: from where to where, and what it said of the events. */
interface Announcement {
  from: number;
  to: number;
  events: BusEvent[];
}

/** Announcements remembered for concerns(): a subscriber further behind than these reads, as without them. */
const REMEMBERED = 2000;

export class EventFeed {
  private watermark = 0;
  private readonly announcements: Announcement[] = [];
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
    const from = this.watermark;
    for (const e of events) {
      const n = Number(e.seq);
      if (Number.isSafeInteger(n) && n > this.watermark) this.watermark = n;
    }
    // Also events that do not move the head (announced out of order) count; a poll that found nothing new does not.
    if (this.watermark > from || events.some((e) => e.audience && Number(e.seq) > 0)) {
      this.announcements.push({ from, to: this.watermark, events });
      if (this.announcements.length > REMEMBERED) this.announcements.splice(0, this.announcements.length - REMEMBERED);
    }
    for (const w of this.waiters) if (this.watermark > w.beyond) w.resolve();
  }

  /**
   * Whether what was announced after `after`, up to the head, may concern a subscriber (`wants` its audience):
   * true when an event's audience is unknown (a poll of the head, an older publisher) or wanted, and when the
   * announcements remembered do not reach back to `after`. False only when every event announced since is known
   * to be another's: the subscriber need not read the log for them.
   */
  concerns(after: number, wants: (audience: EventAudience) => boolean): boolean {
    if (this.watermark <= after) return false;
    // The first announcement that moved the head past `after` (their `to` never decreases: a binary search, as
    // every waiting subscriber asks at every announcement).
    let lo = 0;
    let hi = this.announcements.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.announcements[mid].to > after) hi = mid;
      else lo = mid + 1;
    }
    const first = lo < this.announcements.length ? lo : -1;
    if (first < 0 || this.announcements[first].from > after) return true;
    for (let i = first; i < this.announcements.length; i++) {
      for (const e of this.announcements[i].events) {
        if (!(Number(e.seq) > after)) continue;
        if (!e.audience || wants(e.audience)) return true;
      }
    }
    return false;
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

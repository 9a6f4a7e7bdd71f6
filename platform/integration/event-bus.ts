// Fan-out of "new events are in the log" to every process that serves subscribers (docs/architecture.md#decision-7). One
// machine: an in-process emitter. Several: Redis pub/sub, so a subscriber on any gateway instance hears of every
// event. The bus is a doorbell, not the store: messages name events by seq, subscribers read the events
// themselves from the durable log, so a lost or repeated message can delay an event but never lose or repeat it.
import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import type { Logger } from '../logger.ts';

export interface BusEvent {
  seq: string;
  type: string;
  /**
   * Whose event it is, as the row scope of sync events decides (schema/permissions.ts, syncEventConcerns): lets a
   * gateway skip reading the log for subscribers it cannot concern. Absent: unknown (every subscriber reads).
   */
  audience?: EventAudience;
}

/**
 * A sync event's subject as the row scope sees it: a claim's event, and the claim's applicant and department; for a
 * feedback event, its sender.
 */
export interface EventAudience {
  claim: boolean;
  applicantId: string | null;
  departmentId: string | null;
  /** A feedback event's sender (absent from older publishers: then no feedback event is known to be anyone's). */
  senderId?: string | null;
}

export type BusListener = (events: BusEvent[]) => void;

/**
 * "Events were stored in the log", rung by the processes that write them (oa, archive) after each commit that
 * appended some, so that the sync process reads the log at once instead of at its next poll. It names no seq: it is
 * no announcement to subscribers (the gateway's feed takes only seqs; `''` is none).
 */
export const STORED: BusEvent = { seq: '', type: 'STORED' };

/** Rings STORED on the bus after every transaction of this process that appended events (at most once per tick). */
export function ringWhenStored(bus: EventBus, appends: EventEmitter): () => void {
  let pending = false;
  const ring = () => {
    if (pending) return;
    pending = true;
    setImmediate(() => {
      pending = false;
      void bus.publish([STORED]).catch(() => undefined);
    });
  };
  appends.on('appended', ring);
  return () => appends.off('appended', ring);
}

export interface EventBus {
  readonly kind: 'local' | 'redis';
  publish(events: BusEvent[]): Promise<void>;
  /** Returns the unsubscribe function. */
  subscribe(listener: BusListener): () => void;
  close(): Promise<void>;
}

export class LocalEventBus implements EventBus {
  readonly kind = 'local' as const;
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  async publish(events: BusEvent[]): Promise<void> {
    if (events.length) this.emitter.emit('events', events);
  }

  subscribe(listener: BusListener): () => void {
    this.emitter.on('events', listener);
    return () => this.emitter.off('events', listener);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}

export const REDIS_CHANNEL = 'oa-archive:sync-events';

export class RedisEventBus implements EventBus {
  readonly kind = 'redis' as const;
  private readonly pub: Redis;
  private readonly sub: Redis;
  private readonly local = new LocalEventBus();
  private readonly ready: Promise<unknown>;

  constructor(
    url: string,
    private readonly logger: Logger,
    private readonly channel = REDIS_CHANNEL,
  ) {
    // Retry forever with a capped delay: a Redis restart delays live delivery, the durable log fills the gap.
    const options = { lazyConnect: false, maxRetriesPerRequest: 3, retryStrategy: (times: number) => Math.min(times * 200, 5000) };
    this.pub = new Redis(url, options);
    this.sub = new Redis(url, options);
    for (const [role, client] of [['publisher', this.pub], ['subscriber', this.sub]] as const) {
      // ioredis error objects can carry the URL; log the code only.
      client.on('error', (err: NodeJS.ErrnoException) => this.logger.warn({ redis: role, code: err.code ?? 'ERROR' }, 'redis connection problem'));
    }
    this.sub.on('message', (channel: string, message: string) => {
      if (channel !== this.channel) return;
      try {
        const events = JSON.parse(message) as BusEvent[];
        if (Array.isArray(events)) void this.local.publish(events);
      } catch {
        this.logger.warn({ channel }, 'ignored a malformed message on the event channel');
      }
    });
    this.ready = this.sub.subscribe(this.channel);
  }

  /** Resolves once the subscription is in place (tests and start-up wait for it). */
  async connected(): Promise<void> {
    await this.ready;
  }

  async publish(events: BusEvent[]): Promise<void> {
    if (!events.length) return;
    await this.pub.publish(this.channel, JSON.stringify(events.map((e) => ({ seq: e.seq, type: e.type }))));
  }

  subscribe(listener: BusListener): () => void {
    return this.local.subscribe(listener);
  }

  async close(): Promise<void> {
    await this.local.close();
    await Promise.allSettled([this.sub.quit(), this.pub.quit()]);
  }
}

export function createEventBus(redisUrl: string | undefined, logger: Logger): EventBus {
  return redisUrl ? new RedisEventBus(redisUrl, logger) : new LocalEventBus();
}

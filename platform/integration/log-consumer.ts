// A durable consumer of the event log (events.ts): it reads from the position it saved, hands each batch to its
// handler, then saves the position past it. A crash between the two replays the batch, so delivery is at least
// once and in order; handlers key their writes on the source event to make a replay harmless
// (docs/architecture.md, decision 5). Positions only move forward ($max), so an instance that fell behind never
// moves one back. Every consumer keeps its position in `sync_cursors` as `{ _id: <consumer name>, seq }`.
import type { Connection, Model } from 'mongoose';
import { Schema } from 'mongoose';
import type { DomainEvent, EventLog } from './events.ts';

export interface CursorDoc {
  _id: string;
  /** seq of the last event handled. */
  seq: number;
}

const cursorSchema = new Schema<CursorDoc>({ _id: String, seq: Number }, { collection: 'sync_cursors', versionKey: false });

/** The one model of `sync_cursors` on a connection (one name, so modules sharing a connection share it). */
export function cursorModel(connection: Connection): Model<CursorDoc> {
  return (connection.models.SyncCursor as Model<CursorDoc> | undefined) ?? connection.model<CursorDoc>('SyncCursor', cursorSchema);
}

export interface LogConsumerOptions {
  connection: Connection;
  events: EventLog;
  /** The position's key in `sync_cursors`. */
  name: string;
  /** Only events of these types (every event when omitted). */
  types?: readonly string[];
  batchSize?: number;
  /** Batches per consume() at most (unbounded when omitted). */
  maxBatches?: number;
}

export interface BatchHandler {
  /** Handles one batch, oldest first; the position moves past it only once this resolves. */
  handle(batch: DomainEvent[]): Promise<void>;
  /** Runs after the position was saved past the batch (e.g. announcing it). */
  saved?(batch: DomainEvent[]): Promise<void>;
  /** Asked after each full batch: false ends this consume() (e.g. the lease was lost meanwhile). */
  more?(): boolean;
}

/** How long the position this consumer saved or read is used without reading it again. */
const POSITION_FRESH_MS = 5_000;

export class LogConsumer {
  readonly name: string;
  private readonly cursors: Model<CursorDoc>;
  /** The position as this consumer last saved or read it, and when. */
  private known: { seq: number; at: number } | null = null;

  constructor(private readonly o: LogConsumerOptions) {
    this.name = o.name;
    this.cursors = cursorModel(o.connection);
  }

  async init(): Promise<void> {
    await this.cursors.init();
  }

  /** seq of the last event handled (durable); 0 before the first. */
  async position(): Promise<number> {
    return (await this.cursors.findById(this.o.name).lean())?.seq ?? 0;
  }

  /**
   * Handles what was appended since the saved position; returns how many events. The position is read afresh (it
   * is the truth) unless this consumer saved or read it in the last few seconds: positions only move forward, so the
   * one it knows is at most behind the truth, and starting behind replays events, which handlers absorb. A busy
   * consumer, woken by every event, does not read its position back at every pass.
   */
  async consume(handler: BatchHandler): Promise<number> {
    const size = this.o.batchSize ?? 100;
    const types = this.o.types ? [...this.o.types] : undefined;
    const cached = this.known !== null && Date.now() - this.known.at < POSITION_FRESH_MS;
    let position = cached ? this.known!.seq : await this.position();
    if (!cached) this.known = { seq: position, at: Date.now() };
    let handled = 0;
    for (let n = 1; ; n++) {
      // Only as far as every seq is resolved (platform/integration/events.ts): a seq still to commit is never passed.
      const { events: batch, through } = await this.o.events.read(position, size, types);
      if (through === position) return handled;
      const readAll = batch.length < size;
      if (batch.length) await handler.handle(batch);
      position = through;
      await this.cursors.updateOne({ _id: this.o.name }, { $max: { seq: position } }, { upsert: true });
      this.known = { seq: position, at: Date.now() };
      handled += batch.length;
      if (batch.length) await handler.saved?.(batch);
      if (readAll || n >= (this.o.maxBatches ?? Infinity) || handler.more?.() === false) return handled;
    }
  }
}

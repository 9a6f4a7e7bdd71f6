// The durable domain-event log. Every state change that others must hear about appends its event inside the
// same transaction as the change itself, so both are stored or neither is. Events carry a gap-free sequence
// drawn from a counter in that same transaction: consumers (the sync subgraph) read them in order and
// remember the last sequence they processed.
import { EventEmitter } from 'node:events';
import type { ClientSession, Connection, Model } from 'mongoose';
import { Schema } from 'mongoose';

export interface EventSubject {
  type: string;
  id: string;
}

export interface DomainEvent {
  seq: number;
  type: string;
  subject: EventSubject;
  occurredAt: Date;
  /** Who caused it: an employee id, a service name, or `system` for timers. */
  actor: string;
  payload: Record<string, unknown>;
}

/**
 * Rings once a transaction that appended events has ended (committed or not), so that consumers in the same
 * process (the sync pipeline) read the log at once instead of at their next poll. Consumers in other processes
 * poll; this is a shortcut, never the only path.
 */
export const localAppends = new EventEmitter().setMaxListeners(0);
const ringing = new WeakSet<ClientSession>();

interface CounterDoc {
  _id: string;
  seq: number;
}

const eventSchema = new Schema<DomainEvent>(
  {
    seq: { type: Number, required: true, unique: true },
    type: { type: String, required: true },
    subject: { type: { type: String, required: true }, id: { type: String, required: true } },
    occurredAt: { type: Date, required: true },
    actor: { type: String, required: true },
    payload: { type: Schema.Types.Mixed, default: {} },
  },
  { collection: 'domain_events', versionKey: false, minimize: false },
);
eventSchema.index({ 'subject.type': 1, 'subject.id': 1, seq: 1 });

const counterSchema = new Schema<CounterDoc>({ _id: String, seq: Number }, { collection: 'counters', versionKey: false });

export class EventLog {
  readonly events: Model<DomainEvent>;
  private readonly counters: Model<CounterDoc>;

  constructor(connection: Connection) {
    this.events = (connection.models.DomainEvent as Model<DomainEvent> | undefined) ?? connection.model<DomainEvent>('DomainEvent', eventSchema);
    this.counters = (connection.models.Counter as Model<CounterDoc> | undefined) ?? connection.model<CounterDoc>('Counter', counterSchema);
  }

  /**
   * Appends an event inside the caller's transaction. The counter increment makes concurrent appenders
   * conflict (and the driver retry one of them), which is what keeps the sequence gap-free and ordered.
   */
  async append(
    session: ClientSession,
    event: { type: string; subject: EventSubject; actor: string; payload?: Record<string, unknown>; occurredAt?: Date },
  ): Promise<DomainEvent> {
    if (!session.inTransaction()) throw new Error('EventLog.append must run inside a transaction');
    const counter = await this.counters.findOneAndUpdate({ _id: 'domain_events' }, { $inc: { seq: 1 } }, { upsert: true, returnDocument: 'after', session });
    const doc: DomainEvent = {
      seq: counter.seq,
      type: event.type,
      subject: event.subject,
      occurredAt: event.occurredAt ?? new Date(),
      actor: event.actor,
      payload: event.payload ?? {},
    };
    await this.events.create([doc], { session });
    if (!ringing.has(session)) {
      ringing.add(session);
      session.once('ended', () => localAppends.emit('appended'));
    }
    return doc;
  }

  /** Events with a sequence above `after`, oldest first. */
  async after(after: number, limit = 100, types?: string[]): Promise<DomainEvent[]> {
    const filter: Record<string, unknown> = { seq: { $gt: after } };
    if (types?.length) filter.type = { $in: types };
    return this.events.find(filter, { _id: 0 }).sort({ seq: 1 }).limit(limit).lean<DomainEvent[]>();
  }

  async forSubject(subject: EventSubject): Promise<DomainEvent[]> {
    return this.events.find({ 'subject.type': subject.type, 'subject.id': subject.id }, { _id: 0 }).sort({ seq: 1 }).lean<DomainEvent[]>();
  }
}

/** A sequence counter per key (claim numbers per year, voucher numbers per period), gap-free inside a transaction. */
export async function nextSequence(connection: Connection, key: string, session: ClientSession): Promise<number> {
  if (!session.inTransaction()) throw new Error('nextSequence must run inside a transaction to stay gap-free');
  const counters = (connection.models.Counter as Model<CounterDoc> | undefined) ?? connection.model<CounterDoc>('Counter', counterSchema);
  const doc = await counters.findOneAndUpdate({ _id: key }, { $inc: { seq: 1 } }, { upsert: true, returnDocument: 'after', session });
  return doc.seq;
}

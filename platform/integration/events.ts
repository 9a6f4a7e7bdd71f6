// The durable domain-event log. Every state change that others must hear about appends its event inside the
// same transaction as the change itself, so both are stored or neither is. Consumers (the sync subgraph, the
// subscriptions) read events in the order of their sequence and remember the last one they processed.
//
// The sequence is drawn from a counter *outside* the transaction (an atomic `$inc` of its own). Drawn inside it, the
// counter was one document every event-writing transaction of every process wrote: under snapshot isolation any two
// that overlapped conflicted, and the system managed about one such transaction at a time (issue 18). Drawn outside,
// a seq can be taken by a transaction that then does not commit, and a seq can commit after a higher one. So:
// - a seq is *resolved* once its event or its tombstone (an `UNUSED_SEQ` document) is stored; readers only go as
//   far as every seq before is resolved (`read`, `horizon`), so no consumer ever passes a seq still to commit;
// - a transaction that draws seqs and does not commit tombstones them at once (platform/integration/transactions.ts);
// - a seq left by a process that died holding it is tombstoned by the first reader that has waited GAP_TIMEOUT_MS
//   for it. The unique index on `seq` makes a late commit of that event fail (and its transaction run again) rather
//   than land behind a reader: a seq is an event or a tombstone, never both.
import { EventEmitter } from 'node:events';
import type { ClientSession, Connection, Model } from 'mongoose';
import { Schema } from 'mongoose';
import { currentTraceparent } from '../tracing.ts';

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
  /**
   * The W3C traceparent of the request or job that appended it (platform/tracing.ts): what the event causes later,
   * in another process (a sync job, a webhook delivery), continues that trace. Absent outside any trace.
   */
  traceparent?: string;
}

/**
 * Rings once a transaction that appended events has ended (committed or not), so that consumers in the same
 * process (the sync pipeline) read the log at once instead of at their next poll. Consumers in other processes
 * poll; this is a shortcut, never the only path.
 */
export const localAppends = new EventEmitter().setMaxListeners(0);
const ringing = new WeakSet<ClientSession>();

/** The type of a tombstone: a seq drawn by a transaction that did not commit. Readers never return it. */
export const UNUSED_SEQ = '_UNUSED_SEQ';
/**
 * How long a reader waits for a missing seq before taking its transaction for dead: longer than transactions run
 * (under the soak's load, p99 below 1 s), as short as a restart after a crash should stall consumers (the sync
 * lease's TTL is 5 s too). Correctness does not depend on it: a live transaction whose seq was tombstoned fails on
 * the unique `seq` and runs again.
 */
export const GAP_TIMEOUT_MS = 5_000;
/** Seqs tombstoned at once, at most (a gap longer than this is resolved in steps, without waiting again). */
const MAX_TOMBSTONES = 1_000;
/** The counter of resolved seqs, saved now and then so that a process starting does not walk the whole log. */
const RESOLVED_COUNTER = 'domain_events_resolved';

/** The seqs each session's current transaction attempt has drawn, and the log they belong to. */
const drawnBy = new WeakMap<ClientSession, { log: EventLog; seqs: number[] }>();

/**
 * After a transaction attempt that did not commit (or whose outcome is unknown): tombstones the seqs it drew, so
 * readers need not wait for them. A seq whose event did commit keeps it (the tombstone's insert fails on `seq`).
 */
export async function abandonDrawnSeqs(session: ClientSession): Promise<void> {
  const drawn = drawnBy.get(session);
  drawnBy.delete(session);
  if (drawn?.seqs.length) await drawn.log.tombstone(drawn.seqs, 'its transaction did not commit');
}

/** After a commit: the seqs the session drew are its events'. */
export const forgetDrawnSeqs = (session: ClientSession): void => void drawnBy.delete(session);

/** Whether an error is a commit that found its event's seq tombstoned (platform/integration/transactions.ts runs it again). */
export const isTakenSeq = (err: unknown): boolean =>
  (err as { code?: number }).code === 11000 && /domain_events/.test(String((err as Error).message)) && /\bseq\b/.test(String((err as Error).message));

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
    traceparent: { type: String },
  },
  { collection: 'domain_events', versionKey: false, minimize: false },
);
eventSchema.index({ 'subject.type': 1, 'subject.id': 1, seq: 1 });
// The SYNC_FAILURES alert counts the failures of its window (subgraphs/operations/alerts/rules.ts): without an index it
// read the whole log at every evaluation. Partial: only failures are indexed, so appending other events costs nothing more.
eventSchema.index({ occurredAt: 1 }, { name: 'sync_failures_by_time', partialFilterExpression: { type: 'SYNC_FAILED' } });

const counterSchema = new Schema<CounterDoc>({ _id: String, seq: Number }, { collection: 'counters', versionKey: false });

/** An event to append: its seq is drawn by the log. */
export interface NewEvent {
  type: string;
  subject: EventSubject;
  actor: string;
  payload?: Record<string, unknown>;
  occurredAt?: Date;
}

export class EventLog {
  readonly events: Model<DomainEvent>;
  private readonly counters: Model<CounterDoc>;
  /** Every seq up to this one is resolved (known to this process; only grows). */
  private resolved = -1;
  /** Missing seqs readers are waiting for, and since when (ms). */
  private readonly missingSince = new Map<number, number>();

  /** `gapTimeoutMs`: GAP_TIMEOUT_MS unless a test waits for less. */
  constructor(
    connection: Connection,
    private readonly gapTimeoutMs = GAP_TIMEOUT_MS,
  ) {
    this.events = (connection.models.DomainEvent as Model<DomainEvent> | undefined) ?? connection.model<DomainEvent>('DomainEvent', eventSchema);
    this.counters = (connection.models.Counter as Model<CounterDoc> | undefined) ?? connection.model<CounterDoc>('Counter', counterSchema);
  }

  /**
   * Appends an event inside the caller's transaction, with a seq drawn outside it (see the top of this file): the
   * transaction must run through platform/integration/transactions.ts, which resolves the seqs of an attempt that
   * does not commit.
   */
  async append(session: ClientSession, event: NewEvent): Promise<DomainEvent> {
    return (await this.appendMany(session, [event]))[0];
  }

  /**
   * Appends events in order inside the caller's transaction, their seqs drawn together outside it (one counter
   * increment for the lot; see append).
   */
  async appendMany(session: ClientSession, events: readonly NewEvent[]): Promise<DomainEvent[]> {
    if (!session.inTransaction()) throw new Error('EventLog.append must run inside a transaction');
    if (!events.length) return [];
    // No session: the increment commits on its own, so no two transactions ever write the same counter.
    const counter = await this.counters.findOneAndUpdate({ _id: 'domain_events' }, { $inc: { seq: events.length } }, { upsert: true, returnDocument: 'after' });
    const first = counter.seq - events.length + 1;
    const seqs = events.map((_, i) => first + i);
    const drawn = drawnBy.get(session);
    if (drawn) drawn.seqs.push(...seqs);
    else drawnBy.set(session, { log: this, seqs });
    const traceparent = currentTraceparent();
    const docs: DomainEvent[] = events.map((event, i) => ({
      seq: seqs[i],
      type: event.type,
      subject: event.subject,
      occurredAt: event.occurredAt ?? new Date(),
      actor: event.actor,
      payload: event.payload ?? {},
      ...(traceparent ? { traceparent } : {}),
    }));
    await this.events.insertMany(docs, { session });
    if (!ringing.has(session)) {
      ringing.add(session);
      session.once('ended', () => localAppends.emit('appended'));
    }
    return docs;
  }

  /**
   * Up to `limit` events above `after` (of `types`, when given; tombstones never), oldest first, as far as every seq
   * before them is resolved, and `through`: the seq a consumer's position may move to (the last event returned when
   * `limit` were found; otherwise the last resolved seq read, past events of other types). `through === after`
   * while the next seq is still to commit.
   */
  async read(after: number, limit = 100, types?: readonly string[]): Promise<{ events: DomainEvent[]; through: number }> {
    const page = Math.max(limit, 100);
    const events: DomainEvent[] = [];
    let through = after;
    for (;;) {
      // The seqs and types first (small): how far the run of resolved seqs goes; then only the wanted events of that
      // run, when it holds any (a consumer of a few types skips the rest without reading them).
      const seqs = await this.events.find({ seq: { $gt: through } }, { seq: 1, type: 1, _id: 0 }).sort({ seq: 1 }).limit(page).lean<{ seq: number; type: string }[]>();
      const end = contiguous(through, seqs);
      const wants = (type: string) => (types ? types.includes(type) : type !== UNUSED_SEQ);
      if (end > through && seqs.some((s) => s.seq <= end && wants(s.type))) {
        const wanted = types ? { $in: [...types] } : { $ne: UNUSED_SEQ };
        const found = await this.events
          .find({ seq: { $gt: through, $lte: end }, type: wanted }, { _id: 0 })
          .sort({ seq: 1 })
          .limit(limit - events.length)
          .lean<DomainEvent[]>();
        events.push(...found);
        if (events.length === limit) return { events, through: found[found.length - 1].seq };
      }
      // The first seq stored after the gap, if the run stopped at one.
      const nextStored = seqs[end - through]?.seq;
      through = end;
      if (nextStored !== undefined) {
        if (await this.resolveIfDead(end + 1, nextStored)) continue;
        return { events, through };
      }
      if (seqs.length < page) return { events, through };
    }
  }

  /** Events with a sequence above `after`, oldest first, as far as every seq is resolved. */
  async after(after: number, limit = 100, types?: readonly string[]): Promise<DomainEvent[]> {
    return (await this.read(after, limit, types)).events;
  }

  /**
   * The highest seq up to which every seq is resolved: what a reader of the log by seq (a query's `seq <= horizon`,
   * a subscription's head) may rely on as complete.
   */
  async horizon(): Promise<number> {
    if (this.resolved < 0) {
      const saved = await this.counters.findById(RESOLVED_COUNTER).lean<CounterDoc>();
      this.resolved = Math.max(this.resolved, saved?.seq ?? 0);
    }
    for (;;) {
      const from = this.resolved;
      const docs = await this.events.find({ seq: { $gt: from } }, { seq: 1, _id: 0 }).sort({ seq: 1 }).limit(1000).lean<{ seq: number }[]>();
      const through = contiguous(from, docs);
      if (through > from) this.noteResolved(through);
      if (through - from < docs.length) {
        if (await this.resolveIfDead(through + 1, docs[through - from].seq)) continue;
        return this.resolved;
      }
      if (docs.length < 1000) return this.resolved;
    }
  }

  /** Stores a tombstone for each seq that has no event (a seq with one keeps it). */
  async tombstone(seqs: readonly number[], reason: string): Promise<void> {
    if (!seqs.length) return;
    const now = new Date();
    try {
      // Unordered: a seq that has its event (or a tombstone) meanwhile keeps it, and the others are still stored.
      await this.events.collection.insertMany(
        seqs.map((seq) => ({ seq, type: UNUSED_SEQ, subject: { type: 'EventLog', id: String(seq) }, occurredAt: now, actor: 'system', payload: { reason } })),
        { ordered: false },
      );
    } catch (err) {
      const failures = (err as { writeErrors?: { code?: number }[] | { code?: number } }).writeErrors;
      const codes = failures === undefined ? [(err as { code?: number }).code] : (Array.isArray(failures) ? failures : [failures]).map((f) => f.code);
      if (codes.some((c) => c !== 11000)) throw err;
    }
  }

  /**
   * The missing seqs from `seq` to just before `nextStored` (the next seq stored), once waited for longer than
   * GAP_TIMEOUT_MS, are tombstoned together; true when they are resolved now. The whole gap ages from the moment the
   * first of it was seen missing: every seq below a stored one had been drawn by then, and a transaction drawing a
   * block of seqs (EventLog.appendMany) leaves a gap of many when its process dies, which must not cost a timeout each.
   */
  private async resolveIfDead(seq: number, nextStored: number, now = Date.now()): Promise<boolean> {
    for (const waited of this.missingSince.keys()) if (waited < seq) this.missingSince.delete(waited);
    const since = this.missingSince.get(seq);
    if (since === undefined) {
      if (this.missingSince.size > 1000) this.missingSince.clear();
      this.missingSince.set(seq, now);
      return false;
    }
    if (now - since < this.gapTimeoutMs) return false;
    const last = Math.min(nextStored - 1, seq + MAX_TOMBSTONES - 1);
    await this.tombstone(
      Array.from({ length: Math.max(1, last - seq + 1) }, (_, i) => seq + i),
      `no event committed within ${this.gapTimeoutMs} ms (its process stopped or failed)`,
    );
    this.missingSince.delete(seq);
    // A longer gap goes on at once: its rest was missing as long.
    if (last + 1 < nextStored) this.missingSince.set(last + 1, since);
    return true;
  }

  private noteResolved(through: number): void {
    const saved = this.resolved;
    this.resolved = Math.max(this.resolved, through);
    // Saved now and then ($max: only forward), for the next process to start from.
    if (Math.floor(through / 500) > Math.floor(Math.max(saved, 0) / 500)) {
      void this.counters.updateOne({ _id: RESOLVED_COUNTER }, { $max: { seq: through } }, { upsert: true }).catch(() => undefined);
    }
  }

  async forSubject(subject: EventSubject): Promise<DomainEvent[]> {
    return this.events.find({ 'subject.type': subject.type, 'subject.id': subject.id }, { _id: 0 }).sort({ seq: 1 }).lean<DomainEvent[]>();
  }
}

/** The last seq of the run of consecutive seqs right after `after` in `docs` (ascending). */
function contiguous(after: number, docs: readonly { seq: number }[]): number {
  let through = after;
  while (through - after < docs.length && docs[through - after].seq === through + 1) through++;
  return through;
}

/**
 * A sequence counter per key (claim numbers per year, voucher numbers per period), gap-free inside a transaction:
 * draws `count` consecutive numbers and returns the first.
 */
export async function nextSequence(connection: Connection, key: string, session: ClientSession, count = 1): Promise<number> {
  if (!session.inTransaction()) throw new Error('nextSequence must run inside a transaction to stay gap-free');
  if (!Number.isSafeInteger(count) || count < 1) throw new Error(`nextSequence draws at least one number, not ${count}`);
  const counters = (connection.models.Counter as Model<CounterDoc> | undefined) ?? connection.model<CounterDoc>('Counter', counterSchema);
  const doc = await counters.findOneAndUpdate({ _id: key }, { $inc: { seq: count } }, { upsert: true, returnDocument: 'after', session });
  return doc.seq - count + 1;
}

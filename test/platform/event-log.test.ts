// The event log's sequence drawn outside transactions (platform/integration/events.ts), against a real database:
// readers never pass a seq still to commit, a transaction that does not commit resolves its seqs at once, a seq
// left by a dead process is tombstoned after the gap timeout, and a late commit of a tombstoned seq runs again.
import type { Connection } from 'mongoose';
import { beforeAll, describe, expect, it } from 'vitest';
import { EventLog, UNUSED_SEQ } from '../../platform/integration/events.ts';
import { transaction } from '../../platform/integration/transactions.ts';
import { useMongo } from '../helpers/mongo.ts';

const mongo = useMongo('event_log');
let conn: Connection;
let log: EventLog;

beforeAll(async () => {
  conn = await mongo.mongoose();
  log = new EventLog(conn);
  await log.events.init();
});

const subject = (id: string) => ({ type: 'Test', id });
const append = (type: string, id = type) => transaction(conn, (session) => log.append(session, { type, subject: subject(id), actor: 'test' }));
const head = async () => (await conn.collection<{ _id: string; seq: number }>('counters').findOne({ _id: 'domain_events' }))?.seq ?? 0;
const stored = (seq: number) => log.events.findOne({ seq }, { _id: 0, seq: 1, type: 1 }).lean<{ seq: number; type: string }>();

async function until<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('EventLog with seqs drawn outside transactions', () => {
  it('stops every reader before a seq whose transaction is still open, and goes on once it commits', async () => {
    const before = await log.horizon();
    const session = await conn.startSession();
    session.startTransaction();
    const held = await log.append(session, { type: 'HELD', subject: subject('held'), actor: 'test' });
    const later = await append('LATER');
    expect(later.seq).toBe(held.seq + 1);
    // The later event is stored, but a reader must not pass the held seq: it could commit after the reader moved on.
    expect(await log.read(before, 10)).toEqual({ events: [], through: before });
    expect(await log.horizon()).toBe(before);
    await session.commitTransaction();
    await session.endSession();
    const { events, through } = await log.read(before, 10);
    expect(events.map((e) => [e.seq, e.type])).toEqual([
      [held.seq, 'HELD'],
      [later.seq, 'LATER'],
    ]);
    expect(through).toBe(later.seq);
    expect(await log.horizon()).toBe(later.seq);
  });

  it('tombstones at once the seqs of a transaction that does not commit, and readers pass them', async () => {
    const before = await log.horizon();
    let drawn = 0;
    await expect(
      transaction(conn, async (session) => {
        drawn = (await log.append(session, { type: 'ABORTED', subject: subject('aborted'), actor: 'test' })).seq;
        throw new Error('refused after the event was appended');
      }),
    ).rejects.toThrow('refused after the event was appended');
    expect(await stored(drawn)).toEqual({ seq: drawn, type: UNUSED_SEQ });
    const next = await append('AFTER_ABORT');
    const { events, through } = await log.read(before, 10);
    expect(events.map((e) => e.type)).toEqual(['AFTER_ABORT']);
    expect(through).toBe(next.seq);
    expect(await log.horizon()).toBe(next.seq);
    expect(await log.events.countDocuments({ type: 'ABORTED' })).toBe(0);
  });

  it('resolves the seqs of attempts the driver ran again after a write conflict', async () => {
    const before = await log.horizon();
    await conn.collection('event_log_contended').insertOne({ _id: 'one' as never, n: 0 });
    let attempts = 0;
    const bump = (type: string) =>
      transaction(conn, async (session) => {
        attempts++;
        await log.append(session, { type, subject: subject(type), actor: 'test' });
        await conn.collection('event_log_contended').updateOne({ _id: 'one' as never }, { $inc: { n: 1 } }, { session });
        // Both hold their write until both have drawn a seq, so one of them conflicts.
        await new Promise((r) => setTimeout(r, 50));
      });
    await Promise.all([bump('CONTENDED_A'), bump('CONTENDED_B')]);
    expect(attempts).toBeGreaterThan(2);
    expect((await conn.collection('event_log_contended').findOne({ _id: 'one' as never }))?.n).toBe(2);
    const { events, through } = await log.read(before, 10);
    expect(events.map((e) => e.type).sort()).toEqual(['CONTENDED_A', 'CONTENDED_B']);
    // Every drawn seq is an event or a tombstone: the reader got to the counter's head without waiting.
    expect(through).toBe(await head());
    expect(await log.events.countDocuments({ seq: { $gt: before, $lte: through } })).toBe(through - before);
  });

  it('tombstones a seq left by a process that died holding it once readers waited the gap timeout', async () => {
    const quick = new EventLog(conn, 300);
    const before = await quick.horizon();
    // A process drew a seq and died before its transaction committed.
    const orphan = (await conn.collection<{ _id: string; seq: number }>('counters').findOneAndUpdate({ _id: 'domain_events' }, { $inc: { seq: 1 } }, { returnDocument: 'after' }))!.seq;
    const next = await append('AFTER_DEATH');
    expect(await quick.read(before, 10)).toEqual({ events: [], through: before });
    const waited = Date.now();
    const { events, through } = await until(async () => {
      const r = await quick.read(before, 10);
      return r.through > before ? r : undefined;
    }, 'the orphan seq to be tombstoned');
    expect(Date.now() - waited).toBeGreaterThanOrEqual(250);
    expect(events.map((e) => e.seq)).toEqual([next.seq]);
    expect(through).toBe(next.seq);
    expect(await stored(orphan)).toEqual({ seq: orphan, type: UNUSED_SEQ });
  });

  it('tombstones a block of seqs left by a process that died holding them after one gap timeout, not one per seq', async () => {
    const quick = new EventLog(conn, 300);
    const before = await quick.horizon();
    // A batch (EventLog.appendMany) drew 100 seqs at once and its process died before committing.
    const last = (await conn.collection<{ _id: string; seq: number }>('counters').findOneAndUpdate({ _id: 'domain_events' }, { $inc: { seq: 100 } }, { returnDocument: 'after' }))!.seq;
    const next = await append('AFTER_BLOCK');
    const waited = Date.now();
    const { events, through } = await until(async () => {
      const r = await quick.read(before, 10);
      return r.through > before ? r : undefined;
    }, 'the orphan block to be tombstoned', 60_000);
    const took = Date.now() - waited;
    expect(took).toBeGreaterThanOrEqual(250);
    // One timeout for the lot: a timeout per seq, one after the other, would be 30 s.
    expect(took).toBeLessThan(10_000);
    expect(events.map((e) => e.seq)).toEqual([next.seq]);
    expect(through).toBe(next.seq);
    expect(await log.events.countDocuments({ seq: { $gt: last - 100, $lte: last }, type: UNUSED_SEQ })).toBe(100);
    // The horizon, read by another process's log, resolves such a block the same way.
    const other = new EventLog(conn, 300);
    const block = (await conn.collection<{ _id: string; seq: number }>('counters').findOneAndUpdate({ _id: 'domain_events' }, { $inc: { seq: 20 } }, { returnDocument: 'after' }))!.seq;
    const after = await append('AFTER_SECOND_BLOCK');
    await until(async () => ((await other.horizon()) >= after.seq ? true : undefined), 'the horizon past the second block', 10_000);
    expect(await log.events.countDocuments({ seq: { $gt: block - 20, $lte: block }, type: UNUSED_SEQ })).toBe(20);
  });

  it('runs again a transaction whose seq was tombstoned before it committed: one event, nothing lost', async () => {
    const before = await log.horizon();
    let first = 0;
    const event = await transaction(conn, async (session) => {
      const appended = await log.append(session, { type: 'LATE', subject: subject('late'), actor: 'test' });
      // The first attempt runs so long that a reader takes it for dead.
      if (!first) {
        first = appended.seq;
        await log.tombstone([appended.seq], 'test: taken for dead');
      }
      return appended;
    });
    expect(event.seq).toBeGreaterThan(first);
    expect(await stored(first)).toEqual({ seq: first, type: UNUSED_SEQ });
    expect(await log.events.countDocuments({ type: 'LATE' })).toBe(1);
    const { events } = await log.read(before, 10);
    expect(events.map((e) => [e.seq, e.type])).toEqual([[event.seq, 'LATE']]);
  });

  it('reads up to `limit` events of the given types, passing over others and tombstones', async () => {
    const before = await log.horizon();
    const a = await append('PICK');
    await append('SKIP');
    await transaction(conn, async (session) => {
      await log.append(session, { type: 'PICK', subject: subject('x'), actor: 'test' });
      throw new Error('aborted');
    }).catch(() => undefined);
    const b = await append('PICK');
    const c = await append('PICK');
    expect(await log.read(before, 2, ['PICK'])).toMatchObject({ events: [{ seq: a.seq }, { seq: b.seq }], through: b.seq });
    expect(await log.read(b.seq, 2, ['PICK'])).toMatchObject({ events: [{ seq: c.seq }], through: c.seq });
  });
});

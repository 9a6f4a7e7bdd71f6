// The durable consumer of the event log against a real database: it resumes after a restart from the saved
// position, never skips an event, hands a batch over again until its handler succeeded, and keeps its position as
// `{ _id: <consumer name>, seq }` in sync_cursors.
import type { Connection } from 'mongoose';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DomainEvent } from '../../platform/integration/events.ts';
import { EventLog } from '../../platform/integration/events.ts';
import { LogConsumer, type LogConsumerOptions, cursorModel } from '../../platform/integration/log-consumer.ts';
import { useMongo } from '../helpers/mongo.ts';

const mongo = useMongo('log_consumer');
let conn: Connection;
let log: EventLog;

beforeAll(async () => {
  conn = await mongo.mongoose();
  log = new EventLog(conn);
  await log.events.init();
});

async function append(type: string, n = 1): Promise<number[]> {
  const seqs: number[] = [];
  for (let i = 0; i < n; i++) {
    const event = await conn.transaction((session) => log.append(session, { type, subject: { type: 'Test', id: `t-${type}-${i}` }, actor: 'test' }));
    seqs.push(event.seq);
  }
  return seqs;
}

async function consumer(name: string, o: Partial<LogConsumerOptions> = {}): Promise<LogConsumer> {
  const c = new LogConsumer({ connection: conn, events: log, name, ...o });
  await c.init();
  return c;
}

/** consume() recording every batch handed over, as seqs. */
async function drain(c: LogConsumer): Promise<number[][]> {
  const batches: number[][] = [];
  await c.consume({ handle: async (batch) => void batches.push(batch.map((e) => e.seq)) });
  return batches;
}

const storedCursor = (name: string) => conn.collection('sync_cursors').findOne({ _id: name as never });

describe('LogConsumer', () => {
  it('resumes after a restart from the saved position, and stores it as { _id, seq }', async () => {
    const first = await append('RESUME_A', 3);
    const before = await consumer('resume', { types: ['RESUME_A', 'RESUME_B'] });
    expect(await before.position()).toBe(0);
    expect((await drain(before)).flat()).toEqual(first);
    expect(await storedCursor('resume')).toEqual({ _id: 'resume', seq: first[2] });

    // A new instance (the process restarted) reads on from there.
    const later = await append('RESUME_B', 2);
    const after = await consumer('resume', { types: ['RESUME_A', 'RESUME_B'] });
    expect(await after.position()).toBe(first[2]);
    expect((await drain(after)).flat()).toEqual(later);
    expect(await storedCursor('resume')).toEqual({ _id: 'resume', seq: later[1] });
    expect(await drain(after)).toEqual([]);
  });

  it('never skips an event: in order, batch after batch, across appends between polls', async () => {
    const c = await consumer('order', { types: ['ORDER'], batchSize: 2, maxBatches: 2 });
    const seen: number[] = [];
    const expected: number[] = [];
    let last = 0;
    for (let round = 0; round < 4; round++) {
      expected.push(...(await append('ORDER', 3)));
      [last] = await append('OTHER', 1); // of another type: passed over, never handed to this consumer
      const batches = await drain(c);
      expect(batches.every((b) => b.length <= 2)).toBe(true);
      expect(batches.length).toBeLessThanOrEqual(2);
      seen.push(...batches.flat());
    }
    // maxBatches bounds a consume(); what is left comes with the next.
    for (let batches = await drain(c); batches.length; batches = await drain(c)) seen.push(...batches.flat());
    expect(seen).toEqual(expected);
    // The position moves past events of other types too: they are read once, not at every poll.
    expect((await storedCursor('order'))?.seq).toBe(last);
  });

  it('hands a failed batch over again (at least once), then moves on', async () => {
    const seqs = await append('RETRY', 5);
    const c = await consumer('retry', { types: ['RETRY'], batchSize: 2 });
    const handed: number[][] = [];
    let failOnce = true;
    const handle = async (batch: DomainEvent[]) => {
      handed.push(batch.map((e) => e.seq));
      if (batch[0].seq === seqs[2] && failOnce) {
        failOnce = false;
        throw new Error('handler crashed');
      }
    };
    await expect(c.consume({ handle })).rejects.toThrow('handler crashed');
    // Saved past the batches that succeeded, not past the one that failed.
    expect(await c.position()).toBe(seqs[1]);
    await c.consume({ handle });
    expect(handed).toEqual([[seqs[0], seqs[1]], [seqs[2], seqs[3]], [seqs[2], seqs[3]], [seqs[4]]]);
    expect(await c.position()).toBe(seqs[4]);
  });

  it('announces a batch only once its position is saved, and stops when asked between full batches', async () => {
    const seqs = await append('ASKED', 4);
    const c = await consumer('asked', { types: ['ASKED'], batchSize: 2 });
    const saved: { seqs: number[]; position: number }[] = [];
    const handled = await c.consume({
      handle: async () => undefined,
      saved: async (batch) => void saved.push({ seqs: batch.map((e) => e.seq), position: (await storedCursor('asked'))!.seq as number }),
      more: () => false,
    });
    expect(handled).toBe(2);
    expect(saved).toEqual([{ seqs: seqs.slice(0, 2), position: seqs[1] }]);
  });

  it('never moves a stored position back (an instance that fell behind)', async () => {
    await append('BEHIND', 2);
    const c = await consumer('behind', { types: ['BEHIND'] });
    await conn.collection('sync_cursors').insertOne({ _id: 'behind' as never, seq: 0 });
    // Another instance moves the position far ahead while this one handles the batch it read before.
    await c.consume({ handle: async () => void (await conn.collection('sync_cursors').updateOne({ _id: 'behind' as never }, { $set: { seq: 1_000_000 } })) });
    expect(await storedCursor('behind')).toEqual({ _id: 'behind', seq: 1_000_000 });
  });

  it('goes on from the position it saved for a few seconds: one moved ahead meanwhile means events again, never one skipped', async () => {
    const first = await append('KNOWN', 2);
    const c = await consumer('known', { types: ['KNOWN'] });
    expect((await drain(c)).flat()).toEqual(first);
    const more = await append('KNOWN', 2);
    // Another instance (which held the lease meanwhile) handles the new events and saves its position.
    const other = await consumer('known', { types: ['KNOWN'] });
    expect((await drain(other)).flat()).toEqual(more);
    // This one starts from what it saved, not reading it back: it hands them over again, as after a crash.
    const last = await append('KNOWN', 1);
    expect((await drain(c)).flat()).toEqual([...more, ...last]);
    expect(await storedCursor('known')).toEqual({ _id: 'known', seq: last[0] });
    expect(await drain(c)).toEqual([]);
  });

  it('keeps one model of sync_cursors per connection', () => {
    expect(cursorModel(conn)).toBe(cursorModel(conn));
    expect(cursorModel(conn).collection.collectionName).toBe('sync_cursors');
  });
});

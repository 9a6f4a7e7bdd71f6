// Snapshot reads outside transactions (MongoDB 5.0+): a session started with {snapshot: true} reads every find
// and aggregate as of the time of its first read (the reply's cursor carries atClusterTime, which the driver sends
// back on later reads), so writes made afterwards by others stay invisible to it. Writes with readConcern
// snapshot outside a transaction are refused with InvalidOptions (72).
import { MongoServerError, type CommandSucceededEvent, type Document, type Timestamp } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { rejection, useMongo } from '../../helpers/mongo.ts';

const m = useMongo('snapshot');

describe('snapshot sessions', () => {
  it('read as of their first read; the reply cursor carries atClusterTime; later writes of others stay invisible', async () => {
    const coll = m.db.collection('s1');
    await coll.insertMany([{ _id: 1 }, { _id: 2 }] as Document[], { writeConcern: { w: 'majority' } });
    const client = await m.newClient({ monitorCommands: true });
    const replies: Document[] = [];
    client.on('commandSucceeded', (e: CommandSucceededEvent) => {
      if (e.commandName === 'find' || e.commandName === 'aggregate') replies.push(e.reply as Document);
    });
    const sColl = client.db(m.dbName).collection('s1');
    const session = client.startSession({ snapshot: true });
    try {
      expect(await sColl.find({}, { session }).sort({ _id: 1 }).toArray()).toEqual([{ _id: 1 }, { _id: 2 }]);
      const atClusterTime = replies[0]?.cursor?.atClusterTime as Timestamp | undefined;
      expect(atClusterTime).toBeDefined();
      expect(atClusterTime!._bsontype).toBe('Timestamp');

      // Another client writes after the session's first read.
      await coll.insertOne({ _id: 3 } as Document, { writeConcern: { w: 'majority' } });
      await coll.deleteOne({ _id: 1 as never }, { writeConcern: { w: 'majority' } });

      expect(await sColl.find({}, { session }).sort({ _id: 1 }).toArray()).toEqual([{ _id: 1 }, { _id: 2 }]);
      expect(await sColl.aggregate([{ $count: 'n' }], { session }).toArray()).toEqual([{ n: 2 }]);
      // Outside the session, the new state.
      expect(await sColl.find().sort({ _id: 1 }).toArray()).toEqual([{ _id: 2 }, { _id: 3 }]);
    } finally {
      await session.endSession();
    }
  });

  it('a write with readConcern snapshot outside a transaction is refused with InvalidOptions (72)', async () => {
    for (const cmd of [
      { insert: 's2', documents: [{ _id: 1 }] },
      { update: 's2', updates: [{ q: { _id: 1 }, u: { $set: { x: 1 } } }] },
      { delete: 's2', deletes: [{ q: { _id: 1 }, limit: 1 }] },
      { findAndModify: 's2', query: { _id: 1 }, remove: true },
    ]) {
      const err = await rejection<MongoServerError>(() => m.db.command({ ...cmd, readConcern: { level: 'snapshot' } }));
      expect(err.code).toBe(72);
      expect(err.codeName).toBe('InvalidOptions');
    }
    expect(await m.db.collection('s2').countDocuments()).toBe(0);
  });
});

// A collection created inside a transaction (implicitly, by an insert into a new collection) is part of the
// transaction: invisible to other clients (listCollections, find) until commit, gone after abort.
import { type Document } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { useMongo } from '../../helpers/mongo.ts';

const m = useMongo('txncat');

const names = async (db: ReturnType<typeof m.client.db>) => (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);

describe('collections created in a transaction', () => {
  it('are invisible to other clients until commit', async () => {
    const other = (await m.newClient()).db(m.dbName);
    const session = m.client.startSession();
    try {
      session.startTransaction();
      await m.db.collection('made_in_txn').insertOne({ _id: 1 } as Document, { session });
      expect(await m.db.collection('made_in_txn').find({}, { session }).toArray()).toEqual([{ _id: 1 }]);
      expect(await names(other)).not.toContain('made_in_txn');
      expect(await other.collection('made_in_txn').find().toArray()).toEqual([]);
      await session.commitTransaction();
    } finally {
      await session.endSession();
    }
    expect(await names(other)).toContain('made_in_txn');
    expect(await other.collection('made_in_txn').find().toArray()).toEqual([{ _id: 1 }]);
  });

  it('are gone after abort', async () => {
    const other = (await m.newClient()).db(m.dbName);
    const session = m.client.startSession();
    try {
      session.startTransaction();
      await m.db.collection('aborted_in_txn').insertOne({ _id: 1 } as Document, { session });
      expect(await names(other)).not.toContain('aborted_in_txn');
      await session.abortTransaction();
    } finally {
      await session.endSession();
    }
    expect(await names(m.db)).not.toContain('aborted_in_txn');
    expect(await m.db.collection('aborted_in_txn').countDocuments()).toBe(0);
  });
});

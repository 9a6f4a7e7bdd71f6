// Sessions, transactions (isolation, commit, abort, write conflicts, timeouts) and retryable writes.
import { Long, MongoClient, MongoServerError, UUID, type ClientSession, type CommandStartedEvent, type Document } from 'mongodb';
import { Schema } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../engine/index.ts';
import { isEmbedded, rejection, sleep, useMongo } from '../helpers/mongo.ts';

const m = useMongo('txn');

let seq = 0;
const fresh = async (docs: Document[] = []) => {
  const coll = m.db.collection(`t${++seq}`);
  // Collections are created up front: catalog changes inside transactions are a separate matter.
  await m.db.createCollection(coll.collectionName);
  if (docs.length) await coll.insertMany(docs);
  return coll;
};

describe('withTransaction through the driver', () => {
  it('commits: all writes are visible afterwards', async () => {
    const a = await fresh([{ _id: 'alice', balance: 100 }, { _id: 'bob', balance: 0 }] as Document[]);
    const log = await fresh();
    const session = m.client.startSession();
    try {
      await session.withTransaction(async () => {
        await a.updateOne({ _id: 'alice' as never }, { $inc: { balance: -30 } }, { session });
        await a.updateOne({ _id: 'bob' as never }, { $inc: { balance: 30 } }, { session });
        await log.insertOne({ what: 'transfer', amount: 30 }, { session });
      });
    } finally {
      await session.endSession();
    }
    expect(await a.find().sort({ _id: 1 }).toArray()).toEqual([
      { _id: 'alice', balance: 70 },
      { _id: 'bob', balance: 30 },
    ]);
    expect(await log.countDocuments({ what: 'transfer' })).toBe(1);
  });

  it('hides uncommitted writes from other clients and sessions, but shows them inside the transaction', async () => {
    const coll = await fresh([{ _id: 1, v: 'before' }] as Document[]);
    const other = await m.newClient();
    const otherColl = other.db(m.dbName).collection(coll.collectionName);
    const session = m.client.startSession();
    try {
      session.startTransaction();
      await coll.insertOne({ _id: 2, v: 'new' } as Document, { session });
      await coll.updateOne({ _id: 1 as never }, { $set: { v: 'changed' } }, { session });
      // Inside: the transaction's own writes.
      expect(await coll.find({}, { session }).sort({ _id: 1 }).toArray()).toEqual([
        { _id: 1, v: 'changed' },
        { _id: 2, v: 'new' },
      ]);
      expect(await coll.countDocuments({}, { session })).toBe(2);
      // Outside: the committed state only, through another client and through the same client without the session.
      expect(await otherColl.find().sort({ _id: 1 }).toArray()).toEqual([{ _id: 1, v: 'before' }]);
      expect(await coll.find().toArray()).toEqual([{ _id: 1, v: 'before' }]);
      expect(await otherColl.countDocuments({ _id: 2 as never })).toBe(0);
      await session.commitTransaction();
    } finally {
      await session.endSession();
    }
    expect(await otherColl.find().sort({ _id: 1 }).toArray()).toEqual([
      { _id: 1, v: 'changed' },
      { _id: 2, v: 'new' },
    ]);
  });

  it('abortTransaction discards every write', async () => {
    const coll = await fresh([{ _id: 1, v: 1 }] as Document[]);
    const session = m.client.startSession();
    try {
      session.startTransaction();
      await coll.insertOne({ _id: 2, v: 2 } as Document, { session });
      await coll.updateOne({ _id: 1 as never }, { $set: { v: 100 } }, { session });
      await coll.deleteOne({ _id: 1 as never }, { session });
      await session.abortTransaction();
    } finally {
      await session.endSession();
    }
    expect(await coll.find().toArray()).toEqual([{ _id: 1, v: 1 }]);
  });

  it('an error thrown in the withTransaction callback aborts the transaction', async () => {
    const coll = await fresh();
    const session = m.client.startSession();
    try {
      const err = await rejection(() =>
        session.withTransaction(async () => {
          await coll.insertOne({ _id: 'x' } as Document, { session });
          throw new Error('application failure');
        }),
      );
      expect(err.message).toBe('application failure');
    } finally {
      await session.endSession();
    }
    expect(await coll.countDocuments()).toBe(0);
  });

  it('a duplicate key inside a transaction fails the statement and aborts the transaction', async () => {
    const coll = await fresh([{ _id: 1 }] as Document[]);
    const session = m.client.startSession();
    try {
      session.startTransaction();
      await coll.insertOne({ _id: 2 } as Document, { session });
      const err = await rejection<MongoServerError>(() => coll.insertOne({ _id: 1 } as Document, { session }));
      expect(err.code).toBe(11000);
      const after = await rejection<MongoServerError>(() => session.commitTransaction());
      expect(after.code).toBe(251);
      expect(after.codeName).toBe('NoSuchTransaction');
    } finally {
      await session.endSession();
    }
    expect(await coll.find().toArray()).toEqual([{ _id: 1 }]);
  });

  it('reads, aggregates and finds-and-modifies inside a transaction', async () => {
    const coll = await fresh([{ _id: 1, n: 1 }, { _id: 2, n: 2 }] as Document[]);
    const session = m.client.startSession();
    try {
      await session.withTransaction(async () => {
        await coll.insertOne({ _id: 3, n: 3 } as Document, { session });
        const [sum] = await coll.aggregate([{ $group: { _id: null, s: { $sum: '$n' } } }], { session }).toArray();
        expect(sum.s).toBe(6);
        const doc = await coll.findOneAndUpdate({ _id: 3 as never }, { $inc: { n: 10 } }, { session, returnDocument: 'after' });
        expect(doc).toEqual({ _id: 3, n: 13 });
        expect(await coll.distinct('n', {}, { session })).toEqual([1, 2, 13]);
      });
    } finally {
      await session.endSession();
    }
    expect(await coll.findOne({ _id: 3 as never })).toEqual({ _id: 3, n: 13 });
  });
});

describe('write conflicts', () => {
  it('a second transaction writing the same document gets WriteConflict (112) labelled TransientTransactionError', async () => {
    const coll = await fresh([{ _id: 'doc', v: 0 }] as Document[]);
    const s1 = m.client.startSession();
    const s2 = m.client.startSession();
    try {
      s1.startTransaction();
      s2.startTransaction();
      await coll.updateOne({ _id: 'doc' as never }, { $set: { v: 1 } }, { session: s1 });
      const err = await rejection<MongoServerError>(() => coll.updateOne({ _id: 'doc' as never }, { $set: { v: 2 } }, { session: s2 }));
      expect(err).toBeInstanceOf(MongoServerError);
      expect(err.code).toBe(112);
      expect(err.codeName).toBe('WriteConflict');
      expect(err.hasErrorLabel('TransientTransactionError')).toBe(true);
      await s1.commitTransaction();
      await s2.abortTransaction();
    } finally {
      await s1.endSession();
      await s2.endSession();
    }
    expect(await coll.findOne({ _id: 'doc' as never })).toEqual({ _id: 'doc', v: 1 });
  });

  it('a write outside any transaction to a document a transaction holds is not lost when the transaction aborts', async () => {
    const coll = await fresh([{ _id: 'doc', v: 0 }] as Document[]);
    const session = m.client.startSession();
    try {
      session.startTransaction();
      await coll.updateOne({ _id: 'doc' as never }, { $set: { v: 'txn' } }, { session });
      // MongoDB makes the non-transactional write wait for the transaction (maxTimeMS keeps the test bounded).
      const outside = coll.updateOne({ _id: 'doc' as never }, { $set: { other: true } }, { maxTimeMS: 1000 }).then(
        () => 'applied',
        (e: MongoServerError) => `failed:${e.codeName}`,
      );
      await sleep(100);
      await session.abortTransaction();
      const result = await outside;
      expect(['applied', 'failed:MaxTimeMSExpired']).toContain(result);
      const doc = await coll.findOne({ _id: 'doc' as never });
      expect(doc!.v).toBe(0);
      expect(doc!.other).toBe(result === 'applied' ? true : undefined);
    } finally {
      await session.endSession();
    }
  });

  it('a transaction cannot overwrite a document that changed after its snapshot (WriteConflict 112)', async () => {
    const coll = await fresh([{ _id: 'doc', n: 0 }, { _id: 'other', n: 0 }] as Document[]);
    const t1 = m.client.startSession();
    const t2 = m.client.startSession();
    try {
      t1.startTransaction();
      expect(await coll.findOne({ _id: 'doc' as never }, { session: t1 })).toEqual({ _id: 'doc', n: 0 });
      t2.startTransaction();
      await coll.updateOne({ _id: 'doc' as never }, { $set: { n: 1 } }, { session: t2 });
      await t2.commitTransaction();
      const err = await rejection<MongoServerError>(() => coll.updateOne({ _id: 'doc' as never }, { $set: { n: 100 } }, { session: t1 }));
      expect(err.code).toBe(112);
      expect(err.hasErrorLabel('TransientTransactionError')).toBe(true);
      await t1.abortTransaction().catch(() => {});
    } finally {
      await t1.endSession();
      await t2.endSession();
    }
    expect(await coll.findOne({ _id: 'doc' as never })).toEqual({ _id: 'doc', n: 1 });
  });

  it('reads inside a transaction come from one snapshot', async () => {
    const coll = await fresh([{ _id: 'doc', n: 0 }] as Document[]);
    const t1 = m.client.startSession();
    try {
      t1.startTransaction();
      expect(await coll.findOne({ _id: 'doc' as never }, { session: t1 })).toEqual({ _id: 'doc', n: 0 });
      await coll.updateOne({ _id: 'doc' as never }, { $set: { n: 1 } }); // committed outside the transaction
      await coll.insertOne({ _id: 'new', n: 2 } as Document);
      expect(await coll.find({}, { session: t1 }).toArray()).toEqual([{ _id: 'doc', n: 0 }]);
      await t1.commitTransaction();
    } finally {
      await t1.endSession();
    }
  });

  it('withTransaction retries a conflicting transaction until it succeeds', async () => {
    const coll = await fresh([{ _id: 'counter', n: 0 }] as Document[]);
    const blocker = m.client.startSession();
    const session = m.client.startSession();
    let attempts = 0;
    try {
      blocker.startTransaction();
      await coll.updateOne({ _id: 'counter' as never }, { $inc: { n: 100 } }, { session: blocker });
      await session.withTransaction(async () => {
        attempts++;
        if (attempts === 2) await blocker.commitTransaction(); // the conflict goes away before the retry writes
        await coll.updateOne({ _id: 'counter' as never }, { $inc: { n: 1 } }, { session });
      });
    } finally {
      await blocker.endSession();
      await session.endSession();
    }
    expect(attempts).toBe(2);
    expect(await coll.findOne({ _id: 'counter' as never })).toEqual({ _id: 'counter', n: 101 });
  });

  it('concurrent withTransaction increments all land exactly once', async () => {
    const coll = await fresh([{ _id: 'c', n: 0 }] as Document[]);
    const workers = Array.from({ length: 5 }, async () => {
      const s = m.client.startSession();
      try {
        await s.withTransaction(async () => {
          const doc = await coll.findOne({ _id: 'c' as never }, { session: s });
          await coll.updateOne({ _id: 'c' as never }, { $set: { n: (doc!.n as number) + 1 } }, { session: s });
        });
      } finally {
        await s.endSession();
      }
    });
    await Promise.all(workers);
    expect(await coll.findOne({ _id: 'c' as never })).toEqual({ _id: 'c', n: 5 });
  });
});

describe('transactions through mongoose', () => {
  it('connection.transaction commits on success and rolls back on error', async () => {
    const conn = await m.mongoose();
    const Account = conn.model('Account', new Schema({ _id: String, balance: Number }));
    await Account.createCollection();
    await Account.create([{ _id: 'a', balance: 10 }, { _id: 'b', balance: 0 }]);
    await conn.transaction(async (session) => {
      await Account.updateOne({ _id: 'a' }, { $inc: { balance: -5 } }, { session });
      await Account.updateOne({ _id: 'b' }, { $inc: { balance: 5 } }, { session });
    });
    expect((await Account.find().sort({ _id: 1 }).lean()).map((d) => d.balance)).toEqual([5, 5]);

    const err = await rejection(() =>
      conn.transaction(async (session) => {
        await Account.updateOne({ _id: 'a' }, { $inc: { balance: -5 } }, { session });
        throw new Error('rollback please');
      }),
    );
    expect(err.message).toBe('rollback please');
    expect((await Account.find().sort({ _id: 1 }).lean()).map((d) => d.balance)).toEqual([5, 5]);
  });

  it('startSession + withTransaction with documents saved in the session', async () => {
    const conn = await m.mongoose();
    const Item = conn.model('Item', new Schema({ name: String }));
    await Item.createCollection();
    const session: ClientSession = await conn.startSession();
    try {
      await session.withTransaction(async () => {
        await Item.create([{ name: 'one' }, { name: 'two' }], { session, ordered: true });
        const doc = await Item.findOne({ name: 'one' }).session(session);
        doc!.name = 'uno';
        await doc!.save({ session });
        expect(await Item.countDocuments()).toBe(0); // outside the session: nothing yet
      });
    } finally {
      await session.endSession();
    }
    expect((await Item.find().sort({ name: 1 }).lean()).map((d) => d.name)).toEqual(['two', 'uno']);
  });
});

describe('sessions and transaction rules', () => {
  it('endSessions answers ok, and the driver ends its pooled sessions on close', async () => {
    const replies: Array<{ name: string; reply: Document }> = [];
    const client = new MongoClient(m.uri, { monitorCommands: true, serverSelectionTimeoutMS: 10_000 });
    client.on('commandSucceeded', (e) => replies.push({ name: e.commandName, reply: e.reply as Document }));
    await client.connect();
    const session = client.startSession();
    await client.db(m.dbName).collection('sessions').findOne({}, { session });
    await session.endSession();
    await client.close();
    const ended = replies.filter((r) => r.name === 'endSessions');
    expect(ended).toHaveLength(1);
    expect(ended[0].reply.ok).toBe(1);
    const explicit = await m.client.db('admin').command({ endSessions: [{ id: new UUID() }] });
    expect(explicit.ok).toBe(1);
  });

  it('count is not allowed in a transaction (OperationNotSupportedInTransaction 263)', async () => {
    const coll = await fresh([{ a: 1 }]);
    const session = m.client.startSession();
    try {
      session.startTransaction();
      const err = await rejection<MongoServerError>(() => m.db.command({ count: coll.collectionName }, { session }));
      expect(err.code).toBe(263);
      expect(err.codeName).toBe('OperationNotSupportedInTransaction');
      expect(err.message).toBe("Cannot run 'count' in a multi-document transaction.");
      await session.abortTransaction().catch(() => {});
    } finally {
      await session.endSession();
    }
  });

  it('a collection created implicitly inside an aborted transaction does not exist afterwards', async () => {
    const name = `implicit${++seq}`;
    const session = m.client.startSession();
    try {
      session.startTransaction();
      await m.db.collection(name).insertOne({ a: 1 }, { session });
      await session.abortTransaction();
    } finally {
      await session.endSession();
    }
    expect(await m.db.listCollections({ name }).toArray()).toEqual([]);
  });
});

describe.runIf(isEmbedded)('cursors of a transaction (embedded engine only)', () => {
  it('a cursor opened in a transaction ends with it: a later getMore by id reads nothing from another snapshot', async () => {
    const coll = await fresh(Array.from({ length: 10 }, (_, i) => ({ _id: i })) as Document[]);
    const session = m.client.startSession();
    session.startTransaction();
    // promoteLongs: false keeps the cursor id an int64; a promoted number would be refused as TypeMismatch (14).
    const first = await m.db.command({ find: coll.collectionName, filter: {}, batchSize: 2 }, { session, promoteLongs: false });
    expect(first.cursor.firstBatch).toHaveLength(2);
    await session.commitTransaction();
    await session.endSession();
    // The id alone, from a connection outside the transaction: the transaction's reader is back in the pool.
    const other = await m.newClient();
    const err = await rejection<MongoServerError>(() => other.db(m.dbName).command({ getMore: first.cursor.id, collection: coll.collectionName }));
    expect(err.code).toBe(43);
  });
});

describe('retryable writes', () => {
  it('the driver sends txnNumber with retryable writes by default, and they apply once', async () => {
    const events: CommandStartedEvent[] = [];
    const client = await m.newClient({ monitorCommands: true });
    client.on('commandStarted', (e) => events.push(e));
    const coll = client.db(m.dbName).collection(`retry${++seq}`);
    await coll.insertOne({ _id: 1 } as Document);
    await coll.updateOne({ _id: 1 as never }, { $set: { v: 1 } });
    await coll.findOneAndUpdate({ _id: 1 as never }, { $inc: { v: 1 } });
    await coll.deleteOne({ _id: 1 as never });
    const writes = events.filter((e) => ['insert', 'update', 'findAndModify', 'delete'].includes(e.commandName));
    expect(writes.map((e) => e.commandName)).toEqual(['insert', 'update', 'findAndModify', 'delete']);
    for (const w of writes) {
      expect(w.command.txnNumber).toBeDefined();
      expect(w.command.lsid).toBeDefined();
    }
    expect(await coll.countDocuments()).toBe(0);
  });

  it('a retried insert with the same lsid and txnNumber is answered without applying it twice', async () => {
    const coll = await fresh();
    const session = m.client.startSession();
    try {
      // Far above the numbers the driver gives: sessions are pooled, so this lsid may have served its writes already.
      const cmd = { insert: coll.collectionName, documents: [{ _id: 'once', n: 1 }], txnNumber: Long.fromNumber(1_000_007) };
      const first = await m.db.command(cmd, { session });
      expect(first.ok).toBe(1);
      expect(first.n).toBe(1);
      const retried = await m.db.command(cmd, { session });
      expect(retried.ok).toBe(1);
      expect(retried.n).toBe(1);
      expect(retried.writeErrors).toBeUndefined();
      const update = { update: coll.collectionName, updates: [{ q: { _id: 'once' }, u: { $inc: { n: 1 } } }], txnNumber: Long.fromNumber(1_000_008) };
      await m.db.command(update, { session });
      const again = await m.db.command(update, { session });
      expect(again).toMatchObject({ ok: 1, n: 1, nModified: 1 });
    } finally {
      await session.endSession();
    }
    expect(await coll.find().toArray()).toEqual([{ _id: 'once', n: 2 }]);
  });
});

describe.runIf(isEmbedded)('transaction lifetime (embedded engine only)', () => {
  let engine: Engine;
  let client: MongoClient;
  beforeAll(async () => {
    engine = new Engine({ port: 0, dbPath: null, transactionLifetimeMs: 300 });
    client = await new MongoClient((await engine.listen()).uri).connect();
  });
  afterAll(async () => {
    await client?.close();
    await engine?.close();
  });

  it('aborts a transaction idle past transactionLifetimeMs: commit answers NoSuchTransaction (251)', async () => {
    const coll = client.db('lifetime').collection('c');
    await coll.insertOne({ _id: 'base' } as Document);
    const session = client.startSession();
    try {
      session.startTransaction();
      await coll.insertOne({ _id: 'pending' } as Document, { session });
      await sleep(1500); // the sweep runs every second
      const err = await rejection<MongoServerError>(() => session.commitTransaction());
      expect(err.code).toBe(251);
      expect(err.codeName).toBe('NoSuchTransaction');
    } finally {
      await session.endSession();
    }
    expect((await coll.find().toArray()).map((d) => d._id)).toEqual(['base']);
  });

  it('releases the expired transaction’s document locks so others can write', async () => {
    const coll = client.db('lifetime').collection('locks');
    await coll.insertOne({ _id: 'x', v: 0 } as Document);
    const stale = client.startSession();
    const next = client.startSession();
    try {
      stale.startTransaction();
      await coll.updateOne({ _id: 'x' as never }, { $set: { v: 'stale' } }, { session: stale });
      await sleep(1500);
      next.startTransaction();
      await coll.updateOne({ _id: 'x' as never }, { $set: { v: 'next' } }, { session: next });
      await next.commitTransaction();
    } finally {
      await stale.endSession();
      await next.endSession();
    }
    expect(await coll.findOne({ _id: 'x' as never })).toEqual({ _id: 'x', v: 'next' });
  });
});

// The MongoDB wire protocol: legacy OP_QUERY handshake answered by OP_REPLY, OP_MSG with document sequences and
// moreToCome, and malformed input that closes only the offending connection.
import { BSON, BSONRegExp, Binary, Code, MaxKey, MinKey } from 'bson';
import { describe, expect, it } from 'vitest';
import { isEmbedded, sleep, useMongo } from '../helpers/mongo.ts';
import { MORE_TO_COME, OP_MSG, OP_REPLY, RawConnection, opMsg, opQuery } from './raw-wire.ts';

const m = useMongo('wire');

async function waitForDoc(collection: string, filter: Record<string, unknown>, timeoutMs = 3000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const doc = await m.db.collection(collection).findOne(filter);
    if (doc || Date.now() > deadline) return doc;
    await sleep(25);
  }
}

describe('unacknowledged writes through the driver', () => {
  it('applies insertOne with writeConcern w:0 although no reply is awaited', async () => {
    const result = await m.db.collection('w0').insertOne({ _id: 'fire-and-forget' as never, n: 1 }, { writeConcern: { w: 0 } });
    expect(result).toEqual({ acknowledged: false, insertedId: 'fire-and-forget' });
    const doc = await waitForDoc('w0', { _id: 'fire-and-forget' });
    expect(doc).toEqual({ _id: 'fire-and-forget', n: 1 });
  });

  it('applies updateOne and deleteOne with writeConcern w:0', async () => {
    const coll = m.db.collection('w0');
    await coll.insertMany([{ _id: 'u' as never, v: 1 }, { _id: 'd' as never, v: 1 }]);
    const upd = await coll.updateOne({ _id: 'u' as never }, { $set: { v: 2 } }, { writeConcern: { w: 0 } });
    expect(upd.acknowledged).toBe(false);
    const del = await coll.deleteOne({ _id: 'd' as never }, { writeConcern: { w: 0 } });
    expect(del.acknowledged).toBe(false);
    expect(await waitForDoc('w0', { _id: 'u', v: 2 })).toEqual({ _id: 'u', v: 2 });
    const deadline = Date.now() + 3000;
    while ((await coll.countDocuments({ _id: 'd' as never })) !== 0 && Date.now() < deadline) await sleep(25);
    expect(await coll.countDocuments({ _id: 'd' as never })).toBe(0);
  });
});

describe('driver options that touch the wire', () => {
  it('works with a client configured for zlib compression (the server decides whether to compress)', async () => {
    const client = await m.newClient({ compressors: ['zlib'] });
    const coll = client.db(m.dbName).collection('compressed');
    const big = 'compress me '.repeat(2000);
    await coll.insertOne({ _id: 'z' as never, big });
    expect((await coll.findOne({ _id: 'z' as never }))!.big).toBe(big);
  });
});

describe.runIf(isEmbedded)('raw wire protocol (embedded engine only)', () => {
  const connect = () => RawConnection.open(m.engine!.host, m.engine!.port);
  /** A connection that has authenticated (SCRAM-SHA-256 by hand), for commands beyond the handshake. */
  const authenticated = async () => {
    const conn = await connect();
    await conn.authenticate(m.engine!.credentials);
    return conn;
  };

  it('answers a legacy OP_QUERY isMaster on admin.$cmd with an OP_REPLY', async () => {
    const conn = await connect();
    try {
      const req = opQuery('admin.$cmd', { isMaster: 1, client: { driver: { name: 'raw-test', version: '0' } } });
      const reply = await conn.request(req);
      expect(reply.opCode).toBe(OP_REPLY);
      expect(reply.responseTo).toBe(req.requestId);
      expect(reply.length).toBe(reply.raw.length);
      expect(reply.cursorId).toBe(0n);
      expect(reply.startingFrom).toBe(0);
      expect(reply.numberReturned).toBe(1);
      expect(reply.documents).toHaveLength(1);
      const doc = reply.documents[0];
      expect(doc.ismaster).toBe(true);
      expect(doc.ok).toBe(1);
      expect(doc.setName).toBe('rs0');
      expect(doc.maxWireVersion).toBeGreaterThanOrEqual(17);
      expect(doc.me).toBe(m.address);
    } finally {
      conn.close();
    }
  });

  it('answers the OP_QUERY handshake with helloOk when the client sends hello, and OP_MSG afterwards', async () => {
    const conn = await connect();
    try {
      const first = await conn.request(opQuery('admin.$cmd', { hello: 1, helloOk: true }));
      expect(first.opCode).toBe(OP_REPLY);
      expect(first.documents[0].isWritablePrimary).toBe(true);
      expect(first.documents[0].helloOk).toBe(true);
      const req = opMsg({ ping: 1, $db: 'admin' });
      const second = await conn.request(req);
      expect(second.opCode).toBe(OP_MSG);
      expect(second.responseTo).toBe(req.requestId);
      expect(second.flagBits).toBe(0);
      expect(second.documents).toHaveLength(1);
      expect(second.documents[0].ok).toBe(1);
    } finally {
      conn.close();
    }
  });

  it('inserts the documents of a kind-1 document sequence', async () => {
    const conn = await authenticated();
    try {
      const docs = [{ _id: 1, name: 'one' }, { _id: 2, name: 'two' }, { _id: 3, name: 'three' }];
      const reply = await conn.request(opMsg({ insert: 'sequence', ordered: true, $db: m.dbName }, { sequences: { documents: docs } }));
      expect(reply.opCode).toBe(OP_MSG);
      expect(reply.documents[0].ok).toBe(1);
      expect(reply.documents[0].n).toBe(3);
      expect(reply.documents[0].writeErrors).toBeUndefined();
      expect(await m.db.collection('sequence').find().sort({ _id: 1 }).toArray()).toEqual(docs);
    } finally {
      conn.close();
    }
  });

  it('takes update statements from a document sequence too', async () => {
    const conn = await authenticated();
    try {
      await m.db.collection('seq-upd').insertMany([{ _id: 1, v: 0 } as never, { _id: 2, v: 0 } as never]);
      const reply = await conn.request(
        opMsg({ update: 'seq-upd', $db: m.dbName }, { sequences: { updates: [{ q: { _id: 1 }, u: { $set: { v: 10 } } }, { q: { _id: 2 }, u: { $set: { v: 20 } } }] } }),
      );
      expect(reply.documents[0]).toMatchObject({ ok: 1, n: 2, nModified: 2 });
      expect(await m.db.collection('seq-upd').find().sort({ _id: 1 }).toArray()).toEqual([{ _id: 1, v: 10 }, { _id: 2, v: 20 }]);
    } finally {
      conn.close();
    }
  });

  it('sends no reply to an OP_MSG with moreToCome, but applies the write', async () => {
    const conn = await authenticated();
    try {
      conn.send(
        opMsg({ insert: 'more', writeConcern: { w: 0 }, $db: m.dbName }, { flags: MORE_TO_COME, sequences: { documents: [{ _id: 'quiet', v: 42 }] } }).bytes,
      );
      expect(await conn.silentFor(300)).toBe(true);
      // The connection is still usable, and the next reply answers the next request.
      const ping = opMsg({ ping: 1, $db: 'admin' });
      const reply = await conn.request(ping);
      expect(reply.responseTo).toBe(ping.requestId);
      expect(reply.documents[0].ok).toBe(1);
      expect(await m.db.collection('more').findOne({ _id: 'quiet' as never })).toEqual({ _id: 'quiet', v: 42 });
    } finally {
      conn.close();
    }
  });

  it('reassembles a message that arrives one byte at a time, and answers two messages sent in one write', async () => {
    const conn = await connect();
    try {
      const req = opMsg({ ping: 1, $db: 'admin' });
      for (const byte of req.bytes) {
        conn.send(Buffer.from([byte]));
      }
      const reply = await conn.next();
      expect(reply.responseTo).toBe(req.requestId);
      expect(reply.documents[0].ok).toBe(1);

      const a = opMsg({ ping: 1, $db: 'admin' });
      const b = opMsg({ buildInfo: 1, $db: 'admin' });
      conn.send(Buffer.concat([a.bytes, b.bytes]));
      const ra = await conn.next();
      const rb = await conn.next();
      expect([ra.responseTo, rb.responseTo]).toEqual([a.requestId, b.requestId]);
      expect(typeof rb.documents[0].version).toBe('string');
    } finally {
      conn.close();
    }
  });

  it('answers an unknown command inside OP_MSG with CommandNotFound and keeps the connection', async () => {
    const conn = await connect();
    try {
      const reply = await conn.request(opMsg({ frobnicate: 1, $db: 'admin' }));
      expect(reply.documents[0]).toMatchObject({ ok: 0, code: 59, codeName: 'CommandNotFound', errmsg: "no such command: 'frobnicate'" });
      const again = await conn.request(opMsg({ ping: 1, $db: 'admin' }));
      expect(again.documents[0].ok).toBe(1);
    } finally {
      conn.close();
    }
  });

  describe("an insert's documents stored as the bytes they arrived as", () => {
    /** A sequence document whose bytes are altered after encoding. */
    const altered = (doc: Record<string, unknown>, alter: (bytes: Buffer) => void): Buffer => {
      const bytes = Buffer.from(BSON.serialize(doc));
      alter(bytes);
      return bytes;
    };
    const insertRaw = (conn: RawConnection, collection: string, docs: Buffer[], extra: Record<string, unknown> = {}) => {
      const msg = opMsg({ insert: collection, ordered: true, $db: m.dbName, ...extra }, { sequences: { documents: [{ _id: 'placeholder' }] } });
      // Replace the placeholder sequence by the given bytes.
      const head = msg.bytes.subarray(0, msg.bytes.indexOf(Buffer.from('documents\0')) - 5);
      const payload = Buffer.concat([Buffer.from('documents\0'), ...docs]);
      const size = Buffer.alloc(4);
      size.writeInt32LE(4 + payload.length, 0);
      const bytes = Buffer.concat([head, Buffer.from([1]), size, payload]);
      bytes.writeInt32LE(bytes.length, 0);
      return conn.request({ requestId: msg.requestId, bytes });
    };

    it('closes the connection on a document a decode would refuse (invalid UTF-8, a bad boolean) and writes none of the batch', async () => {
      for (const [name, bad] of [
        ['invalid UTF-8', altered({ _id: 'bad-utf8', s: 'abc' }, (b) => (b[b.indexOf('abc')] = 0xff))],
        ['a boolean of 2', altered({ _id: 'bad-bool', b: true }, (b) => (b[b.length - 2] = 2))],
      ] as const) {
        const conn = await authenticated();
        try {
          const good = Buffer.from(BSON.serialize({ _id: `before-${name}`, v: 1 }));
          await insertRaw(conn, 'raw-bad', [good, bad]).catch(() => undefined);
          expect(await conn.closesWithin(3000)).toBe(true);
        } finally {
          conn.close();
        }
        expect(await m.db.collection('raw-bad').countDocuments({ _id: `before-${name}` as never })).toBe(0);
      }
    });

    it('stores rare types through the full decode and reads every value back as sent', async () => {
      const conn = await authenticated();
      try {
        // An index on a field after the rare ones: its key must come from the decoded document, not a walk past them.
        await m.db.collection('raw-rare').createIndex({ n: 1 });
        const doc = { _id: 'rare', re: new BSONRegExp('^EC-', 'i'), code: new Code('x'), min: new MinKey(), max: new MaxKey(), old: new Binary(Buffer.from('old'), 2), n: 7 };
        const reply = await insertRaw(conn, 'raw-rare', [Buffer.from(BSON.serialize(doc)), Buffer.from(BSON.serialize({ _id: 'plain', n: 8 }))]);
        expect(reply.documents[0]).toMatchObject({ ok: 1, n: 2 });
        const back = await m.db.collection('raw-rare').findOne({ _id: 'rare' as never }, { bsonRegExp: true });
        expect(BSON.serialize(back!)).toEqual(BSON.serialize(doc));
        const byIndex = await m.db.collection('raw-rare').find({ n: 7 }, { hint: { n: 1 } }).project({ _id: 1 }).toArray();
        expect(byIndex).toEqual([{ _id: 'rare' }]);
      } finally {
        conn.close();
      }
    });

    it('puts _id first when it is not, refuses an _id MongoDB refuses, and reports each refused statement by its index', async () => {
      const coll = m.db.collection('raw-order');
      await coll.createIndex({ 'items.invoiceNo': 1 }, { unique: true });
      const conn = await authenticated();
      try {
        const docs = [
          { v: 1, _id: 'late', items: [{ invoiceNo: 'A1' }] },
          { _id: { $bad: 1 }, items: [{ invoiceNo: 'A2' }] },
          { _id: 'dup', items: [{ invoiceNo: 'A1' }] },
          { _id: 'ok', items: [{ invoiceNo: 'A3' }, { invoiceNo: 'A4' }] },
        ].map((d) => Buffer.from(BSON.serialize(d)));
        const reply = (await insertRaw(conn, 'raw-order', docs, { ordered: false })).documents[0];
        expect(reply.n).toBe(2);
        expect((reply.writeErrors as Array<{ index: number; code: number }>).map((e) => [e.index, e.code])).toEqual([[1, 52], [2, 11000]]); // DollarPrefixedFieldName, DuplicateKey
      } finally {
        conn.close();
      }
      const late = await coll.findOne({ _id: 'late' as never });
      expect(Object.keys(late!)).toEqual(['_id', 'v', 'items']);
      expect(await coll.find({ 'items.invoiceNo': 'A4' }, { hint: { 'items.invoiceNo': 1 } }).project({ _id: 1 }).toArray()).toEqual([{ _id: 'ok' }]);
    });

    it('still checks a validator and a partial index, which read fields beyond the indexed ones', async () => {
      await m.db.createCollection('raw-valid', { validator: { amount: { $exists: true } } });
      const coll = m.db.collection('raw-valid');
      await coll.createIndex({ claimNo: 1 }, { unique: true, partialFilterExpression: { status: 'FILED' } });
      const conn = await authenticated();
      try {
        const docs = [
          { _id: 1, claimNo: 'C1', status: 'FILED', amount: 1 },
          { _id: 2, claimNo: 'C2', status: 'FILED' },
          { _id: 3, claimNo: 'C1', status: 'DRAFT', amount: 3 },
          { _id: 4, claimNo: 'C1', status: 'FILED', amount: 4 },
        ].map((d) => Buffer.from(BSON.serialize(d)));
        const reply = (await insertRaw(conn, 'raw-valid', docs, { ordered: false })).documents[0];
        expect(reply.n).toBe(2);
        expect((reply.writeErrors as Array<{ index: number; code: number }>).map((e) => [e.index, e.code])).toEqual([[1, 121], [3, 11000]]);
      } finally {
        conn.close();
      }
      expect(await coll.find().sort({ _id: 1 }).project({ _id: 1 }).toArray()).toEqual([{ _id: 1 }, { _id: 3 }]);
    });
  });

  describe('malformed input closes that connection only', () => {
    const cases: Array<[string, () => Buffer]> = [
      ['garbage bytes', () => Buffer.alloc(64, 0xff)],
      [
        'a length shorter than a header',
        () => {
          const b = Buffer.alloc(16);
          b.writeInt32LE(10, 0);
          b.writeInt32LE(OP_MSG, 12);
          return b;
        },
      ],
      [
        'a length over the 48 MB message limit',
        () => {
          const b = Buffer.alloc(16);
          b.writeInt32LE(100_000_000, 0);
          b.writeInt32LE(OP_MSG, 12);
          return b;
        },
      ],
      [
        'an unknown opcode',
        () => {
          const b = Buffer.alloc(24);
          b.writeInt32LE(24, 0);
          b.writeInt32LE(7, 4);
          b.writeInt32LE(9999, 12);
          return b;
        },
      ],
      [
        'an OP_MSG whose body is not valid BSON',
        () => {
          const body = Buffer.from(BSON.serialize({ ping: 1, $db: 'admin' }));
          body.writeInt32LE(body.length + 50, 0); // claims more bytes than the section holds
          const b = Buffer.alloc(21 + body.length);
          b.writeInt32LE(b.length, 0);
          b.writeInt32LE(8, 4);
          b.writeInt32LE(OP_MSG, 12);
          b.writeUInt32LE(0, 16);
          b.writeUInt8(0, 20);
          body.copy(b, 21);
          return b;
        },
      ],
      [
        'an OP_MSG with an unknown section kind',
        () => {
          const b = Buffer.alloc(26);
          b.writeInt32LE(26, 0);
          b.writeInt32LE(9, 4);
          b.writeInt32LE(OP_MSG, 12);
          b.writeUInt8(7, 20);
          return b;
        },
      ],
    ];

    for (const [name, bytes] of cases) {
      it(`closes the socket on ${name} while other connections keep working`, async () => {
        const bystander = await connect();
        const victim = await connect();
        try {
          const before = await bystander.request(opMsg({ ping: 1, $db: 'admin' }));
          expect(before.documents[0].ok).toBe(1);
          victim.send(bytes());
          expect(await victim.closesWithin(3000)).toBe(true);
          // The other raw connection, the driver's pool and new connections are unaffected.
          const after = await bystander.request(opMsg({ ping: 1, $db: 'admin' }));
          expect(after.documents[0].ok).toBe(1);
          expect(await m.db.command({ ping: 1 })).toMatchObject({ ok: 1 });
          await m.db.collection('bystander').insertOne({ after: name });
          expect(await m.db.collection('bystander').countDocuments({ after: name })).toBe(1);
          const fresh = await connect();
          try {
            expect((await fresh.request(opMsg({ ping: 1, $db: 'admin' }))).documents[0].ok).toBe(1);
          } finally {
            fresh.close();
          }
        } finally {
          bystander.close();
          victim.close();
        }
      });
    }
  });
});

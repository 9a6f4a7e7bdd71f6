// The MongoDB wire protocol: legacy OP_QUERY handshake answered by OP_REPLY, OP_MSG with document sequences and
// moreToCome, and malformed input that closes only the offending connection.
import { BSON } from 'bson';
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

// A reply whose cursor batch holds stored documents as bytes encodes to the same document as the decoded reply.
import { BSON, Decimal128, Int32, Long, ObjectId, Timestamp } from 'bson';
import { describe, expect, it } from 'vitest';
import { RawDoc, materialize, releaseNow, serializeReply } from './raw.ts';
import { EXACT } from './values.ts';

const stored = [
  { _id: new ObjectId(), amount: Decimal128.fromString('1234.50'), n: new Int32(7), big: Long.fromString('9007199254740993'), title: '差旅费' },
  { _id: 'second', nested: { a: [1, 2, { b: null }] }, at: new Date('2026-12-06T00:00:00Z') },
];
const raw = stored.map((d) => new RawDoc(BSON.serialize(d)));
const decode = (bytes: Uint8Array) => BSON.deserialize(bytes, EXACT);

describe('raw cursor batches', () => {
  for (const key of ['firstBatch', 'nextBatch'] as const) {
    it(`encodes ${key} around the stored bytes, and decodes to what the documents were`, () => {
      const reply = {
        cursor: { id: Long.fromNumber(42), ns: 'db.c', [key]: [raw[0], { plain: true }, raw[1]], atClusterTime: new Timestamp({ t: 1, i: 2 }) },
        ok: 1,
        operationTime: new Timestamp({ t: 3, i: 4 }),
      };
      const decoded = decode(serializeReply(reply));
      expect(decoded).toEqual(decode(BSON.serialize(materialize(reply))));
      expect((decoded.cursor as Record<string, unknown>)[key]).toEqual([decode(BSON.serialize(stored[0])), { plain: true }, decode(BSON.serialize(stored[1]))]);
      expect(Number(decoded.ok)).toBe(1);
    });
  }

  it('leaves replies without raw documents to BSON as they are', () => {
    const reply = { cursor: { id: Long.ZERO, ns: 'db.c', firstBatch: [] }, ok: 1 };
    expect(Buffer.from(serializeReply(reply))).toEqual(Buffer.from(BSON.serialize(reply)));
    expect(materialize(reply)).toBe(reply);
  });

  it('releases the rows it owns once they are in the reply, and leaves every other document as it was', () => {
    const owned = new RawDoc(new Uint8Array(BSON.serialize(stored[0])), true);
    const shared = new RawDoc(BSON.serialize(stored[1]));
    const sharedBefore = Buffer.from(shared.bytes);
    const reply = { cursor: { id: Long.ZERO, ns: 'db.c', firstBatch: [owned, shared] }, ok: 1 };
    const decoded = decode(serializeReply(reply));
    expect((decoded.cursor as Record<string, unknown>).firstBatch).toEqual([decode(BSON.serialize(stored[0])), decode(BSON.serialize(stored[1]))]);
    expect(owned.bytes.byteLength).toBe(0);
    expect(Buffer.from(shared.bytes).equals(sharedBefore)).toBe(true);
  });

  it('releases only a whole ArrayBuffer: never a slice of a pool or of a message', () => {
    const whole = Buffer.allocUnsafe(64 * 1024);
    releaseNow(whole);
    expect(whole.buffer.byteLength).toBe(0);
    const message = Buffer.alloc(1024, 7);
    const slice = message.subarray(16, 512);
    releaseNow(slice);
    expect([slice.length, message.length, message[600]]).toEqual([496, 1024, 7]);
    const pooled = Buffer.from('small reply');
    releaseNow(pooled);
    expect(pooled.toString()).toBe('small reply');
  });
});

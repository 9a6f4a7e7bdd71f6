// $bitsAllSet, $bitsAnySet, $bitsAllClear, $bitsAnyClear with number masks, position lists and BinData, on
// numbers (integral values representable as a 64-bit integer; negative ones sign-extended) and BinData.
import { Binary, Decimal128, Double, Int32, Long, MongoServerError, type Collection, type Document } from 'mongodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { rejection, useMongo } from '../../helpers/mongo.ts';

const m = useMongo('bits');

let coll: Collection<Document>;
beforeAll(async () => {
  coll = m.db.collection('b');
  await coll.insertMany([
    { _id: 1, a: new Int32(54) }, // 0b110110
    { _id: 2, a: new Int32(20) }, // 0b010100
    { _id: 3, a: new Int32(-1) },
    { _id: 4, a: Long.fromString('1099511627776') }, // 2^40
    { _id: 5, a: new Double(54.5) }, // not integral: never matches
    { _id: 6, a: Decimal128.fromString('54') },
    { _id: 7, a: new Binary(Buffer.from([0x36])) }, // 0b00110110
    { _id: 8, a: 'text' },
    { _id: 9, a: [new Int32(1), new Int32(4)] },
    { _id: 10, a: new Double(1e30) }, // beyond 64 bits: never matches
  ] as Document[]);
});

const ids = async (filter: Document) => (await coll.find(filter).toArray()).map((d) => d._id as unknown as number).sort((x, y) => x - y);

describe('masks', () => {
  it('$bitsAllSet with a number mask, a position list and BinData', async () => {
    expect(await ids({ a: { $bitsAllSet: 6 } })).toEqual([1, 3, 6, 7]);
    expect(await ids({ a: { $bitsAllSet: [1, 2] } })).toEqual([1, 3, 6, 7]);
    expect(await ids({ a: { $bitsAllSet: new Binary(Buffer.from([0x06])) } })).toEqual([1, 3, 6, 7]);
  });

  it('$bitsAnySet, $bitsAllClear, $bitsAnyClear', async () => {
    expect(await ids({ a: { $bitsAnySet: [0, 3] } })).toEqual([3, 9]);
    expect(await ids({ a: { $bitsAllClear: [0, 1] } })).toEqual([2, 4, 9]);
    expect(await ids({ a: { $bitsAnyClear: 54 } })).toEqual([2, 4, 9]);
  });

  it('reads bits past 63 of a negative number as the sign bit, of a positive one (and of BinData) as 0', async () => {
    expect(await ids({ a: { $bitsAllSet: [200] } })).toEqual([3]);
    expect(await ids({ a: { $bitsAllSet: [40] } })).toEqual([3, 4]);
    expect(await ids({ a: { $bitsAllClear: [100] } })).toEqual([1, 2, 4, 6, 7, 9]);
  });

  it('an empty mask: All* match every number or BinData, Any* match none', async () => {
    expect(await ids({ a: { $bitsAllSet: 0 } })).toEqual([1, 2, 3, 4, 6, 7, 9]);
    expect(await ids({ a: { $bitsAnySet: [] } })).toEqual([]);
  });

  it('accepts Long and Decimal128 masks of integral value', async () => {
    expect(await ids({ a: { $bitsAllSet: Long.fromNumber(4) } })).toEqual([1, 2, 3, 6, 7, 9]);
    expect(await ids({ a: { $bitsAllSet: Decimal128.fromString('1E+1') } })).toEqual([3]);
  });
});

describe('bad masks', () => {
  for (const [label, mask, code] of [
    ['a negative number', -1, 9],
    ['a fractional number', 1.5, 9],
    ['a string', 'x', 2],
    ['null', null, 2],
    ['a document', { b: 1 }, 2],
    ['a negative position', [-1], 2],
    ['a fractional position', [1.5], 2],
    ['a position beyond 32 bits', [2147483648], 2],
    ['a non-number position', ['x'], 2],
  ] as Array<[string, unknown, number]>) {
    it(`${label} answers ${code === 9 ? 'FailedToParse (9)' : 'BadValue (2)'}`, async () => {
      const err = await rejection<MongoServerError>(() => coll.find({ a: { $bitsAllSet: mask } }).toArray());
      expect(err.code).toBe(code);
    });
  }
});

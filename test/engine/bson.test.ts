// BSON values round-trip exactly; comparisons and sorts follow MongoDB's type order and compare numbers by value.
import {
  BSON,
  BSONRegExp,
  Binary,
  Decimal128,
  Double,
  Int32,
  Long,
  MaxKey,
  MinKey,
  ObjectId,
  Timestamp,
  UUID,
  type Collection,
  type Document,
} from 'mongodb';
import { beforeEach, describe, expect, it } from 'vitest';
import { useMongo } from '../helpers/mongo.ts';

const m = useMongo('bson');

let seq = 0;
let coll: Collection<Document>;
beforeEach(() => {
  coll = m.db.collection(`b${++seq}`);
});

const EXACT = { promoteValues: false, promoteLongs: false, promoteBuffers: false, bsonRegExp: true } as const;
const typeOf = (v: unknown): string => {
  if (v === null) return 'null';
  if (v instanceof Date) return 'Date';
  if (Array.isArray(v)) return 'Array';
  const t = (v as { _bsontype?: string })?._bsontype;
  return t ?? typeof v;
};

describe('round trip', () => {
  it('keeps every value and type exactly', async () => {
    const oid = new ObjectId('65a1b2c3d4e5f60718293a4b');
    const when = new Date('2024-02-29T12:34:56.789Z');
    const bin = new Binary(Buffer.from([0, 1, 2, 253, 254, 255]), 0);
    const uuid = new UUID('0f8fad5b-d9cb-469f-a165-70867728950e');
    const doc = {
      _id: oid,
      dec: Decimal128.fromString('1234.50'),
      long: Long.fromString('9007199254740993'),
      negLong: Long.fromString('-9223372036854775808'),
      int: new Int32(7),
      double: new Double(1),
      fraction: new Double(0.1),
      date: when,
      bin,
      uuid: uuid.toBinary(),
      nil: null,
      t: true,
      f: false,
      str: 'héllo ✓',
      nested: { a: { b: { c: [1, { d: new Int32(2) }] } } },
      arr: [new Int32(1), 'two', [new Double(3)], { four: Long.fromNumber(4) }, null],
      emptyObj: {},
      emptyArr: [],
      regex: new BSONRegExp('^ab+c$', 'i'),
      ts: new Timestamp({ t: 1_700_000_000, i: 5 }),
      min: new MinKey(),
      max: new MaxKey(),
    };
    await coll.insertOne(doc);
    const back = await coll.findOne({ _id: oid }, EXACT);
    expect(back).not.toBeNull();
    expect(Object.keys(back!)).toEqual(Object.keys(doc));
    for (const key of Object.keys(doc) as Array<keyof typeof doc>) {
      expect([key, typeOf(back![key])]).toEqual([key, typeOf(doc[key])]);
    }
    expect(back!._id.toHexString()).toBe('65a1b2c3d4e5f60718293a4b');
    expect(back!.dec.toString()).toBe('1234.50');
    expect(back!.long.toString()).toBe('9007199254740993');
    expect(back!.negLong.toString()).toBe('-9223372036854775808');
    expect(back!.int.valueOf()).toBe(7);
    expect(back!.double.valueOf()).toBe(1);
    expect(back!.fraction.valueOf()).toBe(0.1);
    expect(back!.date.toISOString()).toBe('2024-02-29T12:34:56.789Z');
    expect(Buffer.from(back!.bin.buffer)).toEqual(Buffer.from([0, 1, 2, 253, 254, 255]));
    expect(back!.bin.sub_type).toBe(0);
    expect(back!.uuid.sub_type).toBe(4);
    expect(back!.uuid.toUUID().toString()).toBe('0f8fad5b-d9cb-469f-a165-70867728950e');
    expect(back!.nil).toBeNull();
    expect(back!.str).toBe('héllo ✓');
    expect(typeOf(back!.nested.a.b.c[1].d)).toBe('Int32');
    expect(back!.arr.map(typeOf)).toEqual(['Int32', 'string', 'Array', 'object', 'null']);
    expect(typeOf(back!.arr[2][0])).toBe('Double');
    expect(back!.arr[3].four.toString()).toBe('4');
    expect(typeOf(back!.arr[3].four)).toBe('Long');
    expect(back!.emptyObj).toEqual({});
    expect(back!.emptyArr).toEqual([]);
    expect([back!.regex.pattern, back!.regex.options]).toEqual(['^ab+c$', 'i']);
    expect(back!.ts.t).toBe(1_700_000_000);
    expect(back!.ts.i).toBe(5);
  });

  it('returns the same bytes it was given (BSON serialisation is identical)', async () => {
    const doc = {
      _id: new ObjectId(),
      d: new Double(1),
      i: new Int32(1),
      l: Long.fromNumber(1),
      m: Decimal128.fromString('1'),
      nested: { x: [new Double(2.5), new Int32(-3)] },
    };
    await coll.insertOne(doc);
    const back = await coll.findOne({ _id: doc._id }, EXACT);
    expect(Buffer.from(BSON.serialize(back!)).toString('hex')).toBe(Buffer.from(BSON.serialize(doc)).toString('hex'));
  });

  it('keeps an integral Double a Double through updates and aggregation', async () => {
    await coll.insertOne({ _id: 1, d: new Double(2), i: new Int32(2) } as Document);
    await coll.updateOne({ _id: 1 as never }, { $set: { other: 1 } });
    const afterUpdate = await coll.findOne({ _id: 1 as never }, EXACT);
    expect(typeOf(afterUpdate!.d)).toBe('Double');
    expect(typeOf(afterUpdate!.i)).toBe('Int32');
    const [viaAgg] = await coll.aggregate([{ $match: { _id: 1 } }, { $project: { d: 1, i: 1 } }], EXACT).toArray();
    expect(typeOf(viaAgg.d)).toBe('Double');
    expect(typeOf(viaAgg.i)).toBe('Int32');
  });

  it('promotes values by default as the driver documents it', async () => {
    await coll.insertOne({ _id: 1, l: Long.fromNumber(5), d: new Double(1), big: Long.fromString('9007199254740993') } as Document);
    const doc = await coll.findOne({ _id: 1 as never });
    expect(doc!.l).toBe(5);
    expect(doc!.d).toBe(1);
    // promoteLongs only promotes values that fit a double exactly.
    expect(doc!.big).toBeInstanceOf(Long);
  });

  it('stores keys with dots and dollars inside values as given', async () => {
    await coll.insertOne({ _id: 1, s: 'a.b$c', nested: { 'with space': 1 } } as Document);
    expect(await coll.findOne({ _id: 1 as never })).toEqual({ _id: 1, s: 'a.b$c', nested: { 'with space': 1 } });
  });
});

describe('numeric comparison across types', () => {
  it('{ v: 1 } matches Int32(1), Double(1), Long(1) and Decimal128(1)', async () => {
    await coll.insertMany([
      { _id: 'int', v: new Int32(1) },
      { _id: 'double', v: new Double(1) },
      { _id: 'long', v: Long.fromNumber(1) },
      { _id: 'dec', v: Decimal128.fromString('1.0') },
      { _id: 'two', v: new Int32(2) },
      { _id: 'str', v: '1' },
      { _id: 'bool', v: true },
    ] as Document[]);
    const ids = async (filter: Document) => (await coll.find(filter).toArray()).map((d) => d._id).sort();
    expect(await ids({ v: 1 })).toEqual(['dec', 'double', 'int', 'long']);
    expect(await ids({ v: Long.fromNumber(1) })).toEqual(['dec', 'double', 'int', 'long']);
    expect(await ids({ v: Decimal128.fromString('1') })).toEqual(['dec', 'double', 'int', 'long']);
    expect(await ids({ v: { $gt: 1 } })).toEqual(['two']);
    expect(await ids({ v: { $gte: Decimal128.fromString('0.5'), $lt: Long.fromNumber(2) } })).toEqual(['dec', 'double', 'int', 'long']);
    expect(await ids({ v: { $in: [new Double(2), 'x'] } })).toEqual(['two']);
  });

  it('distinguishes Longs beyond 2^53 exactly', async () => {
    await coll.insertMany([
      { _id: 'a', v: Long.fromString('9007199254740992') },
      { _id: 'b', v: Long.fromString('9007199254740993') },
    ] as Document[]);
    const match = await coll.find({ v: Long.fromString('9007199254740993') }).toArray();
    expect(match.map((d) => d._id)).toEqual(['b']);
    const gt = await coll.find({ v: { $gt: Long.fromString('9007199254740992') } }).toArray();
    expect(gt.map((d) => d._id)).toEqual(['b']);
    const sorted = await coll.find().sort({ v: -1 }).toArray();
    expect(sorted.map((d) => d._id)).toEqual(['b', 'a']);
  });

  it('compares Decimal128 exactly: 0.1 as a decimal is not the double 0.1', async () => {
    await coll.insertMany([
      { _id: 'dec', v: Decimal128.fromString('9.99') },
      { _id: 'dbl', v: new Double(9.99) },
    ] as Document[]);
    expect((await coll.find({ v: Decimal128.fromString('9.99') }).toArray()).map((d) => d._id)).toEqual(['dec']);
    expect((await coll.find({ v: 9.99 }).toArray()).map((d) => d._id)).toEqual(['dbl']);
  });

  it('sorts numbers by value across Int32, Long, Double and Decimal128', async () => {
    await coll.insertMany([
      { _id: 'd2.5', v: new Double(2.5) },
      { _id: 'i3', v: new Int32(3) },
      { _id: 'l-1', v: Long.fromNumber(-1) },
      { _id: 'm1.5', v: Decimal128.fromString('1.5') },
      { _id: 'i0', v: new Int32(0) },
      { _id: 'lbig', v: Long.fromString('10000000000') },
      { _id: 'dneg', v: new Double(-0.5) },
      { _id: 'mhuge', v: Decimal128.fromString('1E+30') },
    ] as Document[]);
    const asc = (await coll.find().sort({ v: 1 }).toArray()).map((d) => d._id);
    expect(asc).toEqual(['l-1', 'dneg', 'i0', 'm1.5', 'd2.5', 'i3', 'lbig', 'mhuge']);
    const desc = (await coll.find().sort({ v: -1 }).toArray()).map((d) => d._id);
    expect(desc).toEqual([...asc].reverse());
  });
});

describe('BSON type order', () => {
  // One value per type, listed in MongoDB's comparison order.
  const ordered: Array<[string, unknown]> = [
    ['minkey', new MinKey()],
    ['null', null],
    ['number', new Int32(5)],
    ['string', 'abc'],
    ['object', { a: 1 }],
    ['array', [1, 2]],
    ['bindata', new Binary(Buffer.from([1, 2, 3]))],
    ['objectid', new ObjectId('65a1b2c3d4e5f60718293a4b')],
    ['bool', false],
    ['date', new Date('2024-01-01T00:00:00Z')],
    ['timestamp', new Timestamp({ t: 1, i: 1 })],
    ['regex', new BSONRegExp('a', '')],
    ['maxkey', new MaxKey()],
  ];
  const shuffled = [...ordered].sort((a, b) => a[0].localeCompare(b[0]));

  it('sorts values of every type nested in an object in MinKey < null < numbers < strings < objects < arrays < BinData < ObjectId < bool < Date < Timestamp < RegExp < MaxKey order', async () => {
    // Nested inside an object, arrays compare as arrays (a top-level array field sorts by its elements).
    await coll.insertMany(shuffled.map(([id, v]) => ({ _id: id, w: { v } })) as Document[]);
    const asc = (await coll.find().sort({ w: 1 }).toArray()).map((d) => d._id);
    expect(asc).toEqual(ordered.map(([id]) => id));
    const desc = (await coll.find().sort({ w: -1 }).toArray()).map((d) => d._id);
    expect(desc).toEqual(ordered.map(([id]) => id).reverse());
  });

  it('sorts top-level scalar values of mixed types by type, then value', async () => {
    const values: Array<[string, unknown]> = [
      ['null', null],
      ['n-int', new Int32(-5)],
      ['n-dec', Decimal128.fromString('0.25')],
      ['n-dbl', new Double(1.5)],
      ['n-long', Long.fromNumber(7)],
      ['s-a', 'a'],
      ['s-b', 'b'],
      ['o', { x: 1 }],
      ['bin', new Binary(Buffer.from([9]))],
      ['oid', new ObjectId('000000000000000000000001')],
      ['false', false],
      ['true', true],
      ['d-old', new Date(0)],
      ['d-new', new Date('2030-01-01T00:00:00Z')],
    ];
    await coll.insertMany([...values].reverse().map(([id, v]) => ({ _id: id, v })) as Document[]);
    await coll.insertOne({ _id: 'missing' } as Document);
    const asc = (await coll.find().sort({ v: 1, _id: 1 }).toArray()).map((d) => d._id);
    // A missing field sorts as null.
    expect(asc).toEqual(['missing', 'null', 'n-int', 'n-dec', 'n-dbl', 'n-long', 's-a', 's-b', 'o', 'bin', 'oid', 'false', 'true', 'd-old', 'd-new']);
  });

  it('sorts an array field by its smallest element ascending and its largest descending', async () => {
    await coll.insertMany([
      { _id: 'a', v: [5, 1] },
      { _id: 'b', v: [3] },
      { _id: 'c', v: 2 },
      { _id: 'd', v: [0, 10] },
    ] as Document[]);
    expect((await coll.find().sort({ v: 1 }).toArray()).map((d) => d._id)).toEqual(['d', 'a', 'c', 'b']);
    expect((await coll.find().sort({ v: -1 }).toArray()).map((d) => d._id)).toEqual(['d', 'a', 'b', 'c']);
  });

  it('compares within one type only for range queries (type bracketing)', async () => {
    await coll.insertMany(ordered.map(([id, v]) => ({ _id: id, v })) as Document[]);
    const ids = async (filter: Document) => (await coll.find(filter).toArray()).map((d) => d._id).sort();
    expect(await ids({ v: { $gt: 0 } })).toEqual(['array', 'number']); // the array [1, 2] has an element > 0
    expect(await ids({ v: { $gte: '' } })).toEqual(['string']);
    expect(await ids({ v: { $lt: new Date('2100-01-01') } })).toEqual(['date']);
    expect(await ids({ v: { $type: 'objectId' } })).toEqual(['objectid']);
    expect(await ids({ v: { $type: 'number' } })).toEqual(['array', 'number']); // $type also looks at array elements
    expect(await ids({ v: null })).toEqual(['null']);
  });

  it('$type distinguishes int, long, double and decimal', async () => {
    await coll.insertMany([
      { _id: 'int', v: new Int32(1) },
      { _id: 'long', v: Long.fromNumber(1) },
      { _id: 'double', v: new Double(1) },
      { _id: 'decimal', v: Decimal128.fromString('1') },
    ] as Document[]);
    for (const t of ['int', 'long', 'double', 'decimal']) {
      expect((await coll.find({ v: { $type: t } }).toArray()).map((d) => d._id)).toEqual([t]);
    }
  });
});

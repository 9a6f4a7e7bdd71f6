// An insert's documents read as bytes: what the walk accepts, bson's decoder accepts too, and the fields picked are
// the decoded ones.
import { BSON, Binary, BSONRegExp, Code, Decimal128, Double, Int32, Long, MaxKey, MinKey, ObjectId, Timestamp } from 'bson';
import { describe, expect, it } from 'vitest';
import { FieldNames, pickFields, pickedFields, plainlyWellFormed, startsWithId } from './raw-bson.ts';
import { EXACT } from './values.ts';
// The benchmarks' seeded generator (mulberry32), so a failure names the seed that found it.
import { prng } from '../bench/fixtures.ts';

const claim = {
  _id: new ObjectId('640000010000000000000003'),
  claimNo: 'EC-2024-00000003',
  departmentId: 'D003',
  title: '差旅费报销 Beijing–Shanghai',
  totalAmount: Decimal128.fromString('1234.56'),
  approved: true,
  submittedAt: new Date('2024-03-01T08:00:00Z'),
  items: [
    { seq: new Int32(1), invoiceNo: 'INV0000000001', amount: Decimal128.fromString('1000.00'), tax: new Double(60) },
    { seq: new Int32(2), invoiceNo: 'INV0000000002', amount: Decimal128.fromString('234.56'), tax: null },
  ],
  payee: { name: '张三', account: '6222000000000000001' },
  version: Long.fromNumber(3),
  ts: new Timestamp({ t: 1, i: 2 }),
  scan: new Binary(Buffer.from('pdf bytes'), 0),
};

const decodes = (bytes: Uint8Array): boolean => {
  try {
    BSON.deserialize(bytes, EXACT);
    return true;
  } catch {
    return false;
  }
};

describe('plainlyWellFormed', () => {
  it('accepts a claim of the common types', () => {
    expect(plainlyWellFormed(BSON.serialize(claim))).toBe(true);
  });

  it('leaves what it does not know to the full decode (false): rare types, old binary, deep nesting', () => {
    for (const value of [new BSONRegExp('a+', 'i'), new Code('x'), new MinKey(), new MaxKey(), new Binary(Buffer.from('old'), 2)]) {
      const bytes = BSON.serialize({ _id: 1, value });
      expect(plainlyWellFormed(bytes)).toBe(false);
      expect(decodes(bytes)).toBe(true);
    }
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 120; i++) deep = { d: deep };
    expect(plainlyWellFormed(BSON.serialize({ _id: 1, deep }))).toBe(false);
  });

  it('refuses invalid UTF-8 in a string or a name, a boolean that is not 0 or 1, and lengths that do not add up', () => {
    const withString = Buffer.from(BSON.serialize({ _id: 1, s: 'abc' }));
    const at = withString.indexOf('abc');
    withString[at] = 0xff;
    expect(plainlyWellFormed(withString)).toBe(false);
    expect(decodes(withString)).toBe(false);

    const withName = Buffer.from(BSON.serialize({ _id: 1, ab: 1 }));
    withName[withName.indexOf('ab')] = 0xc3; // a lead byte without its continuation
    expect(plainlyWellFormed(withName)).toBe(false);

    const withBool = Buffer.from(BSON.serialize({ _id: 1, b: true }));
    withBool[withBool.length - 2] = 2;
    expect(plainlyWellFormed(withBool)).toBe(false);
    expect(decodes(withBool)).toBe(false);

    const nested = Buffer.from(BSON.serialize({ _id: 1, o: { a: 1 } }));
    nested.writeInt32LE(200, nested.indexOf(Buffer.from([0x03, 0x6f, 0x00])) + 3); // the inner document's length
    expect(plainlyWellFormed(nested)).toBe(false);
    expect(decodes(nested)).toBe(false);
  });

  it('never accepts bytes the bson decoder refuses (20,000 random corruptions of a claim)', () => {
    const original = Buffer.from(BSON.serialize(claim));
    let accepted = 0;
    let refused = 0;
    for (let seed = 1; seed <= 20_000; seed++) {
      const rnd = prng(seed);
      const bytes = Buffer.from(original);
      const flips = 1 + Math.floor(rnd() * 3);
      for (let f = 0; f < flips; f++) bytes[Math.floor(rnd() * bytes.length)] = Math.floor(rnd() * 256);
      if (plainlyWellFormed(bytes)) {
        accepted++;
        if (!decodes(bytes)) throw new Error(`seed ${seed}: accepted bytes bson refuses: ${bytes.toString('hex')}`);
      } else refused++;
    }
    // Both outcomes occur, so the property was exercised both ways.
    expect(accepted).toBeGreaterThan(1000);
    expect(refused).toBeGreaterThan(1000);
  });
});

describe('pickFields and startsWithId', () => {
  it('decodes only _id and the named top-level fields, exactly as a full decode gives them', () => {
    const bytes = BSON.serialize(claim);
    const full = BSON.deserialize(bytes, EXACT);
    const picked = pickFields(bytes, new FieldNames(['claimNo', 'items', 'totalAmount', 'absent']));
    expect(Object.keys(picked)).toEqual(['_id', 'claimNo', 'totalAmount', 'items']);
    expect(picked).toEqual({ _id: full._id, claimNo: full.claimNo, totalAmount: full.totalAmount, items: full.items });
    expect(pickFields(bytes, new FieldNames(['付款人', 'payee']))).toEqual({ _id: full._id, payee: full.payee });
  });

  it('refuses bytes with a type the plain walk does not know, rather than read them as garbage', () => {
    const bytes = BSON.serialize({ _id: 1, re: new BSONRegExp('x', ''), n: 2 });
    expect(plainlyWellFormed(bytes)).toBe(false);
    expect(() => pickFields(bytes, new FieldNames(['n']))).toThrow(/a type the plain walk does not know/);
    // Stored documents may hold any type: pickedFields says it does not know, and the caller decodes it whole.
    expect(pickedFields(bytes, new FieldNames(['n']))).toBeUndefined();
    expect(pickedFields(BSON.serialize({ _id: 1, n: 2, s: 'x' }), new FieldNames(['n']))).toEqual(BSON.deserialize(BSON.serialize({ _id: 1, n: 2 }), EXACT));
  });

  it('tells whether _id is the first field', () => {
    expect(startsWithId(BSON.serialize({ _id: 1, a: 2 }))).toBe(true);
    expect(startsWithId(BSON.serialize({ a: 2, _id: 1 }))).toBe(false);
    expect(startsWithId(BSON.serialize({ _idx: 1 }))).toBe(false);
  });
});

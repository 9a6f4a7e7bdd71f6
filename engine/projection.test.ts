import { Decimal128, Double, Int32, Long, ObjectId } from 'bson';
import { describe, expect, it } from 'vitest';
import { MongoServerError } from './errors.ts';
import { applyProjection, validateProjection } from './projection.ts';
import type { Doc } from './values.ts';

function failure(fn: () => unknown): { code: number; message: string; codeName?: string } {
  try {
    fn();
  } catch (e) {
    if (e instanceof MongoServerError) return { code: e.code, message: e.message, codeName: e.codeName };
    throw e;
  }
  throw new Error('expected a MongoServerError');
}

const i32 = (n: number) => new Int32(n);
const id = new ObjectId('64b7f0c2a1b2c3d4e5f60718');
const doc: Doc = {
  _id: id,
  name: 'socks',
  qty: i32(100),
  size: { h: i32(14), w: new Double(21), uom: 'cm' },
  tags: ['a', 'b', 'c', 'd', 'e'],
  items: [
    { sku: 'x', n: i32(1), d: { k: i32(1), j: i32(2) } },
    { sku: 'y', n: i32(5) },
    i32(7),
    [{ sku: 'z', n: i32(9) }],
  ],
};

const p = (projection: Doc | null | undefined, source: Doc = doc, query?: Doc) => applyProjection(source, projection, query);

describe('inclusion', () => {
  it('keeps listed fields and _id, in document order', () => {
    const r = p({ qty: 1, name: true });
    expect(r).toStrictEqual({ _id: id, name: 'socks', qty: i32(100) });
    expect(Object.keys(r)).toEqual(['_id', 'name', 'qty']);
  });

  it('drops _id with _id: 0 and accepts BSON numbers as flags', () => {
    expect(p({ _id: i32(0), name: new Double(1) })).toStrictEqual({ name: 'socks' });
    expect(p({ name: Long.fromNumber(1), qty: Decimal128.fromString('1') })).toStrictEqual({ _id: id, name: 'socks', qty: i32(100) });
    expect(p({ _id: 1 })).toStrictEqual({ _id: id });
  });

  it('projects dotted paths through documents and arrays of documents', () => {
    expect(p({ 'size.uom': 1, _id: 0 })).toStrictEqual({ size: { uom: 'cm' } });
    expect(p({ 'items.sku': 1, _id: 0 })).toStrictEqual({ items: [{ sku: 'x' }, { sku: 'y' }, [{ sku: 'z' }]] });
    expect(p({ 'items.d.k': 1, _id: 0 })).toStrictEqual({ items: [{ d: { k: i32(1) } }, {}, [{}]] });
    // A dotted inclusion below a scalar drops the field altogether; below a document without it gives {}.
    expect(p({ 'name.first': 1, _id: 0 })).toStrictEqual({});
    expect(p({ 'size.nope': 1, _id: 0 })).toStrictEqual({ size: {} });
  });

  it('accepts nested sub-projections as dotted paths', () => {
    expect(p({ size: { h: 1, uom: 1 }, _id: 0 })).toStrictEqual({ size: { h: i32(14), uom: 'cm' } });
    expect(p({ size: { w: 0 } })).toStrictEqual({ ...doc, size: { h: i32(14), uom: 'cm' } });
  });

  it('sets constant literals after the included fields', () => {
    const r = p({ kind: 'fixed', qty: 1, _id: 0 });
    expect(r).toStrictEqual({ qty: i32(100), kind: 'fixed' });
    expect(p({ 'size.unit': { $literal: 1 }, _id: 0 })).toStrictEqual({ size: { unit: i32(1) } });
  });
});

describe('exclusion', () => {
  it('removes listed fields and keeps the rest in order', () => {
    const r = p({ tags: 0, items: false });
    expect(Object.keys(r)).toEqual(['_id', 'name', 'qty', 'size']);
    expect(p({ _id: 0 })).toStrictEqual({ name: 'socks', qty: i32(100), size: doc.size, tags: doc.tags, items: doc.items });
  });

  it('removes dotted paths through arrays, keeping scalars', () => {
    const r = p({ 'items.n': 0, 'items.d': 0, 'size.w': 0, _id: 0, name: 0, qty: 0, tags: 0 });
    expect(r).toStrictEqual({ size: { h: i32(14), uom: 'cm' }, items: [{ sku: 'x' }, { sku: 'y' }, i32(7), [{ sku: 'z' }]] });
  });

  it('ignores _id: 1 in an exclusion projection', () => {
    expect(p({ _id: 1, tags: 0, items: 0 })).toStrictEqual({ _id: id, name: 'socks', qty: i32(100), size: doc.size });
  });

  it('returns the document unchanged for an empty or missing projection', () => {
    expect(p({})).toBe(doc);
    expect(p(null)).toBe(doc);
    expect(p(undefined)).toBe(doc);
  });
});

describe('$slice', () => {
  it('slices from the front, the back, and with [skip, limit]', () => {
    expect(p({ tags: { $slice: 2 }, _id: 0, items: 0, size: 0 })).toStrictEqual({ name: 'socks', qty: i32(100), tags: ['a', 'b'] });
    expect(p({ tags: { $slice: -2 } }).tags).toEqual(['d', 'e']);
    expect(p({ tags: { $slice: [1, 2] } }).tags).toEqual(['b', 'c']);
    expect(p({ tags: { $slice: [-2, 5] } }).tags).toEqual(['d', 'e']);
    expect(p({ tags: { $slice: [10, 1] } }).tags).toEqual([]);
    expect(p({ tags: { $slice: i32(1) } }).tags).toEqual(['a']);
  });

  it('is an exclusion projection alone and an inclusion with other inclusions', () => {
    expect(Object.keys(p({ tags: { $slice: 1 } }))).toEqual(Object.keys(doc));
    expect(p({ tags: { $slice: 1 }, name: 1 })).toStrictEqual({ _id: id, name: 'socks', tags: ['a'] });
    expect(p({ tags: { $slice: 1 }, _id: 1 })).toStrictEqual({ _id: id, tags: ['a'] });
  });

  it('leaves non-arrays alone and slices nested arrays through documents', () => {
    expect(p({ name: { $slice: 1 }, _id: 0, tags: 0, items: 0, size: 0, qty: 0 })).toStrictEqual({ name: 'socks' });
    const src = { _id: i32(1), a: [{ b: [i32(1), i32(2), i32(3)] }, { b: [i32(4)] }, i32(5)] };
    expect(p({ 'a.b': { $slice: 1 } }, src)).toStrictEqual({ _id: i32(1), a: [{ b: [i32(1)] }, { b: [i32(4)] }, i32(5)] });
  });

  it('validates its argument', () => {
    expect(failure(() => validateProjection({ tags: { $slice: [1] } }))).toMatchObject({ code: 31272 });
    expect(failure(() => validateProjection({ tags: { $slice: [1, 0] } }))).toMatchObject({ code: 31259, message: '$slice limit must be positive, got 0' });
    expect(failure(() => validateProjection({ tags: { $slice: 'x' } }))).toMatchObject({ code: 31273 });
  });
});

describe('$elemMatch', () => {
  const src = {
    _id: i32(1),
    games: [
      { score: i32(3), g: 'a' },
      { score: i32(8), g: 'b' },
      { score: i32(9), g: 'c' },
    ],
    joined: 'x',
    nums: [i32(1), i32(5), i32(7)],
  };

  it('returns the first matching element after the other inclusions', () => {
    const r = p({ games: { $elemMatch: { score: { $gt: i32(5) } } }, joined: 1 }, src);
    expect(r).toStrictEqual({ _id: i32(1), joined: 'x', games: [{ score: i32(8), g: 'b' }] });
    expect(Object.keys(r)).toEqual(['_id', 'joined', 'games']);
    expect(p({ nums: { $elemMatch: { $gte: i32(5) } } }, src)).toStrictEqual({ _id: i32(1), nums: [i32(5)] });
  });

  it('omits the field when nothing matches or it is not an array', () => {
    expect(p({ games: { $elemMatch: { score: i32(100) } } }, src)).toStrictEqual({ _id: i32(1) });
    expect(p({ joined: { $elemMatch: { a: 1 } } }, src)).toStrictEqual({ _id: i32(1) });
  });

  it('validates its use', () => {
    expect(failure(() => validateProjection({ 'a.b': { $elemMatch: { x: 1 } } }))).toMatchObject({ code: 31275 });
    expect(failure(() => validateProjection({ a: { $elemMatch: 1 } }))).toMatchObject({
      code: 31274,
      message: 'elemMatch: Invalid argument, object required, but got int',
    });
  });
});

describe('positional projection', () => {
  const src = { _id: i32(1), grades: [i32(80), i32(85), i32(90)], other: 'x' };

  it('returns the element matched by the query', () => {
    const query = { grades: { $gte: i32(85) } };
    expect(p({ 'grades.$': 1 }, src, query)).toStrictEqual({ _id: i32(1), grades: [i32(85)] });
    const q2 = { 'items.sku': 'y' };
    expect(p({ 'items.$': 1, _id: 0 }, doc, q2)).toStrictEqual({ items: [{ sku: 'y', n: i32(5) }] });
  });

  it('requires a query on the same field', () => {
    expect(failure(() => validateProjection({ 'grades.$': 1 }))).toMatchObject({ code: 51050 });
    expect(failure(() => validateProjection({ 'grades.$': 1 }, { other: 'x' }))).toMatchObject({
      code: 31277,
      message: "Positional projection 'grades.$' does not match the query document.",
    });
    expect(failure(() => validateProjection({ 'grades.$': 1, a: { $elemMatch: { x: 1 } } }, { grades: i32(1) })).code).toBe(31255);
  });
});

describe('validation', () => {
  it('refuses mixing inclusion and exclusion', () => {
    expect(failure(() => validateProjection({ a: 1, b: 0 }))).toMatchObject({
      code: 31254,
      codeName: 'Location31254',
      message: 'Cannot do exclusion on field b in inclusion projection',
    });
    expect(failure(() => validateProjection({ a: 0, b: 1 }))).toMatchObject({
      code: 31253,
      message: 'Cannot do inclusion on field b in exclusion projection',
    });
    expect(() => validateProjection({ _id: 0, a: 1 })).not.toThrow();
    expect(() => validateProjection({ a: 0, _id: 1 })).not.toThrow();
  });

  it('refuses path collisions and invalid field paths', () => {
    expect(failure(() => validateProjection({ a: 1, 'a.b': 1 }))).toMatchObject({ code: 31249, message: 'Path collision at a.b remaining portion b' });
    expect(failure(() => validateProjection({ 'a.b': 1, a: 1 }))).toMatchObject({ code: 31250, message: 'Path collision at a' });
    expect(failure(() => validateProjection({ 'a..b': 1 })).code).toBe(15998);
    expect(failure(() => validateProjection({ $a: 1 })).code).toBe(16410);
  });

  it('refuses $meta and aggregation expressions with BadValue', () => {
    expect(failure(() => validateProjection({ score: { $meta: 'textScore' } }))).toMatchObject({ code: 2, message: '$meta is not supported' });
    expect(failure(() => validateProjection({ total: { $add: ['$a', 1] } })).code).toBe(2);
    expect(failure(() => validateProjection({ copy: '$name' })).code).toBe(2);
    expect(failure(() => validateProjection({ a: 0, b: 'lit' })).code).toBe(31310);
  });
});

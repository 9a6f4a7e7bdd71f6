import { BSONRegExp, Decimal128, Double, Int32, Long, ObjectId, Timestamp } from 'bson';
import { describe, expect, it } from 'vitest';
import { MongoServerError } from './errors.ts';
import { applyReplacement, applyUpdate, isOperatorUpdate, upsertSeed } from './update.ts';
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

const t = (v: unknown): string | undefined => (v as { _bsontype?: string })._bsontype;
const up = (doc: Doc, update: Doc, ctx = {}) => applyUpdate(doc, update, ctx);
const i32 = (n: number) => new Int32(n);
const dbl = (n: number) => new Double(n);

describe('$set', () => {
  it('sets existing and new fields, appending new ones in path order', () => {
    const doc = { _id: i32(1), b: i32(2), a: i32(1) };
    const r = up(doc, { $set: { z: i32(9), c: i32(3), b: i32(5) } });
    expect(r.modified).toBe(true);
    expect(Object.keys(r.doc)).toStrictEqual(['_id', 'b', 'a', 'c', 'z']);
    expect((r.doc.b as Int32).value).toBe(5);
    expect(t(r.doc.b)).toBe('Int32');
  });

  it('applies all operators in field-name order, not operator order', () => {
    const r = up({ _id: i32(1) }, { $set: { z: i32(1) }, $inc: { b: i32(1) }, $min: { m: i32(0) } });
    expect(Object.keys(r.doc)).toStrictEqual(['_id', 'b', 'm', 'z']);
  });

  it('does not mutate the input document', () => {
    const doc = { _id: i32(1), a: { b: i32(1) }, list: [i32(1)] };
    const snapshot = JSON.stringify(doc);
    up(doc, { $set: { 'a.b': i32(2), 'a.c': i32(3) }, $push: { list: i32(2) } });
    expect(JSON.stringify(doc)).toBe(snapshot);
  });

  it('creates intermediate documents for dotted paths', () => {
    const r = up({ _id: i32(1) }, { $set: { 'a.b.c': 'x', 'a.b.d': 'y' } });
    expect(r.doc).toStrictEqual({ _id: i32(1), a: { b: { c: 'x', d: 'y' } } });
  });

  it('reports modified=false when the value is already there', () => {
    const doc = { _id: i32(1), a: i32(1), o: { x: i32(1), y: 'z' } };
    const r = up(doc, { $set: { a: i32(1), o: { x: i32(1), y: 'z' } } });
    expect(r.modified).toBe(false);
    expect(r.doc).toBe(doc);
  });

  it('counts a change of numeric type or of field order as a modification', () => {
    expect(up({ _id: i32(1), a: i32(1) }, { $set: { a: dbl(1) } }).modified).toBe(true);
    expect(t(up({ _id: i32(1), a: i32(1) }, { $set: { a: dbl(1) } }).doc.a)).toBe('Double');
    expect(up({ _id: i32(1), o: { x: i32(1), y: i32(2) } }, { $set: { o: { y: i32(2), x: i32(1) } } }).modified).toBe(true);
  });

  it('turns plain JS numbers of the statement into their BSON types', () => {
    const r = up({ _id: i32(1) }, { $set: { a: 1, b: 1.5 } });
    expect(t(r.doc.a)).toBe('Int32');
    expect(t(r.doc.b)).toBe('Double');
    expect(up({ _id: i32(1), a: i32(1) }, { $set: { a: 1 } }).modified).toBe(false);
  });

  it('indexes arrays with numeric segments and pads with null past the end', () => {
    const r = up({ _id: i32(1), a: [i32(1), i32(2)] }, { $set: { 'a.1': i32(9), 'a.4': i32(5) } });
    expect(r.doc.a).toStrictEqual([i32(1), i32(9), null, null, i32(5)]);
    const r2 = up({ _id: i32(1), a: [{ b: i32(1) }, { b: i32(2) }] }, { $set: { 'a.1.b': i32(7), 'a.0.c': i32(3) } });
    expect(r2.doc.a).toStrictEqual([{ b: i32(1), c: i32(3) }, { b: i32(7) }]);
  });

  it('creates numeric segments under a missing field as document fields', () => {
    expect(up({ _id: i32(1) }, { $set: { 'a.0.b': i32(1) } }).doc).toStrictEqual({ _id: i32(1), a: { 0: { b: i32(1) } } });
  });

  it('refuses to create a field inside a scalar or a non-numeric one inside an array (PathNotViable 28)', () => {
    const e = failure(() => up({ _id: i32(1), a: i32(5) }, { $set: { 'a.b': i32(1) } }));
    expect(e).toMatchObject({ code: 28, message: "Cannot create field 'b' in element {a: 5}" });
    const e2 = failure(() => up({ _id: i32(1), a: [i32(1), i32(2)] }, { $set: { 'a.x': i32(1) } }));
    expect(e2).toMatchObject({ code: 28, message: "Cannot create field 'x' in element {a: [ 1, 2 ]}" });
    const e3 = failure(() => up({ _id: i32(1), a: { b: 'str' } }, { $set: { 'a.b.c': i32(1) } }));
    expect(e3).toMatchObject({ code: 28, message: 'Cannot create field \'c\' in element {b: "str"}' });
  });

  it('refuses top-level $-prefixed field names but allows them nested', () => {
    const e = failure(() => up({ _id: i32(1) }, { $set: { $x: i32(1) } }));
    expect(e.code).toBe(52);
    expect(e.codeName).toBe('DollarPrefixedFieldName');
    expect(up({ _id: i32(1) }, { $set: { a: { $x: i32(1) } } }).doc).toStrictEqual({ _id: i32(1), a: { $x: i32(1) } });
  });

  it('refuses empty paths and empty path segments (EmptyFieldName 56)', () => {
    expect(failure(() => up({ _id: i32(1) }, { $set: { 'a..b': i32(1) } }))).toMatchObject({
      code: 56,
      codeName: 'EmptyFieldName',
      message: "The update path 'a..b' contains an empty field name, which is not allowed.",
    });
    expect(failure(() => up({ _id: i32(1) }, { $set: { '': i32(1) } }))).toMatchObject({ code: 56, message: 'An empty update path is not valid.' });
    expect(failure(() => up({ _id: i32(1) }, { $unset: { 'a.': 1 } })).code).toBe(56);
  });

  it('never lets _id change, but allows setting it to its current value', () => {
    const id = new ObjectId();
    expect(failure(() => up({ _id: id, a: i32(1) }, { $set: { _id: new ObjectId() } }))).toMatchObject({
      code: 66,
      codeName: 'ImmutableField',
      message: "Performing an update on the path '_id' would modify the immutable field '_id'",
    });
    expect(up({ _id: id, a: i32(1) }, { $set: { _id: new ObjectId(id.toHexString()) } }).modified).toBe(false);
    expect(failure(() => up({ _id: { k: i32(1) } }, { $set: { '_id.k': i32(2) } }))).toMatchObject({
      code: 66,
      message: "Performing an update on the path '_id.k' would modify the immutable field '_id'",
    });
  });

  it('accepts an empty operator document as a no-op', () => {
    const doc = { _id: i32(1), a: i32(1) };
    expect(up(doc, { $set: {} })).toStrictEqual({ doc, modified: false });
  });
});

describe('$unset', () => {
  it('removes fields, ignores missing ones, nulls array elements', () => {
    const doc = { _id: i32(1), a: i32(1), b: { c: i32(1), d: i32(2) }, arr: [i32(1), i32(2)] };
    const r = up(doc, { $unset: { a: '', 'b.c': 1, 'arr.0': true, missing: 1, 'x.y.z': 1 } });
    expect(r.doc).toStrictEqual({ _id: i32(1), b: { d: i32(2) }, arr: [null, i32(2)] });
    expect(up(doc, { $unset: { nope: 1, 'a.b': 1 } }).modified).toBe(false);
  });

  it('refuses to unset _id', () => {
    expect(failure(() => up({ _id: i32(1) }, { $unset: { _id: 1 } })).code).toBe(66);
  });
});

describe('$inc and $mul', () => {
  it('keeps Int32 + Int32 as Int32', () => {
    const r = up({ _id: i32(1), n: i32(5) }, { $inc: { n: i32(2) } });
    expect(t(r.doc.n)).toBe('Int32');
    expect((r.doc.n as Int32).value).toBe(7);
  });

  it('widens an Int32 overflow to Long', () => {
    const r = up({ _id: i32(1), n: i32(2147483647) }, { $inc: { n: i32(1) } });
    expect(t(r.doc.n)).toBe('Long');
    expect((r.doc.n as Long).toString()).toBe('2147483648');
  });

  it('promotes Int32 + Double to Double and Long + Int32 to Long', () => {
    const d = up({ _id: i32(1), n: i32(1) }, { $inc: { n: dbl(0.5) } }).doc.n as Double;
    expect(t(d)).toBe('Double');
    expect(d.value).toBe(1.5);
    const l = up({ _id: i32(1), n: Long.fromString('9007199254740993') }, { $inc: { n: i32(1) } }).doc.n as Long;
    expect(t(l)).toBe('Long');
    expect(l.toString()).toBe('9007199254740994');
  });

  it('adds Decimal128 exactly', () => {
    const r = up({ _id: i32(1), p: Decimal128.fromString('0.10') }, { $inc: { p: Decimal128.fromString('0.20') } });
    expect(t(r.doc.p)).toBe('Decimal128');
    expect((r.doc.p as Decimal128).toString()).toBe('0.30');
  });

  it('sets the increment on a missing field, keeping its type', () => {
    const r = up({ _id: i32(1) }, { $inc: { a: i32(3), 'b.c': Long.fromNumber(4), d: Decimal128.fromString('1.10') } });
    expect(t(r.doc.a)).toBe('Int32');
    expect(t((r.doc.b as Doc).c)).toBe('Long');
    expect((r.doc.d as Decimal128).toString()).toBe('1.10');
  });

  it('reports $inc by zero as no change', () => {
    expect(up({ _id: i32(1), n: i32(5) }, { $inc: { n: i32(0) } }).modified).toBe(false);
    expect(up({ _id: i32(1), n: i32(5) }, { $inc: { n: dbl(0) } }).modified).toBe(true); // becomes a double
  });

  it('refuses non-numeric targets and arguments (TypeMismatch 14)', () => {
    expect(failure(() => up({ _id: i32(1), x: 'a' }, { $inc: { x: i32(1) } }))).toMatchObject({
      code: 14,
      message: "Cannot apply $inc to a value of non-numeric type. {_id: 1} has the field 'x' of non-numeric type string",
    });
    const id = new ObjectId('64b7f0c2a1b2c3d4e5f60718');
    expect(failure(() => up({ _id: id, x: [] }, { $mul: { x: i32(2) } })).message).toBe(
      "Cannot apply $mul to a value of non-numeric type. {_id: ObjectId('64b7f0c2a1b2c3d4e5f60718')} has the field 'x' of non-numeric type array",
    );
    expect(failure(() => up({ _id: i32(1) }, { $inc: { x: 'a' } }))).toMatchObject({
      code: 14,
      message: 'Cannot increment with non-numeric argument: {x: "a"}',
    });
    expect(failure(() => up({ _id: i32(1) }, { $mul: { x: null } })).message).toBe('Cannot multiply with non-numeric argument: {x: null}');
  });

  it('refuses a Long overflow like the server', () => {
    expect(failure(() => up({ _id: i32(1), n: Long.fromString('9223372036854775807') }, { $inc: { n: i32(1) } }))).toMatchObject({
      code: 2,
      message: 'Failed to apply $inc operations to current value ((NumberLong)9223372036854775807) for document {_id: 1}',
    });
  });

  it('multiplies with type promotion and sets a typed zero on a missing field', () => {
    const r = up({ _id: i32(1), a: i32(3), b: dbl(1.5) }, { $mul: { a: i32(4), b: i32(2), c: i32(7), d: dbl(2), e: Long.fromNumber(3) } });
    expect(r.doc.a).toStrictEqual(i32(12));
    expect(t(r.doc.b)).toBe('Double');
    expect((r.doc.b as Double).value).toBe(3);
    expect(r.doc.c).toStrictEqual(i32(0));
    expect(t(r.doc.d)).toBe('Double');
    expect((r.doc.d as Double).value).toBe(0);
    expect(t(r.doc.e)).toBe('Long');
    expect(up({ _id: i32(1), a: i32(3) }, { $mul: { a: i32(1) } }).modified).toBe(false);
    expect((up({ _id: i32(1), p: Decimal128.fromString('1.5') }, { $mul: { p: Decimal128.fromString('0.2') } }).doc.p as Decimal128).toString()).toBe(
      '0.30',
    );
  });
});

describe('$min and $max', () => {
  it('replace only when the new value is lower / higher in BSON order', () => {
    const doc = { _id: i32(1), lo: i32(5), hi: i32(5) };
    expect(up(doc, { $min: { lo: i32(3) }, $max: { hi: dbl(7.5) } }).doc).toStrictEqual({ _id: i32(1), lo: i32(3), hi: dbl(7.5) });
    expect(up(doc, { $min: { lo: i32(8) }, $max: { hi: i32(1) } }).modified).toBe(false);
    expect(up(doc, { $min: { lo: dbl(5) } }).modified).toBe(false); // equal across types
  });

  it('compare across types by BSON type order and create missing fields', () => {
    expect(up({ _id: i32(1), v: 'text' }, { $min: { v: i32(1) } }).doc.v).toStrictEqual(i32(1)); // numbers sort before strings
    expect(up({ _id: i32(1), v: null }, { $max: { v: i32(0) } }).doc.v).toStrictEqual(i32(0));
    expect(up({ _id: i32(1), d: new Date(1000) }, { $max: { d: new Date(2000) } }).doc.d).toStrictEqual(new Date(2000));
    expect(up({ _id: i32(1) }, { $max: { n: i32(4) } }).doc).toStrictEqual({ _id: i32(1), n: i32(4) });
  });
});

describe('$rename', () => {
  it('moves a field to the end of the document, nested too', () => {
    const r = up({ _id: i32(1), a: i32(1), b: i32(2), n: { x: i32(1) } }, { $rename: { a: 'z', 'n.x': 'n.y' } });
    expect(r.doc).toStrictEqual({ _id: i32(1), b: i32(2), n: { y: i32(1) }, z: i32(1) });
    expect(Object.keys(r.doc)).toStrictEqual(['_id', 'b', 'n', 'z']);
  });

  it('overwrites an existing destination and ignores a missing source', () => {
    expect(up({ _id: i32(1), a: i32(1), b: i32(2) }, { $rename: { a: 'b' } }).doc).toStrictEqual({ _id: i32(1), b: i32(1) });
    expect(up({ _id: i32(1), a: i32(1) }, { $rename: { nope: 'b' } }).modified).toBe(false);
  });

  it('refuses bad renames', () => {
    expect(failure(() => up({ _id: i32(1), a: i32(1) }, { $rename: { a: 'a' } }))).toMatchObject({
      code: 2,
      message: 'The source and target field for $rename must differ: a: "a"',
    });
    expect(failure(() => up({ _id: i32(1), a: i32(1) }, { $rename: { a: 'a.b' } })).code).toBe(2);
    expect(failure(() => up({ _id: i32(1), a: i32(1) }, { $rename: { a: i32(1) } }))).toMatchObject({
      code: 2,
      message: "The 'to' field for $rename must be a string: a: 1",
    });
    expect(failure(() => up({ _id: i32(1), a: i32(1) }, { $rename: { a: '_id' } })).code).toBe(66);
    expect(failure(() => up({ _id: i32(1), a: [{ b: i32(1) }] }, { $rename: { 'a.0.b': 'c' } }))).toMatchObject({
      code: 2,
      message: "The source field cannot be an array element, 'a.0.b' in doc with _id: 1 has an array field called 'a'",
    });
    expect(failure(() => up({ _id: i32(1), a: i32(1), arr: [] }, { $rename: { a: 'arr.x' } })).code).toBe(2);
    expect(failure(() => up({ _id: i32(1), a: i32(1) }, { $rename: { a: 'b.$' } })).code).toBe(2);
  });

  it('conflicts with other operators on the same path', () => {
    expect(failure(() => up({ _id: i32(1), a: i32(1) }, { $rename: { a: 'b' }, $set: { b: i32(1) } }))).toMatchObject({
      code: 40,
      message: "Updating the path 'b' would create a conflict at 'b'",
    });
  });
});

describe('$setOnInsert and $currentDate', () => {
  it('applies $setOnInsert only when inserting', () => {
    const u = { $setOnInsert: { created: i32(1) }, $set: { a: i32(2) } };
    expect(up({ _id: i32(1) }, u).doc).toStrictEqual({ _id: i32(1), a: i32(2) });
    expect(up({ _id: i32(1) }, u, { isInsert: true }).doc).toStrictEqual({ _id: i32(1), a: i32(2), created: i32(1) });
    expect(up({ _id: i32(1), a: i32(2) }, { $setOnInsert: { a: i32(9) } }).modified).toBe(false);
  });

  it('sets dates and timestamps', () => {
    const now = new Date('2024-05-06T07:08:09.000Z');
    const r = up({ _id: i32(1), d: i32(0) }, { $currentDate: { d: true, e: { $type: 'date' }, ts: { $type: 'timestamp' } } }, { now });
    expect(r.doc.d).toStrictEqual(now);
    expect(r.doc.e).toStrictEqual(now);
    expect(t(r.doc.ts)).toBe('Timestamp');
    expect((r.doc.ts as Timestamp).t).toBe(Math.floor(now.getTime() / 1000));
    expect(failure(() => up({ _id: i32(1) }, { $currentDate: { d: { $type: 'x' } } })).code).toBe(2);
    expect(failure(() => up({ _id: i32(1) }, { $currentDate: { d: i32(1) } })).message).toBe(
      "int is not valid type for $currentDate. Please use a boolean ('true') or a $type expression ({$type: 'timestamp/date'}).",
    );
  });
});

describe('$push', () => {
  it('appends a value, creating the array when missing', () => {
    expect(up({ _id: i32(1), a: [i32(1)] }, { $push: { a: i32(2) } }).doc.a).toStrictEqual([i32(1), i32(2)]);
    expect(up({ _id: i32(1) }, { $push: { a: [i32(1)] } }).doc.a).toStrictEqual([[i32(1)]]);
    expect(up({ _id: i32(1) }, { $push: { 'n.a': { $each: [i32(1), i32(2)] } } }).doc).toStrictEqual({ _id: i32(1), n: { a: [i32(1), i32(2)] } });
  });

  it('supports $each with $position', () => {
    const doc = { _id: i32(1), a: [i32(1), i32(2), i32(3)] };
    expect(up(doc, { $push: { a: { $each: [i32(8), i32(9)], $position: i32(1) } } }).doc.a).toStrictEqual([i32(1), i32(8), i32(9), i32(2), i32(3)]);
    expect(up(doc, { $push: { a: { $each: [i32(9)], $position: i32(-1) } } }).doc.a).toStrictEqual([i32(1), i32(2), i32(9), i32(3)]);
    expect(up(doc, { $push: { a: { $each: [i32(9)], $position: i32(-10) } } }).doc.a).toStrictEqual([i32(9), i32(1), i32(2), i32(3)]);
    expect(up(doc, { $push: { a: { $each: [i32(9)], $position: i32(10) } } }).doc.a).toStrictEqual([i32(1), i32(2), i32(3), i32(9)]);
  });

  it('supports $slice and $sort (whole values and sort documents)', () => {
    const doc = { _id: i32(1), a: [i32(5), i32(1), i32(4)] };
    expect(up(doc, { $push: { a: { $each: [i32(3)], $slice: i32(2) } } }).doc.a).toStrictEqual([i32(5), i32(1)]);
    expect(up(doc, { $push: { a: { $each: [i32(3)], $slice: i32(-2) } } }).doc.a).toStrictEqual([i32(4), i32(3)]);
    expect(up(doc, { $push: { a: { $each: [], $slice: i32(0) } } }).doc.a).toStrictEqual([]);
    expect(up(doc, { $push: { a: { $each: [dbl(2.5)], $sort: i32(1) } } }).doc.a).toStrictEqual([i32(1), dbl(2.5), i32(4), i32(5)]);
    expect(up(doc, { $push: { a: { $each: [i32(2)], $sort: i32(-1), $slice: i32(3) } } }).doc.a).toStrictEqual([i32(5), i32(4), i32(2)]);
    const quizzes = { _id: i32(1), q: [{ id: i32(1), score: i32(6) }, { id: i32(2), score: i32(9) }] };
    const r = up(quizzes, { $push: { q: { $each: [{ id: i32(3), score: i32(8) }, { id: i32(4), score: i32(7) }], $sort: { score: i32(-1) }, $slice: i32(3) } } });
    expect((r.doc.q as Doc[]).map((x) => (x.id as Int32).value)).toStrictEqual([2, 3, 4]);
  });

  it('reports an empty $each as no change and refuses non-arrays', () => {
    expect(up({ _id: i32(1), a: [i32(1)] }, { $push: { a: { $each: [] } } }).modified).toBe(false);
    expect(failure(() => up({ _id: i32(1), x: 'str' }, { $push: { x: i32(1) } }))).toMatchObject({
      code: 2,
      message: "The field 'x' must be an array but is of type string in document {_id: 1}",
    });
    expect(failure(() => up({ _id: i32(1), a: [] }, { $push: { a: { $each: i32(1) } } })).code).toBe(2);
    expect(failure(() => up({ _id: i32(1), a: [] }, { $push: { a: { $each: [], $bad: 1 } } })).message).toBe('Unrecognized clause in $push: $bad');
    expect(failure(() => up({ _id: i32(1), a: [] }, { $push: { a: { $each: [], $sort: i32(2) } } })).code).toBe(2);
  });
});

describe('$addToSet', () => {
  it('adds only missing values, comparing numbers by value', () => {
    const doc = { _id: i32(1), tags: ['a', i32(1)] };
    expect(up(doc, { $addToSet: { tags: 'a' } }).modified).toBe(false);
    expect(up(doc, { $addToSet: { tags: dbl(1) } }).modified).toBe(false);
    expect(up(doc, { $addToSet: { tags: { $each: ['b', 'a', 'b', 'c'] } } }).doc.tags).toStrictEqual(['a', i32(1), 'b', 'c']);
    expect(up({ _id: i32(1) }, { $addToSet: { tags: { $each: ['x', 'x'] } } }).doc.tags).toStrictEqual(['x']);
    expect(up(doc, { $addToSet: { tags: { k: i32(1) } } }).doc.tags).toStrictEqual(['a', i32(1), { k: i32(1) }]);
  });

  it('refuses non-arrays', () => {
    expect(failure(() => up({ _id: i32(1), x: i32(1) }, { $addToSet: { x: i32(1) } }))).toMatchObject({
      code: 2,
      message: "Cannot apply $addToSet to non-array field. Field named 'x' has non-array type int",
    });
  });
});

describe('$pull, $pullAll and $pop', () => {
  it('pulls equal values and values matching a condition', () => {
    const doc = { _id: i32(1), n: [i32(3), dbl(6), i32(7), i32(3), i32(9)] };
    expect(up(doc, { $pull: { n: i32(3) } }).doc.n).toStrictEqual([dbl(6), i32(7), i32(9)]);
    expect(up(doc, { $pull: { n: { $gte: i32(6) } } }).doc.n).toStrictEqual([i32(3), i32(3)]);
    expect(up(doc, { $pull: { n: { $in: [i32(7), i32(9)] } } }).doc.n).toStrictEqual([i32(3), dbl(6), i32(3)]);
    expect(up(doc, { $pull: { n: i32(100) } }).modified).toBe(false);
  });

  it('pulls documents matching a query, and regexes', () => {
    const doc = {
      _id: i32(1),
      results: [
        { item: 'A', score: i32(5) },
        { item: 'B', score: i32(8), extra: true },
        { item: 'B', score: i32(4) },
      ],
      words: ['apple', 'banana', 'avocado'],
    };
    const r = up(doc, { $pull: { results: { score: i32(8), item: 'B' }, words: new BSONRegExp('^a') } });
    expect(r.doc.results).toStrictEqual([{ item: 'A', score: i32(5) }, { item: 'B', score: i32(4) }]);
    expect(r.doc.words).toStrictEqual(['banana']);
    const nested = up(doc, { $pull: { results: { score: { $lt: i32(6) } } } });
    expect(nested.doc.results).toStrictEqual([{ item: 'B', score: i32(8), extra: true }]);
  });

  it('ignores missing paths and refuses non-arrays', () => {
    expect(up({ _id: i32(1) }, { $pull: { a: i32(1) }, $pullAll: { b: [i32(1)] }, $pop: { c: i32(1) } }).modified).toBe(false);
    expect(failure(() => up({ _id: i32(1), a: i32(1) }, { $pull: { a: i32(1) } }))).toMatchObject({
      code: 2,
      message: 'Cannot apply $pull to a non-array value',
    });
    expect(failure(() => up({ _id: i32(1), a: i32(1) }, { $pull: { 'a.b': i32(1) } })).code).toBe(28);
  });

  it('$pullAll removes every listed value', () => {
    const r = up({ _id: i32(1), a: [i32(0), i32(2), i32(5), i32(5), i32(1), i32(0)] }, { $pullAll: { a: [i32(0), dbl(5)] } });
    expect(r.doc.a).toStrictEqual([i32(2), i32(1)]);
    expect(failure(() => up({ _id: i32(1), a: [] }, { $pullAll: { a: i32(1) } })).message).toBe(
      '$pullAll requires an array argument but was given a int',
    );
  });

  it('$pop removes the last or first element', () => {
    const doc = { _id: i32(1), a: [i32(1), i32(2), i32(3)], e: [] };
    expect(up(doc, { $pop: { a: i32(1) } }).doc.a).toStrictEqual([i32(1), i32(2)]);
    expect(up(doc, { $pop: { a: i32(-1) } }).doc.a).toStrictEqual([i32(2), i32(3)]);
    expect(up(doc, { $pop: { e: i32(1) } }).modified).toBe(false);
    expect(failure(() => up({ _id: i32(1), a: 'x' }, { $pop: { a: i32(1) } }))).toMatchObject({
      code: 14,
      message: "Path 'a' contains an element of non-array type 'string'",
    });
    expect(failure(() => up(doc, { $pop: { a: i32(2) } }))).toMatchObject({ code: 9, message: '$pop expects 1 or -1, found: 2' });
  });
});

describe('positional $', () => {
  const doc = { _id: i32(1), grades: [i32(80), i32(85), i32(90)], items: [{ k: 'a', n: i32(1) }, { k: 'b', n: i32(2) }] };

  it('updates the first element matched by the query', () => {
    const r = up(doc, { $set: { 'grades.$': i32(82) } }, { query: { _id: i32(1), grades: i32(85) } });
    expect(r.doc.grades).toStrictEqual([i32(80), i32(82), i32(90)]);
    const r2 = up(doc, { $inc: { 'items.$.n': i32(10) } }, { query: { 'items.k': 'b' } });
    expect(r2.doc.items).toStrictEqual([{ k: 'a', n: i32(1) }, { k: 'b', n: i32(12) }]);
    const r3 = up(doc, { $set: { 'items.$.z': true } }, { query: { items: { $elemMatch: { k: 'a', n: { $lt: i32(5) } } } } });
    expect((r3.doc.items as Doc[])[0]).toStrictEqual({ k: 'a', n: i32(1), z: true });
    const r4 = up(doc, { $set: { 'grades.$': i32(0) } }, { query: { grades: { $gte: i32(85) } } });
    expect(r4.doc.grades).toStrictEqual([i32(80), i32(0), i32(90)]);
  });

  it('uses the array the update names when the query constrains several', () => {
    const src = { _id: i32(1), items: [{ k: 'a' }, { k: 'b' }], tags: ['x', 'y', 'z'], other: [i32(0), i32(0)] };
    const query = { 'items.k': 'b', tags: 'z' };
    expect(up(src, { $set: { 'tags.$': 'Z' } }, { query }).doc.tags).toStrictEqual(['x', 'y', 'Z']);
    expect(up(src, { $set: { 'items.$.hit': true } }, { query }).doc.items).toStrictEqual([{ k: 'a' }, { k: 'b', hit: true }]);
    // An array the query does not mention takes the position matched in the first array it does (MongoDB's single match key).
    expect(up(src, { $set: { 'other.$': i32(1) } }, { query: { 'items.k': 'b' } }).doc.other).toStrictEqual([i32(0), i32(1)]);
  });

  it('fails without a match from the query', () => {
    const msg = 'The positional operator did not find the match needed from the query.';
    expect(failure(() => up(doc, { $set: { 'grades.$': i32(1) } }, { query: { _id: i32(1) } }))).toMatchObject({ code: 2, message: msg });
    expect(failure(() => up(doc, { $set: { 'grades.$': i32(1) } }))).toMatchObject({ code: 2, message: msg });
    expect(failure(() => up(doc, { $set: { '$.a': i32(1) } })).code).toBe(2);
    expect(failure(() => up(doc, { $set: { 'a.$.b.$': i32(1) } })).code).toBe(2);
  });

  it('conflicts with an explicit index on the same element', () => {
    expect(failure(() => up(doc, { $set: { 'grades.$': i32(1), 'grades.1': i32(2) } }, { query: { grades: i32(85) } }))).toMatchObject({
      code: 40,
      message: "Update created a conflict at 'grades.1'",
    });
  });
});

describe('$[] and $[identifier]', () => {
  it('$[] updates every element', () => {
    const r = up({ _id: i32(1), a: [i32(1), i32(2)], d: [{ x: i32(1) }, { x: i32(2) }] }, { $inc: { 'a.$[]': i32(10), 'd.$[].x': i32(1) } });
    expect(r.doc.a).toStrictEqual([i32(11), i32(12)]);
    expect(r.doc.d).toStrictEqual([{ x: i32(2) }, { x: i32(3) }]);
  });

  it('$[ident] updates the elements matching its array filter', () => {
    const doc = { _id: i32(1), grades: [i32(95), i32(92), i32(90)], items: [{ qty: i32(3) }, { qty: i32(8) }, { qty: i32(10) }] };
    const r = up(doc, { $set: { 'grades.$[g]': i32(100), 'items.$[x].big': true } }, {
      arrayFilters: [{ g: { $gte: i32(92) } }, { 'x.qty': { $gt: i32(5) } }],
    });
    expect(r.doc.grades).toStrictEqual([i32(100), i32(100), i32(90)]);
    expect(r.doc.items).toStrictEqual([{ qty: i32(3) }, { qty: i32(8), big: true }, { qty: i32(10), big: true }]);
  });

  it('handles nested $[] and $[ident] in one path', () => {
    const doc = {
      _id: i32(1),
      grades: [
        { type: 'quiz', scores: [i32(1), i32(2)] },
        { type: 'exam', scores: [i32(3)] },
      ],
    };
    const r = up(doc, { $inc: { 'grades.$[g].scores.$[]': i32(10) } }, { arrayFilters: [{ 'g.type': 'quiz' }] });
    expect(r.doc.grades).toStrictEqual([
      { type: 'quiz', scores: [i32(11), i32(12)] },
      { type: 'exam', scores: [i32(3)] },
    ]);
    const r2 = up(doc, { $set: { 'grades.$[].scores.$[s]': i32(0) } }, { arrayFilters: [{ s: { $gte: i32(2) } }] });
    expect(r2.doc.grades).toStrictEqual([
      { type: 'quiz', scores: [i32(1), i32(0)] },
      { type: 'exam', scores: [i32(0)] },
    ]);
  });

  it('reports no change when no element matches', () => {
    const r = up({ _id: i32(1), a: [i32(1)] }, { $set: { 'a.$[x]': i32(5) } }, { arrayFilters: [{ x: { $gt: i32(10) } }] });
    expect(r.modified).toBe(false);
  });

  it('refuses identifiers without filters, unused filters, missing or scalar arrays', () => {
    expect(failure(() => up({ _id: i32(1), a: [] }, { $set: { 'a.$[x]': i32(1) } }))).toMatchObject({
      code: 2,
      message: "No array filter found for identifier 'x' in path 'a.$[x]'",
    });
    expect(failure(() => up({ _id: i32(1), a: [] }, { $set: { a: [] } }, { arrayFilters: [{ y: i32(1) }] }))).toMatchObject({
      code: 9,
      message: "The array filter for identifier 'y' was not used in the update { $set: { a: [] } }",
    });
    expect(failure(() => up({ _id: i32(1) }, { $set: { 'a.$[]': i32(1) } }))).toMatchObject({
      code: 2,
      message: "The path 'a' must exist in the document in order to apply array updates.",
    });
    expect(failure(() => up({ _id: i32(1), a: i32(5) }, { $set: { 'a.$[]': i32(1) } }))).toMatchObject({
      code: 2,
      message: 'Cannot apply array updates to non-array element a: 5',
    });
  });

  it('detects two updates landing on the same element at run time', () => {
    expect(
      failure(() => up({ _id: i32(1), a: [i32(1), i32(2)] }, { $set: { 'a.$[]': i32(0), 'a.$[x]': i32(9) } }, { arrayFilters: [{ x: i32(2) }] })),
    ).toMatchObject({ code: 40, message: "Update created a conflict at 'a.1'" });
  });
});

describe('parsing errors', () => {
  it('refuses unknown modifiers and non-document operands', () => {
    expect(failure(() => up({ _id: i32(1) }, { $foo: { a: i32(1) } }))).toMatchObject({
      code: 9,
      codeName: 'FailedToParse',
      message: 'Unknown modifier: $foo. Expected a valid update modifier or pipeline-style update specified as an array',
    });
    expect(failure(() => up({ _id: i32(1) }, { $set: i32(5) }))).toMatchObject({
      code: 9,
      message: 'Modifiers operate on fields but we found type int instead. For example: {$mod: {<field>: ...}} not {$set: 5}',
    });
  });

  it('refuses two operators on the same path or on a path and its prefix', () => {
    expect(failure(() => up({ _id: i32(1) }, { $set: { a: i32(1) }, $inc: { a: i32(1) } }))).toMatchObject({
      code: 40,
      codeName: 'ConflictingUpdateOperators',
      message: "Updating the path 'a' would create a conflict at 'a'",
    });
    expect(failure(() => up({ _id: i32(1) }, { $set: { a: i32(1) }, $unset: { 'a.b': 1 } }))).toMatchObject({
      code: 40,
      message: "Updating the path 'a.b' would create a conflict at 'a'",
    });
    expect(failure(() => up({ _id: i32(1) }, { $set: { 'a.b.c': i32(1) }, $push: { 'a.b': i32(1) } })).code).toBe(40);
    // Sibling paths are fine.
    expect(up({ _id: i32(1) }, { $set: { 'a.b': i32(1) }, $inc: { 'a.c': i32(1) } }).doc).toStrictEqual({ _id: i32(1), a: { b: i32(1), c: i32(1) } });
  });

  it('isOperatorUpdate tells operator updates from replacements and refuses mixtures', () => {
    expect(isOperatorUpdate({ $set: { a: 1 } })).toBe(true);
    expect(isOperatorUpdate({ a: 1 })).toBe(false);
    expect(isOperatorUpdate({})).toBe(false);
    expect(failure(() => isOperatorUpdate({ $set: { a: 1 }, b: 1 }))).toMatchObject({ code: 9, message: expect.stringContaining('Unknown modifier: b') });
  });
});

describe('applyReplacement', () => {
  it('keeps _id first and replaces everything else', () => {
    const id = new ObjectId();
    const r = applyReplacement({ _id: id, a: i32(1), b: i32(2) }, { c: i32(3), a: 'x' });
    expect(r).toStrictEqual({ _id: id, c: i32(3), a: 'x' });
    expect(Object.keys(applyReplacement({ _id: id, a: i32(1) }, { z: i32(1), _id: id }))).toStrictEqual(['_id', 'z']);
  });

  it('refuses a different _id and $-prefixed fields', () => {
    const e = failure(() => applyReplacement({ _id: i32(1), a: i32(1) }, { _id: i32(2), a: i32(1) }));
    expect(e).toMatchObject({ code: 66, codeName: 'ImmutableField' });
    expect(e.message).toBe("After applying the update, the (immutable) field '_id' was found to have been altered to _id: 2");
    expect(applyReplacement({ _id: i32(1) }, { _id: dbl(1), a: i32(1) })).toStrictEqual({ _id: dbl(1), a: i32(1) });
    expect(failure(() => applyReplacement({ _id: i32(1) }, { a: i32(1), $set: { b: i32(1) } })).code).toBe(52);
    expect(failure(() => applyReplacement({ _id: i32(1) }, { _id: [i32(1)] })).code).toBe(53);
  });
});

describe('upsertSeed and inserts', () => {
  it('takes top-level equalities, $eq, single-element $in and $and, dotted paths expanded', () => {
    const id = new ObjectId();
    const seed = upsertSeed({
      name: 'x',
      _id: id,
      'addr.city': 'Paris',
      'addr.zip': { $eq: '75001' },
      age: { $gt: i32(5) },
      tag: { $in: ['only'] },
      many: { $in: ['a', 'b'] },
      re: new BSONRegExp('^a'),
      $and: [{ k: i32(1) }, { m: { $lt: i32(3) } }],
      $or: [{ p: i32(1) }, { q: i32(2) }],
    });
    expect(seed).toStrictEqual({ _id: id, addr: { city: 'Paris', zip: '75001' }, k: i32(1), name: 'x', tag: 'only' });
    expect(Object.keys(seed)).toStrictEqual(['_id', 'addr', 'k', 'name', 'tag']);
    expect(upsertSeed({ a: { b: i32(1) } })).toStrictEqual({ a: { b: i32(1) } });
  });

  it('refuses ambiguous equalities', () => {
    expect(failure(() => upsertSeed({ a: i32(1), 'a.b': i32(2) }))).toMatchObject({
      code: 54,
      message: "cannot infer query fields to set, both paths 'a.b' and 'a' are matched",
    });
    expect(failure(() => upsertSeed({ $and: [{ a: i32(1) }, { a: i32(2) }] })).message).toBe("cannot infer query fields to set, path 'a' is matched twice");
  });

  it('builds the upserted document from the seed', () => {
    const query = { k: 'x', n: { $gt: i32(1) } };
    const r = applyUpdate(upsertSeed(query), { $set: { v: i32(1) }, $setOnInsert: { _id: i32(7), created: true }, $inc: { c: i32(1) } }, { isInsert: true, query });
    expect(r.doc).toStrictEqual({ _id: i32(7), c: i32(1), created: true, k: 'x', v: i32(1) });
    expect(Object.keys(r.doc)[0]).toBe('_id');
    expect(failure(() => applyUpdate(upsertSeed({ _id: i32(1) }), { $set: { _id: i32(2) } }, { isInsert: true })).code).toBe(66);
    expect(failure(() => applyUpdate({}, { $set: { _id: [i32(1)] } }, { isInsert: true })).code).toBe(53);
  });
});

describe('more', () => {
  it('$bit applies and / or / xor keeping the integer type', () => {
    const r = up({ _id: i32(1), a: i32(13), b: Long.fromNumber(1) }, { $bit: { a: { and: i32(10) }, b: { or: i32(4) }, c: { xor: i32(5) } } });
    expect(r.doc).toStrictEqual({ _id: i32(1), a: i32(8), b: Long.fromNumber(5), c: i32(5) });
    expect(failure(() => up({ _id: i32(1), a: 'x' }, { $bit: { a: { and: i32(1) } } })).code).toBe(2);
    expect(failure(() => up({ _id: i32(1) }, { $bit: { a: { and: dbl(1) } } })).code).toBe(2);
  });

  it('$unset through $[] nulls every element', () => {
    expect(up({ _id: i32(1), a: [i32(1), i32(2)] }, { $unset: { 'a.$[]': 1 } }).doc.a).toStrictEqual([null, null]);
  });

  it('reuses one parsed statement for many documents without sharing values', () => {
    const u = { $push: { list: { k: i32(1) } }, $set: { o: { n: i32(1) } } };
    const a = up({ _id: i32(1), list: [] }, u).doc;
    const b = up({ _id: i32(2) }, u).doc;
    (a.o as Doc).n = i32(5);
    (a.list as Doc[])[0].k = i32(5);
    expect(b).toStrictEqual({ _id: i32(2), list: [{ k: i32(1) }], o: { n: i32(1) } });
  });

  it('resolves the positional operator against ObjectId and nested conditions', () => {
    const id = new ObjectId();
    const doc = { _id: id, students: [{ name: 'a', grades: [i32(1)] }, { name: 'b', grades: [i32(2)] }] };
    const r = up(doc, { $push: { 'students.$.grades': i32(9) } }, { query: { _id: new ObjectId(id.toHexString()), 'students.name': 'b' } });
    expect(r.doc.students).toStrictEqual([
      { name: 'a', grades: [i32(1)] },
      { name: 'b', grades: [i32(2), i32(9)] },
    ]);
    expect(failure(() => applyUpdate(upsertSeed({ a: i32(1) }), { $set: { 'a.$': i32(2) } }, { isInsert: true, query: { a: i32(1) } })).code).toBe(2);
  });

  it('fills zero timestamps of a replacement', () => {
    const r = applyReplacement({ _id: i32(1) }, { ts: new Timestamp({ t: 0, i: 0 }) });
    expect((r.ts as Timestamp).t).toBeGreaterThan(0);
  });

  it('validates array filters', () => {
    expect(failure(() => up({ _id: i32(1), a: [] }, { $set: { 'a.$[x]': i32(1) } }, { arrayFilters: [{ x: i32(1), y: i32(2) }] })).code).toBe(9);
    expect(failure(() => up({ _id: i32(1), a: [] }, { $set: { 'a.$[X]': i32(1) } }, { arrayFilters: [{ X: i32(1) }] })).code).toBe(2);
    expect(
      failure(() => up({ _id: i32(1), a: [] }, { $set: { 'a.$[x]': i32(1) } }, { arrayFilters: [{ x: i32(1) }, { x: i32(2) }] })).message,
    ).toBe('Found multiple array filters with the same top-level field name x');
  });
});

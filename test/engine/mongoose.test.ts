// mongoose against the server: schemas with indexes, CRUD, populate, unique violations, validation, upserts,
// Decimal128, counts and transactions.
import mongoose, { Schema, Types, type Connection } from 'mongoose';
import { MongoServerError } from 'mongodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { rejection, useMongo } from '../helpers/mongo.ts';

const m = useMongo('mongoose');

interface IAuthor {
  name: string;
  email: string;
  born?: Date;
}
interface IBook {
  title: string;
  author: Types.ObjectId;
  price: Types.Decimal128;
  pages: number;
  tags: string[];
}

const authorSchema = new Schema<IAuthor>({
  name: { type: String, required: true, minlength: 2 },
  email: { type: String, required: true, unique: true, lowercase: true, trim: true },
  born: Date,
});
const bookSchema = new Schema<IBook>(
  {
    title: { type: String, required: true },
    author: { type: Schema.Types.ObjectId, ref: 'Author', required: true },
    price: { type: Schema.Types.Decimal128, required: true },
    pages: { type: Number, min: 1 },
    tags: [String],
  },
  { timestamps: true },
);
bookSchema.index({ author: 1, title: 1 }, { unique: true });

let conn: Connection;
let Author: mongoose.Model<IAuthor>;
let Book: mongoose.Model<IBook>;

beforeAll(async () => {
  conn = await m.mongoose();
  Author = conn.model<IAuthor>('Author', authorSchema);
  Book = conn.model<IBook>('Book', bookSchema);
  await Author.init();
  await Book.init();
});

describe('indexes', () => {
  it('Model.init() builds the schema indexes', async () => {
    const authorIndexes = await Author.listIndexes();
    expect(authorIndexes.map((i) => [i.name, i.key, i.unique ?? false])).toEqual([
      ['_id_', { _id: 1 }, false],
      ['email_1', { email: 1 }, true],
    ]);
    const bookIndexes = await Book.listIndexes();
    expect(bookIndexes.map((i) => i.name)).toEqual(['_id_', 'author_1_title_1']);
  });

  it('syncIndexes drops indexes the schema no longer declares and creates new ones', async () => {
    const schema = new Schema({ sku: String, bin: String });
    schema.index({ sku: 1 }, { unique: true });
    const Stock = conn.model('Stock', schema);
    await Stock.init();
    await Stock.collection.createIndex({ bin: 1 }, { name: 'bin_1' });
    const dropped = await Stock.syncIndexes();
    expect(dropped).toEqual(['bin_1']);
    expect((await Stock.listIndexes()).map((i) => i.name)).toEqual(['_id_', 'sku_1']);
    const diff = await Stock.diffIndexes();
    expect(diff).toEqual({ toDrop: [], toCreate: [] });
  });
});

describe('documents', () => {
  it('creates, finds, updates and deletes, applying schema casts', async () => {
    const ada = await Author.create({ name: 'Ada', email: '  ADA@Example.org ', born: new Date('1815-12-10') });
    expect(ada._id).toBeInstanceOf(Types.ObjectId);
    expect(ada.email).toBe('ada@example.org');
    const found = await Author.findById(ada._id).lean();
    expect(found).toMatchObject({ name: 'Ada', email: 'ada@example.org' });
    expect(found!.born!.toISOString()).toBe('1815-12-10T00:00:00.000Z');
    const res = await Author.updateOne({ _id: ada._id }, { $set: { name: 'Ada L.' } });
    expect(res.modifiedCount).toBe(1);
    expect((await Author.findOne({ email: 'ada@example.org' }))!.name).toBe('Ada L.');
    const doc = await Author.findById(ada._id);
    doc!.name = 'Ada Lovelace';
    await doc!.save();
    expect((await Author.findById(ada._id).lean())!.name).toBe('Ada Lovelace');
    expect((await Author.deleteOne({ _id: ada._id })).deletedCount).toBe(1);
    expect(await Author.findById(ada._id)).toBeNull();
  });

  it('populates references across two models', async () => {
    const grace = await Author.create({ name: 'Grace', email: 'grace@example.org' });
    const alan = await Author.create({ name: 'Alan', email: 'alan@example.org' });
    await Book.create([
      { title: 'Compilers', author: grace._id, price: Types.Decimal128.fromString('39.90'), pages: 300, tags: ['cs'] },
      { title: 'COBOL', author: grace._id, price: Types.Decimal128.fromString('12.00'), pages: 120, tags: ['cs', 'lang'] },
      { title: 'Computing Machinery', author: alan._id, price: Types.Decimal128.fromString('5.50'), pages: 30, tags: ['ai'] },
    ]);
    const books = await Book.find({ tags: 'cs' }).sort({ title: 1 }).populate<{ author: IAuthor }>('author', 'name email -_id').lean();
    expect(books.map((b) => [b.title, b.author])).toEqual([
      ['COBOL', { name: 'Grace', email: 'grace@example.org' }],
      ['Compilers', { name: 'Grace', email: 'grace@example.org' }],
    ]);
    const [alanBook] = await Book.find({ author: alan._id }).populate<{ author: IAuthor }>('author');
    expect(alanBook.author.name).toBe('Alan');
    expect(alanBook.get('createdAt')).toBeInstanceOf(Date);
    expect(await Book.countDocuments({ author: grace._id })).toBe(2);
    expect(await Book.countDocuments()).toBe(3);
    expect(await Book.estimatedDocumentCount()).toBe(3);
  });

  it('round-trips a Decimal128 field exactly', async () => {
    const author = await Author.create({ name: 'Dec', email: 'dec@example.org' });
    const book = await Book.create({ title: 'Money', author: author._id, price: Types.Decimal128.fromString('1234.50'), pages: 10 });
    const back = await Book.findById(book._id).lean();
    expect(back!.price).toBeInstanceOf(Types.Decimal128);
    expect(back!.price.toString()).toBe('1234.50');
    const hydrated = await Book.findById(book._id);
    expect(hydrated!.price.toString()).toBe('1234.50');
    const cheap = await Book.find({ price: { $lt: Types.Decimal128.fromString('1234.51') }, title: 'Money' }).lean();
    expect(cheap).toHaveLength(1);
    await Book.updateOne({ _id: book._id }, { $inc: { price: Types.Decimal128.fromString('0.05') } });
    expect((await Book.findById(book._id).lean())!.price.toString()).toBe('1234.55');
  });
});

describe('errors', () => {
  it('a unique violation surfaces as MongoServerError 11000 with keyValue', async () => {
    await Author.create({ name: 'Uni', email: 'uni@example.org' });
    const err = await rejection<MongoServerError>(() => Author.create({ name: 'Uni2', email: 'UNI@example.org' }));
    expect(err).toBeInstanceOf(MongoServerError);
    expect(err.name).toBe('MongoServerError');
    expect(err.code).toBe(11000);
    expect(err.keyPattern).toEqual({ email: 1 });
    expect(err.keyValue).toEqual({ email: 'uni@example.org' });
    expect(err.message).toBe(`E11000 duplicate key error collection: ${m.dbName}.authors index: email_1 dup key: { email: "uni@example.org" }`);
    expect(await Author.countDocuments({ email: 'uni@example.org' })).toBe(1);
  });

  it('a compound unique violation through insertMany reports the batch index', async () => {
    const a = await Author.create({ name: 'Comp', email: 'comp@example.org' });
    const err = await rejection<MongoServerError & { writeErrors: Array<{ index: number; code: number }>; insertedDocs: unknown[] }>(() =>
      Book.insertMany(
        [
          { title: 'One', author: a._id, price: Types.Decimal128.fromString('1'), pages: 1 },
          { title: 'Two', author: a._id, price: Types.Decimal128.fromString('2'), pages: 1 },
          { title: 'One', author: a._id, price: Types.Decimal128.fromString('3'), pages: 1 },
        ],
        { ordered: true },
      ),
    );
    expect(err.code).toBe(11000);
    expect(err.writeErrors.map((w) => [w.index, w.code])).toEqual([[2, 11000]]);
    expect(await Book.countDocuments({ author: a._id })).toBe(2);
  });

  it('validation fails before anything is written', async () => {
    const err = await rejection<mongoose.Error.ValidationError>(() => Author.create({ name: 'X' }));
    expect(err).toBeInstanceOf(mongoose.Error.ValidationError);
    expect(Object.keys(err.errors).sort()).toEqual(['email', 'name']);
    expect(err.errors.name.kind).toBe('minlength');
    expect(err.errors.email.kind).toBe('required');
    expect(await Author.countDocuments({ name: 'X' })).toBe(0);
    const bookErr = await rejection<mongoose.Error.ValidationError>(() => new Book({ title: 'T', pages: 0 }).save());
    expect(Object.keys(bookErr.errors).sort()).toEqual(['author', 'pages', 'price']);
  });

  it('a cast error for a malformed ObjectId is raised by mongoose', async () => {
    const err = await rejection<mongoose.Error.CastError>(() => Author.findById('not-an-id').exec());
    expect(err).toBeInstanceOf(mongoose.Error.CastError);
  });
});

describe('findOneAndUpdate', () => {
  it('with { new: true, upsert: true } inserts and returns the new document, then updates it', async () => {
    const created = await Author.findOneAndUpdate(
      { email: 'upsert@example.org' },
      { $set: { name: 'Upserted' }, $setOnInsert: { born: new Date('2000-01-01') } },
      { new: true, upsert: true },
    );
    expect(created).not.toBeNull();
    expect(created!.name).toBe('Upserted');
    expect(created!.email).toBe('upsert@example.org');
    expect(created!.born!.toISOString()).toBe('2000-01-01T00:00:00.000Z');
    const updated = await Author.findOneAndUpdate(
      { email: 'upsert@example.org' },
      { $set: { name: 'Updated' }, $setOnInsert: { born: new Date('1999-01-01') } },
      { new: true, upsert: true },
    );
    expect(updated!._id.equals(created!._id)).toBe(true);
    expect(updated!.name).toBe('Updated');
    expect(updated!.born!.toISOString()).toBe('2000-01-01T00:00:00.000Z');
    expect(await Author.countDocuments({ email: 'upsert@example.org' })).toBe(1);
  });

  it('runs update validators when asked', async () => {
    await Author.create({ name: 'Valid', email: 'valid@example.org' });
    const err = await rejection(() => Author.findOneAndUpdate({ email: 'valid@example.org' }, { name: 'V' }, { runValidators: true, new: true }));
    expect(err).toBeInstanceOf(mongoose.Error.ValidationError);
    expect((await Author.findOne({ email: 'valid@example.org' }).lean())!.name).toBe('Valid');
  });
});

describe('aggregate and transactions', () => {
  it('aggregates with $lookup between the two models’ collections', async () => {
    const a = await Author.create({ name: 'Agg', email: 'agg@example.org' });
    await Book.create([
      { title: 'A1', author: a._id, price: Types.Decimal128.fromString('10'), pages: 10 },
      { title: 'A2', author: a._id, price: Types.Decimal128.fromString('20'), pages: 30 },
    ]);
    const [row] = await Author.aggregate<{ name: string; pages: number; n: number }>([
      { $match: { _id: a._id } },
      { $lookup: { from: Book.collection.collectionName, localField: '_id', foreignField: 'author', as: 'books' } },
      { $project: { _id: 0, name: 1, pages: { $sum: '$books.pages' }, n: { $size: '$books' } } },
    ]);
    expect(row).toEqual({ name: 'Agg', pages: 40, n: 2 });
  });

  it('connection.transaction commits both models together', async () => {
    let authorId: Types.ObjectId | undefined;
    await conn.transaction(async (session) => {
      const [author] = await Author.create([{ name: 'Txn', email: 'txn@example.org' }], { session });
      authorId = author._id;
      await Book.create([{ title: 'In a transaction', author: author._id, price: Types.Decimal128.fromString('9.99'), pages: 5 }], { session });
    });
    expect(await Author.countDocuments({ email: 'txn@example.org' })).toBe(1);
    expect(await Book.countDocuments({ author: authorId })).toBe(1);
  });

  it('connection.transaction rolls both models back when the callback throws', async () => {
    const err = await rejection(() =>
      conn.transaction(async (session) => {
        const [author] = await Author.create([{ name: 'Gone', email: 'gone@example.org' }], { session });
        await Book.create([{ title: 'Gone too', author: author._id, price: Types.Decimal128.fromString('1'), pages: 1 }], { session });
        throw new Error('abort it');
      }),
    );
    expect(err.message).toBe('abort it');
    expect(await Author.countDocuments({ email: 'gone@example.org' })).toBe(0);
    expect(await Book.countDocuments({ title: 'Gone too' })).toBe(0);
  });

  it('a unique violation inside connection.transaction rejects and leaves nothing behind', async () => {
    await Author.create({ name: 'Held', email: 'held@example.org' });
    const err = await rejection<MongoServerError>(() =>
      conn.transaction(async (session) => {
        await Author.create([{ name: 'New', email: 'new-in-txn@example.org' }], { session });
        await Author.create([{ name: 'Clash', email: 'held@example.org' }], { session });
      }),
    );
    expect(err.code).toBe(11000);
    expect(await Author.countDocuments({ email: 'new-in-txn@example.org' })).toBe(0);
  });
});

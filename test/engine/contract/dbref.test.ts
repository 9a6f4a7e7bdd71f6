// DBRefs in queries: "owner.$ref" / "owner.$id" paths, equality with a whole DBRef, and $elemMatch over arrays
// of DBRefs.
import { DBRef, ObjectId, type Collection, type Document } from 'mongodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { useMongo } from '../../helpers/mongo.ts';

const m = useMongo('dbref');

const alice = new ObjectId();
const bob = new ObjectId();
let coll: Collection<Document>;
beforeAll(async () => {
  coll = m.db.collection('docs');
  await coll.insertMany([
    { _id: 1, owner: new DBRef('users', alice), refs: [new DBRef('users', alice), new DBRef('groups', bob)] },
    { _id: 2, owner: new DBRef('users', bob), refs: [new DBRef('users', bob)] },
    { _id: 3, owner: new DBRef('groups', alice, 'otherdb'), refs: [] },
  ] as Document[]);
});

const ids = (docs: Document[]) => docs.map((d) => d._id).sort();

describe('DBRef fields in queries', () => {
  it('matches on owner.$ref and owner.$id', async () => {
    expect(ids(await coll.find({ 'owner.$ref': 'users' }).toArray())).toEqual([1, 2]);
    expect(ids(await coll.find({ 'owner.$ref': 'users', 'owner.$id': alice }).toArray())).toEqual([1]);
    expect(ids(await coll.find({ 'owner.$id': alice }).toArray())).toEqual([1, 3]);
    expect(ids(await coll.find({ 'owner.$db': 'otherdb' }).toArray())).toEqual([3]);
  });

  it('matches a whole DBRef by equality', async () => {
    expect(ids(await coll.find({ owner: new DBRef('users', bob) }).toArray())).toEqual([2]);
    // $db is part of the value: a DBRef without it does not equal one with it.
    expect(ids(await coll.find({ owner: new DBRef('groups', alice) }).toArray())).toEqual([]);
    expect(ids(await coll.find({ owner: { $in: [new DBRef('users', alice), new DBRef('users', bob)] } }).toArray())).toEqual([1, 2]);
  });

  it('reads paths through arrays of DBRefs', async () => {
    expect(ids(await coll.find({ 'refs.$ref': 'groups' }).toArray())).toEqual([1]);
    expect(ids(await coll.find({ 'refs.$id': bob }).toArray())).toEqual([1, 2]);
  });

  it('matches DBRef elements with $elemMatch', async () => {
    expect(ids(await coll.find({ refs: { $elemMatch: { $ref: 'users', $id: bob } } }).toArray())).toEqual([2]);
    expect(ids(await coll.find({ refs: { $elemMatch: { $ref: 'groups' } } } as Document).toArray())).toEqual([1]);
  });

  it('returns DBRefs as DBRefs', async () => {
    const doc = await coll.findOne({ _id: 3 as never });
    expect(doc!.owner).toBeInstanceOf(DBRef);
    expect(doc!.owner).toMatchObject({ collection: 'groups', oid: alice, db: 'otherdb' });
  });
});

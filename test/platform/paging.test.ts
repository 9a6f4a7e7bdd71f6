// Keyset paging (platform/paging.ts keysetAfter) against the real driver and database: pages of a list sorted on
// a key with many ties, in both directions, give every document once and in order, also while documents are added.
import type { Connection } from 'mongoose';
import { Types } from 'mongoose';
import { beforeAll, describe, expect, it } from 'vitest';
import { keysetAfter } from '../../platform/paging.ts';
import { useMongo } from '../helpers/mongo.ts';

const mongo = useMongo('paging');
let conn: Connection;

interface Doc {
  _id: Types.ObjectId;
  at: Date;
  n: number;
}

beforeAll(async () => {
  conn = await mongo.mongoose();
  // 57 documents on 7 distinct times: most sort keys are shared, only _id breaks the ties.
  const docs: Doc[] = Array.from({ length: 57 }, (_, i) => ({ _id: new Types.ObjectId(), at: new Date(Date.UTC(2026, 0, 1 + (i % 7))), n: i }));
  await conn.collection<Doc>('pages').insertMany(docs);
});

async function pages(sort: Record<string, 1 | -1>, size: number, during?: (page: number) => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  let last: Doc | undefined;
  for (let page = 0; ; page++) {
    const filter = last ? keysetAfter(sort, last as unknown as Record<string, unknown>) : {};
    const got = await conn.collection<Doc>('pages').find(filter).sort(sort).limit(size).toArray();
    if (!got.length) return seen;
    seen.push(...got.map((d) => d._id.toHexString()));
    last = got.at(-1);
    await during?.(page);
  }
}

describe('keysetAfter', () => {
  it('pages through a list with ties, newest first and oldest first, each document once and in order', async () => {
    for (const sort of [{ at: -1, _id: -1 }, { at: 1, _id: 1 }, { at: -1, n: 1, _id: -1 }] as Record<string, 1 | -1>[]) {
      const all = (await conn.collection<Doc>('pages').find({}).sort(sort).toArray()).map((d) => d._id.toHexString());
      expect(all).toHaveLength(57);
      for (const size of [1, 5, 20, 57, 100]) expect(await pages(sort, size), `${JSON.stringify(sort)} by ${size}`).toEqual(all);
    }
  });

  it('neither repeats nor skips what was listed when newer documents arrive between pages', async () => {
    const sort = { at: -1, _id: -1 } as const;
    const before = (await conn.collection<Doc>('pages').find({}).sort(sort).toArray()).map((d) => d._id.toHexString());
    // A document newer than everything arrives after each page: it belongs before the pages already read.
    const seen = await pages(sort, 10, async (page) => void (await conn.collection<Doc>('pages').insertOne({ _id: new Types.ObjectId(), at: new Date(Date.UTC(2027, 0, 1 + page)), n: 1000 + page })));
    expect(seen).toEqual(before);
  });

  it('refuses a sort that does not end with _id (its order would not be total)', () => {
    expect(() => keysetAfter({ at: -1 }, { at: new Date() })).toThrow(/ends with _id/);
  });
});

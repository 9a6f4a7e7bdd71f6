// The inbound event store on its own: uniqueness, leases, listing with filters and cursors.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { InboundEventStore, InboundListError, type ClaimInput } from '../../subgraphs/oa/connectors/inbound.ts';
import { openDb, type Db } from './helpers.ts';

let db: Db;
let store: InboundEventStore;

beforeAll(async () => {
  db = await openDb();
  store = await new InboundEventStore(db.connection, 10_000).init();
});
afterAll(async () => {
  await db?.close();
});
beforeEach(async () => {
  await store.model.deleteMany({});
});

const input = (eventId: string, platform: 'feishu' | 'dingtalk' = 'feishu'): ClaimInput => ({
  platform,
  eventId,
  instanceCode: `I-${eventId}`,
  approvalCode: 'A',
  eventTime: new Date(1_717_000_000_000),
  event: null,
});

describe('InboundEventStore', () => {
  it('keeps one record per (platform, eventId)', async () => {
    expect(await store.record(input('e1'), { status: 'REJECTED', reason: 'r' })).toBe(true);
    expect(await store.record(input('e1'), { status: 'REJECTED', reason: 'r' })).toBe(false);
    expect(await store.record(input('e1', 'dingtalk'), { status: 'IGNORED' })).toBe(true);
    await expect(store.model.create({ ...input('e1'), status: 'APPLIED', receivedAt: new Date() })).rejects.toMatchObject({ code: 11000 });
    expect(await store.model.countDocuments()).toBe(2);
  });

  it('leases a claimed event: a concurrent delivery is a duplicate, a delivery after a release takes it over', async () => {
    const t = new Date(1_800_000_000_000);
    const first = await store.claim(input('e2'), t);
    expect(first.claimed).toBe(true);
    const during = await store.claim(input('e2'), new Date(t.getTime() + 1000));
    expect(during).toMatchObject({ claimed: false, record: { status: 'RECEIVED' } });
    await store.release((first as { id: string }).id, 'Error: boom', new Date(t.getTime() + 2000));
    const retry = await store.claim(input('e2'), new Date(t.getTime() + 3000));
    expect(retry).toEqual({ claimed: true, id: (first as { id: string }).id });
    await store.settle((first as { id: string }).id, { status: 'APPLIED', claimId: 'c1' });
    const after = await store.claim(input('e2'), new Date(t.getTime() + 60_000));
    expect(after).toMatchObject({ claimed: false, record: { status: 'APPLIED', claimId: 'c1', attempts: 2 } });
  });

  it('lets an expired lease be taken over', async () => {
    const t = new Date(1_800_000_000_000);
    await store.claim(input('e3'), t);
    expect(await store.takeOverExpired(new Date(t.getTime() + 5000))).toBeNull();
    expect(await store.takeOverExpired(new Date(t.getTime() + 10_000))).toMatchObject({ eventId: 'e3', attempts: 2 });
  });

  it('lists newest first with filters, cursors and a total', async () => {
    for (let i = 0; i < 5; i++) await store.record(input(`r${i}`), { status: 'REJECTED', reason: `reason ${i}` });
    await store.record(input('d0', 'dingtalk'), { status: 'REJECTED', reason: 'd' });
    await store.record(input('ok'), { status: 'APPLIED', claimId: 'c' });

    const page1 = await store.list({ status: 'REJECTED', platform: 'feishu', first: 2 });
    expect(page1.totalCount).toBe(5);
    expect(page1.edges.map((e) => e.node.eventId)).toEqual(['r4', 'r3']);
    expect(page1.pageInfo.hasNextPage).toBe(true);
    const page2 = await store.list({ status: 'REJECTED', platform: 'feishu', first: 2, after: page1.pageInfo.endCursor! });
    expect(page2.edges.map((e) => e.node.eventId)).toEqual(['r2', 'r1']);
    const page3 = await store.list({ status: 'REJECTED', platform: 'feishu', first: 2, after: page2.pageInfo.endCursor! });
    expect(page3.edges.map((e) => e.node.eventId)).toEqual(['r0']);
    expect(page3.pageInfo).toEqual({ hasNextPage: false, hasPreviousPage: true, startCursor: page3.edges[0]!.cursor, endCursor: page3.edges[0]!.cursor });

    expect((await store.list({ status: 'REJECTED' })).totalCount).toBe(6);
    expect((await store.list()).totalCount).toBe(7);
    expect((await store.list({ status: 'APPLIED' })).edges[0]?.node).toMatchObject({ eventId: 'ok', claimId: 'c', reason: null });
  });

  it('refuses bad list arguments', async () => {
    await expect(store.list({ first: 0 })).rejects.toBeInstanceOf(InboundListError);
    await expect(store.list({ first: 101 })).rejects.toThrow(/first/);
    await expect(store.list({ after: 'not-a-cursor' })).rejects.toThrow(/after/);
    await expect(store.list({ status: 'LOST' as never })).rejects.toThrow(/status/);
  });
});

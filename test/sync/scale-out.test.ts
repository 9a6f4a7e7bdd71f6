// Scale-out on a real Redis (test/helpers/redis.ts: REDIS_URL, the local 6379, or one it starts from redis-server):
// two gateway instances, each with a subscriber, and two sync instances on one database. Both subscribers receive
// every event exactly once, and the two sync instances together sync every claim exactly once (a lease in the database).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EventBus, RedisEventBus } from '../../platform/integration/event-bus.ts';
import { createLogger } from '../../platform/logger.ts';
import { type RunningSync, startSyncSubgraph } from '../../subgraphs/sync-service.ts';
import { type TestRedis, testRedis } from '../helpers/redis.ts';
import { events, wsSubscribe } from '../helpers/subscribers.ts';
import { SECRET } from '../oa/fixture.ts';
import type { Org } from '../oa/seed.ts';
import { SYNC_SETTINGS, type Stack, approvedClaim, seed, startStack } from './stack.ts';

let redis: TestRedis;
// A channel of its own, so parallel test files (and a real deployment on the same Redis) do not cross.
const CHANNEL = `test:sync-events:${randomUUID()}`;
const logger = createLogger({ level: 'silent' });
const buses: EventBus[] = [];
const redisBus = async () => {
  const bus = new RedisEventBus(redis.url, logger, CHANNEL);
  await bus.connected();
  buses.push(bus);
  return bus;
};

let stack: Stack;
let org: Org;
let secondSync: RunningSync;

beforeAll(async () => {
  redis = await testRedis();
  // Sync instance 1 and gateway A on one Redis connection pair each; gateway B and sync instance 2 on others.
  // The gateways' own head polls are made rare, so that only Redis can have told them of the events.
  stack = await startStack({ label: 'sync_scale_out', bus: await redisBus(), subscriptionPollMs: 60_000 });
  await stack.startGateway(await redisBus());
  org = await seed(stack);
  secondSync = await startSyncSubgraph({
    connection: stack.connection,
    logger,
    internalSecret: SECRET,
    production: false,
    oaUrl: stack.oaUrl,
    archiveUrl: stack.archiveUrl,
    ports: stack.ports,
    bus: await redisBus(),
    settings: SYNC_SETTINGS,
    host: '127.0.0.1',
    port: 0,
    leaseTtlMs: 2000,
  });
}, 30_000);
afterAll(async () => {
  await secondSync?.close();
  await stack?.close();
  for (const b of buses) await b.close();
  await redis?.stop();
});

describe('two gateways and two sync instances on Redis', () => {
  it('deliver every event once to a subscriber on each gateway, and sync every claim once', async () => {
    expect(stack.gateways).toHaveLength(2);
    const token = await stack.token(org.ids.accountant);
    const query = `subscription { syncEvents(types: [CLAIM_APPROVED, VOUCHER_CREATED, ARCHIVE_FILED]) { seq type claim { claimNo } } }`;
    const [a, b] = stack.gateways.map((g) => wsSubscribe(g.wsUrl, { authorization: `Bearer ${token}` }, query));
    await new Promise((r) => setTimeout(r, 300));

    const approved = [];
    for (let i = 0; i < 6; i++) approved.push(await approvedClaim(stack, org, `${i + 1}.00`));
    for (const s of [a, b]) await s.until((r) => events(r).length >= 18, 15_000);
    await new Promise((r) => setTimeout(r, 300));

    const accountant = await stack.token(org.ids.accountant);
    const log = await stack.gql<{ syncEvents: { seq: string; type: string }[] }>(accountant, `{ syncEvents(types: [CLAIM_APPROVED, VOUCHER_CREATED, ARCHIVE_FILED], first: 500) { seq type } }`);
    const expected = log.data!.syncEvents.map((e) => e.seq);
    expect(expected).toHaveLength(18);
    for (const s of [a, b]) {
      expect(events(s).map((e) => e.seq)).toEqual(expected);
      expect(new Set(events(s).map((e) => (e.claim as { claimNo: string }).claimNo))).toEqual(new Set(approved.map((c) => c.claimNo)));
    }

    // Each gateway heard of the events through Redis: its feed (moved only by bus messages) is at the head.
    const head = Math.max(...expected.map(Number));
    for (const g of stack.gateways) expect(g.gateway.feed.head).toBeGreaterThanOrEqual(head);
    // Both sync instances were running; each claim was synced once, at the first attempt.
    const jobs = await stack.connection.collection('sync_jobs').find().toArray();
    expect(jobs).toHaveLength(6);
    expect(jobs.every((j) => j.status === 'SUCCEEDED' && j.attempts === 1)).toBe(true);
    expect(await stack.connection.collection('vouchers').countDocuments()).toBe(6);
    expect(await stack.connection.collection('archive_records').countDocuments()).toBe(6);
    const lease = await stack.connection.collection('leases').findOne({ _id: 'sync-pipeline' as never });
    expect(lease?.owner).toEqual(expect.any(String));
    await a.dispose();
    await b.dispose();
  });

  it('hands the work over when the consuming instance stops', async () => {
    const lease = await stack.connection.collection('leases').findOne({ _id: 'sync-pipeline' as never });
    // Stop whichever instance holds the lease; the other takes over (at once, since stop releases it).
    const holder = lease!.owner === (stack.sync.services.pipeline as unknown as { opts: { lease: { owner: string } } }).opts.lease.owner ? stack.sync : secondSync;
    await holder.services.pipeline.stop();
    const claim = await approvedClaim(stack, org, '99.00');
    const started = Date.now();
    while (!(await stack.connection.collection('archive_records').findOne({ sourceClaimNo: claim.claimNo }))) {
      if (Date.now() - started > 10_000) throw new Error('no other instance took over');
      await new Promise((r) => setTimeout(r, 25));
    }
    const after = await stack.connection.collection('leases').findOne({ _id: 'sync-pipeline' as never });
    expect(after!.owner).not.toBe(lease!.owner);
  });
});

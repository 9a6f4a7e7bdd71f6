// Status history (issue 16 §2): the sync service samples systemStatus every STATUS_SAMPLE_MS, and
// systemStatusHistory answers the samples of a range downsampled to time buckets that keep the worst of each.
// First the bucketing over samples inserted at known times (no sleeping), the range checks and the 48 h expiry;
// then the real stack: samples accumulate, the archive made unreachable shows as DOWN with the approvals waiting
// in the backlog, it comes back UP, the downsampled answer keeps the DOWN bucket, an EMPLOYEE is refused, and
// only the lease holder samples, reusing the alert monitor's fresh probes.
import mongoose, { type Connection } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../engine/index.ts';
import { Lease } from '../../platform/integration/lease.ts';
import { createLogger } from '../../platform/logger.ts';
import { historyRange, statusHistory } from '../../subgraphs/operations/status-history/history.ts';
import { type StatusSampleDoc, statusSampleModel } from '../../subgraphs/operations/status-history/models.ts';
import { StatusSampler } from '../../subgraphs/operations/status-history/sampler.ts';
import { until } from '../helpers/wait.ts';
import type { Org } from '../oa/seed.ts';
import { ArchiveProxy } from '../sync/archive-proxy.ts';
import { type Stack, approvedClaim, seed, startStack } from '../sync/stack.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;

type Sample = Omit<StatusSampleDoc, '_id'>;
const sampleAt = (at: Date, over: Partial<Sample> = {}): Sample => ({
  at,
  database: 'UP',
  databaseLatencyMs: 1,
  subgraphs: [
    { name: 'archive', status: 'UP', latencyMs: 5 },
    { name: 'oa', status: 'UP', latencyMs: 4 },
  ],
  backlog: 0,
  deadJobs: 0,
  oldestPendingMs: 0,
  lagP95Ms: null,
  synced: 0,
  failingWebhooks: 0,
  openAlerts: 0,
  openSubscriptions: 0,
  ...over,
});

/** The code and argument of a refusal, however it came (thrown by the resolver's check, or answered through the gateway). */
const refusal = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    const e = err as { extensions?: { code?: string; field?: string } };
    return { code: e.extensions?.code, field: e.extensions?.field };
  }
  throw new Error('expected a refusal');
};

describe('systemStatusHistory: bucketing and range checks', () => {
  let engine: Engine;
  let conn: Connection;
  // Recent enough that the 48 h TTL keeps the samples; whole minutes so the buckets are easy to name.
  const base = new Date(Math.floor((Date.now() - 10 * HOUR) / MIN) * MIN);
  const t = (minutes: number) => new Date(base.getTime() + minutes * MIN);

  beforeAll(async () => {
    engine = new Engine({ port: 0, dbPath: null, ttlIntervalMs: HOUR });
    conn = await mongoose.createConnection((await engine.listen()).uriFor('status_history_unit')).asPromise();
    const model = statusSampleModel(conn);
    await model.init();
    // Twelve samples a minute apart (minutes 0..11); minute 4 saw the archive and the database DOWN and the peaks.
    await model.insertMany(
      Array.from({ length: 12 }, (_, i) =>
        sampleAt(t(i), {
          synced: 1,
          lagP95Ms: i < 3 ? null : 1000 + i,
          ...(i === 4
            ? {
                database: 'DOWN',
                databaseLatencyMs: null,
                subgraphs: [
                  { name: 'archive', status: 'DOWN', latencyMs: null },
                  { name: 'oa', status: 'UP', latencyMs: 40 },
                ],
                backlog: 7,
                oldestPendingMs: 90_000,
                openAlerts: 2,
              }
            : { backlog: i % 2 }),
        }),
      ),
    );
    // Outside every range asked below.
    await model.insertMany([sampleAt(t(-30), { backlog: 99 }), sampleAt(t(90), { backlog: 99 })]);
  });
  afterAll(async () => {
    await conn?.close();
    await engine?.close();
  });

  it('keeps the worst of each bucket: any DOWN, the largest counts and lags, the sum of synced', async () => {
    const points = await statusHistory(statusSampleModel(conn), historyRange({ from: t(0), to: t(12), maxPoints: 4 }));
    // 12 minutes in 4 buckets of 3 minutes each.
    expect(points.map((p) => [p.at.toISOString(), p.lastAt.toISOString(), p.samples])).toEqual([
      [t(0).toISOString(), t(2).toISOString(), 3],
      [t(3).toISOString(), t(5).toISOString(), 3],
      [t(6).toISOString(), t(8).toISOString(), 3],
      [t(9).toISOString(), t(11).toISOString(), 3],
    ]);
    expect(points[1]).toMatchObject({
      database: 'DOWN',
      databaseLatencyMs: 1,
      subgraphs: [
        { name: 'archive', status: 'DOWN', latencyMs: 5 },
        { name: 'oa', status: 'UP', latencyMs: 40 },
      ],
      backlog: 7,
      oldestPendingMs: 90_000,
      lagP95Ms: 1005,
      synced: 3,
      openAlerts: 2,
    });
    for (const i of [0, 2, 3]) {
      expect(points[i].database).toBe('UP');
      expect(points[i].subgraphs.map((s) => s.status)).toEqual(['UP', 'UP']);
      expect(points[i].backlog).toBe(1);
      expect(points[i].oldestPendingMs).toBe(0);
    }
    // No lag where no job completed.
    expect(points[0].lagP95Ms).toBeNull();
    expect(points[3].lagP95Ms).toBe(1011);
  });

  it('one point for the whole range still shows the outage; more points than samples give the samples themselves', async () => {
    const [one, ...none] = await statusHistory(statusSampleModel(conn), historyRange({ from: t(0), to: t(12), maxPoints: 1 }));
    expect(none).toEqual([]);
    expect(one).toMatchObject({ samples: 12, database: 'DOWN', backlog: 7, synced: 12, at: t(0), lastAt: t(11) });
    expect(one.subgraphs).toEqual([
      { name: 'archive', status: 'DOWN', latencyMs: 5 },
      { name: 'oa', status: 'UP', latencyMs: 40 },
    ]);

    const each = await statusHistory(statusSampleModel(conn), historyRange({ from: t(0), to: t(12), maxPoints: 1440 }));
    expect(each).toHaveLength(12);
    expect(each.every((p) => p.samples === 1 && p.at.getTime() === p.lastAt.getTime())).toBe(true);
    expect(each.filter((p) => p.database === 'DOWN').map((p) => p.at)).toEqual([t(4)]);
  });

  it('leaves out empty buckets and samples outside the range; a sample at `to` counts', async () => {
    // 0..20 in 10 buckets of 2 minutes: samples only in the first six buckets; minute 20 has none.
    const points = await statusHistory(statusSampleModel(conn), historyRange({ from: t(0), to: t(20), maxPoints: 10 }));
    expect(points.map((p) => p.samples)).toEqual([2, 2, 2, 2, 2, 2]);
    expect(points.every((p) => p.backlog !== 99)).toBe(true);
    // Range ending exactly at minute 11: its sample joins the last bucket.
    const ending = await statusHistory(statusSampleModel(conn), historyRange({ from: t(8), to: t(11), maxPoints: 3 }));
    expect(ending.map((p) => [p.at, p.samples])).toEqual([
      [t(8), 1],
      [t(9), 1],
      [t(10), 2],
    ]);
  });

  it('defaults to the last 24 h in 288 points; refuses a bad range naming the argument', () => {
    const now = new Date('2025-06-01T12:00:00Z');
    expect(historyRange({}, now)).toEqual({ from: new Date('2025-05-31T12:00:00Z'), to: now, maxPoints: 288, bucketMs: 5 * MIN });
    expect(historyRange({ to: new Date('2025-06-01T06:00:00Z'), maxPoints: 60 }, now)).toMatchObject({ from: new Date('2025-05-31T06:00:00Z'), bucketMs: 24 * MIN });
    expect(historyRange({ from: new Date('2025-05-30T12:00:00Z') }, now)).toMatchObject({ to: now, bucketMs: 10 * MIN });
    expect(refusal(() => historyRange({ from: now, to: now }, now))).toEqual({ code: 'BAD_USER_INPUT', field: 'from' });
    expect(refusal(() => historyRange({ from: new Date('2025-05-30T11:59:59Z') }, now))).toEqual({ code: 'BAD_USER_INPUT', field: 'from' });
    for (const maxPoints of [0, 1441, 2.5, -3]) expect(refusal(() => historyRange({ maxPoints }, now))).toEqual({ code: 'BAD_USER_INPUT', field: 'maxPoints' });
  });

  it('samples expire after 48 h (a TTL index on `at`)', async () => {
    const model = statusSampleModel(conn);
    const indexes = await model.collection.indexes();
    expect(indexes.find((i) => i.key.at === 1)).toMatchObject({ expireAfterSeconds: 48 * 3600 });
    const now = Date.now();
    await model.insertMany([sampleAt(new Date(now - 49 * HOUR), { backlog: 49 }), sampleAt(new Date(now - 47 * HOUR), { backlog: 47 })]);
    expect(engine.expireTtl(now)).toBe(1);
    expect(await model.countDocuments({ backlog: 49 })).toBe(0);
    expect(await model.countDocuments({ backlog: 47 })).toBe(1);
  });
});

const HISTORY = `query($from: DateTime, $to: DateTime, $maxPoints: Int) {
  systemStatusHistory(from: $from, to: $to, maxPoints: $maxPoints) {
    at lastAt samples database databaseLatencyMs subgraphs { name status latencyMs }
    backlog deadJobs oldestPendingMs lagP95Ms synced failingWebhooks openAlerts openSubscriptions
  }
}`;
interface Point {
  at: string;
  lastAt: string;
  samples: number;
  database: string;
  databaseLatencyMs: number | null;
  subgraphs: { name: string; status: string; latencyMs: number | null }[];
  backlog: number;
  deadJobs: number;
  oldestPendingMs: number;
  lagP95Ms: number | null;
  synced: number;
  failingWebhooks: number;
  openAlerts: number;
  openSubscriptions: number;
}

describe('systemStatusHistory on the real stack', () => {
  const proxy = new ArchiveProxy();
  let stack: Stack;
  let org: Org;
  let auditor: string;
  const started = new Date(Date.now() - 1000);

  beforeAll(async () => {
    const url = await proxy.listen();
    stack = await startStack({
      label: 'status_history',
      archiveUrlForSync: url,
      // A sample every 100 ms; jobs keep retrying (quickly) while the archive is down rather than going DEAD.
      sync: { statusSampleMs: 100, maxAttempts: 1000, retryBaseMs: 50, retryMaxMs: 100 },
    });
    proxy.target = stack.archiveUrl;
    org = await seed(stack);
    auditor = await stack.token(org.ids.auditor);
  });
  afterAll(async () => {
    await stack?.close();
    proxy.server.close();
  });

  const history = async (vars: { from?: Date; to?: Date; maxPoints?: number } = {}) => {
    const r = await stack.gql<{ systemStatusHistory: Point[] }>(auditor, HISTORY, { from: (vars.from ?? started).toISOString(), to: vars.to?.toISOString(), maxPoints: vars.maxPoints ?? 1440 });
    expect(r.errors).toBeUndefined();
    return r.data!.systemStatusHistory;
  };
  const archiveOf = (p: Point) => p.subgraphs.find((s) => s.name === 'archive')?.status;

  it('samples accumulate, oldest first, with every figure', async () => {
    let points: Point[] = [];
    await until(async () => (points = await history()).length >= 3, 'three samples');
    expect(points.map((p) => p.at)).toEqual([...points.map((p) => p.at)].sort());
    const last = points[points.length - 1];
    expect(last).toMatchObject({ samples: 1, database: 'UP', backlog: 0, deadJobs: 0, oldestPendingMs: 0, failingWebhooks: 0, openAlerts: 0 });
    expect(last.databaseLatencyMs).toBeGreaterThanOrEqual(0);
    // By name; the sync subgraph, which takes the samples, is not among them.
    expect(last.subgraphs.map((s) => [s.name, s.status])).toEqual([
      ['archive', 'UP'],
      ['oa', 'UP'],
    ]);
    expect(last.subgraphs.every((s) => typeof s.latencyMs === 'number')).toBe(true);
    expect(last.openSubscriptions).toBe(0);
  });

  it('shows the archive DOWN, with the approval waiting in the backlog, then UP once it is back and the job synced', async () => {
    const down = new Date();
    proxy.mode = 'down';
    const claim = await approvedClaim(stack, org, '88.00');
    let points: Point[] = [];
    await until(async () => (points = await history({ from: down })).some((p) => archiveOf(p) === 'DOWN' && p.backlog >= 1 && p.oldestPendingMs > 0), 'a DOWN sample with the approval in the backlog');
    // oa stayed UP meanwhile.
    expect(points.filter((p) => archiveOf(p) === 'DOWN').every((p) => p.subgraphs.find((s) => s.name === 'oa')?.status === 'UP')).toBe(true);
    const job = await stack.connection.collection('sync_jobs').findOne({ claimId: claim.id });
    expect(['PENDING', 'RUNNING', 'FAILED']).toContain(job?.status);

    const back = new Date();
    proxy.mode = 'forward';
    await until(async () => (await stack.connection.collection('sync_jobs').findOne({ claimId: claim.id }))?.status === 'SUCCEEDED', 'the job to succeed');
    const synced = new Date();
    await until(async () => (await history({ from: synced })).some((p) => archiveOf(p) === 'UP' && p.backlog === 0), 'an UP sample with an empty backlog');
    const after = await history({ from: back });
    // The sample after the job completed counts it, with its lag (approval to filing: at least the outage).
    const counted = after.find((p) => p.synced > 0);
    expect(counted).toBeDefined();
    expect(counted!.lagP95Ms).toBeGreaterThan(0);
    expect(counted!.synced).toBe(1);
    expect(after.reduce((n, p) => n + p.synced, 0)).toBe(1);
  });

  it('downsampled, the short outage is kept in its bucket', async () => {
    // A fixed end, once a sample after it is stored: samples are taken one after another, so every one up to it is
    // in, and the answers below read the same samples.
    const to = new Date();
    await until(async () => (await stack.connection.collection('status_samples').countDocuments({ at: { $gt: to } })) > 0, 'a sample after the end');
    const all = await history({ to, maxPoints: 1440 });
    const [one] = await history({ to, maxPoints: 1 });
    expect(one.samples).toBe(all.reduce((n, p) => n + p.samples, 0));
    expect(archiveOf(one)).toBe('DOWN');
    expect(one.subgraphs.find((s) => s.name === 'oa')?.status).toBe('UP');
    expect(one.backlog).toBe(Math.max(...all.map((p) => p.backlog)));
    expect(one.backlog).toBeGreaterThanOrEqual(1);
    expect(one.oldestPendingMs).toBe(Math.max(...all.map((p) => p.oldestPendingMs)));
    expect(one.synced).toBe(1);
    const few = await history({ to, maxPoints: 3 });
    expect(few.length).toBeLessThanOrEqual(3);
    expect(few.filter((p) => archiveOf(p) === 'DOWN').length).toBeGreaterThanOrEqual(1);
    expect(few.reduce((n, p) => n + p.samples, 0)).toBe(one.samples);
  });

  it('refuses an EMPLOYEE, and bad ranges naming the argument', async () => {
    const alice = await stack.token(org.ids.alice);
    const refused = await stack.gql(alice, HISTORY, {});
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(refused.data?.systemStatusHistory ?? null).toBeNull();

    const errorOf = async (vars: Record<string, unknown>) => {
      const r = (await stack.gql(auditor, HISTORY, vars)) as { errors?: { extensions?: { code?: string; field?: string } }[] };
      return { code: r.errors?.[0]?.extensions?.code, field: r.errors?.[0]?.extensions?.field };
    };
    const now = Date.now();
    expect(await errorOf({ from: new Date(now).toISOString(), to: new Date(now - HOUR).toISOString() })).toEqual({ code: 'BAD_USER_INPUT', field: 'from' });
    expect(await errorOf({ from: new Date(now - 49 * HOUR).toISOString() })).toEqual({ code: 'BAD_USER_INPUT', field: 'from' });
    expect(await errorOf({ maxPoints: 0 })).toEqual({ code: 'BAD_USER_INPUT', field: 'maxPoints' });
    expect(await errorOf({ maxPoints: 1441 })).toEqual({ code: 'BAD_USER_INPUT', field: 'maxPoints' });
  });

  it('only the lease holder samples; the alert monitor’s fresh probes are reused, not repeated', async () => {
    const logger = createLogger({ level: 'silent' });
    const second = () =>
      new StatusSampler({ sources: stack.sync.services.statusSources, lease: new Lease(stack.connection, 'sync-status-history', 2000), logger, intervalMs: 60_000 });
    // The stack's sampler holds the lease: another instance's sampler does nothing.
    const other = second();
    expect(await other.sample()).toBeNull();
    await other.stop();

    // The stack's sampler stops and gives the lease up; a sampler with a minute's interval takes over.
    await stack.sync.services.sampler.stop();
    const successor = second();
    await stack.sync.services.monitor.evaluate();
    const health = await stack.connection.collection('subgraph_health').find().sort({ _id: 1 }).toArray();
    const calls = proxy.calls;
    const sample = await successor.sample();
    expect(sample).not.toBeNull();
    expect(proxy.calls).toBe(calls);
    expect(await stack.connection.collection('subgraph_health').find().sort({ _id: 1 }).toArray()).toEqual(health);
    expect(sample!.subgraphs).toEqual([
      { name: 'oa', status: 'UP', latencyMs: health.find((h) => h._id === ('oa' as unknown))!.latencyMs },
      { name: 'archive', status: 'UP', latencyMs: health.find((h) => h._id === ('archive' as unknown))!.latencyMs },
    ]);
    await successor.stop();
  });
});

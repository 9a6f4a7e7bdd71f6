// syncStatistics (subgraphs/sync/statistics.ts) on the sync models of a test database: jobs written directly, on
// both sides of midnight in Asia/Shanghai, with attempts and lags chosen so every figure is known here.
import type { GraphQLError } from 'graphql';
import { Types } from 'mongoose';
import { beforeAll, describe, expect, it } from 'vitest';
import { type SyncJobDoc, type SyncModels, syncModels } from '../../subgraphs/sync/models.ts';
import { syncStatistics } from '../../subgraphs/sync/statistics.ts';
import { useMongo } from '../helpers/mongo.ts';

const mongo = useMongo('sync_statistics');
let models: SyncModels;
const TZ = 'Asia/Shanghai';
let n = 0;

function job(status: SyncJobDoc['status'], completedAt: string | null, attempts: number, lagMs: number | null): Partial<SyncJobDoc> {
  n++;
  const done = completedAt ? new Date(completedAt) : null;
  return {
    claimId: new Types.ObjectId().toHexString(),
    claimNo: `BX-2026-${String(n).padStart(6, '0')}`,
    applicantId: 'a',
    departmentId: 'd',
    eventSeq: n,
    approvedAt: new Date((done ?? new Date('2026-10-01T00:00:00Z')).getTime() - (lagMs ?? 0)),
    status,
    attempts,
    attemptLimit: 8,
    createdAt: new Date('2026-09-01T00:00:00Z'),
    completedAt: done,
    lagMs,
  };
}

// Lags with different numbers of digits: sorting them as strings would give other percentiles.
const LAGS_OCT_2 = [5, 10, 100, 7, 2000, 30, 400, 9, 60, 1000, 8, 20, 300, 40, 6, 5000, 50, 70, 900, 80];

beforeAll(async () => {
  models = syncModels(await mongo.mongoose());
  await models.SyncJob.init();
  await models.SyncJob.insertMany([
    // 2026-10-01 in Shanghai: from its first millisecond (30 September in UTC) to its last.
    job('SUCCEEDED', '2026-09-30T16:00:00.000Z', 1, 1200),
    job('SUCCEEDED', '2026-10-01T15:59:59.999Z', 3, 800),
    job('SUCCEEDED', '2026-10-01T08:00:00.000Z', 2, null), // finished before lags were recorded
    // The last millisecond of 30 September in Shanghai: outside a period starting on 10-01.
    job('SUCCEEDED', '2026-09-30T15:59:59.999Z', 1, 1),
    // 2026-10-02: twenty jobs, one attempt each except two.
    ...LAGS_OCT_2.map((lag, i) => job('SUCCEEDED', new Date(Date.UTC(2026, 9, 1, 16, i)).toISOString(), i === 3 ? 4 : i === 7 ? 2 : 1, lag)),
    // Not synced: these count nowhere, whatever their dates.
    job('FAILED', '2026-10-01T10:00:00.000Z', 2, null),
    job('DEAD', '2026-10-01T10:00:00.000Z', 8, null),
    job('PENDING', null, 0, null),
    job('RUNNING', null, 1, null),
    // The first millisecond of 2026-10-04 in Shanghai: outside a period ending on 10-03.
    job('SUCCEEDED', '2026-10-03T16:00:00.000Z', 1, 42),
  ]);
});

describe('syncStatistics(models, timeZone, from, to)', () => {
  it('counts the synced claims per business day, with failed attempts and lag percentiles', async () => {
    const sorted = [...LAGS_OCT_2].sort((a, b) => a - b);
    expect(await syncStatistics(models, TZ, '2026-10-01', '2026-10-03')).toEqual([
      // lags 800 and 1200 (the job without a lag counts as synced only): p50 is the 1st of 2, p95 the 2nd.
      { day: '2026-10-01', synced: 3, failedAttempts: 0 + 2 + 1, lagP50Ms: 800, lagP95Ms: 1200, lagMaxMs: 1200 },
      { day: '2026-10-02', synced: 20, failedAttempts: 3 + 1, lagP50Ms: sorted[9], lagP95Ms: sorted[18], lagMaxMs: 5000 },
    ]);
    expect(sorted[9]).toBe(50);
    expect(sorted[18]).toBe(2000);
  });

  it('takes from and to as whole days in the business time zone, both included', async () => {
    expect((await syncStatistics(models, TZ, '2026-09-30', '2026-09-30')).map((r) => [r.day, r.synced, r.lagMaxMs])).toEqual([['2026-09-30', 1, 1]]);
    expect((await syncStatistics(models, TZ, '2026-10-04', '2026-10-04')).map((r) => [r.day, r.synced, r.lagP50Ms])).toEqual([['2026-10-04', 1, 42]]);
    expect((await syncStatistics(models, TZ, '2026-09-01', '2026-12-31')).map((r) => r.day)).toEqual(['2026-09-30', '2026-10-01', '2026-10-02', '2026-10-04']);
    // In UTC the first job of 10-01 would be on 09-30 and the last of 10-03 on 10-03: the business day decides.
    expect((await syncStatistics(models, 'UTC', '2026-09-30', '2026-10-03')).map((r) => [r.day, r.synced])).toEqual([
      ['2026-09-30', 2],
      ['2026-10-01', 22],
      ['2026-10-03', 1],
    ]);
    expect(await syncStatistics(models, TZ, '2026-11-01', '2026-11-30')).toEqual([]);
  });

  it('refuses a backwards or over-long period with BAD_USER_INPUT naming the argument', async () => {
    const error = (p: Promise<unknown>) => p.then(() => null, (e: GraphQLError) => ({ code: e.extensions?.code, field: e.extensions?.field }));
    expect(await error(syncStatistics(models, TZ, '2026-10-02', '2026-10-01'))).toEqual({ code: 'BAD_USER_INPUT', field: 'from' });
    expect(await error(syncStatistics(models, TZ, '2025-10-01', '2026-10-02'))).toEqual({ code: 'BAD_USER_INPUT', field: 'to' });
    expect(await error(syncStatistics(models, TZ, '2026-10-01', 'tomorrow'))).toEqual({ code: 'BAD_USER_INPUT', field: 'to' });
  });
});

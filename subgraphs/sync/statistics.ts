// syncStatistics for reporting tools (issue 7 §3): per business day, the claims the pipeline finished syncing
// (jobs SUCCEEDED, by the day of completedAt in the business time zone), the failed attempts before their success
// (attempts − 1 each), and the sync lag (approval to filing, `lagMs`) as nearest-rank p50, p95 and maximum.
// One aggregation pipeline in the database; the process receives one row per day. Days without a synced claim
// have no row. Period rules as the OA reports: from..to inclusive, at most 366 days (platform/business-time.ts).
// Operations serves it (Query.syncStatistics) through the sync monitor it is handed (monitor.ts).
import { localDateKeyExpr, nearestRankExpr, reportPeriod } from '../../platform/business-time.ts';
import type { SyncModels } from './models.ts';

export interface SyncStatisticRowView {
  /** YYYY-MM-DD in the business time zone. */
  day: string;
  synced: number;
  failedAttempts: number;
  lagP50Ms: number | null;
  lagP95Ms: number | null;
  lagMaxMs: number | null;
}

export async function syncStatistics(models: SyncModels, timeZone: string, from: string, to: string): Promise<SyncStatisticRowView[]> {
  const period = reportPeriod(timeZone, from, to);
  const rows = await models.SyncJob.aggregate<{ _id: string; synced: number; failedAttempts: number; lagMaxMs?: number | null; lagP50Ms?: number; lagP95Ms?: number }>([
    // The completedAt range first, alone, so the embedded engine's planner takes the completedAt index rather than
    // the status one (an equality, which it ranks first); MongoDB coalesces the two stages.
    { $match: { completedAt: { $gte: period.start, $lt: period.end } } },
    { $match: { status: 'SUCCEEDED' } },
    {
      $group: {
        _id: localDateKeyExpr('$completedAt', 'day', timeZone, period),
        synced: { $sum: 1 },
        failedAttempts: { $sum: { $subtract: ['$attempts', 1] } },
        lagMaxMs: { $max: '$lagMs' },
        lags: { $push: '$lagMs' },
      },
    },
    // Jobs finished before lagMs was recorded have none: they count as synced, not in the lag figures.
    { $project: { synced: 1, failedAttempts: 1, lagMaxMs: 1, lags: { $sortArray: { input: { $filter: { input: '$lags', as: 'lag', cond: { $isNumber: '$$lag' } } }, sortBy: 1 } } } },
    { $project: { synced: 1, failedAttempts: 1, lagMaxMs: 1, lagP50Ms: nearestRankExpr('$lags', 50), lagP95Ms: nearestRankExpr('$lags', 95) } },
    { $sort: { _id: 1 } },
  ]);
  return rows.map((r) => ({
    day: r._id,
    synced: r.synced,
    failedAttempts: r.failedAttempts,
    lagP50Ms: r.lagP50Ms ?? null,
    lagP95Ms: r.lagP95Ms ?? null,
    lagMaxMs: r.lagMaxMs ?? null,
  }));
}

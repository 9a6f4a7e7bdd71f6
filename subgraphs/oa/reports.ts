// Reports over approved expense claims for reporting tools (issue 7 §3): totals by department, category or month,
// and submission-to-approval cycle times. Computed by aggregation pipelines in the database: the process receives
// one row per group, never the claims. Rows are scoped like every claim query (scope.ts).
//
// Period: approval day in the business time zone (settings.timeZone), from..to inclusive, at most 366 days
// (platform/business-time.ts). Totals are sums of integer fen in the database; the Money scalar formats them.
import { type ReportPeriod, localDateKeyExpr, nearestRankExpr, reportPeriod } from '../../platform/business-time.ts';
import type { PipelineStage } from 'mongoose';
import type { OaContext } from './context.ts';
import type { DepartmentDoc } from './models.ts';

export type SummaryGroup = 'DEPARTMENT' | 'CATEGORY' | 'MONTH';

export interface SummaryRowView {
  key: string;
  /** The department's name for DEPARTMENT; null otherwise. */
  label: string | null;
  count: number;
  /** Integer fen. */
  total: number;
}

export interface CycleTimeRowView {
  key: string;
  label: string | null;
  count: number;
  submissionToApprovalAvgMs: number;
  submissionToApprovalP50Ms: number;
  submissionToApprovalMaxMs: number;
  submissionToApprovalP95Ms: number;
}

/** The key of the group of the claims not grouped. */
export const ALL_KEY = 'ALL';

/**
 * The claims a report counts: approved on a day of the period, within the caller's scope. Two $match stages: the
 * first is the approvedAt range (index) with the scope, so the embedded engine's planner, which ranks an equality
 * above a range, takes the approvedAt index rather than status (every approved claim) and the applicantId index for
 * an EMPLOYEE; MongoDB coalesces consecutive $match stages and plans them as one.
 */
async function approvedIn(ctx: OaContext, period: ReportPeriod): Promise<PipelineStage.Match[]> {
  return [
    { $match: { $and: [{ approvedAt: { $gte: period.start, $lt: period.end } }, await ctx.loaders.scope()] } },
    { $match: { status: 'APPROVED' } },
  ];
}

function groupKey(groupBy: SummaryGroup | null, ctx: OaContext, period: ReportPeriod): unknown {
  switch (groupBy) {
    case 'DEPARTMENT':
      return '$departmentId';
    case 'CATEGORY':
      return '$category';
    case 'MONTH':
      return localDateKeyExpr('$approvedAt', 'month', ctx.settings.timeZone, period);
    default:
      return null;
  }
}

/** Department names for DEPARTMENT keys (a handful of rows, through the request's DataLoader); null otherwise. */
async function labels(ctx: OaContext, groupBy: SummaryGroup | null, keys: string[]): Promise<Array<string | null>> {
  if (groupBy !== 'DEPARTMENT') return keys.map(() => null);
  const departments = await ctx.loaders.department.loadMany(keys);
  return departments.map((d) => (d && !(d instanceof Error) ? (d as DepartmentDoc).name : null));
}

/** A whole number the database computed; anything else (beyond 2^53, not a number) is a fault, not a total. */
export function exact(value: unknown, what: string): number {
  const n = typeof value === 'number' ? value : typeof value === 'bigint' ? Number(value) : Number((value as { toString(): string } | null)?.toString());
  if (!Number.isSafeInteger(n)) throw new Error(`${what} is not an exact integer: ${String(value)}`);
  return n;
}

export async function expenseSummary(ctx: OaContext, groupBy: SummaryGroup, from: string, to: string): Promise<SummaryRowView[]> {
  const period = reportPeriod(ctx.settings.timeZone, from, to);
  // $match, $group and $sort only: the embedded engine then sums the stored integers exactly, as MongoDB does.
  const rows = await ctx.models.ExpenseClaim.aggregate<{ _id: string | null; count: number; totalFen: unknown }>([
    ...(await approvedIn(ctx, period)),
    { $group: { _id: groupKey(groupBy, ctx, period), count: { $sum: 1 }, totalFen: { $sum: '$totalFen' } } },
    { $sort: { _id: 1 } },
  ]);
  const keys = rows.map((r) => String(r._id));
  const names = await labels(ctx, groupBy, keys);
  return rows.map((r, i) => ({ key: keys[i], label: names[i], count: r.count, total: exact(r.totalFen, `total of ${keys[i]}`) }));
}

export async function claimCycleTimes(ctx: OaContext, groupBy: SummaryGroup | null, from: string, to: string): Promise<CycleTimeRowView[]> {
  const period = reportPeriod(ctx.settings.timeZone, from, to);
  const cycle = { $subtract: ['$approvedAt', '$submittedAt'] };
  const rows = await ctx.models.ExpenseClaim.aggregate<{ _id: string | null; count: number; avgMs: number; maxMs: number; p50Ms: number; p95Ms: number }>([
    ...(await approvedIn(ctx, period)),
    { $match: { submittedAt: { $type: 'date' } } },
    { $group: { _id: groupKey(groupBy, ctx, period), count: { $sum: 1 }, avgMs: { $avg: cycle }, maxMs: { $max: cycle }, times: { $push: cycle } } },
    // Percentiles from the group's times sorted in the database ($sortArray, MongoDB 5.2+). Not $percentile: it
    // needs MongoDB 7, and mingo's sorts numbers as strings (p50 of 5, 10, 100 comes out as 100).
    { $project: { count: 1, avgMs: 1, maxMs: 1, times: { $sortArray: { input: '$times', sortBy: 1 } } } },
    { $project: { count: 1, avgMs: 1, maxMs: 1, p50Ms: nearestRankExpr('$times', 50), p95Ms: nearestRankExpr('$times', 95) } },
    { $sort: { _id: 1 } },
  ]);
  const keys = rows.map((r) => (groupBy ? String(r._id) : ALL_KEY));
  const names = await labels(ctx, groupBy, keys);
  return rows.map((r, i) => ({
    key: keys[i],
    label: names[i],
    count: r.count,
    submissionToApprovalAvgMs: Math.round(r.avgMs),
    submissionToApprovalP50Ms: r.p50Ms,
    submissionToApprovalP95Ms: r.p95Ms,
    submissionToApprovalMaxMs: r.maxMs,
  }));
}

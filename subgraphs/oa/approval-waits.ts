// approvalWaitTimes (issue 16 §4; docs/api.md#reports-for-bi-tools): how long approval decisions waited, per step of
// the route and/or per approver, so that the steps where claims wait can be found. From the workflow engine's
// record of each claim's approval (platform/workflow/models.ts): a step's activatedAt (when it became pending) and
// each decision's decidedAt. A step decided by several approvers (countersign, mode ALL) counts each decision.
//
// One aggregation pipeline from the claims of the caller's scope (the same filter as every claim report) to their
// approvals ($lookup), one document per decision taken on a day of the period in the report's time zone.
import { MAX_BI_REPORT_DAYS, nearestRankExpr, reportPeriod, reportTimeZone } from '../../platform/business-time.ts';
import { workflowModels } from '../../platform/workflow/models.ts';
import type { OaContext } from './context.ts';

export type ApprovalWaitGroup = 'STEP' | 'APPROVER' | 'STEP_AND_APPROVER';

export interface ApprovalWaitArgs {
  groupBy?: ApprovalWaitGroup | null;
  from: string;
  to: string;
  timeZone?: string | null;
}

export interface ApprovalWaitRowView {
  stepKey: string | null;
  stepName: string | null;
  approverId: string | null;
  approverName: string | null;
  count: number;
  waitAvgMs: number;
  waitP50Ms: number;
  waitP95Ms: number;
  waitMaxMs: number;
}

interface Group {
  _id: { step?: string; approver?: string };
  stage: number;
  stepName: string | null;
  count: number;
  avgMs: number;
  maxMs: number;
  p50Ms: number;
  p95Ms: number;
}

export async function approvalWaitTimes(ctx: OaContext, a: ApprovalWaitArgs): Promise<ApprovalWaitRowView[]> {
  const groupBy = a.groupBy ?? 'STEP';
  const timeZone = reportTimeZone(a.timeZone, ctx.settings.timeZone);
  const period = reportPeriod(timeZone, a.from, a.to, MAX_BI_REPORT_DAYS);
  const byStep = groupBy !== 'APPROVER';
  const byApprover = groupBy !== 'STEP';
  const instances = workflowModels(ctx.connection).instances.collection.collectionName;
  const rows = await ctx.models.ExpenseClaim.aggregate<Group>([
    { $match: { $and: [{ approvalId: { $type: 'string' } }, await ctx.loaders.scope()] } },
    { $lookup: { from: instances, localField: 'approvalId', foreignField: '_id', as: 'approval' } },
    { $unwind: '$approval' },
    { $unwind: '$approval.steps' },
    { $unwind: '$approval.steps.decisions' },
    { $match: { 'approval.steps.decisions.decidedAt': { $gte: period.start, $lt: period.end }, 'approval.steps.activatedAt': { $type: 'date' } } },
    {
      $project: {
        step: '$approval.steps.key',
        stage: '$approval.steps.stage',
        stepName: '$approval.steps.name',
        approver: '$approval.steps.decisions.approverId',
        waitMs: { $subtract: ['$approval.steps.decisions.decidedAt', '$approval.steps.activatedAt'] },
      },
    },
    {
      $group: {
        _id: { ...(byStep && { step: '$step' }), ...(byApprover && { approver: '$approver' }) },
        stage: { $min: '$stage' },
        // A step keeps its key across versions of the route; its name might not: the greatest is shown.
        stepName: { $max: '$stepName' },
        count: { $sum: 1 },
        avgMs: { $avg: '$waitMs' },
        maxMs: { $max: '$waitMs' },
        times: { $push: '$waitMs' },
      },
    },
    // Percentiles from the times sorted in the database, as claimCycleTimes (reports.ts) computes them.
    { $project: { stage: 1, stepName: 1, count: 1, avgMs: 1, maxMs: 1, times: { $sortArray: { input: '$times', sortBy: 1 } } } },
    { $project: { stage: 1, stepName: 1, count: 1, avgMs: 1, maxMs: 1, p50Ms: nearestRankExpr('$times', 50), p95Ms: nearestRankExpr('$times', 95) } },
    // Steps in the order of the route; approvers by id.
    { $sort: byStep ? { stage: 1, '_id.step': 1, '_id.approver': 1 } : { '_id.approver': 1 } },
  ]);
  const names = new Map<string, string>();
  // An API key reads no person's name (schema/permissions.ts INTEGRATION): approvers by id only.
  if (byApprover && ctx.principal.kind !== 'integration') {
    const ids = [...new Set(rows.map((r) => r._id.approver!))];
    (await ctx.loaders.employee.loadMany(ids)).forEach((e, i) => {
      if (e && !(e instanceof Error)) names.set(ids[i], e.name);
    });
  }
  return rows.map((r) => ({
    stepKey: byStep ? (r._id.step ?? null) : null,
    stepName: byStep ? r.stepName : null,
    approverId: byApprover ? (r._id.approver ?? null) : null,
    approverName: byApprover ? (names.get(r._id.approver!) ?? null) : null,
    count: r.count,
    waitAvgMs: Math.round(r.avgMs),
    waitP50Ms: r.p50Ms,
    waitP95Ms: r.p95Ms,
    waitMaxMs: r.maxMs,
  }));
}

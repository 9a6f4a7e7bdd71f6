// expenseReport, the expense report for BI tools (issue 16 §4; docs/api.md#reports-for-bi-tools): claims grouped by
// one to three dimensions, with ROLLUP subtotals and a grand total, over up to ten years, in a chosen time zone.
// One aggregation pipeline: the claims of the period and the caller's scope are grouped by every dimension in the
// database, and a $facet over those groups (not the claims) sums the subtotals and the total, so the process gets
// group rows only and every count and total is the database's. Totals are sums of integer fen; Money formats them.
//
// A claim's report date is the day it reached its status: approvedAt, else decidedAt (rejection, withdrawal), else
// submittedAt, else createdAt: the first of them that is set, in that order (approved claims keep the approval day
// expenseSummary counts them by).
import { MAX_BI_REPORT_DAYS, type ReportPeriod, localDateKeyExpr, localQuarterKeyExpr, reportPeriod, reportTimeZone } from '../../platform/business-time.ts';
import { badInput } from '../../platform/graphql.ts';
import type { PipelineStage } from 'mongoose';
import type { OaContext } from './context.ts';
import type { ClaimStatus, DepartmentDoc } from './models.ts';
import { exact } from './reports.ts';

export type ReportDimension = 'DEPARTMENT' | 'DEPARTMENT_SUBTREE' | 'EMPLOYEE' | 'CATEGORY' | 'MONTH' | 'QUARTER' | 'STATUS';
export type ReportRowType = 'DETAIL' | 'SUBTOTAL' | 'TOTAL';

export const MAX_DIMENSIONS = 3;
export const MAX_DEPARTMENT_LEVEL = 20;
/** DETAIL rows a report may have: bounds the answer (and MongoDB's 16 MB $facet document). */
export const MAX_REPORT_ROWS = 50_000;
export const CLAIM_STATUSES: readonly ClaimStatus[] = ['DRAFT', 'SUBMITTED', 'APPROVED', 'REJECTED', 'WITHDRAWN'];

export interface ExpenseReportArgs {
  dimensions: ReportDimension[];
  from: string;
  to: string;
  timeZone?: string | null;
  statuses?: ClaimStatus[] | null;
  departmentLevel?: number | null;
}

export interface ReportCellView {
  dimension: ReportDimension;
  key: string | null;
  label: string | null;
}

export interface ExpenseReportRowView {
  rowType: ReportRowType;
  level: number;
  cells: ReportCellView[];
  count: number;
  /** Integer fen. */
  total: number;
}

export interface ExpenseReportView {
  dimensions: ReportDimension[];
  from: string;
  to: string;
  timeZone: string;
  statuses: ClaimStatus[];
  departmentLevel: number;
  rows: ExpenseReportRowView[];
  subtotals: ExpenseReportRowView[];
  grandTotal: ExpenseReportRowView;
}

interface Checked {
  dimensions: ReportDimension[];
  timeZone: string;
  period: ReportPeriod;
  statuses: ClaimStatus[];
  departmentLevel: number;
}

/** The arguments checked, each refusal a BAD_USER_INPUT naming its argument. */
function check(ctx: OaContext, a: ExpenseReportArgs): Checked {
  if (a.dimensions.length < 1 || a.dimensions.length > MAX_DIMENSIONS) throw badInput(`dimensions: give 1 to ${MAX_DIMENSIONS} dimensions, not ${a.dimensions.length}`, 'dimensions');
  const repeated = a.dimensions.find((d, i) => a.dimensions.indexOf(d) !== i);
  if (repeated) throw badInput(`dimensions: ${repeated} is given more than once`, 'dimensions');
  const level = a.departmentLevel ?? 1;
  if (!Number.isInteger(level) || level < 1 || level > MAX_DEPARTMENT_LEVEL) throw badInput(`departmentLevel must be 1 to ${MAX_DEPARTMENT_LEVEL}`, 'departmentLevel');
  if (a.statuses && a.statuses.length === 0) throw badInput('statuses: give at least one status, or leave it out for all', 'statuses');
  const statuses = a.statuses ? CLAIM_STATUSES.filter((s) => a.statuses!.includes(s)) : [...CLAIM_STATUSES];
  const timeZone = reportTimeZone(a.timeZone, ctx.settings.timeZone);
  return { dimensions: a.dimensions, timeZone, period: reportPeriod(timeZone, a.from, a.to, MAX_BI_REPORT_DAYS), statuses, departmentLevel: level };
}

/** The report date's instant (see the head of this file), as an aggregation expression. */
const REPORT_AT = { $ifNull: ['$approvedAt', { $ifNull: ['$decidedAt', { $ifNull: ['$submittedAt', '$createdAt'] }] }] };

/** The same choice as a query filter: the report date lies in the period. */
function reportDateIn(period: ReportPeriod): object {
  const range = { $gte: period.start, $lt: period.end };
  return {
    $or: [
      { approvedAt: range },
      { approvedAt: null, decidedAt: range },
      { approvedAt: null, decidedAt: null, submittedAt: range },
      { approvedAt: null, decidedAt: null, submittedAt: null, createdAt: range },
    ],
  };
}

/** Each department's ancestor at `level` (1: its top department), or itself when it is at that level or above. */
export function ancestorsAt(departments: readonly Pick<DepartmentDoc, '_id' | 'parentId'>[], level: number): Map<string, string> {
  const parent = new Map(departments.map((d) => [d._id.toHexString(), d.parentId]));
  const out = new Map<string, string>();
  for (const id of parent.keys()) {
    const path = [id];
    // Bounded, so a cycle in stored data cannot loop: a tree deeper than that is no organisation chart.
    for (let p = parent.get(id); p && path.length <= 64 && !path.includes(p); p = parent.get(p)) path.unshift(p);
    out.set(id, path.length >= level ? path[level - 1] : id);
  }
  return out;
}

/** DEPARTMENT_SUBTREE's key: the ancestor, by a $switch over the departments that roll up to another one. */
function subtreeExpr(ancestors: Map<string, string>): unknown {
  const members = new Map<string, string[]>();
  for (const [id, top] of ancestors) if (id !== top) members.set(top, [...(members.get(top) ?? []), id]);
  if (members.size === 0) return '$departmentId';
  const branches = [...members].map(([top, ids]) => ({ case: { $in: ['$departmentId', ids] }, then: top }));
  return { $switch: { branches, default: '$departmentId' } };
}

function keyExpr(d: ReportDimension, c: Checked, ancestors: Map<string, string>): unknown {
  switch (d) {
    case 'DEPARTMENT':
      return '$departmentId';
    case 'DEPARTMENT_SUBTREE':
      return subtreeExpr(ancestors);
    case 'EMPLOYEE':
      return '$applicantId';
    case 'CATEGORY':
      return '$category';
    case 'STATUS':
      return '$status';
    case 'MONTH':
      return localDateKeyExpr('$reportAt', 'month', c.timeZone, c.period);
    case 'QUARTER':
      return localQuarterKeyExpr('$reportAt', c.timeZone, c.period);
  }
}

type Group = { _id: Record<string, string | null> | null; count: number; totalFen: unknown };

export async function expenseReport(ctx: OaContext, args: ExpenseReportArgs): Promise<ExpenseReportView> {
  const c = check(ctx, args);
  const dims = c.dimensions;
  const byDepartment = dims.includes('DEPARTMENT') || dims.includes('DEPARTMENT_SUBTREE');
  const departments = byDepartment ? await ctx.models.Department.find({}, { name: 1, parentId: 1 }).lean<DepartmentDoc[]>() : [];
  const ancestors = dims.includes('DEPARTMENT_SUBTREE') ? ancestorsAt(departments, c.departmentLevel) : new Map<string, string>();
  const k = (i: number) => `k${i}`;
  const prefix = (n: number) => (n === 0 ? null : Object.fromEntries(dims.slice(0, n).map((_, i) => [k(i), `$_id.${k(i)}`])));
  const sortBy = (n: number) => Object.fromEntries(dims.slice(0, n).map((_, i) => [`_id.${k(i)}`, 1 as const]));
  const sums = { count: { $sum: '$count' }, totalFen: { $sum: '$totalFen' } };
  const facets: Record<string, PipelineStage.FacetPipelineStage[]> = {
    detail: [{ $sort: sortBy(dims.length) }, { $limit: MAX_REPORT_ROWS + 1 }],
    total: [{ $group: { _id: null, ...sums } }],
  };
  for (let n = 1; n < dims.length; n++) facets[`level${n}`] = [{ $group: { _id: prefix(n), ...sums } }, { $sort: sortBy(n) }];
  const statusFilter = c.statuses.length === CLAIM_STATUSES.length ? {} : { status: { $in: c.statuses } };
  const [result] = await ctx.models.ExpenseClaim.aggregate<Record<string, Group[]>>([
    { $match: { $and: [reportDateIn(c.period), statusFilter, await ctx.loaders.scope()] } },
    ...(dims.includes('MONTH') || dims.includes('QUARTER') ? [{ $addFields: { reportAt: REPORT_AT } }] : []),
    { $group: { _id: Object.fromEntries(dims.map((d, i) => [k(i), keyExpr(d, c, ancestors)])), count: { $sum: 1 }, totalFen: { $sum: '$totalFen' } } },
    { $facet: facets },
  ]);
  if (result.detail.length > MAX_REPORT_ROWS) {
    throw badInput(`the report would have more than ${MAX_REPORT_ROWS} rows; narrow the period or the statuses, or use fewer or coarser dimensions`, 'dimensions');
  }
  const labels = await labelsOf(ctx, dims, result.detail, departments);
  const row = (g: Group, rowType: ReportRowType, level: number): ExpenseReportRowView => ({
    rowType,
    level,
    cells: dims.map((dimension, i) => {
      const key = i < level && g._id ? String(g._id[k(i)]) : null;
      return { dimension, key, label: key === null ? null : (labels.get(`${dimension}:${key}`) ?? null) };
    }),
    count: g.count,
    total: exact(g.totalFen, 'report total'),
  });
  const subtotals = dims.slice(1).flatMap((_, i) => result[`level${i + 1}`].map((g) => row(g, 'SUBTOTAL', i + 1)));
  const total = result.total[0] ?? { _id: null, count: 0, totalFen: 0 };
  return {
    dimensions: dims,
    from: c.period.from,
    to: c.period.to,
    timeZone: c.timeZone,
    statuses: c.statuses,
    departmentLevel: c.departmentLevel,
    rows: result.detail.map((g) => row(g, 'DETAIL', dims.length)),
    subtotals,
    grandTotal: row(total, 'TOTAL', 0),
  };
}

/**
 * Labels by `DIMENSION:key`: department names, and employee names except for integrations (an API key reads no
 * person's name: schema/permissions.ts INTEGRATION). Every key of a subtotal is a key of some DETAIL row.
 */
async function labelsOf(ctx: OaContext, dims: ReportDimension[], detail: Group[], departments: DepartmentDoc[]): Promise<Map<string, string>> {
  const labels = new Map<string, string>();
  const names = new Map(departments.map((d) => [d._id.toHexString(), d.name]));
  for (const d of ['DEPARTMENT', 'DEPARTMENT_SUBTREE'] as const) if (dims.includes(d)) for (const [id, name] of names) labels.set(`${d}:${id}`, name);
  const e = dims.indexOf('EMPLOYEE');
  if (e >= 0 && ctx.principal.kind !== 'integration') {
    const ids = [...new Set(detail.map((g) => String(g._id?.[`k${e}`])))];
    const employees = await ctx.loaders.employee.loadMany(ids);
    employees.forEach((emp, i) => {
      if (emp && !(emp instanceof Error)) labels.set(`EMPLOYEE:${ids[i]}`, emp.name);
    });
  }
  return labels;
}

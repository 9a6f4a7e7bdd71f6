// Row-level scope of expense claims, from the verified identity only, applied inside the database query:
// EMPLOYEE sees their own claims, MANAGER those of their department, ACCOUNTANT, FINANCE_DIRECTOR and AUDITOR
// all; anyone also sees the claims they were asked to approve.
import type { QueryFilter } from 'mongoose';
import { toObjectIds } from '../../platform/ids.ts';
import type { OaContext } from './context.ts';
import { readsAllClaims, readsDepartmentClaims } from './context.ts';
import type { ExpenseClaimDoc } from './models.ts';

export type ClaimFilter = QueryFilter<ExpenseClaimDoc>;

/** The filter every claim query is combined with; computed once per request. */
export async function claimScope(ctx: Pick<OaContext, 'principal' | 'workflow'>): Promise<ClaimFilter> {
  const p = ctx.principal;
  if (readsAllClaims(p)) return {};
  const or: ClaimFilter[] = [{ applicantId: p.sub }];
  if (readsDepartmentClaims(p) && p.departmentId) or.push({ departmentId: p.departmentId });
  const assigned = await ctx.workflow.subjectsAssignedTo('ExpenseClaim', p.sub);
  if (assigned.length) or.push({ _id: { $in: toObjectIds(assigned) } });
  return or.length === 1 ? or[0] : { $or: or };
}

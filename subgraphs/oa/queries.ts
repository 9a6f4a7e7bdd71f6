// Claim listing: scope, filters and Relay-style pagination with a stable cursor (newest first, by _id).
import { badInput, forbidden } from '../../platform/graphql.ts';
import type { OaContext } from './context.ts';
import { toObjectId } from './loaders.ts';
import type { ClaimStatus, EmployeeDoc, ExpenseClaimDoc } from './models.ts';
import type { ClaimFilter } from './scope.ts';

const CURSOR_PREFIX = 'claim:';
/** Reporting tools page through thousands of claims; the cost limit of the gateway still bounds the fields. */
export const MAX_PAGE = 1000;

export const encodeCursor = (claim: ExpenseClaimDoc): string => Buffer.from(CURSOR_PREFIX + claim._id.toHexString()).toString('base64url');

function decodeCursor(cursor: string): string {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const id = text.startsWith(CURSOR_PREFIX) ? text.slice(CURSOR_PREFIX.length) : '';
  if (!toObjectId(id)) throw badInput('after is not a cursor returned by this API', 'after');
  return id;
}

/** A page of claims; its total is counted only when a client selects `totalCount` (it reads every claim in scope). */
export interface ClaimConnectionModel {
  edges: { cursor: string; node: ExpenseClaimDoc }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  countTotal(): Promise<number>;
}

export async function claimConnection(
  ctx: OaContext,
  args: { status?: ClaimStatus | null; departmentId?: string | null; first?: number | null; after?: string | null },
): Promise<ClaimConnectionModel> {
  const first = args.first ?? 20;
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE) throw badInput(`first must be between 1 and ${MAX_PAGE}`, 'first');
  const conditions: ClaimFilter[] = [await ctx.loaders.scope()];
  if (args.status) conditions.push({ status: args.status });
  if (args.departmentId) conditions.push({ departmentId: args.departmentId });
  const filter: ClaimFilter = { $and: conditions };
  const page: ClaimFilter = args.after ? { $and: [...conditions, { _id: { $lt: toObjectId(decodeCursor(args.after)) } }] } : filter;
  const docs = await ctx.models.ExpenseClaim.find(page).sort({ _id: -1 }).limit(first + 1).batchSize(first + 1).lean<ExpenseClaimDoc[]>();

  const nodes = docs.slice(0, first);
  for (const n of nodes) ctx.loaders.claim.prime(n._id.toHexString(), n);
  const edges = nodes.map((node) => ({ cursor: encodeCursor(node), node }));
  return { edges, pageInfo: { hasNextPage: docs.length > first, endCursor: edges.at(-1)?.cursor ?? null }, countTotal: () => ctx.models.ExpenseClaim.countDocuments(filter).exec() };
}

/** The caller as an employee, for actions only employees take. */
export async function applicantOnly(ctx: OaContext): Promise<EmployeeDoc> {
  const me = toObjectId(ctx.principal.sub) ? await ctx.loaders.employee.load(ctx.principal.sub) : null;
  if (!me) throw forbidden('Only employees can do this');
  return me;
}

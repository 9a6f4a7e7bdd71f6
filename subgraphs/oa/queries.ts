// Claim listing: scope, filters, order and Relay-style pagination with a stable cursor: the order's key and the
// claim's _id, so equal keys never repeat or skip a claim between pages.
import { type Types } from 'mongoose';
import { reportPeriod } from '../../platform/business-time.ts';
import { badInput, forbidden } from '../../platform/graphql.ts';
import { type PageInfoModel, forwardPageInfo } from '../../platform/paging.ts';
import type { OaContext } from './context.ts';
import { toObjectId } from './loaders.ts';
import type { ClaimStatus, EmployeeDoc, ExpenseClaimDoc } from './models.ts';
import type { ClaimFilter } from './scope.ts';

const CURSOR_PREFIX = 'claim:';
/** Reporting tools page through thousands of claims; the cost limit of the gateway still bounds the fields. */
export const MAX_PAGE = 1000;
const MAX_TEXT = 100;

export type ClaimOrder = 'NEWEST' | 'OLDEST' | 'AMOUNT_DESC' | 'AMOUNT_ASC';

export interface ClaimListFilter {
  statuses?: ClaimStatus[] | null;
  applicantId?: string | null;
  departmentId?: string | null;
  includeSubdepartments?: boolean | null;
  createdFrom?: string | null;
  createdTo?: string | null;
  text?: string | null;
}

export interface ClaimListArgs {
  status?: ClaimStatus | null;
  departmentId?: string | null;
  filter?: ClaimListFilter | null;
  orderBy?: ClaimOrder | null;
  first?: number | null;
  after?: string | null;
  /** Backwards: the `last` claims before `before` (or the end), in the list's order. */
  last?: number | null;
  before?: string | null;
}

/** The sort of each order, and the key its cursor carries besides the _id. */
const ORDERS: Record<ClaimOrder, { sort: Record<string, 1 | -1>; key: ((c: ExpenseClaimDoc) => number) | null; descending: boolean }> = {
  NEWEST: { sort: { _id: -1 }, key: null, descending: true },
  OLDEST: { sort: { _id: 1 }, key: null, descending: false },
  AMOUNT_DESC: { sort: { totalFen: -1, _id: -1 }, key: (c) => c.totalFen, descending: true },
  AMOUNT_ASC: { sort: { totalFen: 1, _id: 1 }, key: (c) => c.totalFen, descending: false },
};

/** NEWEST keeps the first cursor format (`claim:<id>`), so cursors handed out before orders existed still work. */
export const encodeCursor = (claim: ExpenseClaimDoc, order: ClaimOrder = 'NEWEST'): string => {
  const key = ORDERS[order].key;
  const text = order === 'NEWEST' ? CURSOR_PREFIX + claim._id.toHexString() : `${CURSOR_PREFIX}${order}:${key ? `${key(claim)}:` : ''}${claim._id.toHexString()}`;
  return Buffer.from(text).toString('base64url');
};

function decodeCursor(cursor: string, order: ClaimOrder, field: 'after' | 'before'): { id: Types.ObjectId; key: number | null } {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const parts = text.startsWith(CURSOR_PREFIX) ? text.slice(CURSOR_PREFIX.length).split(':') : [];
  const invalid = () => badInput(`${field} is not a cursor of this list in the order ${order}`, field);
  const [named, ...rest] = parts.length === 1 ? ['NEWEST', ...parts] : parts;
  if (named !== order) throw invalid();
  const needsKey = ORDERS[order].key !== null;
  if (rest.length !== (needsKey ? 2 : 1)) throw invalid();
  const id = toObjectId(rest[rest.length - 1]);
  const key = needsKey ? Number(rest[0]) : null;
  if (!id || (needsKey && !Number.isSafeInteger(key))) throw invalid();
  return { id, key };
}

/** Claims after (or before) the cursor in the order: a greater (or smaller) key, or an equal key and a later _id. */
function beyondCursor(order: ClaimOrder, at: { id: Types.ObjectId; key: number | null }, side: 'after' | 'before'): ClaimFilter {
  const { descending } = ORDERS[order];
  const beyond = descending === (side === 'after') ? '$lt' : '$gt';
  if (at.key === null) return { _id: { [beyond]: at.id } };
  return { $or: [{ totalFen: { [beyond]: at.key } }, { totalFen: at.key, _id: { [beyond]: at.id } }] };
}

const REGEX_SPECIAL = /[.*+?^${}()|[\]\\]/g;

/** The filter's conditions, checked; each refusal names its argument path. */
async function filterConditions(ctx: OaContext, f: ClaimListFilter): Promise<ClaimFilter[]> {
  const conditions: ClaimFilter[] = [];
  if (f.statuses?.length) conditions.push({ status: { $in: f.statuses } });
  if (f.applicantId) conditions.push({ applicantId: f.applicantId });
  if (f.departmentId) {
    if (!f.includeSubdepartments) conditions.push({ departmentId: f.departmentId });
    else conditions.push({ departmentId: { $in: await departmentSubtree(ctx, f.departmentId) } });
  }
  if (f.createdFrom && f.createdTo && f.createdFrom > f.createdTo) throw badInput(`filter.createdFrom (${f.createdFrom}) is after filter.createdTo (${f.createdTo})`, 'filter.createdFrom');
  // Days of the business time zone: from the first instant of createdFrom to the first of the day after createdTo.
  const tz = ctx.settings.timeZone;
  if (f.createdFrom) conditions.push({ createdAt: { $gte: reportPeriod(tz, f.createdFrom, f.createdFrom, 1).start } });
  if (f.createdTo) conditions.push({ createdAt: { $lt: reportPeriod(tz, f.createdTo, f.createdTo, 1).end } });
  if (f.text != null) {
    const text = f.text.trim();
    if (text.length < 1 || text.length > MAX_TEXT || /\p{Cc}/u.test(text)) throw badInput(`filter.text must be 1 to ${MAX_TEXT} printable characters`, 'filter.text');
    const pattern = { $regex: text.replace(REGEX_SPECIAL, '\\$&'), $options: 'i' };
    conditions.push({ $or: [{ claimNo: pattern }, { title: pattern }] });
  }
  return conditions;
}

/** The department and every department below it, by id. */
async function departmentSubtree(ctx: OaContext, rootId: string): Promise<string[]> {
  const all = await ctx.models.Department.find({}, { _id: 1, parentId: 1 }).lean<{ _id: Types.ObjectId; parentId: string | null }[]>();
  const children = new Map<string, string[]>();
  for (const d of all) if (d.parentId) children.set(d.parentId, [...(children.get(d.parentId) ?? []), d._id.toHexString()]);
  const ids = [rootId];
  for (let i = 0; i < ids.length; i++) ids.push(...(children.get(ids[i]) ?? []));
  return ids;
}

/** A page of claims; its total is counted only when a client selects `totalCount` (it reads every claim in scope). */
export interface ClaimConnectionModel {
  edges: { cursor: string; node: ExpenseClaimDoc }[];
  pageInfo: PageInfoModel;
  countTotal(): Promise<number>;
}

/**
 * Forwards with `first` (default 20) and `after`; backwards with `last` and `before` (Relay): `last` given, the page
 * is the last claims before `before` (or the end of the list), still in the list's order, and `first` is not used.
 */
export async function claimConnection(ctx: OaContext, args: ClaimListArgs): Promise<ClaimConnectionModel> {
  const backwards = args.last !== undefined && args.last !== null;
  const size = backwards ? args.last! : (args.first ?? 20);
  const sizeArg = backwards ? 'last' : 'first';
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE) throw badInput(`${sizeArg} must be between 1 and ${MAX_PAGE}`, sizeArg);
  const order = args.orderBy ?? 'NEWEST';
  const conditions: ClaimFilter[] = [await ctx.loaders.scope()];
  if (args.status) conditions.push({ status: args.status });
  if (args.departmentId) conditions.push({ departmentId: args.departmentId });
  if (args.filter) conditions.push(...(await filterConditions(ctx, args.filter)));
  const filter: ClaimFilter = { $and: conditions };
  const bounds: ClaimFilter[] = [];
  if (args.after) bounds.push(beyondCursor(order, decodeCursor(args.after, order, 'after'), 'after'));
  if (args.before) bounds.push(beyondCursor(order, decodeCursor(args.before, order, 'before'), 'before'));
  const page: ClaimFilter = bounds.length ? { $and: [...conditions, ...bounds] } : filter;
  // Backwards: read from the end in the reversed order, then put the page back in the list's order.
  const sort: Record<string, 1 | -1> = backwards ? Object.fromEntries(Object.entries(ORDERS[order].sort).map(([k, d]) => [k, d === 1 ? -1 : 1])) : ORDERS[order].sort;
  const docs = await ctx.models.ExpenseClaim.find(page).sort(sort).limit(size + 1).batchSize(size + 1).lean<ExpenseClaimDoc[]>();

  const nodes = docs.slice(0, size);
  if (backwards) nodes.reverse();
  for (const n of nodes) ctx.loaders.claim.prime(n._id.toHexString(), n);
  const edges = nodes.map((node) => ({ cursor: encodeCursor(node, order), node }));
  const more = docs.length > size;
  const pageInfo: PageInfoModel = backwards
    ? { hasPreviousPage: more, hasNextPage: typeof args.before === 'string' && args.before.length > 0, startCursor: edges[0]?.cursor ?? null, endCursor: edges.at(-1)?.cursor ?? null }
    : forwardPageInfo(edges, more, args.after);
  return { edges, pageInfo, countTotal: () => ctx.models.ExpenseClaim.countDocuments(filter).exec() };
}

/** The caller as an employee, for actions only employees take. */
export async function applicantOnly(ctx: OaContext): Promise<EmployeeDoc> {
  const me = toObjectId(ctx.principal.sub) ? await ctx.loaders.employee.load(ctx.principal.sub) : null;
  if (!me) throw forbidden('Only employees can do this');
  return me;
}

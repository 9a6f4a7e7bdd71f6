// Listings and reports over archive records, computed in the database (aggregation pipelines), scoped.
import { forwardPageInfo } from '../../platform/paging.ts';
import { badInput } from '../../platform/graphql.ts';
import { toObjectId } from '../../platform/ids.ts';
import type { ArchiveContext } from './context.ts';
import type { ArchiveRecordDoc, ArchiveStatus } from './models.ts';
import { recordScope } from './scope.ts';

const CURSOR_PREFIX = 'record:';
const cursorOf = (r: ArchiveRecordDoc) => Buffer.from(CURSOR_PREFIX + r._id.toHexString()).toString('base64url');

function decodeCursor(cursor: string) {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const id = text.startsWith(CURSOR_PREFIX) ? toObjectId(text.slice(CURSOR_PREFIX.length)) : null;
  if (!id) throw badInput('after is not a cursor returned by this API', 'after');
  return id;
}

export async function recordConnection(ctx: ArchiveContext, args: { fiscalYear?: number | null; status?: ArchiveStatus | null; first?: number | null; after?: string | null }) {
  const first = args.first ?? 20;
  if (!Number.isInteger(first) || first < 1 || first > 100) throw badInput('first must be between 1 and 100', 'first');
  const conditions: object[] = [recordScope(ctx.principal, await ctx.loaders.voucherIdsInScope())];
  if (args.fiscalYear) conditions.push({ fiscalYear: args.fiscalYear });
  if (args.status) conditions.push({ status: args.status });
  const page = args.after ? [...conditions, { _id: { $lt: decodeCursor(args.after) } }] : conditions;
  const [docs, totalCount] = await Promise.all([
    ctx.models.ArchiveRecord.find({ $and: page }).sort({ _id: -1 }).limit(first + 1).lean<ArchiveRecordDoc[]>(),
    ctx.models.ArchiveRecord.countDocuments({ $and: conditions }),
  ]);
  const nodes = docs.slice(0, first);
  for (const n of nodes) ctx.loaders.record.prime(n._id.toHexString(), n);
  const edges = nodes.map((node) => ({ cursor: cursorOf(node), node }));
  return { edges, pageInfo: forwardPageInfo(edges, docs.length > first, args.after), totalCount };
}

export async function archiveStatistics(ctx: ArchiveContext, fiscalYear: number | null) {
  const rows = await ctx.models.ArchiveRecord.aggregate<{ _id: { category: string; fiscalYear: number; status: ArchiveStatus }; count: number }>([
    { $match: fiscalYear ? { fiscalYear } : {} },
    { $group: { _id: { category: '$category', fiscalYear: '$fiscalYear', status: '$status' }, count: { $sum: 1 } } },
    { $sort: { '_id.fiscalYear': 1, '_id.category': 1, '_id.status': 1 } },
  ]);
  return rows.map((r) => ({ ...r._id, count: r.count }));
}

/** Records whose retention (extended or not) ends on or before `before`, not yet destroyed, oldest expiry first. */
export async function appraisalCandidates(ctx: ArchiveContext, before: string) {
  return ctx.models.ArchiveRecord.aggregate<ArchiveRecordDoc>([
    { $match: { status: { $ne: 'DESTROYED' } } },
    { $addFields: { effectiveExpiry: { $ifNull: ['$extendedUntil', '$expiresOn'] } } },
    { $match: { effectiveExpiry: { $ne: null, $lte: before } } },
    { $sort: { effectiveExpiry: 1, archiveNo: 1 } },
    { $project: { effectiveExpiry: 0, content: 0 } },
  ]);
}

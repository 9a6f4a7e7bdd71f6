// Feedback lists newest first, paged as every connection of the graph (platform/paging.ts, Relay): forwards with
// first/after, backwards with last/before. The cursor is the item's _id, which orders like its creation, so items
// sent meanwhile never repeat or skip one between pages.
import type { Model, Types } from 'mongoose';
import { badInput } from '../../../platform/graphql.ts';
import { toObjectId } from '../../../platform/ids.ts';
import { type PageInfoModel, forwardPageInfo } from '../../../platform/paging.ts';
import type { FeedbackDoc } from './models.ts';

const PREFIX = 'feedback:';
const MAX_PAGE = 200;

export interface FeedbackPageArgs {
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
}

export interface FeedbackConnectionModel {
  edges: { cursor: string; node: FeedbackDoc }[];
  pageInfo: PageInfoModel;
  countTotal(): Promise<number>;
}

const encode = (id: Types.ObjectId): string => Buffer.from(PREFIX + id.toHexString()).toString('base64url');

function decode(cursor: string, field: 'after' | 'before'): Types.ObjectId {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const id = text.startsWith(PREFIX) ? toObjectId(text.slice(PREFIX.length)) : null;
  if (!id) throw badInput(`${field} is not a cursor of this list`, field);
  return id;
}

export async function feedbackPage(model: Model<FeedbackDoc>, filter: Record<string, unknown>, args: FeedbackPageArgs): Promise<FeedbackConnectionModel> {
  const backwards = args.last !== undefined && args.last !== null;
  const size = backwards ? args.last! : (args.first ?? 20);
  const sizeArg = backwards ? 'last' : 'first';
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE) throw badInput(`${sizeArg} must be between 1 and ${MAX_PAGE}`, sizeArg);
  // Newest first: "after" a cursor is an older item (smaller _id), "before" a newer one.
  const bounds: Record<string, unknown>[] = [];
  if (args.after) bounds.push({ _id: { $lt: decode(args.after, 'after') } });
  if (args.before) bounds.push({ _id: { $gt: decode(args.before, 'before') } });
  const page = bounds.length ? { $and: [filter, ...bounds] } : filter;
  const docs = await model.find(page).sort({ _id: backwards ? 1 : -1 }).limit(size + 1).lean<FeedbackDoc[]>();
  const nodes = docs.slice(0, size);
  if (backwards) nodes.reverse();
  const edges = nodes.map((node) => ({ cursor: encode(node._id), node }));
  const more = docs.length > size;
  const pageInfo: PageInfoModel = backwards
    ? { hasPreviousPage: more, hasNextPage: typeof args.before === 'string' && args.before.length > 0, startCursor: edges[0]?.cursor ?? null, endCursor: edges.at(-1)?.cursor ?? null }
    : forwardPageInfo(edges, more, args.after);
  return { edges, pageInfo, countTotal: () => model.countDocuments(filter).exec() };
}

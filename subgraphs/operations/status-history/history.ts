// systemStatusHistory: the stored status samples of a time range (`to` default now, `from` default 24 h before
// `to`; at most 48 h, what is kept), oldest first, downsampled in the database to at most `maxPoints` equal time
// buckets. Each point keeps the worst of its samples, so a short outage or spike is never averaged away: a
// subgraph (or the database) is DOWN if any sample said so; counts, lags and latencies are their maxima; `synced`
// is the sum. Buckets without samples have no point (the sync service did not sample then).
import type { Model } from 'mongoose';
import { badInput } from '../../../platform/graphql.ts';
import { type Health, SAMPLE_RETENTION_MS, type StatusSampleDoc, type SubgraphSampleDoc } from './models.ts';

export const DEFAULT_RANGE_MS = 24 * 60 * 60 * 1000;
export const MAX_POINTS = 1440;

export interface HistoryArgs {
  from?: Date | null;
  to?: Date | null;
  maxPoints?: number | null;
}

export interface HistoryRange {
  from: Date;
  to: Date;
  maxPoints: number;
  /** Width of one point's bucket. */
  bucketMs: number;
}

/** A point of the history: one bucket's samples, summarised. */
export interface StatusPointView extends Omit<StatusSampleDoc, '_id' | 'at'> {
  /** When the bucket's first and last samples were taken. */
  at: Date;
  lastAt: Date;
  samples: number;
}

/** The range asked for, checked; BAD_USER_INPUT names the argument at fault. */
export function historyRange(args: HistoryArgs, now = new Date()): HistoryRange {
  const to = args.to ?? now;
  const from = args.from ?? new Date(to.getTime() - DEFAULT_RANGE_MS);
  if (from.getTime() >= to.getTime()) throw badInput('from must be before to', 'from');
  if (to.getTime() - from.getTime() > SAMPLE_RETENTION_MS) throw badInput('The range from..to may span at most 48 hours (samples are kept that long)', 'from');
  const maxPoints = args.maxPoints ?? 288;
  if (!Number.isInteger(maxPoints) || maxPoints < 1 || maxPoints > MAX_POINTS) throw badInput(`maxPoints must be an integer from 1 to ${MAX_POINTS}`, 'maxPoints');
  return { from, to, maxPoints, bucketMs: Math.max(1, Math.ceil((to.getTime() - from.getTime()) / maxPoints)) };
}

const down = (path: string) => ({ $max: { $cond: [{ $eq: [path, 'DOWN'] }, 1, 0] } });
const health = (anyDown: number): Health => (anyDown ? 'DOWN' : 'UP');

export async function statusHistory(samples: Model<StatusSampleDoc>, r: HistoryRange): Promise<StatusPointView[]> {
  const match = { $match: { at: { $gte: r.from, $lte: r.to } } };
  // The bucket of a sample; a sample at `to` exactly joins the last one.
  const bucket = { $min: [{ $floor: { $divide: [{ $subtract: ['$at', r.from] }, r.bucketMs] } }, r.maxPoints - 1] };
  const [points, subgraphs] = await Promise.all([
    samples.aggregate<Omit<StatusPointView, 'database' | 'subgraphs'> & { _id: number; databaseDown: number }>([
      match,
      {
        $group: {
          _id: bucket,
          at: { $min: '$at' },
          lastAt: { $max: '$at' },
          samples: { $sum: 1 },
          databaseDown: down('$database'),
          databaseLatencyMs: { $max: '$databaseLatencyMs' },
          backlog: { $max: '$backlog' },
          deadJobs: { $max: '$deadJobs' },
          oldestPendingMs: { $max: '$oldestPendingMs' },
          lagP95Ms: { $max: '$lagP95Ms' },
          synced: { $sum: '$synced' },
          failingWebhooks: { $max: '$failingWebhooks' },
          openAlerts: { $max: '$openAlerts' },
          openSubscriptions: { $max: '$openSubscriptions' },
        },
      },
      { $sort: { _id: 1 } },
    ]),
    samples.aggregate<{ _id: { b: number; name: string }; down: number; latencyMs: number | null }>([
      match,
      { $unwind: '$subgraphs' },
      { $group: { _id: { b: bucket, name: '$subgraphs.name' }, down: down('$subgraphs.status'), latencyMs: { $max: '$subgraphs.latencyMs' } } },
      { $sort: { '_id.b': 1, '_id.name': 1 } },
    ]),
  ]);
  const byBucket = new Map<number, SubgraphSampleDoc[]>();
  for (const s of subgraphs) {
    const list = byBucket.get(s._id.b) ?? [];
    list.push({ name: s._id.name, status: health(s.down), latencyMs: s.latencyMs ?? null });
    byBucket.set(s._id.b, list);
  }
  return points.map(({ _id, databaseDown, ...p }) => ({
    ...p,
    database: health(databaseDown),
    databaseLatencyMs: p.databaseLatencyMs ?? null,
    lagP95Ms: p.lagP95Ms ?? null,
    subgraphs: byBucket.get(_id) ?? [],
  }));
}

// syncStatus: the backlog and failures from the jobs, and the sync lag (approval to filing) as percentiles over
// the jobs that succeeded in the last hour, the newest LAG_SAMPLE of them.
import type { EventLog } from '../../platform/integration/events.ts';
import type { SyncModels } from './models.ts';

export const LAG_WINDOW_MS = 60 * 60 * 1000;
/**
 * Enough for stable percentiles (p99 is the 20th slowest) without reading an unbounded hour at high throughput: the
 * engine answers on one thread, and reading 10,000 jobs held it 150 to 850 ms at every sample and alert evaluation.
 */
const LAG_SAMPLE = 2_000;

export interface SyncStatusView {
  backlog: number;
  failed: number;
  dead: number;
  lagP50Ms: number | null;
  lagP95Ms: number | null;
  lagP99Ms: number | null;
  position: number;
  head: number;
}

/** Nearest-rank percentile of ascending values. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (!sorted.length) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export async function syncStatus(models: SyncModels, events: EventLog, now = new Date()): Promise<SyncStatusView> {
  const [counts, lags, cursor, head] = await Promise.all([
    // The unfinished statuses by name, off the { status, eventSeq } index: `$ne: 'SUCCEEDED'` read every job ever filed.
    models.SyncJob.aggregate<{ _id: string; n: number }>([{ $match: { status: { $in: ['PENDING', 'RUNNING', 'FAILED', 'DEAD'] } } }, { $group: { _id: '$status', n: { $sum: 1 } } }]),
    models.SyncJob.find({ status: 'SUCCEEDED', completedAt: { $gte: new Date(now.getTime() - LAG_WINDOW_MS) } }, { lagMs: 1, _id: 0 })
      .sort({ completedAt: -1 })
      .limit(LAG_SAMPLE)
      .lean<{ lagMs: number | null }[]>(),
    models.Cursor.findById('pipeline').lean(),
    // The newest seq stored, even above one still to commit: position = head means everything stored was consumed.
    events.events.findOne({}, { seq: 1, _id: 0 }).sort({ seq: -1 }).lean<{ seq: number }>(),
  ]);
  const n = (status: string) => counts.find((c) => c._id === status)?.n ?? 0;
  const sorted = lags.map((l) => l.lagMs).filter((v): v is number => typeof v === 'number').sort((a, b) => a - b);
  return {
    backlog: n('PENDING') + n('RUNNING') + n('FAILED'),
    failed: n('FAILED'),
    dead: n('DEAD'),
    lagP50Ms: percentile(sorted, 50),
    lagP95Ms: percentile(sorted, 95),
    lagP99Ms: percentile(sorted, 99),
    position: cursor?.seq ?? 0,
    head: head?.seq ?? 0,
  };
}

/** When the oldest approval not yet filed (its job PENDING, RUNNING or FAILED) was approved; null when none waits. */
export async function oldestUnfiledApproval(models: SyncModels): Promise<Date | null> {
  const oldest = await models.SyncJob.findOne({ status: { $in: ['PENDING', 'RUNNING', 'FAILED'] } }, { approvedAt: 1 }).sort({ approvedAt: 1 }).lean<{ approvedAt: Date }>();
  return oldest ? new Date(oldest.approvedAt) : null;
}

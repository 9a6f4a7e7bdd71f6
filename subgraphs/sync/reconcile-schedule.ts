// Scheduled reconciliation (RECONCILE_INTERVAL_MS): the current and the previous period, by the holder of a lease
// held for most of an interval, so of several instances one reconciles per interval. Each run is recorded through
// `audit`, which the composition point provides (subgraphs/sync-service.ts).
import { Lease } from '../../platform/integration/lease.ts';
import { WorkerLoop } from '../../platform/integration/worker-loop.ts';
import type { Logger } from '../../platform/logger.ts';
import type { SyncAuditEntry } from './job-runner.ts';
import { type ReconcileOptions, reconcile } from './reconcile.ts';

export interface ReconcileScheduleOptions {
  reconcile: Omit<ReconcileOptions, 'now'>;
  /** RECONCILE_INTERVAL_MS; 0 turns the schedule off. */
  intervalMs: number;
  logger: Logger;
  audit: (entry: SyncAuditEntry) => void;
  clock?: () => Date;
}

/** The current and the previous period. */
async function scheduledReconcile(o: ReconcileScheduleOptions): Promise<void> {
  const now = o.clock?.() ?? new Date();
  const [y, m] = new Intl.DateTimeFormat('en-CA', { timeZone: o.reconcile.timeZone, year: 'numeric', month: '2-digit' }).format(now).split('-').map(Number);
  const previous = m === 1 ? [y - 1, 12] : [y, m - 1];
  for (const [year, period] of [previous, [y, m]]) {
    const started = Date.now();
    const run = await reconcile({ ...o.reconcile, now }, year, period, 'SCHEDULED', 'sync');
    o.audit({ at: now, action: `mutation reconcile scheduled ${year}-${String(period).padStart(2, '0')}`, operationName: null, outcome: 'OK', durationMs: Date.now() - started });
    if (run.differences.length) o.logger.warn({ fiscalYear: year, period, differences: run.differences.length }, 'reconciliation found differences');
  }
}

/** Starts the schedule (the first run one interval from now); null when it is off. stop() waits for a run in flight. */
export function startReconcileSchedule(o: ReconcileScheduleOptions): WorkerLoop<void> | null {
  if (!(o.intervalMs > 0)) return null;
  const loop = new WorkerLoop({
    work: () => scheduledReconcile(o),
    // Held for most of an interval, and kept on stop: of several instances, one reconciles per interval.
    lease: new Lease(o.reconcile.connection, 'sync-reconcile', Math.max(1000, o.intervalMs * 0.9)),
    releaseOnStop: false,
    logger: o.logger,
    failure: 'scheduled reconciliation failed',
  });
  loop.start(o.intervalMs);
  return loop;
}

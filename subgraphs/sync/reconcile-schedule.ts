// Scheduled reconciliation (RECONCILE_INTERVAL_MS): the current and the previous period, by the holder of a lease
// held for most of an interval, so of several instances one reconciles per interval. Each run is recorded through
// `audit`, which the composition point provides (subgraphs/sync-service.ts).
import type { Lease } from '../../platform/integration/lease.ts';
import type { Logger } from '../../platform/logger.ts';
import type { SyncAuditEntry } from './pipeline.ts';
import { type ReconcileOptions, reconcile } from './reconcile.ts';

export interface ReconcileScheduleOptions {
  reconcile: Omit<ReconcileOptions, 'now'>;
  lease: Lease;
  logger: Logger;
  audit: (entry: SyncAuditEntry) => void;
  clock?: () => Date;
}

/** The current and the previous period, by the lease holder only. */
export async function scheduledReconcile(o: ReconcileScheduleOptions): Promise<void> {
  try {
    if (!(await o.lease.acquire())) return;
    const now = o.clock?.() ?? new Date();
    const [y, m] = new Intl.DateTimeFormat('en-CA', { timeZone: o.reconcile.timeZone, year: 'numeric', month: '2-digit' }).format(now).split('-').map(Number);
    const previous = m === 1 ? [y - 1, 12] : [y, m - 1];
    for (const [year, period] of [previous, [y, m]]) {
      const started = Date.now();
      const run = await reconcile({ ...o.reconcile, now }, year, period, 'SCHEDULED', 'sync');
      o.audit({ at: now, action: `mutation reconcile scheduled ${year}-${String(period).padStart(2, '0')}`, operationName: null, outcome: 'OK', durationMs: Date.now() - started });
      if (run.differences.length) o.logger.warn({ fiscalYear: year, period, differences: run.differences.length }, 'reconciliation found differences');
    }
  } catch (err) {
    o.logger.error({ err: (err as Error).message }, 'scheduled reconciliation failed');
  }
}

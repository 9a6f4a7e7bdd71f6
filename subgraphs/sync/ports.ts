// What the sync module lends others in-process (docs/architecture.md, "Ownership rules"): whether a period may be
// closed (issue 19 §1). The archive's closePeriod asks it; scripts/archive-options.ts builds it over the process's own
// connection with oa's and the archive's ports, as reconciliation reads them.
import type { Connection } from 'mongoose';
import { syncModels } from './models.ts';
import { type ReconcileSources, monthStartIn } from './reconcile.ts';

/** One reason a period cannot be closed yet, with how many claims or differences it concerns. */
export interface CloseBlocker {
  code: 'CLAIMS_WITHOUT_VOUCHER' | 'SYNC_JOBS_FAILING' | 'NOT_RECONCILED' | 'RECONCILIATION_DIFFERENCES';
  count: number;
  detail: string;
}

export interface PeriodReadiness {
  /** Every reason the period cannot be closed now; none when it can. */
  closeBlockers(fiscalYear: number, period: number): Promise<CloseBlocker[]>;
}

/** How many claim numbers a blocker's detail names before "and n more". */
const NAMED = 5;
const named = (nos: readonly string[]) => `${nos.slice(0, NAMED).join(', ')}${nos.length > NAMED ? ` and ${nos.length - NAMED} more` : ''}`;

export function syncPorts(connection: Connection, sources: ReconcileSources, timeZone: string): { readiness: PeriodReadiness } {
  const models = syncModels(connection);
  return {
    readiness: {
      async closeBlockers(fiscalYear, period) {
        const month = `${fiscalYear}-${String(period).padStart(2, '0')}`;
        const from = monthStartIn(timeZone, fiscalYear, period);
        const to = period === 12 ? monthStartIn(timeZone, fiscalYear + 1, 1) : monthStartIn(timeZone, fiscalYear, period + 1);
        const blockers: CloseBlocker[] = [];
        // Claims approved in the period that have no voucher yet (in flight or stuck: either way not in the books).
        const claims = await sources.claims.approvedBetween(from, to);
        const booked = new Set((await sources.ledger.vouchersOf(fiscalYear, period, claims.map((c) => c.id))).map((v) => v.claimId));
        const unbooked = claims.filter((c) => !booked.has(c.id)).map((c) => c.claimNo);
        if (unbooked.length) blockers.push({ code: 'CLAIMS_WITHOUT_VOUCHER', count: unbooked.length, detail: `${unbooked.length} claim(s) approved in ${month} have no voucher: ${named(unbooked)}` });
        const failing = await models.SyncJob.find({ status: { $in: ['FAILED', 'DEAD'] }, approvedAt: { $gte: from, $lt: to } }, { claimNo: 1 }).lean<{ claimNo: string }[]>();
        if (failing.length) blockers.push({ code: 'SYNC_JOBS_FAILING', count: failing.length, detail: `${failing.length} sync job(s) of ${month} are failing: ${named(failing.map((j) => j.claimNo))}` });
        // The books are closed on a reconciled period: the latest reconciliation decides.
        const latest = await models.Reconciliation.findOne({ fiscalYear, period }, { differences: 1, ranAt: 1 }).sort({ ranAt: -1 }).lean<{ differences: unknown[]; ranAt: Date }>();
        if (!latest) blockers.push({ code: 'NOT_RECONCILED', count: 0, detail: `${month} has not been reconciled: run reconcile first` });
        else if (latest.differences.length) {
          blockers.push({ code: 'RECONCILIATION_DIFFERENCES', count: latest.differences.length, detail: `the latest reconciliation of ${month} (${latest.ranAt.toISOString()}) has ${latest.differences.length} difference(s)` });
        }
        return blockers;
      },
    },
  };
}

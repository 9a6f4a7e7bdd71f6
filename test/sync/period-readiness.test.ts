// Whether a month may be closed (issue 19 §1), as the sync module answers the archive's closePeriod
// (subgraphs/sync/ports.ts): each blocking cause on its own, from the real sync collections on the engine and the
// approved claims and vouchers its sources give; none once the month is booked, its jobs succeeded and its latest
// reconciliation is clean. Month bounds in the business time zone (Asia/Shanghai: 2026-11 starts 2026-10-31T16:00Z).
import { ObjectId } from 'mongodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { syncModels } from '../../subgraphs/sync/models.ts';
import { type PeriodReadiness, syncPorts } from '../../subgraphs/sync/ports.ts';
import { reconcile } from '../../subgraphs/sync/reconcile.ts';
import { EventLog } from '../../platform/integration/events.ts';
import type { Connection } from 'mongoose';
import { useMongo } from '../helpers/mongo.ts';

const m = useMongo('period-readiness');
let readiness: PeriodReadiness;
let models: ReturnType<typeof syncModels>;
let connection: Connection;

const claims = [
  { id: 'c1', claimNo: 'BX-1', totalFen: 100, approvedAt: new Date('2026-10-31T16:00:00Z') },
  { id: 'c2', claimNo: 'BX-2', totalFen: 200, approvedAt: new Date('2026-11-15T00:00:00Z') },
  { id: 'c3', claimNo: 'BX-3', totalFen: 300, approvedAt: new Date('2026-11-30T15:59:59Z') },
];
const booked = new Set(['c1', 'c2', 'c3']);

const job = (claimNo: string, status: string, approvedAt: Date) => ({
  _id: new ObjectId(),
  claimId: `claim-${claimNo}`,
  claimNo,
  applicantId: 'e1',
  departmentId: 'd1',
  eventSeq: Math.floor(Math.random() * 1e9),
  approvedAt,
  status,
  attempts: 1,
  attemptLimit: 5,
  lastError: 'archive unreachable',
  createdAt: approvedAt,
});
const reconciliation = (differences: number, ranAt: Date) => ({ fiscalYear: 2026, period: 11, ranAt, trigger: 'MANUAL', ranBy: 'acc', approvedClaims: 3, vouchers: 3, archiveRecords: 3, differences: Array.from({ length: differences }, (_, i) => ({ kind: 'MISSING_ARCHIVE_RECORD', detail: `d${i}` })) });

beforeAll(async () => {
  connection = await m.mongoose();
  models = syncModels(connection);
  await Promise.all([models.SyncJob.init(), models.Reconciliation.init()]);
  readiness = syncPorts(
    connection,
    {
      claims: { approvedBetween: async (from, to) => claims.filter((c) => c.approvedAt >= from && c.approvedAt < to) },
      ledger: {
        vouchersOf: async (_y, _p, ids) => ids.filter((id) => booked.has(id)).map((id) => ({ id: `v-${id}`, claimId: id, claimNo: id, voucherNo: `V-${id}`, debitTotalFen: 1, creditTotalFen: 1 })),
        recordsOf: async () => [],
      },
    },
    'Asia/Shanghai',
  ).readiness;
});

describe('the blockers of closing a month', () => {
  it('a month never reconciled is not ready', async () => {
    expect(await readiness.closeBlockers(2026, 11)).toEqual([{ code: 'NOT_RECONCILED', count: 0, detail: '2026-11 has not been reconciled: run reconcile first' }]);
  });

  it('claims approved in the month without a voucher, at the month’s bounds in the business time zone', async () => {
    await models.Reconciliation.collection.insertOne(reconciliation(0, new Date('2026-12-01T01:00:00Z')));
    booked.delete('c1');
    booked.delete('c3');
    expect(await readiness.closeBlockers(2026, 11)).toEqual([{ code: 'CLAIMS_WITHOUT_VOUCHER', count: 2, detail: '2 claim(s) approved in 2026-11 have no voucher: BX-1, BX-3' }]);
    // October has none of them: BX-1 was approved at 00:00 on 1 November, Beijing time.
    await models.Reconciliation.collection.insertOne({ ...reconciliation(0, new Date('2026-12-01T01:00:00Z')), period: 10 });
    expect(await readiness.closeBlockers(2026, 10)).toEqual([]);
    booked.add('c1');
    booked.add('c3');
  });

  it('failing and dead sync jobs of the month, and not those of another month or those that succeeded', async () => {
    await models.SyncJob.collection.insertMany([
      job('BX-7', 'FAILED', new Date('2026-11-03T00:00:00Z')),
      job('BX-8', 'DEAD', new Date('2026-11-04T00:00:00Z')),
      job('BX-9', 'SUCCEEDED', new Date('2026-11-05T00:00:00Z')),
      job('BX-10', 'FAILED', new Date('2026-12-02T00:00:00Z')),
    ]);
    expect(await readiness.closeBlockers(2026, 11)).toEqual([{ code: 'SYNC_JOBS_FAILING', count: 2, detail: '2 sync job(s) of 2026-11 are failing: BX-7, BX-8' }]);
    await models.SyncJob.collection.updateMany({ claimNo: { $in: ['BX-7', 'BX-8'] } }, { $set: { status: 'SUCCEEDED' } });
  });

  it('the latest reconciliation decides: differences block, a clean run after them does not', async () => {
    await models.Reconciliation.collection.insertOne(reconciliation(3, new Date('2026-12-02T01:00:00Z')));
    const [blocker] = await readiness.closeBlockers(2026, 11);
    expect(blocker).toEqual({ code: 'RECONCILIATION_DIFFERENCES', count: 3, detail: 'the latest reconciliation of 2026-11 (2026-12-02T01:00:00.000Z) has 3 difference(s)' });
    await models.Reconciliation.collection.insertOne(reconciliation(0, new Date('2026-12-03T01:00:00Z')));
    expect(await readiness.closeBlockers(2026, 11)).toEqual([]);
  });

  it('reconciling the month a late voucher was moved into does not call it a voucher without a claim', async () => {
    const voucher = (n: number, movedFrom?: string) => ({ id: `v${n}`, claimId: `c${n}`, claimNo: `BX-${n}`, voucherNo: `V-${n}`, debitTotalFen: 5, creditTotalFen: 5, ...(movedFrom ? { movedFrom } : {}) });
    const run = await reconcile(
      {
        connection,
        models,
        events: new EventLog(connection),
        timeZone: 'Asia/Shanghai',
        graceMs: 0,
        now: new Date('2026-12-20T00:00:00Z'),
        claims: { approvedBetween: async () => [] },
        ledger: { vouchersOf: async () => [voucher(9, '2026-11'), voucher(10)], recordsOf: async () => [{ id: 'r9', voucherId: 'v9', archiveNo: 'A9' }, { id: 'r10', voucherId: 'v10', archiveNo: 'A10' }] },
      },
      2026,
      12,
      'MANUAL',
      'accountant-1',
    );
    expect(run.differences.map((d) => [d.kind, d.claimId])).toEqual([['VOUCHER_WITHOUT_APPROVED_CLAIM', 'c10']]);
  });
});

// Reconciliation of a period: a clean period has no differences; each kind of damage done directly in the
// database (a voucher one fen off, a missing voucher or record, a duplicate, a voucher without a claim, an
// unbalanced voucher) is reported as such, stored, and announced with one RECONCILIATION_DIFFERENCE event.
import { Types } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../platform/logger.ts';
import { startSyncSubgraph } from '../../subgraphs/sync-service.ts';
import { monthStartIn } from '../../subgraphs/sync/reconcile.ts';
import { SECRET } from '../oa/fixture.ts';
import { SYNC_SETTINGS, type Stack, approvedClaim, seed, startStack } from './stack.ts';

let stack: Stack;
let admin: string;
const claims: { id: string; claimNo: string }[] = [];
const [year, period] = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit' }).format(new Date()).split('-').map(Number);

const RECONCILE = `mutation($y: Int!, $p: Int!) { reconcile(fiscalYear: $y, period: $p) {
  id fiscalYear period trigger approvedClaims vouchers archiveRecords
  differences { kind claimId claimNo voucherId archiveRecordId expected actual detail }
} }`;
interface Run {
  id: string;
  approvedClaims: number;
  vouchers: number;
  archiveRecords: number;
  trigger: string;
  differences: { kind: string; claimId: string | null; claimNo: string | null; voucherId: string | null; archiveRecordId: string | null; expected: string | null; actual: string | null; detail: string }[];
}

async function reconcile(): Promise<Run> {
  const r = await stack.gql<{ reconcile: Run }>(admin, RECONCILE, { y: year, p: period });
  expect(r.errors).toBeUndefined();
  return r.data!.reconcile;
}

beforeAll(async () => {
  stack = await startStack({ label: 'sync_reconcile' });
  const org = await seed(stack);
  admin = await stack.token('ops-admin', ['ADMIN']);
  for (const amount of ['100.00', '200.01', '300.02', '400.03', '500.04']) claims.push(await approvedClaim(stack, org, amount));
  const started = Date.now();
  while ((await stack.connection.collection('archive_records').countDocuments()) < claims.length) {
    if (Date.now() - started > 10_000) throw new Error('claims were not filed');
    await new Promise((r) => setTimeout(r, 25));
  }
  // Damage below is done with the pipeline stopped, as an operator would find it.
  await stack.sync.services.pipeline.stop();
});
afterAll(async () => stack?.close());

describe('reconcile(fiscalYear, period)', () => {
  it('finds nothing in a clean period, and says nothing', async () => {
    const before = await stack.connection.collection('domain_events').countDocuments({ type: 'RECONCILIATION_DIFFERENCE' });
    const run = await reconcile();
    expect(run).toMatchObject({ approvedClaims: 5, vouchers: 5, archiveRecords: 5, trigger: 'MANUAL', differences: [] });
    expect(await stack.connection.collection('domain_events').countDocuments({ type: 'RECONCILIATION_DIFFERENCE' })).toBe(before);
  });

  it('reports every kind of difference, to the fen, and emits one event for the run', async () => {
    const db = stack.connection;
    const voucherOf = async (claimId: string) => (await db.collection('vouchers').findOne({ claimId }))!;
    // 1. One fen more on both sides of the first claim's voucher: balanced, but not the claim's amount.
    const v0 = await voucherOf(claims[0].id);
    await db.collection('vouchers').updateOne({ _id: v0._id }, { $inc: { debitTotalFen: 1, creditTotalFen: 1 } });
    // 2. The second claim's voucher loses its archive record.
    const v1 = await voucherOf(claims[1].id);
    await db.collection('archive_records').deleteOne({ voucherId: v1._id.toHexString() });
    // 3. The third claim's voucher (and its record) disappear.
    const v2 = await voucherOf(claims[2].id);
    await db.collection('vouchers').deleteOne({ _id: v2._id });
    // 4. The fourth claim gets a second voucher (possible only once the unique index is gone, e.g. a bad restore).
    const v3 = await voucherOf(claims[3].id);
    await db.collection('vouchers').dropIndex('claimId_1');
    const copy = { ...v3, _id: new Types.ObjectId(), voucherNo: `${v3.voucherNo as string}-DUP` };
    await db.collection('vouchers').insertOne(copy);
    // 5. The fifth claim's voucher has its debits one fen above its credits.
    const v4 = await voucherOf(claims[4].id);
    await db.collection('vouchers').updateOne({ _id: v4._id }, { $inc: { creditTotalFen: -1 } });
    // 6. A voucher in the period whose claim was never approved.
    const ghostClaim = new Types.ObjectId().toHexString();
    await db.collection('vouchers').insertOne({ ...v4, _id: new Types.ObjectId(), claimId: ghostClaim, claimNo: 'BX-GHOST', voucherNo: 'GHOST', creditTotalFen: v4.debitTotalFen });

    const run = await reconcile();
    const byKind = (kind: string) => run.differences.filter((d) => d.kind === kind);
    expect(byKind('AMOUNT_MISMATCH')).toEqual([
      { kind: 'AMOUNT_MISMATCH', claimId: claims[0].id, claimNo: claims[0].claimNo, voucherId: v0._id.toHexString(), archiveRecordId: null, expected: '100.00', actual: '100.01', detail: `${claims[0].claimNo} totals 100.00 but voucher ${v0.voucherNo} totals 100.01` },
    ]);
    expect(byKind('MISSING_ARCHIVE_RECORD').map((d) => d.voucherId).sort()).toEqual([v1._id.toHexString(), copy._id.toHexString(), ghostClaimVoucher(run, ghostClaim)].sort());
    expect(byKind('MISSING_VOUCHER')).toEqual([
      { kind: 'MISSING_VOUCHER', claimId: claims[2].id, claimNo: claims[2].claimNo, voucherId: null, archiveRecordId: null, expected: '300.02', actual: null, detail: `${claims[2].claimNo} was approved but has no voucher` },
    ]);
    expect(byKind('DUPLICATE_VOUCHER')).toMatchObject([{ claimId: claims[3].id, detail: `${claims[3].claimNo} has 2 vouchers: ${v3.voucherNo}, ${v3.voucherNo}-DUP` }]);
    expect(byKind('UNBALANCED_VOUCHER')).toEqual([
      { kind: 'UNBALANCED_VOUCHER', claimId: claims[4].id, claimNo: claims[4].claimNo, voucherId: v4._id.toHexString(), archiveRecordId: null, expected: '500.04', actual: '500.03', detail: `voucher ${v4.voucherNo}: debits 500.04, credits 500.03` },
    ]);
    expect(byKind('VOUCHER_WITHOUT_APPROVED_CLAIM')).toMatchObject([{ claimId: ghostClaim, claimNo: 'BX-GHOST', actual: '500.04' }]);
    expect(run.differences).toHaveLength(8);
    expect(run).toMatchObject({ approvedClaims: 5, vouchers: 6, archiveRecords: 3 });

    const events = await db.collection('domain_events').find({ type: 'RECONCILIATION_DIFFERENCE', 'subject.id': run.id }).toArray();
    expect(events).toHaveLength(1);
    expect(events[0].payload).toMatchObject({ fiscalYear: year, period, differences: 8 });
    expect(events[0].payload.detail).toContain('8 difference(s)');
    // Stored, newest first; and in the log for whoever may read it.
    const listed = await stack.gql<{ reconciliations: { id: string; differences: unknown[] }[] }>(admin, `{ reconciliations(first: 1) { id differences { kind } } }`);
    expect(listed.data!.reconciliations).toEqual([{ id: run.id, differences: expect.any(Array) }]);
    const seen = await stack.gql<{ syncEvents: { type: string; detail: string; claim: null }[] }>(admin, `{ syncEvents(types: [RECONCILIATION_DIFFERENCE]) { type detail claim { id } } }`);
    expect(seen.data!.syncEvents).toEqual([{ type: 'RECONCILIATION_DIFFERENCE', detail: events[0].payload.detail, claim: null }]);
  });

  it('validates the period and lets only operations, finance and audit reconcile', async () => {
    const r = await stack.gql(admin, RECONCILE, { y: year, p: 13 });
    expect(r.errors?.map((e) => [e.extensions?.code, (e.extensions as { field?: string }).field])).toEqual([['BAD_USER_INPUT', 'period']]);
    const employee = await stack.token('someone', ['EMPLOYEE']);
    expect((await stack.gql(employee, RECONCILE, { y: year, p: period })).errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
  });

  it('runs on a schedule for the current and previous period, and announces what it finds', async () => {
    const scheduled = await startSyncSubgraph({
      connection: stack.connection,
      logger: createLogger({ level: 'silent' }),
      internalSecret: SECRET,
      production: false,
      oaUrl: stack.oaUrl,
      archiveUrl: stack.archiveUrl,
    ports: stack.ports,
      bus: null,
      settings: { ...SYNC_SETTINGS, reconcileIntervalMs: 150 },
      host: '127.0.0.1',
      port: 0,
    });
    try {
      const db = stack.connection;
      const started = Date.now();
      while ((await db.collection('sync_reconciliations').countDocuments({ trigger: 'SCHEDULED' })) < 2) {
        if (Date.now() - started > 10_000) throw new Error('no scheduled run');
        await new Promise((r) => setTimeout(r, 25));
      }
      // One tick runs both periods, often within the same millisecond: _id (created in order) breaks the tie, which
      // the ranAt index alone leaves to the scan direction, in MongoDB as in the embedded engine.
      const runs = await db.collection('sync_reconciliations').find({ trigger: 'SCHEDULED' }).sort({ ranAt: 1, _id: 1 }).limit(2).toArray();
      const previous = period === 1 ? [year - 1, 12] : [year, period - 1];
      expect(runs.map((r) => [r.fiscalYear, r.period])).toEqual([previous, [year, period]]);
      expect(runs[0].differences).toEqual([]);
      expect(runs[1].differences).toHaveLength(8);
      const announced = await db.collection('domain_events').findOne({ type: 'RECONCILIATION_DIFFERENCE', 'subject.id': runs[1]._id.toHexString() });
      expect(announced).toMatchObject({ actor: 'sync', payload: { differences: 8 } });
    } finally {
      await scheduled.close();
    }
  });

  it('finds the month boundaries in the business time zone', () => {
    // Asia/Shanghai is UTC+8 all year: November starts at 16:00 UTC on 31 October.
    expect(monthStartIn('Asia/Shanghai', 2026, 11).toISOString()).toBe('2026-10-31T16:00:00.000Z');
    // Europe/Berlin changes offset on 25 October 2026: November starts at 23:00 UTC on 31 October.
    expect(monthStartIn('Europe/Berlin', 2026, 11).toISOString()).toBe('2026-10-31T23:00:00.000Z');
    expect(monthStartIn('Europe/Berlin', 2026, 4).toISOString()).toBe('2026-03-31T22:00:00.000Z');
  });
});

function ghostClaimVoucher(run: Run, ghostClaim: string): string {
  return run.differences.find((d) => d.kind === 'VOUCHER_WITHOUT_APPROVED_CLAIM' && d.claimId === ghostClaim)!.voucherId!;
}

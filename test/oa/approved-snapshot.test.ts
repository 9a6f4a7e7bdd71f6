// CLAIM_APPROVED carries the approved claim as the archive books it (amounts in integer fen), written with the
// approval; no other claim event does. Approvals by decision and by an outside OA platform alike.
import { describe, expect, it } from 'vitest';
import { applyExternalClaim } from '../../subgraphs/oa/claims.ts';
import { ok, useOaSubgraph } from './fixture.ts';
import { CREATE_CLAIM, DECIDE, SUBMIT, item, seedOrg } from './seed.ts';

const fx = useOaSubgraph('oa_approved_snapshot');

const eventsOf = (claimId: string) => fx.connection.collection('domain_events').find({ 'subject.id': claimId }).sort({ seq: 1 }).toArray();

describe('the CLAIM_APPROVED snapshot', () => {
  it('is written by the deciding approval, exact to the fen, and only there', async () => {
    const org = await seedOrg(fx);
    const created = ok(
      await fx.gql<{ createExpenseClaim: { id: string; claimNo: string } }>(org.as.alice, CREATE_CLAIM, {
        input: { title: 'Stationery', category: 'OFFICE', items: [item('0.10', 'INV-S-1'), item('0.20'), item('1999.99')] },
      }),
    ).createExpenseClaim;
    ok(await fx.gql(org.as.alice, SUBMIT, { id: created.id }));
    ok(await fx.gql(org.as.salesManager, DECIDE, { id: created.id, d: 'APPROVE' }));
    const { approvedAt } = ok(await fx.gql<{ decideApproval: { approvedAt: string } }>(org.as.accountant, DECIDE, { id: created.id, d: 'APPROVE' })).decideApproval;

    const events = await eventsOf(created.id);
    expect(events.map((e) => [e.type, e.payload.claim !== undefined])).toEqual([
      ['CLAIM_SUBMITTED', false],
      ['CLAIM_APPROVED', true],
    ]);
    const approved = events[1];
    expect(approved.payload).toMatchObject({ claimId: created.id, totalFen: 200029, total: '2000.29' });
    expect(approved.payload.claim).toEqual({
      claimId: created.id,
      claimNo: created.claimNo,
      title: 'Stationery',
      category: 'OFFICE',
      applicantId: org.ids.alice,
      applicantName: 'Alice',
      departmentId: org.sales,
      approvedAt,
      totalFen: 200029,
      items: [
        { description: 'item 0.10', amountFen: 10, occurredOn: '2026-11-01', invoiceNo: 'INV-S-1' },
        { description: 'item 0.20', amountFen: 20, occurredOn: '2026-11-01', invoiceNo: null },
        { description: 'item 1999.99', amountFen: 199999, occurredOn: '2026-11-01', invoiceNo: null },
      ],
    });
  });

  it('is written for a claim approved on an outside platform, new or already known', async () => {
    const org = await seedOrg(fx, '-X');
    const source = (instanceCode: string) => ({ platform: 'feishu', instanceCode, approvalCode: 'EXPENSE' });
    const base = { applicantId: org.ids.bob, category: 'TRAVEL' as const, title: 'Train', items: [{ description: 'ticket', amountFen: 55_501, occurredOn: '2026-11-02', invoiceNo: 'INV-X-1' }] };

    // Arrives approved.
    const fresh = await applyExternalClaim(fx.services, { ...base, source: source('I-1'), status: 'APPROVED', eventTime: new Date('2026-11-03T01:00:00Z') });
    const [submitted, approved] = await eventsOf(fresh.claimId);
    expect(submitted.payload.claim).toBeUndefined();
    expect(approved.payload.claim).toMatchObject({ claimId: fresh.claimId, applicantName: 'Bob', approvedAt: '2026-11-03T01:00:00.000Z', totalFen: 55_501, items: [{ amountFen: 55_501, invoiceNo: 'INV-X-1' }] });

    // Arrives submitted, then approved.
    const known = await applyExternalClaim(fx.services, { ...base, items: [{ ...base.items[0], invoiceNo: 'INV-X-2' }], source: source('I-2'), status: 'SUBMITTED', eventTime: new Date('2026-11-03T02:00:00Z') });
    await applyExternalClaim(fx.services, { ...base, source: source('I-2'), status: 'APPROVED', eventTime: new Date('2026-11-03T03:00:00Z') });
    const events = await eventsOf(known.claimId);
    expect(events.map((e) => [e.type, e.payload.claim !== undefined])).toEqual([
      ['CLAIM_SUBMITTED', false],
      ['CLAIM_APPROVED', true],
    ]);
    expect(events[1].payload.claim).toMatchObject({ claimId: known.claimId, applicantId: org.ids.bob, departmentId: org.sales, approvedAt: '2026-11-03T03:00:00.000Z', totalFen: 55_501 });
  });
});

// CLAIM_APPROVED carries the claim as the archive books it, so a sync job calls the archive twice and oa not at all;
// an event appended before oa wrote that snapshot is still synced by reading the claim from oa. Counting proxies in
// front of both subgraphs count the sync service's calls (the gateway and the test's set-up go around them).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromSnapshot } from '../../subgraphs/sync/approved-claim.ts';
import { ok } from '../oa/fixture.ts';
import { CREATE_CLAIM, DECIDE, type Org, SUBMIT, item } from '../oa/seed.ts';
import { ArchiveProxy } from './archive-proxy.ts';
import { type Stack, seed, startStack } from './stack.ts';

const oaProxy = new ArchiveProxy();
const archiveProxy = new ArchiveProxy();
let stack: Stack;
let org: Org;

beforeAll(async () => {
  const [oaUrl, archiveUrl] = [await oaProxy.listen(), await archiveProxy.listen()];
  stack = await startStack({ label: 'sync_claim_snapshot', oaUrlForSync: oaUrl, archiveUrlForSync: archiveUrl });
  oaProxy.target = stack.oaUrl;
  archiveProxy.target = stack.archiveUrl;
  org = await seed(stack);
});
afterAll(async () => {
  await stack?.close();
  oaProxy.server.close();
  archiveProxy.server.close();
});

/** Amounts whose sum a float gets wrong (0.1 + 0.2), and a large one: 0.10 + 0.20 + 4321.07 = 4321.37. */
const AMOUNTS = ['0.10', '0.20', '4321.07'];

/** Alice files the claim, her manager and the accountant approve it; returns it as oa reports it. */
async function approve(): Promise<{ id: string; claimNo: string; approvedAt: string }> {
  const created = ok(
    await stack.oa.gql<{ createExpenseClaim: { id: string; claimNo: string } }>(org.as.alice, CREATE_CLAIM, {
      input: { title: 'Conference', category: 'TRAINING', items: AMOUNTS.map((a, i) => item(a, i === 2 ? `INV-SNAP-${Date.now()}` : undefined)) },
    }),
  ).createExpenseClaim;
  ok(await stack.oa.gql(org.as.alice, SUBMIT, { id: created.id }));
  ok(await stack.oa.gql(org.as.salesManager, DECIDE, { id: created.id, d: 'APPROVE' }));
  const decided = ok(await stack.oa.gql<{ decideApproval: { status: string; approvedAt: string } }>(org.as.accountant, DECIDE, { id: created.id, d: 'APPROVE' })).decideApproval;
  expect(decided.status).toBe('APPROVED');
  return { ...created, approvedAt: decided.approvedAt };
}

async function until<T>(read: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const jobOf = (claimId: string) => stack.connection.collection('sync_jobs').findOne({ claimId });
const approvalOf = (claimId: string) => stack.connection.collection('domain_events').findOne({ type: 'CLAIM_APPROVED', 'subject.id': claimId });
const voucherOf = (claimId: string) => stack.connection.collection('vouchers').findOne({ claimId });

/** What the archive booked, the same whichever way the pipeline learnt the claim. */
async function expectBooked(claim: { id: string; claimNo: string; approvedAt: string }): Promise<void> {
  const voucher = (await voucherOf(claim.id))!;
  expect(voucher).toMatchObject({ claimNo: claim.claimNo, debitTotalFen: 432137, creditTotalFen: 432137 });
  expect(voucher.source).toMatchObject({
    title: 'Conference',
    category: 'TRAINING',
    applicantId: org.ids.alice,
    applicantName: 'Alice',
    departmentId: org.sales,
    approvedAt: new Date(claim.approvedAt),
    totalFen: 432137,
    invoiceNumbers: [expect.stringMatching(/^INV-SNAP-/)],
  });
}

describe('the claim of a sync job', () => {
  it('comes from the snapshot in CLAIM_APPROVED, exact to the fen: two calls to the archive, none to oa', async () => {
    oaProxy.calls = 0;
    archiveProxy.calls = 0;
    const claim = await approve();
    const event = (await approvalOf(claim.id))!;
    expect(event.payload.claim).toEqual({
      claimId: claim.id,
      claimNo: claim.claimNo,
      title: 'Conference',
      category: 'TRAINING',
      applicantId: org.ids.alice,
      applicantName: 'Alice',
      departmentId: org.sales,
      approvedAt: claim.approvedAt,
      totalFen: 432137,
      items: [
        { description: 'item 0.10', amountFen: 10, occurredOn: '2026-11-01', invoiceNo: null },
        { description: 'item 0.20', amountFen: 20, occurredOn: '2026-11-01', invoiceNo: null },
        { description: 'item 4321.07', amountFen: 432107, occurredOn: '2026-11-01', invoiceNo: expect.stringMatching(/^INV-SNAP-/) },
      ],
    });
    const job = await until(() => jobOf(claim.id), (j) => j?.status === 'SUCCEEDED');
    expect(job!.attempts).toBe(1);
    await expectBooked(claim);
    expect({ oa: oaProxy.calls, archive: archiveProxy.calls }).toEqual({ oa: 0, archive: 2 });
  });

  it('comes from oa for an event appended before oa wrote snapshots, so an upgrade strands no claim', async () => {
    // The pipeline stopped, the claim is approved and its event made to look as one written before the change.
    await stack.sync.services.pipeline.stop();
    const claim = await approve();
    await stack.connection.collection('domain_events').updateOne({ type: 'CLAIM_APPROVED', 'subject.id': claim.id }, { $unset: { 'payload.claim': '' } });
    expect((await approvalOf(claim.id))!.payload.claim).toBeUndefined();
    oaProxy.calls = 0;
    archiveProxy.calls = 0;
    stack.sync.services.pipeline.start(50);
    const job = await until(() => jobOf(claim.id), (j) => j?.status === 'SUCCEEDED');
    expect(job!.attempts).toBe(1);
    await expectBooked(claim);
    expect({ oa: oaProxy.calls, archive: archiveProxy.calls }).toEqual({ oa: 1, archive: 2 });
  });

  it('formats the snapshot amounts from integer fen, and takes no snapshot that is not one', () => {
    const snapshot = {
      claimId: 'c1',
      claimNo: 'BX-2026-000001',
      title: 'Taxi',
      category: 'TRAVEL',
      applicantId: 'e1',
      applicantName: null,
      departmentId: 'd1',
      approvedAt: '2026-11-28T08:00:00.000Z',
      totalFen: 9_007_199_254_740_991,
      items: [{ description: 'ride', amountFen: 9_007_199_254_740_991, occurredOn: '2026-11-27', invoiceNo: null }],
    };
    expect(fromSnapshot(snapshot, 'c1')).toEqual({
      claimId: 'c1',
      claimNo: 'BX-2026-000001',
      title: 'Taxi',
      category: 'TRAVEL',
      applicantId: 'e1',
      applicantName: null,
      departmentId: 'd1',
      approvedAt: '2026-11-28T08:00:00.000Z',
      total: '90071992547409.91',
      items: [{ description: 'ride', amount: '90071992547409.91', occurredOn: '2026-11-27', invoiceNo: null }],
    });
    // Another claim's snapshot, an amount that is no integer fen, or none at all: the claim is read from oa instead.
    expect(fromSnapshot(snapshot, 'c2')).toBeNull();
    expect(fromSnapshot({ ...snapshot, totalFen: 0.3 }, 'c1')).toBeNull();
    expect(fromSnapshot({ ...snapshot, items: [{ ...snapshot.items[0], amountFen: '10' }] }, 'c1')).toBeNull();
    expect(fromSnapshot(undefined, 'c1')).toBeNull();
  });
});

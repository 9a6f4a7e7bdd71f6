// The executable supergraph: one query reaches oa and archive, with the caller's identity signed per call.
import { describe, expect, it } from 'vitest';
import type { Principal } from '../../platform/identity.ts';
import { ok } from '../oa/fixture.ts';
import { CREATE_CLAIM, DECIDE, SUBMIT, item, seedOrg } from '../oa/seed.ts';
import { asOaClient, useGateway } from './fixture.ts';

const gw = useGateway('gateway_supergraph');
const viaGateway = asOaClient(gw);
const run = (principal: Principal | null, source: string, variables?: Record<string, unknown>) => gw.run(principal, source, variables);

describe('the executable supergraph', () => {
  it('resolves a claim with its voucher and archive record across both subgraphs', async () => {
    const org = await seedOrg(viaGateway as never, '-gw');
    const claim = ok(await viaGateway.gql(org.as.alice, CREATE_CLAIM, { input: { title: 'Gateway trip', category: 'TRAVEL', items: [item('120.50', 'GW-INV-1')] } })) as { createExpenseClaim: { id: string; claimNo: string } };
    const id = claim.createExpenseClaim.id;
    ok(await viaGateway.gql(org.as.alice, SUBMIT, { id }));
    ok(await viaGateway.gql(org.as.salesManager, DECIDE, { id, d: 'APPROVE' }));
    ok(await viaGateway.gql(org.as.accountant, DECIDE, { id, d: 'APPROVE' }));
    // The sync service's part, done by hand here: voucher and filing through the gateway with a service identity.
    const sync: Principal = { sub: 'sync-service', roles: [], departmentId: null, kind: 'service' };
    const voucher = ok(
      await viaGateway.gql(sync, 'mutation($c: ApprovedClaimInput!) { generateVoucher(claim: $c) { id voucherNo } }', {
        c: { claimId: id, claimNo: claim.createExpenseClaim.claimNo, title: 'Gateway trip', category: 'TRAVEL', applicantId: org.ids.alice, departmentId: org.sales, approvedAt: new Date().toISOString(), total: '120.50', items: [{ description: 'item', amount: '120.50', occurredOn: '2026-11-01', invoiceNo: 'GW-INV-1' }] },
      }),
    ) as { generateVoucher: { id: string; voucherNo: string } };
    ok(await viaGateway.gql(sync, 'mutation($v: ID!) { fileVoucher(voucherId: $v) { id } }', { v: voucher.generateVoucher.id }));

    const result = await run(org.as.accountant, `query($id: ID!) { expenseClaim(id: $id) {
      claimNo total status applicant { name department { code } }
      voucher { voucherNo debitTotal creditTotal entries { accountCode debit credit } }
      archiveRecord { archiveNo retention expiresOn voucher { voucherNo } }
    } }`, { id });
    expect(result.errors).toBeUndefined();
    expect(result.data!.expenseClaim).toEqual({
      claimNo: claim.createExpenseClaim.claimNo,
      total: '120.50',
      status: 'APPROVED',
      applicant: { name: 'Alice', department: { code: 'SALES-gw' } },
      voucher: {
        voucherNo: voucher.generateVoucher.voucherNo,
        debitTotal: '120.50',
        creditTotal: '120.50',
        entries: [
          { accountCode: '6602.01', debit: '120.50', credit: '0.00' },
          { accountCode: '2241', debit: '0.00', credit: '120.50' },
        ],
      },
      archiveRecord: { archiveNo: expect.stringMatching(/^Q001-\d{4}-D30-PZ-\d{5}$/), retention: 'Y30', expiresOn: expect.stringMatching(/^\d{4}-12-31$/), voucher: { voucherNo: voucher.generateVoucher.voucherNo } },
    });
  }, 60_000);

  it('refuses an anonymous call: the gateway asks for authentication, and the subgraphs would refuse it unsigned', async () => {
    const result = await run(null, '{ departments { id } }');
    expect(result.data?.departments ?? null).toBeNull();
    expect(result.errors?.map((e) => e.extensions.code)).toEqual(['UNAUTHENTICATED']);
    const unguarded = await gw.run(null, '{ departments { id } }', undefined, { unguarded: true });
    expect(unguarded.errors?.[0]?.message).toMatch(/401|Unauthenticated/);
  });

  it('answers the fields of the subgraphs that are up when one is down, with an error on the affected fields', async () => {
    const accountant: Principal = { sub: 'acct-x', roles: ['ACCOUNTANT'], departmentId: null, kind: 'user' };
    await gw.stop('archive');
    const result = await run(accountant, '{ expenseClaims(first: 1) { totalCount edges { node { claimNo voucher { voucherNo } } } } }');
    const claims = result.data!.expenseClaims as { totalCount: number; edges: Array<{ node: { claimNo: string; voucher: unknown } }> };
    expect(claims.totalCount).toBeGreaterThanOrEqual(1);
    expect(claims.edges[0].node.claimNo).toMatch(/^BX-/);
    expect(claims.edges[0].node.voucher).toBeNull();
    expect(result.errors?.length).toBeGreaterThan(0);
    expect(result.errors![0].path).toEqual(['expenseClaims', 'edges', 0, 'node', 'voucher']);
  }, 30_000);
});

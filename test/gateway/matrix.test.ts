// The permission matrix: for every role, one operation across both subgraphs (a claim with its applicant's
// sensitive data, its voucher and its archive record), asserted value by value.
import { describe, expect, it } from 'vitest';
import type { Principal } from '../../platform/identity.ts';
import { ok } from '../oa/fixture.ts';
import { CREATE_CLAIM, DECIDE, SUBMIT, item, seedOrg } from '../oa/seed.ts';
import { asOaClient, useGateway } from './fixture.ts';

const gw = useGateway('gateway_matrix');
const client = asOaClient(gw);

const QUERY = `query($id: ID!) { expenseClaim(id: $id) {
  claimNo total applicant { name bankAccount }
  voucher { voucherNo debitTotal }
  archiveRecord { archiveNo retention }
} }`;

describe('permission matrix', () => {
  it('gives each role exactly what the model allows, across oa and archive', async () => {
    const org = await seedOrg(client as never, '-mx');
    const ADMIN: Principal = { sub: 'admin-mx', roles: ['ADMIN'], departmentId: null, kind: 'user' };
    const SYNC: Principal = { sub: 'sync-service', roles: [], departmentId: null, kind: 'service' };
    const archivist: Principal = { sub: 'archivist-mx', roles: ['EMPLOYEE', 'ARCHIVIST'], departmentId: org.hq, kind: 'user' };
    ok(await client.gql(ADMIN, 'mutation($id: ID!) { updateEmployee(id: $id, input: { bankAccount: "6222021234567890128" }) { id } }', { id: org.ids.alice }));
    const claim = (ok(await client.gql(org.as.alice, CREATE_CLAIM, { input: { title: 'Matrix trip', category: 'TRAVEL', items: [item('88.00', 'MX-INV-1')] } })) as { createExpenseClaim: { id: string; claimNo: string } }).createExpenseClaim;
    ok(await client.gql(org.as.alice, SUBMIT, { id: claim.id }));
    ok(await client.gql(org.as.salesManager, DECIDE, { id: claim.id, d: 'APPROVE' }));
    ok(await client.gql(org.as.accountant, DECIDE, { id: claim.id, d: 'APPROVE' }));
    const voucher = (ok(
      await client.gql(SYNC, 'mutation($c: ApprovedClaimInput!) { generateVoucher(claim: $c) { id voucherNo } }', {
        c: { claimId: claim.id, claimNo: claim.claimNo, title: 'Matrix trip', category: 'TRAVEL', applicantId: org.ids.alice, departmentId: org.sales, approvedAt: new Date().toISOString(), total: '88.00', items: [{ description: 'x', amount: '88.00', occurredOn: '2026-11-01', invoiceNo: 'MX-INV-1' }] },
      }),
    ) as { generateVoucher: { id: string; voucherNo: string } }).generateVoucher;
    const record = (ok(await client.gql(SYNC, 'mutation($v: ID!) { fileVoucher(voucherId: $v) { archiveNo } }', { v: voucher.id })) as { fileVoucher: { archiveNo: string } }).fileVoucher;

    const full = {
      claimNo: claim.claimNo,
      total: '88.00',
      applicant: { name: 'Alice', bankAccount: '6222021234567890128' },
      voucher: { voucherNo: voucher.voucherNo, debitTotal: '88.00' },
      archiveRecord: { archiveNo: record.archiveNo, retention: 'Y30' },
    };
    const masked = { ...full, applicant: { name: 'Alice', bankAccount: '***************0128' } };
    const expectations: Array<[string, Principal, unknown, string[]]> = [
      ['the applicant (EMPLOYEE)', org.as.alice, full, []],
      ['another EMPLOYEE of the department', org.as.bob, null, []],
      ['the MANAGER of the department', org.as.salesManager, masked, []],
      ['a MANAGER of another department', org.as.ceo, null, []],
      ['ACCOUNTANT', org.as.accountant, full, []],
      ['FINANCE_DIRECTOR', org.as.director, full, []],
      ['AUDITOR', org.as.auditor, masked, []],
      ['ARCHIVIST (no claim contents)', archivist, null, []],
      ['ADMIN (no business data)', ADMIN, null, []],
    ];
    for (const [who, principal, expected, codes] of expectations) {
      const result = await gw.run(principal, QUERY, { id: claim.id });
      expect({ who, data: result.data?.expenseClaim ?? null, codes: (result.errors ?? []).map((e) => e.extensions.code) }).toEqual({ who, data: expected, codes });
    }

    // The archive side seen directly: an archivist reads the record and voucher, a colleague of the applicant neither.
    const direct = 'query($v: ID!) { voucher(id: $v) { voucherNo archiveRecord { archiveNo } } }';
    expect((await gw.run(archivist, direct, { v: voucher.id })).data).toEqual({ voucher: { voucherNo: voucher.voucherNo, archiveRecord: { archiveNo: record.archiveNo } } });
    expect((await gw.run(org.as.bob, direct, { v: voucher.id })).data).toEqual({ voucher: null });
    // And the mutations only some roles may run.
    const generate = 'mutation($c: ApprovedClaimInput!) { generateVoucher(claim: $c) { id } }';
    const input = { c: { claimId: 'x', claimNo: 'BX-2026-999999', title: 't', category: 'TRAVEL', applicantId: 'a', departmentId: 'd', approvedAt: new Date().toISOString(), total: '1.00', items: [{ description: 'x', amount: '1.00', occurredOn: '2026-11-01' }] } };
    for (const principal of [org.as.accountant, archivist, ADMIN, org.as.director]) {
      expect((await gw.run(principal, generate, input)).errors?.map((e) => e.extensions.code)).toEqual(['FORBIDDEN']);
    }
  }, 90_000);
});

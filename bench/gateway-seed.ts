// The gateway benchmark's data, written through the subgraphs' own APIs (signed internal identities, as the gateway
// and the sync service call them): an organisation, and `claims` approved claims, each with its voucher and archive
// record.
import type { Principal } from '../platform/identity.ts';
import { call, signed } from './gateway-common.ts';

export async function seedGatewayBench(oaUrl: string, archiveUrl: string, claims: number): Promise<void> {
  const admin: Principal = { sub: 'admin', roles: ['ADMIN'], departmentId: null, kind: 'user' };
  const sync: Principal = { sub: 'sync-service', roles: [], departmentId: null, kind: 'service' };
  const dept = (await call(oaUrl, { query: 'mutation { createDepartment(input: { code: "SALES", name: "Sales" }) { id } }' }, signed(admin))).createDepartment as { id: string };
  const emp = async (no: string, roles: string[]) =>
    ((await call(oaUrl, { query: `mutation($i: CreateEmployeeInput!) { createEmployee(input: $i) { id } }`, variables: { i: { employeeNo: no, name: `Employee ${no}`, departmentId: dept.id, roles } } }, signed(admin))).createEmployee as { id: string }).id;
  const [alice, manager, accountant] = [await emp('B1', []), await emp('B2', ['MANAGER']), await emp('B3', ['ACCOUNTANT'])];
  await call(oaUrl, { query: 'mutation($d: ID!, $e: ID!) { setDepartmentManager(departmentId: $d, employeeId: $e) { id } }', variables: { d: dept.id, e: manager } }, signed(admin));
  const as = (sub: string, roles: Principal['roles']): Principal => ({ sub, roles, departmentId: dept.id, kind: 'user' });
  for (let i = 0; i < claims; i++) {
    const c = (await call(oaUrl, { query: `mutation { createExpenseClaim(input: { title: "Trip ${i}", category: TRAVEL, items: [{ description: "train", amount: "${i + 1}.00", occurredOn: "2026-11-01" }] }) { id claimNo } }` }, signed(as(alice, ['EMPLOYEE'])))).createExpenseClaim as { id: string; claimNo: string };
    await call(oaUrl, { query: 'mutation($id: ID!) { submitExpenseClaim(id: $id) { id } }', variables: { id: c.id } }, signed(as(alice, ['EMPLOYEE'])));
    await call(oaUrl, { query: 'mutation($id: ID!) { decideApproval(claimId: $id, decision: APPROVE) { id } }', variables: { id: c.id } }, signed(as(manager, ['MANAGER'])));
    await call(oaUrl, { query: 'mutation($id: ID!) { decideApproval(claimId: $id, decision: APPROVE) { id } }', variables: { id: c.id } }, signed(as(accountant, ['ACCOUNTANT'])));
    const v = (await call(archiveUrl, { query: 'mutation($c: ApprovedClaimInput!) { generateVoucher(claim: $c) { id } }', variables: { c: { claimId: c.id, claimNo: c.claimNo, title: `Trip ${i}`, category: 'TRAVEL', applicantId: alice, departmentId: dept.id, approvedAt: new Date().toISOString(), total: `${i + 1}.00`, items: [{ description: 'train', amount: `${i + 1}.00`, occurredOn: '2026-11-01' }] } } }, signed(sync, 'archive'))).generateVoucher as { id: string };
    await call(archiveUrl, { query: 'mutation($v: ID!) { fileVoucher(voucherId: $v) { id } }', variables: { v: v.id } }, signed(sync, 'archive'));
  }
}

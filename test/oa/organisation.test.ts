// Departments and employees: ADMIN only, validated, unique codes and numbers.
import { describe, expect, it } from 'vitest';
import { ADMIN, codes, ok, useOaSubgraph, user } from './fixture.ts';
import { seedOrg } from './seed.ts';

const oa = useOaSubgraph('oa_org');

const CREATE_EMP = `mutation($input: CreateEmployeeInput!) { createEmployee(input: $input) { id employeeNo roles phone bankAccount idNumber department { code } } }`;
const CREATE_DEPT = `mutation($input: CreateDepartmentInput!) { createDepartment(input: $input) { id code name parent { code } manager { id } } }`;

describe('organisation', () => {
  it('creates departments and employees for ADMIN only, with normalised sensitive fields', async () => {
    const dept = ok(await oa.gql<{ createDepartment: { id: string; code: string; parent: null } }>(ADMIN, CREATE_DEPT, { input: { code: 'FIN', name: 'Finance' } })).createDepartment;
    expect(dept.code).toBe('FIN');
    const emp = ok(
      await oa.gql<{ createEmployee: Record<string, unknown> }>(ADMIN, CREATE_EMP, {
        input: { employeeNo: 'F-001', name: 'Wang Fang', departmentId: dept.id, roles: ['ACCOUNTANT'], phone: '+86 138 0013 8000', bankAccount: '6222 0212 3456 7890 128', idNumber: '11010519491231002x' },
      }),
    ).createEmployee;
    expect(emp).toMatchObject({ employeeNo: 'F-001', roles: ['EMPLOYEE', 'ACCOUNTANT'], phone: '13800138000', bankAccount: '6222021234567890128', idNumber: '11010519491231002X', department: { code: 'FIN' } });
    const notAdmin = user(String(emp.id), ['EMPLOYEE', 'ACCOUNTANT'], dept.id);
    expect(codes(await oa.gql(notAdmin, CREATE_DEPT, { input: { code: 'X1', name: 'X' } }))).toEqual(['FORBIDDEN']);
    expect(codes(await oa.gql(notAdmin, CREATE_EMP, { input: { employeeNo: 'F-002', name: 'N', departmentId: dept.id } }))).toEqual(['FORBIDDEN']);
    const me = ok(await oa.gql<{ me: { employeeNo: string } }>(notAdmin, '{ me { employeeNo } }')).me;
    expect(me.employeeNo).toBe('F-001');
  });

  it('refuses malformed ID numbers, bank accounts, phones and e-mail with BAD_USER_INPUT naming the field', async () => {
    const dept = ok(await oa.gql<{ createDepartment: { id: string } }>(ADMIN, CREATE_DEPT, { input: { code: 'VAL', name: 'Validation' } })).createDepartment;
    const attempt = async (extra: Record<string, string>) => {
      const res = await oa.gql(ADMIN, CREATE_EMP, { input: { employeeNo: `V-${Object.keys(extra)[0]}`, name: 'V', departmentId: dept.id, ...extra } });
      return { codes: codes(res), field: (res.errors?.[0]?.extensions as { field?: string } | undefined)?.field };
    };
    expect(await attempt({ idNumber: '110105194912310021' })).toEqual({ codes: ['BAD_USER_INPUT'], field: 'idNumber' }); // wrong check digit
    expect(await attempt({ idNumber: '110105194902300026' })).toEqual({ codes: ['BAD_USER_INPUT'], field: 'idNumber' }); // 30 February
    expect(await attempt({ idNumber: '12345' })).toEqual({ codes: ['BAD_USER_INPUT'], field: 'idNumber' });
    expect(await attempt({ bankAccount: '6222021234567890123' })).toEqual({ codes: ['BAD_USER_INPUT'], field: 'bankAccount' }); // fails Luhn
    expect(await attempt({ bankAccount: '12-34' })).toEqual({ codes: ['BAD_USER_INPUT'], field: 'bankAccount' });
    expect(await attempt({ phone: '12345' })).toEqual({ codes: ['BAD_USER_INPUT'], field: 'phone' });
    expect(await attempt({ email: 'not-an-address' })).toEqual({ codes: ['BAD_USER_INPUT'], field: 'email' });
    expect(codes(await oa.gql(ADMIN, CREATE_EMP, { input: { employeeNo: 'V-9', name: 'V', departmentId: '0123456789abcdef01234567' } }))).toEqual(['BAD_USER_INPUT']);
  });

  it('answers CONFLICT for a duplicate department code or employee number', async () => {
    ok(await oa.gql(ADMIN, CREATE_DEPT, { input: { code: 'DUP', name: 'One' } }));
    expect(codes(await oa.gql(ADMIN, CREATE_DEPT, { input: { code: 'DUP', name: 'Two' } }))).toEqual(['CONFLICT']);
    const dept = ok(await oa.gql<{ createDepartment: { id: string } }>(ADMIN, CREATE_DEPT, { input: { code: 'DUP2', name: 'Three' } })).createDepartment;
    ok(await oa.gql(ADMIN, CREATE_EMP, { input: { employeeNo: 'D-1', name: 'A', departmentId: dept.id } }));
    expect(codes(await oa.gql(ADMIN, CREATE_EMP, { input: { employeeNo: 'D-1', name: 'B', departmentId: dept.id } }))).toEqual(['CONFLICT']);
  });

  it('resolves departments with their manager and parent, also as federated entities', async () => {
    const org = await seedOrg(oa, '-ent');
    const depts = ok(await oa.gql<{ departments: Array<{ id: string; code: string; manager: { id: string } | null; parent: { code: string } | null }> }>(org.as.alice, '{ departments { id code manager { id } parent { code } } }')).departments;
    const sales = depts.find((d) => d.id === org.sales)!;
    expect(sales).toEqual({ id: org.sales, code: 'SALES-ent', manager: { id: org.ids.salesManager }, parent: { code: 'HQ-ent' } });
    const refs = [{ __typename: 'Department', id: org.hq }, { __typename: 'Employee', id: org.ids.alice }, { __typename: 'Employee', id: 'nonsense' }];
    const entities = ok(await oa.gql<{ _entities: unknown[] }>(org.as.alice, 'query($r: [_Any!]!) { _entities(representations: $r) { ... on Department { code } ... on Employee { name } } }', { r: refs }))._entities;
    expect(entities).toEqual([{ code: 'HQ-ent' }, { name: 'Alice' }, null]);
  });

  it('lets an employee delegate approvals to a deputy for a period', async () => {
    const org = await seedOrg(oa, '-dlg');
    const start = new Date(Date.now() - 60_000).toISOString();
    const end = new Date(Date.now() + 86_400_000).toISOString();
    const d = ok(await oa.gql<{ delegateApprovals: { from: { id: string }; to: { id: string } } }>(org.as.salesManager, 'mutation($to: ID!, $s: DateTime!, $e: DateTime!) { delegateApprovals(toEmployeeId: $to, startsAt: $s, endsAt: $e) { from { id } to { id } } }', { to: org.ids.ceo, s: start, e: end })).delegateApprovals;
    expect(d).toEqual({ from: { id: org.ids.salesManager }, to: { id: org.ids.ceo } });
    expect(codes(await oa.gql(org.as.salesManager, 'mutation($to: ID!, $s: DateTime!, $e: DateTime!) { delegateApprovals(toEmployeeId: $to, startsAt: $s, endsAt: $e) { id } }', { to: org.ids.ceo, s: end, e: start }))).toEqual(['BAD_USER_INPUT']);
    const claim = ok(await oa.gql<{ createExpenseClaim: { id: string } }>(org.as.alice, `mutation { createExpenseClaim(input: { title: "t", category: MEALS, items: [{ description: "lunch", amount: "30.00", occurredOn: "2026-11-01" }] }) { id } }`)).createExpenseClaim;
    ok(await oa.gql(org.as.alice, 'mutation($id: ID!) { submitExpenseClaim(id: $id) { id } }', { id: claim.id }));
    const decided = ok(await oa.gql<{ decideApproval: { approval: { steps: Array<{ decisions: Array<{ approver: { id: string }; onBehalfOf: { id: string } | null }> }> } } }>(org.as.ceo, 'mutation($id: ID!) { decideApproval(claimId: $id, decision: APPROVE) { approval { steps { decisions { approver { id } onBehalfOf { id } } } } } }', { id: claim.id })).decideApproval;
    expect(decided.approval.steps[0].decisions).toEqual([{ approver: { id: org.ids.ceo }, onBehalfOf: { id: org.ids.salesManager } }]);
  });
});

describe('changing the organisation', () => {
  it('updates employees and departments for ADMIN, validating like creation and refusing cycles', async () => {
    const org = await seedOrg(oa, '-upd');
    const UPDATE_EMP = 'mutation($id: ID!, $input: UpdateEmployeeInput!) { updateEmployee(id: $id, input: $input) { name roles phone email department { id } } }';
    const moved = ok(await oa.gql<{ updateEmployee: Record<string, unknown> }>(ADMIN, UPDATE_EMP, { id: org.ids.bob, input: { departmentId: org.hq, roles: ['ACCOUNTANT'], phone: '13912345678' } })).updateEmployee;
    expect(moved).toEqual({ name: 'Bob', roles: ['EMPLOYEE', 'ACCOUNTANT'], phone: '13912345678', email: null, department: { id: org.hq } });
    const cleared = ok(await oa.gql<{ updateEmployee: Record<string, unknown> }>(ADMIN, UPDATE_EMP, { id: org.ids.bob, input: { phone: null } })).updateEmployee;
    expect(cleared.phone).toBeNull();
    expect(codes(await oa.gql(ADMIN, UPDATE_EMP, { id: org.ids.bob, input: { idNumber: '110105194912310021' } }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await oa.gql(org.as.alice, UPDATE_EMP, { id: org.ids.alice, input: { roles: ['ADMIN'] } }))).toEqual(['FORBIDDEN']);
    expect(codes(await oa.gql(ADMIN, UPDATE_EMP, { id: '0123456789abcdef01234567', input: { name: 'x' } }))).toEqual(['NOT_FOUND']);

    const UPDATE_DEPT = 'mutation($id: ID!, $input: UpdateDepartmentInput!) { updateDepartment(id: $id, input: $input) { name parent { id } } }';
    expect(codes(await oa.gql(ADMIN, UPDATE_DEPT, { id: org.hq, input: { parentId: org.sales } }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await oa.gql(ADMIN, UPDATE_DEPT, { id: org.hq, input: { parentId: org.hq } }))).toEqual(['BAD_USER_INPUT']);
    const renamed = ok(await oa.gql<{ updateDepartment: unknown }>(ADMIN, UPDATE_DEPT, { id: org.sales, input: { name: 'Sales & Marketing', parentId: null } })).updateDepartment;
    expect(renamed).toEqual({ name: 'Sales & Marketing', parent: null });
  });
});

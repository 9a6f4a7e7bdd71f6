// A small organisation: head office above sales, and one employee per role.
import type { Role } from '../../platform/identity.ts';
import { ADMIN, type OaFixture, ok, user } from './fixture.ts';

export interface Org {
  hq: string;
  sales: string;
  ids: Record<'ceo' | 'salesManager' | 'alice' | 'bob' | 'accountant' | 'director' | 'auditor' | 'outsider', string>;
  as: Record<keyof Org['ids'], ReturnType<typeof user>>;
}

const CREATE_DEPT = `mutation($input: CreateDepartmentInput!) { createDepartment(input: $input) { id code } }`;
const CREATE_EMP = `mutation($input: CreateEmployeeInput!) { createEmployee(input: $input) { id employeeNo roles } }`;
const SET_MANAGER = `mutation($d: ID!, $e: ID!) { setDepartmentManager(departmentId: $d, employeeId: $e) { id manager { id } } }`;

export async function seedOrg(oa: OaFixture, suffix = ''): Promise<Org> {
  const dept = async (code: string, name: string, parentId?: string) =>
    ok(await oa.gql<{ createDepartment: { id: string } }>(ADMIN, CREATE_DEPT, { input: { code: code + suffix, name, parentId } })).createDepartment.id;
  const hq = await dept('HQ', 'Head office');
  const sales = await dept('SALES', 'Sales', hq);
  const other = await dept('OPS', 'Operations', hq);
  const emp = async (no: string, name: string, departmentId: string, roles: Role[] = []) =>
    ok(await oa.gql<{ createEmployee: { id: string } }>(ADMIN, CREATE_EMP, { input: { employeeNo: no + suffix, name, departmentId, roles } })).createEmployee.id;
  const ids = {
    ceo: await emp('E001', 'Chen CEO', hq, ['MANAGER']),
    salesManager: await emp('E002', 'Sun Manager', sales, ['MANAGER']),
    alice: await emp('E003', 'Alice', sales),
    bob: await emp('E004', 'Bob', sales),
    accountant: await emp('E005', 'Kuai Accountant', hq, ['ACCOUNTANT']),
    director: await emp('E006', 'Cai Director', hq, ['FINANCE_DIRECTOR']),
    auditor: await emp('E007', 'Shen Auditor', hq, ['AUDITOR']),
    outsider: await emp('E008', 'Olga Ops', other),
  };
  ok(await oa.gql(ADMIN, SET_MANAGER, { d: hq, e: ids.ceo }));
  ok(await oa.gql(ADMIN, SET_MANAGER, { d: sales, e: ids.salesManager }));
  const as = {
    ceo: user(ids.ceo, ['EMPLOYEE', 'MANAGER'], hq),
    salesManager: user(ids.salesManager, ['EMPLOYEE', 'MANAGER'], sales),
    alice: user(ids.alice, ['EMPLOYEE'], sales),
    bob: user(ids.bob, ['EMPLOYEE'], sales),
    accountant: user(ids.accountant, ['EMPLOYEE', 'ACCOUNTANT'], hq),
    director: user(ids.director, ['EMPLOYEE', 'FINANCE_DIRECTOR'], hq),
    auditor: user(ids.auditor, ['EMPLOYEE', 'AUDITOR'], hq),
    outsider: user(ids.outsider, ['EMPLOYEE'], other),
  };
  return { hq, sales, ids, as };
}

export const CREATE_CLAIM = `mutation($input: CreateExpenseClaimInput!) {
  createExpenseClaim(input: $input) { id claimNo status total items { description amount occurredOn invoiceNo } applicant { id } department { id } }
}`;
export const SUBMIT = `mutation($id: ID!) { submitExpenseClaim(id: $id) { id status submittedAt approval { status steps { name mode status assignees { id } } } } }`;
export const DECIDE = `mutation($id: ID!, $d: Decision!, $c: String) { decideApproval(claimId: $id, decision: $d, comment: $c) { id status approvedAt approval { status steps { name status decisions { approver { id } decision comment } } } } }`;
export const WITHDRAW = `mutation($id: ID!) { withdrawExpenseClaim(id: $id) { id status } }`;

export const item = (amount: string, invoiceNo?: string, occurredOn = '2026-11-01') => ({ description: `item ${amount}`, amount, occurredOn, invoiceNo });

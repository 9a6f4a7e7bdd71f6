// The steps of `npm run seed` (scripts/seed.ts), each through the public API as the person who would take it:
// the organisation (as a setup administrator), claims filed, approved, rejected and withdrawn by their people,
// the sync pipeline's filings awaited, a loan borrowed and handed out, and an alert the monitor opens.
import { addDays } from '../../platform/input-bounds.ts';
import type { Role } from '../../platform/identity.ts';
import { type Api, type Caller, SeedError, waitFor } from './api.ts';
import { demoIdentity } from './identities.ts';
import { CLAIMS, DEPARTMENTS, type DemoClaim, type DepartmentKey, LOAN, PEOPLE, PROBE, type PersonKey, ROOT_CODE } from './organisation.ts';

/** Creates the organisation before any administrator exists in it (the gateway takes the token's roles). */
export const SETUP: Caller = { sub: 'demo-seed', roles: ['ADMIN'] };
/** Reads what a second seed must find: every claim, with its applicant. */
const SURVEY: Caller = { sub: 'demo-seed', roles: ['AUDITOR'] };

export interface Member {
  key: PersonKey;
  id: string;
  employeeNo: string;
  name: string;
  roles: Role[];
  departmentId: string;
}

export interface Organisation {
  departments: Map<DepartmentKey, { id: string; name: string }>;
  people: Map<PersonKey, Member>;
}

/** A person acting: the directory gives their roles. */
export const as = (org: Organisation, key: PersonKey): Caller => ({ sub: org.people.get(key)!.id, roles: [] });

const EMPLOYEE_FIELDS = 'id employeeNo name roles department { id }';
type EmployeeAnswer = { id: string; employeeNo: string; name: string; roles: Role[]; department: { id: string } };
type DepartmentAnswer = { id: string; code: string; name: string; manager: EmployeeAnswer | null };

async function departmentsByCode(api: Api): Promise<Map<string, DepartmentAnswer>> {
  const { departments } = await api.call<{ departments: DepartmentAnswer[] }>(SETUP, 'reading the departments', `query DemoDepartments { departments { id code name manager { ${EMPLOYEE_FIELDS} } } }`);
  return new Map(departments.map((d) => [d.code, d]));
}

const member = (key: PersonKey, e: EmployeeAnswer): Member => ({ key, id: e.id, employeeNo: e.employeeNo, name: e.name, roles: e.roles, departmentId: e.department.id });

/** The demo organisation when its top department exists (its people found as managers and applicants), else null. */
export async function findOrganisation(api: Api): Promise<Organisation | null> {
  const byCode = await departmentsByCode(api);
  if (!byCode.has(ROOT_CODE)) return null;
  const incomplete = (what: string) =>
    new SeedError(`the demo organisation (department ${ROOT_CODE}) is incomplete: ${what} is missing, so an earlier seed stopped part-way; seed an empty system (a new DATA_DIR) instead`);
  const departments = new Map<DepartmentKey, { id: string; name: string }>();
  const found = new Map<string, EmployeeAnswer>();
  for (const d of DEPARTMENTS) {
    const answer = byCode.get(d.code);
    if (!answer) throw incomplete(`department ${d.code}`);
    departments.set(d.key, { id: answer.id, name: answer.name });
    if (answer.manager) found.set(answer.manager.employeeNo, answer.manager);
  }
  for (const c of await listClaims(api, departments.get('hq')!.id)) found.set(c.applicant.employeeNo, c.applicant);
  const people = new Map<PersonKey, Member>();
  for (const p of PEOPLE) {
    const e = found.get(p.employeeNo);
    if (!e) throw incomplete(`employee ${p.employeeNo} (${p.name})`);
    people.set(p.key, member(p.key, e));
  }
  return { departments, people };
}

export async function createOrganisation(api: Api): Promise<Organisation> {
  const departments = new Map<DepartmentKey, { id: string; name: string }>();
  for (const d of DEPARTMENTS) {
    const parentId = d.parent ? departments.get(d.parent)!.id : null;
    const { createDepartment } = await api.call<{ createDepartment: { id: string; name: string } }>(SETUP, `creating department ${d.code}`, `mutation DemoDepartment($input: CreateDepartmentInput!) { createDepartment(input: $input) { id name } }`, {
      input: { code: d.code, name: d.name, parentId },
    });
    departments.set(d.key, createDepartment);
  }
  const people = new Map<PersonKey, Member>();
  for (const [index, p] of PEOPLE.entries()) {
    const { idNumber, bankAccount, phone } = demoIdentity(index, p);
    const email = `${p.pinyin.toLowerCase().replace(' ', '.')}@example.com`;
    const { createEmployee } = await api.call<{ createEmployee: EmployeeAnswer }>(SETUP, `creating employee ${p.employeeNo}`, `mutation DemoEmployee($input: CreateEmployeeInput!) { createEmployee(input: $input) { ${EMPLOYEE_FIELDS} } }`, {
      input: { employeeNo: p.employeeNo, name: p.name, departmentId: departments.get(p.department)!.id, roles: p.roles, email, phone, bankAccount, idNumber },
    });
    people.set(p.key, member(p.key, createEmployee));
  }
  for (const d of DEPARTMENTS) {
    await api.call(SETUP, `making ${d.manager} manager of ${d.code}`, `mutation DemoManager($d: ID!, $e: ID!) { setDepartmentManager(departmentId: $d, employeeId: $e) { id } }`, {
      d: departments.get(d.key)!.id,
      e: people.get(d.manager)!.id,
    });
  }
  return { departments, people };
}

export interface ClaimView {
  id: string;
  claimNo: string;
  title: string;
  status: string;
  applicant: EmployeeAnswer;
  voucher: { voucherNo: string } | null;
  archiveRecord: { id: string; archiveNo: string } | null;
}

/** Every claim of the organisation (the demo files a few dozen at most). */
export async function listClaims(api: Api, hqId: string): Promise<ClaimView[]> {
  const { expenseClaims } = await api.call<{ expenseClaims: { edges: { node: ClaimView }[] } }>(
    SURVEY,
    'listing the claims',
    `query DemoClaims($hq: ID!) { expenseClaims(filter: { departmentId: $hq, includeSubdepartments: true }, first: 1000) {
      edges { node { id claimNo title status applicant { ${EMPLOYEE_FIELDS} } voucher { voucherNo } archiveRecord { id archiveNo } } } } }`,
    { hq: hqId },
  );
  return expenseClaims.edges.map((e) => e.node);
}

export interface CreatedClaim {
  key: string;
  id: string;
  claimNo: string;
  status: string;
}

type ApprovalAnswer = { expenseClaim: { status: string; approval: { steps: { name: string; status: string; assignees: { id: string }[] }[] } | null } };

/** One decision on the claim's current step, by the first demo person assigned to it. */
async function decide(api: Api, org: Organisation, c: DemoClaim, id: string, decision: 'APPROVE' | 'REJECT', comment?: string): Promise<string> {
  const { expenseClaim } = await api.call<ApprovalAnswer>(as(org, c.applicant), `reading claim ${c.key}`, `query DemoApproval($id: ID!) { expenseClaim(id: $id) { status approval { steps { name status assignees { id } } } } }`, { id });
  const step = expenseClaim.approval?.steps.find((s) => s.status === 'ACTIVE');
  const approver = step && [...org.people.values()].find((m) => step.assignees.some((a) => a.id === m.id));
  if (!step || !approver) throw new SeedError(`claim ${c.key} has no step a demo person can decide (${step ? `"${step.name}" is assigned to others` : `status ${expenseClaim.status}`})`);
  const { decideApproval } = await api.call<{ decideApproval: { status: string } }>(as(org, approver.key), `deciding claim ${c.key}`, `mutation DemoDecide($id: ID!, $d: Decision!, $c: String) { decideApproval(claimId: $id, decision: $d, comment: $c) { status } }`, {
    id,
    d: decision,
    c: comment ?? null,
  });
  return decideApproval.status;
}

/** Files every claim of the plan and takes it to its outcome. `stamp` makes the invoice numbers of this run unique. */
export async function createClaims(api: Api, org: Organisation, today: string, stamp: string): Promise<CreatedClaim[]> {
  const created: CreatedClaim[] = [];
  let invoice = 0;
  for (const c of CLAIMS) {
    const items = c.items.map((i) => ({ description: i.description, amount: i.amount, occurredOn: addDays(today, -i.daysAgo), invoiceNo: i.invoice ? `${stamp}${String(++invoice).padStart(8, '0')}` : null }));
    const applicant = as(org, c.applicant);
    const { createExpenseClaim: claim } = await api.call<{ createExpenseClaim: { id: string; claimNo: string; status: string } }>(applicant, `filing claim ${c.key}`, `mutation DemoClaim($input: CreateExpenseClaimInput!) { createExpenseClaim(input: $input) { id claimNo status } }`, {
      input: { title: c.title, category: c.category, items },
    });
    let status = claim.status;
    const o = c.outcome;
    if (o.status !== 'DRAFT') {
      status = (await api.call<{ submitExpenseClaim: { status: string } }>(applicant, `submitting claim ${c.key}`, `mutation DemoSubmit($id: ID!) { submitExpenseClaim(id: $id) { status } }`, { id: claim.id })).submitExpenseClaim.status;
    }
    if (o.status === 'WITHDRAWN') {
      status = (await api.call<{ withdrawExpenseClaim: { status: string } }>(applicant, `withdrawing claim ${c.key}`, `mutation DemoWithdraw($id: ID!) { withdrawExpenseClaim(id: $id) { status } }`, { id: claim.id })).withdrawExpenseClaim.status;
    }
    // A route without the director's step (a higher EXPENSE_APPROVAL_THRESHOLD) approves sooner: the loop stops there.
    const approvals = o.status === 'APPROVED' ? Infinity : o.status === 'SUBMITTED' || o.status === 'REJECTED' ? o.approvals : 0;
    for (let n = 0; n < approvals && status === 'SUBMITTED'; n++) status = await decide(api, org, c, claim.id, 'APPROVE');
    if (o.status === 'REJECTED' && status === 'SUBMITTED') status = await decide(api, org, c, claim.id, 'REJECT', o.comment);
    created.push({ key: c.key, id: claim.id, claimNo: claim.claimNo, status });
  }
  return created;
}

/** Waits until the sync pipeline has made a voucher and a filed archive record of every approved claim. */
export async function waitForFilings(api: Api, org: Organisation, approved: readonly string[], deadline: number, waitSeconds: number): Promise<ClaimView[]> {
  let filed = 0;
  return waitFor(
    async () => {
      const claims = (await listClaims(api, org.departments.get('hq')!.id)).filter((c) => approved.includes(c.id));
      const done = claims.filter((c) => c.voucher && c.archiveRecord);
      filed = done.length;
      return done.length === approved.length ? done : null;
    },
    deadline,
    () => `only ${filed} of ${approved.length} approved claims were filed as vouchers and archive records within ${waitSeconds} s: look at the sync service in npm start's log (or syncJobs in the console); npm run seed again prints the tokens`,
  );
}

export type LoanOutcome = { loan: { id: string; status: string; archiveNo: string; until: string } } | { skipped: string };

type LoanAnswer = { id: string; status: string; archiveNo: string; until: string; approvalSteps: { key: string; status: string; assigneeIds: string[] }[] };
const LOAN_FIELDS = 'id status archiveNo until approvalSteps { key status assigneeIds }';

/** The borrower's open loan of the demo, if any. */
export async function findLoan(api: Api, org: Organisation): Promise<LoanAnswer | null> {
  const { loans } = await api.call<{ loans: { edges: { node: LoanAnswer }[] } }>(as(org, 'sun'), 'reading loans', `query DemoLoans($b: ID!) { loans(borrowerId: $b, first: 50) { edges { node { ${LOAN_FIELDS} } } } }`, {
    b: org.people.get(LOAN.borrower)!.id,
  });
  return loans.edges.map((e) => e.node).find((l) => l.status !== 'REJECTED' && l.status !== 'RETURNED') ?? null;
}

/** The borrower asks for the record, the demo's approvers approve, the archivist hands it out: ON_LOAN. */
export async function borrowRecord(api: Api, org: Organisation, recordId: string, today: string, financeDepartmentHint: string): Promise<LoanOutcome> {
  const asked = await api.raw<{ requestLoan: LoanAnswer }>(as(org, LOAN.borrower), `mutation DemoLoan($input: LoanRequestInput!) { requestLoan(input: $input) { ${LOAN_FIELDS} } }`, {
    input: { recordId, purpose: LOAN.purpose, from: today, until: addDays(today, LOAN.days) },
  });
  const refusal = asked.errors?.[0];
  if (refusal?.extensions?.code === 'CONFLICT' && /finance department/.test(refusal.message)) {
    return { skipped: `borrowing needs the finance department configured: restart the system with FINANCE_DEPARTMENT_ID=${financeDepartmentHint} and run npm run seed again to add the loan` };
  }
  if (refusal || !asked.data) throw new SeedError(`requesting the loan failed: ${refusal ? `${refusal.extensions?.code ?? 'ERROR'}: ${refusal.message}` : `HTTP ${asked.status}`}`);
  let loan = asked.data.requestLoan;
  for (let n = 0; n < 5 && loan.status === 'REQUESTED'; n++) {
    const step = loan.approvalSteps.find((s) => s.status === 'ACTIVE');
    const approver = step && [...org.people.values()].find((m) => step.assigneeIds.includes(m.id));
    if (!step || !approver) return { skipped: `the loan of ${loan.archiveNo} waits for step ${step?.key ?? '?'}, which no demo person may decide (is FINANCE_DEPARTMENT_ID another department?)` };
    loan = (await api.call<{ decideLoan: LoanAnswer }>(as(org, approver.key), 'approving the loan', `mutation DemoDecideLoan($id: ID!) { decideLoan(id: $id, decision: APPROVE) { ${LOAN_FIELDS} } }`, { id: loan.id })).decideLoan;
  }
  if (loan.status === 'APPROVED') {
    loan = (await api.call<{ startLoan: LoanAnswer }>(as(org, 'sun'), 'handing the loan out', `mutation DemoStartLoan($id: ID!) { startLoan(id: $id) { ${LOAN_FIELDS} } }`, { id: loan.id })).startLoan;
  }
  return { loan };
}

export type AlertOutcome = { alert: { id: string; rule: string; severity: string; message: string } } | { skipped: string };

/**
 * The PROBING rule, as an operator meets it: an employee's script polls systemStatus with her own token, which may
 * not read it, `threshold` times within the rule's window; the monitor (every ALERT_INTERVAL_MS) opens an alert on
 * her. It closes by itself once the refusals have left the window (closeAfterMs later).
 */
export async function raiseProbingAlert(api: Api, org: Organisation, deadline: number, waitSeconds: number): Promise<AlertOutcome> {
  const auditor = as(org, 'zhou');
  const { alertRules } = await api.call<{ alertRules: { rule: string; enabled: boolean; threshold: number | null }[] }>(auditor, 'reading the alert rules', `query DemoRules { alertRules { rule enabled threshold } }`);
  const rule = alertRules.find((r) => r.rule === 'PROBING');
  if (!rule?.enabled) return { skipped: 'the PROBING alert rule is disabled (ALERT_RULES)' };
  const times = Math.max(1, Math.ceil(rule.threshold ?? 20));
  if (times > 200) return { skipped: `the PROBING rule's threshold is ${times} refusals; the seed sends at most 200` };
  const prober = as(org, PROBE.person);
  for (let i = 0; i < times; i++) {
    const answer = await api.raw(prober, PROBE.query);
    const code = answer.errors?.[0]?.extensions?.code;
    if (code !== 'FORBIDDEN') throw new SeedError(`expected the gateway to refuse ${org.people.get(PROBE.person)!.name} systemStatus (FORBIDDEN), got ${code ?? 'an answer'}`);
  }
  const subject = `actor:${prober.sub}`;
  const alert = await waitFor(
    async () => {
      const { alerts } = await api.call<{ alerts: { id: string; rule: string; severity: string; message: string; subject: string | null }[] }>(auditor, 'reading alerts', `query DemoAlerts { alerts(status: OPEN, first: 100) { id rule severity message subject } }`);
      return alerts.find((a) => a.rule === 'PROBING' && a.subject === subject) ?? null;
    },
    deadline,
    () => `the alert monitor opened no PROBING alert within ${waitSeconds} s (its rules run every ALERT_INTERVAL_MS, default 30 s, in the sync service); everything else is in place: npm run seed again prints the tokens`,
    1000,
  );
  return { alert };
}

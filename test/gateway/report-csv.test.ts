// The reports as CSV (issue 16 §4): GET /reports/<name>.csv on a real gateway over HTTP, with a bearer JWT and with an
// API key. The file is read by a spreadsheet library (SheetJS), and its cells must equal the GraphQL answer to the same
// report, cell by cell; a department named like a formula comes out neutralised.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as XLSX from 'xlsx';
import { ADMIN, ok } from '../oa/fixture.ts';
import { CREATE_CLAIM, DECIDE, type Org, SUBMIT } from '../oa/seed.ts';
import { type Stack, approvedClaim, seed, startStack } from '../sync/stack.ts';

const FORMULA_NAME = '=HYPERLINK("http://evil.example","报销")';
const PERIOD = 'from=2020-01-01&to=2029-12-31';
const REPORT = `query($dimensions: [ReportDimension!]!, $from: Date!, $to: Date!, $timeZone: String) {
  expenseReport(dimensions: $dimensions, from: $from, to: $to, timeZone: $timeZone) {
    rows { ...R } subtotals { ...R } grandTotal { ...R }
  }
}
fragment R on ExpenseReportRow { rowType level cells { dimension key label } count total }`;
const WAITS = `query($from: Date!, $to: Date!) { approvalWaitTimes(groupBy: STEP_AND_APPROVER, from: $from, to: $to) { stepKey stepName approverId approverName count waitAvgMs waitP50Ms waitP95Ms waitMaxMs } }`;

interface Row {
  rowType: string;
  level: number;
  cells: { dimension: string; key: string | null; label: string | null }[];
  count: number;
  total: string;
}

let stack: Stack;
let org: Org;
let base: string;
let accountant: string;
let reportsKey: string;
let claimsKey: string;
let formulaDept: string;

async function createKey(admin: string, scopes: string[]): Promise<string> {
  const r = await stack.gql<{ createApiKey: { key: string } }>(admin, `mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { key } }`, { input: { name: `bi ${scopes.join(' ')}`, scopes } });
  expect(r.errors).toBeUndefined();
  return r.data!.createApiKey.key;
}

beforeAll(async () => {
  stack = await startStack({ label: 'report_csv' });
  org = await seed(stack);
  base = stack.gateways[0].url.replace(/\/graphql$/, '');
  formulaDept = ok(await stack.oa.gql<{ createDepartment: { id: string } }>(ADMIN, `mutation($input: CreateDepartmentInput!) { createDepartment(input: $input) { id } }`, { input: { code: 'EVIL', name: FORMULA_NAME } })).createDepartment.id;
  const evil = ok(await stack.oa.gql<{ createEmployee: { id: string } }>(ADMIN, `mutation($input: CreateEmployeeInput!) { createEmployee(input: $input) { id } }`, { input: { employeeNo: 'X001', name: '+Mallory', departmentId: formulaDept } })).createEmployee.id;
  const mallory = { sub: evil, roles: ['EMPLOYEE' as const], departmentId: formulaDept, kind: 'user' as const };
  const claim = ok(await stack.oa.gql<{ createExpenseClaim: { id: string } }>(mallory, CREATE_CLAIM, { input: { title: 't', category: 'MEALS', items: [{ description: 'd', amount: '42.42', occurredOn: '2026-09-01' }] } })).createExpenseClaim;
  expect(claim.id).toBeTruthy(); // a draft: its department has no manager to route it to
  await approvedClaim(stack, org, '100.10');
  await approvedClaim(stack, org, '0.05');
  const rejected = ok(await stack.oa.gql<{ createExpenseClaim: { id: string } }>(org.as.bob, CREATE_CLAIM, { input: { title: 't', category: 'OFFICE', items: [{ description: 'd', amount: '7.00', occurredOn: '2026-09-01' }] } })).createExpenseClaim;
  ok(await stack.oa.gql(org.as.bob, SUBMIT, { id: rejected.id }));
  ok(await stack.oa.gql(org.as.salesManager, DECIDE, { id: rejected.id, d: 'REJECT' }));
  accountant = await stack.token(org.ids.accountant);
  const admin = await stack.token('ops-admin', ['ADMIN']);
  reportsKey = await createKey(admin, ['REPORTS_READ']);
  claimsKey = await createKey(admin, ['CLAIMS_READ']);
}, 60_000);
afterAll(async () => stack?.close());

const get = (path: string, authorization?: string, method = 'GET') => fetch(base + path, { method, headers: authorization ? { authorization } : {} });

/** The file as a spreadsheet reads it: every cell as text, exactly as written. */
function sheet(bytes: Buffer): string[][] {
  const book = XLSX.read(bytes, { type: 'buffer', raw: true });
  return XLSX.utils.sheet_to_json<string[]>(book.Sheets[book.SheetNames[0]], { header: 1, raw: false, defval: '' });
}

/** What a cell of user-entered text must read: with a leading apostrophe when a spreadsheet would take it for a formula. */
const neutral = (s: string | null) => (s === null ? '' : /^[=+\-@\t\r]/.test(s) ? `'${s}` : s);

async function csvOf(path: string, authorization: string): Promise<{ res: Response; bytes: Buffer }> {
  const res = await get(path, authorization);
  return { res, bytes: Buffer.from(await res.arrayBuffer()) };
}

describe('GET /reports/expense-summary.csv', () => {
  const path = `/reports/expense-summary.csv?dimensions=DEPARTMENT,STATUS,MONTH&${PERIOD}&timeZone=Asia/Shanghai`;
  const vars = { dimensions: ['DEPARTMENT', 'STATUS', 'MONTH'], from: '2020-01-01', to: '2029-12-31', timeZone: 'Asia/Shanghai' };
  const expectedSheet = (report: { rows: Row[]; subtotals: Row[]; grandTotal: Row }) => [
    ['row_type', 'level', 'department_id', 'department_name', 'status', 'month', 'count', 'total'],
    ...[...report.rows, ...report.subtotals, report.grandTotal].map((r) => [
      r.rowType,
      String(r.level),
      r.cells[0].key ?? '',
      neutral(r.cells[0].label),
      r.cells[1].key ?? '',
      r.cells[2].key ?? '',
      String(r.count),
      r.total,
    ]),
  ];

  for (const [how, auth] of [
    ['a bearer token', () => `Bearer ${accountant}`],
    ['an API key with reports:read', () => `ApiKey ${reportsKey}`],
  ] as const) {
    it(`answers ${how} with a CSV a spreadsheet reads as the GraphQL answer`, async () => {
      const { res, bytes } = await csvOf(path, auth());
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
      expect(res.headers.get('content-disposition')).toBe('attachment; filename="expense-summary_2020-01-01_2029-12-31.csv"');
      expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
      const text = bytes.subarray(3).toString('utf8');
      expect(text.split('\r\n')[0]).toBe('row_type,level,department_id,department_name,status,month,count,total');
      expect(text.replace(/\r\n/g, '')).not.toMatch(/\n/);
      const graphql = await fetch(stack.gateways[0].url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: auth() }, body: JSON.stringify({ query: REPORT, variables: vars }) });
      const answer = (await graphql.json()) as { data: { expenseReport: { rows: Row[]; subtotals: Row[]; grandTotal: Row } }; errors?: unknown };
      expect(answer.errors).toBeUndefined();
      const cells = sheet(bytes);
      expect(cells).toEqual(expectedSheet(answer.data.expenseReport));
      // The claims made above: 42.42 a draft, 100.10 and 0.05 approved, 7.00 rejected.
      expect(cells.at(-1)).toEqual(['TOTAL', '0', '', '', '', '', '4', '149.57']);
      // The department named like a formula: text with an apostrophe in front, never a formula.
      const evil = cells.filter((r) => r[2] === formulaDept);
      expect(evil.length).toBeGreaterThan(0);
      for (const r of evil) expect(r[3]).toBe(`'${FORMULA_NAME}`);
      expect(text).not.toMatch(/,=HYPERLINK/);
    });
  }

  it('counts an employee’s own claims only', async () => {
    const { res, bytes } = await csvOf(`/reports/expense-summary.csv?dimensions=EMPLOYEE&${PERIOD}`, `Bearer ${await stack.token(org.ids.alice)}`);
    expect(res.status).toBe(200);
    expect(sheet(bytes)).toEqual([
      ['row_type', 'level', 'employee_id', 'employee_name', 'count', 'total'],
      ['DETAIL', '1', org.ids.alice, 'Alice', '2', '100.15'],
      ['TOTAL', '0', '', '', '2', '100.15'],
    ]);
  });

  it('refuses the unauthenticated (401), a key without reports:read (403) and other methods (405)', async () => {
    const anonymous = await get(path);
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { errors: { extensions: { code: string } }[] }).errors[0].extensions.code).toBe('UNAUTHENTICATED');
    expect((await get(path, 'Bearer not.a.token')).status).toBe(401);
    const claimsOnly = await get(path, `ApiKey ${claimsKey}`);
    expect(claimsOnly.status).toBe(403);
    expect(((await claimsOnly.json()) as { errors: { extensions: { code: string } }[] }).errors[0].extensions.code).toBe('FORBIDDEN');
    const post = await get(path, `Bearer ${accountant}`, 'POST');
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET');
    expect((await get('/reports/nothing.csv', `Bearer ${accountant}`)).status).toBe(404);
  });

  it('answers a bad argument with 400 naming it, as JSON without internals', async () => {
    const cases: Array<[string, string | RegExp]> = [
      [`dimensions=DEPARTMENT,CATEGORY,MONTH,STATUS&${PERIOD}`, 'dimensions'],
      [`dimensions=MONTH,MONTH&${PERIOD}`, 'dimensions'],
      [`dimensions=MONTH&${PERIOD}&timeZone=Mars/Olympus`, 'timeZone'],
      [`dimensions=MONTH&from=2019-12-31&to=2029-12-31`, 'to'],
      [`dimensions=MONTH&${PERIOD}&colour=red`, 'colour'],
      [`dimensions=MONTH&${PERIOD}&from=2021-01-01`, 'from'],
      [`dimensions=SIZE&${PERIOD}`, /dimensions/],
    ];
    for (const [query, field] of cases) {
      const res = await get(`/reports/expense-summary.csv?${query}`, `Bearer ${accountant}`);
      expect(res.status, query).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const body = (await res.json()) as { errors: { message: string; extensions: { code: string; field?: string } }[] };
      expect(body.errors[0].extensions.code, query).toBe('BAD_USER_INPUT');
      if (typeof field === 'string') expect(body.errors[0].extensions.field ?? body.errors[0].message, query).toContain(field);
      else expect(body.errors[0].message, query).toMatch(field);
      expect(JSON.stringify(body)).not.toMatch(/stack|at .*\.ts/);
    }
  });
});

describe('GET /reports/approval-wait-times.csv', () => {
  it('equals the GraphQL answer, per step and approver', async () => {
    const { res, bytes } = await csvOf(`/reports/approval-wait-times.csv?groupBy=STEP_AND_APPROVER&${PERIOD}`, `Bearer ${accountant}`);
    expect(res.status).toBe(200);
    const answer = await stack.gql<{ approvalWaitTimes: Array<Record<string, string | number | null>> }>(accountant, WAITS, { from: '2020-01-01', to: '2029-12-31' });
    expect(answer.errors).toBeUndefined();
    const rows = answer.data!.approvalWaitTimes;
    // Three decided steps of two approved claims and one rejected: manager (twice + the rejection) and finance (twice).
    expect(rows.map((r) => [r.stepKey, r.count])).toEqual([
      ['manager', 3],
      ['finance', 2],
    ]);
    expect(sheet(bytes)).toEqual([
      ['step_key', 'step_name', 'approver_id', 'approver_name', 'count', 'wait_avg_ms', 'wait_p50_ms', 'wait_p95_ms', 'wait_max_ms'],
      ...rows.map((r) => [r.stepKey, r.stepName, r.approverId, neutral(r.approverName as string), r.count, r.waitAvgMs, r.waitP50Ms, r.waitP95Ms, r.waitMaxMs].map((v) => (v === null ? '' : String(v)))),
    ]);
  });
});

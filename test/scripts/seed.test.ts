// `npm run seed` against the real stack: the demo organisation, claims in every status with their filings, an open
// alert and working tokens for every role, all seen through the API as the console sees it; the loan once borrowing
// is configured; a run over a seeded system creates nothing.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLES } from '../../platform/identity.ts';
import { today } from '../../platform/graphql.ts';
import { addDays } from '../../platform/input-bounds.ts';
import { CLAIMS, PEOPLE, PROBE, ROLE_HOLDERS, ROOT_CODE } from '../../scripts/demo/organisation.ts';
import { type SeedResult, seed } from '../../scripts/seed.ts';
import { validBankAccount, validIdNumber } from '../../subgraphs/oa/validation.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { JWT_SECRET, type Stack, startStack } from '../sync/stack.ts';

const run = promisify(execFile);
let stack: Stack;
const env = { ...process.env, NODE_ENV: 'development', JWT_SECRET, BUSINESS_TIMEZONE: 'Asia/Shanghai', JWT_MAX_TTL: '24h' };
const cli = (...args: string[]) => run(process.execPath, ['--import', 'tsx', 'scripts/seed.ts', ...args], { env, timeout: 90_000 });

beforeAll(async () => {
  // The monitor evaluates every second here (ALERT_INTERVAL_MS is 30 s by default).
  stack = await startStack({ label: 'seed', console: true, sync: { alertIntervalMs: 1000 } });
});
afterAll(async () => {
  await stack?.close();
});

const gql = async <T>(token: string, query: string, variables?: Record<string, unknown>): Promise<T> => {
  const res = await stack.gql<T>(token, query, variables);
  expect(res.errors).toBeUndefined();
  return res.data!;
};

/** What the seed may not create twice. */
const counts = async () =>
  Object.fromEntries(
    await Promise.all(['departments', 'employees', 'expense_claims', 'vouchers', 'archive_records', 'archive_loans'].map(async (c) => [c, await stack.connection.collection(c).countDocuments()] as const)),
  );

type Claim = { status: string; title: string; total: string; applicant: { id: string }; approval: { steps: { name: string; status: string }[] } | null; voucher: { voucherNo: string } | null; archiveRecord: { archiveNo: string; status: string } | null };

describe('npm run seed', () => {
  let first: SeedResult;
  const printed: string[] = [];
  let hq: string;
  let finance: string;

  it('creates the demo organisation, claims in every status, their vouchers and records, and an open alert', async () => {
    first = await seed({ gateway: stack.gateways[0].url, jwtSecret: JWT_SECRET, waitSeconds: 60, print: (line) => printed.push(line) });
    expect(first.created).toBe(true);
    const auditor = first.tokens.AUDITOR;
    const { departments } = await gql<{ departments: { id: string; code: string }[] }>(auditor, `{ departments { id code } }`);
    hq = departments.find((d) => d.code === ROOT_CODE)!.id;
    finance = departments.find((d) => d.code === 'DEMO-FIN')!.id;
    expect(departments.filter((d) => d.code.startsWith('DEMO-'))).toHaveLength(6);

    const claims = (
      await gql<{ expenseClaims: { edges: { node: Claim }[] } }>(
        auditor,
        `query($hq: ID!) { expenseClaims(filter: { departmentId: $hq, includeSubdepartments: true }, first: 100) { edges { node {
          status title total applicant { id } approval { steps { name status } } voucher { voucherNo } archiveRecord { archiveNo status } } } } }`,
        { hq },
      )
    ).expenseClaims.edges.map((e) => e.node);
    expect(claims).toHaveLength(CLAIMS.length);
    // Every status of the schema's enum, and claims waiting at each step of the route.
    const { __type } = await gql<{ __type: { enumValues: { name: string }[] } }>(auditor, `{ __type(name: "ClaimStatus") { enumValues { name } } }`);
    expect(new Set(claims.map((c) => c.status))).toEqual(new Set(__type.enumValues.map((v) => v.name)));
    const waitingAt = claims.filter((c) => c.status === 'SUBMITTED').map((c) => c.approval!.steps.find((s) => s.status === 'ACTIVE')!.name);
    expect(waitingAt.sort()).toEqual(['Department manager', 'Finance director', 'Finance review']);
    expect(new Set(claims.map((c) => c.applicant.id)).size).toBeGreaterThanOrEqual(8);

    // Each approved claim has its voucher and filed archive record; nothing else has.
    const approved = claims.filter((c) => c.status === 'APPROVED');
    expect(approved.map((c) => c.title).sort()).toEqual(CLAIMS.filter((c) => c.outcome.status === 'APPROVED').map((c) => c.title).sort());
    for (const c of approved) {
      expect(c.voucher?.voucherNo, c.title).toMatch(/\S/);
      expect(c.archiveRecord, c.title).toMatchObject({ archiveNo: expect.stringMatching(/^Q001-\d{4}-/), status: 'FILED' });
    }
    expect(claims.filter((c) => c.status !== 'APPROVED').every((c) => c.voucher === null && c.archiveRecord === null)).toBe(true);

    // The alert the monitor opened on the employee whose script probes.
    const prober = first.users.find((u) => u.employeeNo === PEOPLE.find((p) => p.key === PROBE.person)!.employeeNo)!;
    const { alerts } = await gql<{ alerts: { rule: string; subject: string; status: string }[] }>(auditor, `{ alerts(status: OPEN) { rule subject status } }`);
    expect(alerts).toContainEqual({ rule: 'PROBING', subject: `actor:${prober.employeeId}`, status: 'OPEN' });
    expect(first.alert).toMatchObject({ alert: { rule: 'PROBING' } });

    // Borrowing needs FINANCE_DEPARTMENT_ID, which the stack (like a first `npm start`) does not set: the seed says which.
    expect(first.loan).toEqual({ skipped: expect.stringContaining(`FINANCE_DEPARTMENT_ID=${finance}`) });
  }, 120_000);

  it('gives every employee valid identity and bank numbers', async () => {
    for (const u of first.users) {
      const { employee } = await gql<{ employee: { idNumber: string; bankAccount: string } }>(first.tokens.ADMIN, `query($id: ID!) { employee(id: $id) { idNumber bankAccount } }`, { id: u.employeeId });
      expect(validIdNumber(employee.idNumber)).toBe(employee.idNumber);
      expect(validBankAccount(employee.bankAccount)).toBe(employee.bankAccount);
    }
    expect(first.users).toHaveLength(PEOPLE.length);
  });

  it('prints a token per role that the gateway takes for its holder, and the console', async () => {
    for (const role of ROLES) {
      const holder = first.users.find((u) => u.employeeNo === PEOPLE.find((p) => p.key === ROLE_HOLDERS[role])!.employeeNo)!;
      const { me } = await gql<{ me: { id: string; roles: string[] } }>(first.tokens[role], `{ me { id roles } }`);
      expect(me.id).toBe(holder.employeeId);
      expect(me.roles).toContain(role);
      expect(printed.some((line) => line.includes(role) && line.endsWith(first.tokens[role]))).toBe(true);
    }
    expect(first.consoleUrl).toBe(new URL('/console', stack.gateways[0].url).href);
    expect(printed).toContain(`Console: ${first.consoleUrl}  (paste the AUDITOR token to see every chart)`);
    // The table of users: name, roles, department and employee id on one line each.
    for (const u of first.users) expect(printed.some((l) => l.includes(u.name) && l.includes(u.department) && l.endsWith(u.employeeId)), u.name).toBe(true);
  });

  it('gives the console charts something to draw', async () => {
    const period = { from: addDays(today('Asia/Shanghai'), -180), to: today('Asia/Shanghai') };
    const summary = `query($g: SummaryGroup!, $from: Date!, $to: Date!) { expenseSummary(groupBy: $g, from: $from, to: $to) { key label count total } }`;
    const byDepartment = (await gql<{ expenseSummary: { label: string; count: number; total: string }[] }>(first.tokens.AUDITOR, summary, { g: 'DEPARTMENT', ...period })).expenseSummary;
    expect(byDepartment.map((r) => r.label).sort()).toEqual(['华东 East', '华北 North', '总部 Head office', '研发部 R&D']);
    const approvedFen = CLAIMS.filter((c) => c.outcome.status === 'APPROVED').flatMap((c) => c.items).reduce((s, i) => s + Math.round(Number(i.amount) * 100), 0);
    expect(byDepartment.reduce((s, r) => s + Math.round(Number(r.total) * 100), 0)).toBe(approvedFen);
    const byMonth = (await gql<{ expenseSummary: { key: string; count: number }[] }>(first.tokens.AUDITOR, summary, { g: 'MONTH', ...period })).expenseSummary;
    expect(byMonth.reduce((s, r) => s + r.count, 0)).toBe(5);
    const stats = (await gql<{ syncStatistics: { day: string; synced: number }[] }>(first.tokens.AUDITOR, `query($from: Date!, $to: Date!) { syncStatistics(from: $from, to: $to) { day synced } }`, period)).syncStatistics;
    expect(stats.reduce((s, r) => s + r.synced, 0)).toBe(5);
  });

  it('then the console, signed in with the printed AUDITOR token, draws every chart', async () => {
    await stack.sync.services.sampler.sample(); // the status history (the service samples once a minute)
    const browser = await launchBrowser();
    try {
      const tab = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      await tab.goto(first.consoleUrl);
      await tab.fill('#token', first.tokens.AUDITOR);
      await tab.click('#sign-in-button');
      await tab.locator('#app').waitFor({ state: 'visible' });
      for (const chart of ['#chart-department svg .bar', '#chart-month svg .bar', '#chart-lag svg .dot', '#history-probes svg rect.cell-UP', '#history-lag svg', '#history-backlog svg']) {
        await tab.locator(chart).first().waitFor({ timeout: 15_000 });
      }
      expect(await tab.locator('#chart-department svg .bar').count()).toBe(4);
      expect(await tab.locator('.chart-empty, #view-charts .note-error').count()).toBe(0);
    } finally {
      await browser.close();
    }
  }, 60_000);

  it('run again from the command line, adds only the loan borrowing now allows, and prints the tokens again', async () => {
    // Stands for restarting the system with the FINANCE_DEPARTMENT_ID the first run printed.
    stack.archiveSettings.financeDepartmentId = finance;
    const before = await counts();
    const { stdout, stderr } = await cli('--gateway', stack.gateways[0].url, '--wait', '60');
    expect(stderr).toBe('');
    expect(stdout).toContain(`The demo organisation is there already (department ${ROOT_CODE}): nothing created.`);
    expect(stdout).toMatch(/Loan: 陈杰 borrows Q001-\d{4}-\S+ until \d{4}-\d{2}-\d{2}: ON_LOAN\./);
    expect(await counts()).toEqual({ ...before, archive_loans: before.archive_loans + 1 });
    const auditorToken = /^ {2}AUDITOR\b.* (\S+)$/m.exec(stdout)![1];
    const { loans } = await gql<{ loans: { edges: { node: { status: string; borrowerId: string } }[] } }>(auditorToken, `{ loans(status: ON_LOAN) { edges { node { status borrowerId } } } }`);
    expect(loans.edges.map((e) => e.node)).toEqual([{ status: 'ON_LOAN', borrowerId: first.users.find((u) => u.employeeNo === 'DEMO-010')!.employeeId }]);

    // And once more: nothing at all.
    const again = await counts();
    const third = await seed({ gateway: stack.gateways[0].url, jwtSecret: JWT_SECRET, print: () => {} });
    expect(third).toMatchObject({ created: false, loan: null, alert: null });
    expect(third.users.map((u) => u.employeeId)).toEqual(first.users.map((u) => u.employeeId));
    expect(await counts()).toEqual(again);
  }, 120_000);

  it('says in one line why it cannot run', async () => {
    const down = await cli('--gateway', 'http://127.0.0.1:9/graphql').catch((e: { code: number; stdout: string; stderr: string }) => e);
    expect(down).toMatchObject({ code: 1, stdout: '' });
    expect((down as { stderr: string }).stderr).toMatch(/^cannot reach the gateway at http:\/\/127\.0\.0\.1:9\/graphql \(\w+\): start the system first with npm start, or pass --gateway URL\n$/);

    const wrongSecret = await run(process.execPath, ['--import', 'tsx', 'scripts/seed.ts', '--gateway', stack.gateways[0].url], { env: { ...env, JWT_SECRET: 'another-jwt-secret-of-sufficient-length-0123' } }).catch((e: { code: number; stderr: string }) => e);
    expect(wrongSecret).toMatchObject({ code: 1 });
    expect((wrongSecret as { stderr: string }).stderr).toContain("the gateway refused the seed's token");

    const production = await run(process.execPath, ['--import', 'tsx', 'scripts/seed.ts'], {
      env: { ...env, NODE_ENV: 'production', JWT_SECRET: 'a-production-jwt-secret-of-sufficient-length', INTERNAL_SECRET: 'a-production-internal-secret-of-sufficient-length' },
    }).catch((e: { code: number; stderr: string }) => e);
    expect(production).toMatchObject({ code: 1 });
    expect((production as { stderr: string }).stderr).toBe('npm run seed makes a demo organisation with development tokens and is refused in production\n');
  }, 60_000);
});

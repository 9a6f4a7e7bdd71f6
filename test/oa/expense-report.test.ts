// expenseReport and approvalWaitTimes (issue 16 §4) through the oa subgraph with signed identities. The organisation
// and some claims go through the API (created, submitted, approved, rejected, withdrawn); ten years of claims in every
// status are inserted through the oa models. Every expectation (groups, subtotals, totals in BigInt fen, months in
// Asia/Shanghai and UTC) is computed here from the claims as the test made them, never by the code under test.
import { Types } from 'mongoose';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '../../platform/identity.ts';
import { type ClaimStatus, type ExpenseCategory, type ExpenseClaimDoc, oaModels } from '../../subgraphs/oa/models.ts';
import { ADMIN, type GqlResult, codes, ok, user } from './fixture.ts';
import { useOaSubgraph } from './fixture.ts';
import { CREATE_CLAIM, DECIDE, type Org, SUBMIT, WITHDRAW, seedOrg } from './seed.ts';

const oa = useOaSubgraph('oa_expense_report');
let org: Org;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const CATEGORIES: ExpenseCategory[] = ['TRAVEL', 'MEALS', 'OFFICE', 'TRAINING', 'OTHER'];
const STATUSES: ClaimStatus[] = ['DRAFT', 'SUBMITTED', 'APPROVED', 'REJECTED', 'WITHDRAWN'];

/** A claim as the test knows it: enough to compute every expectation. */
interface Known {
  id: string;
  applicantId: string;
  departmentId: string;
  category: ExpenseCategory;
  status: ClaimStatus;
  totalFen: bigint;
  /** The report date as docs/api.md defines it per status. */
  reportAt: Date;
}
const known: Known[] = [];
/** Department id → its top department (level 1) and its level-2 department (itself when at level 1). */
const top = new Map<string, string>();
const level2 = new Map<string, string>();
const names = new Map<string, string>();

const CREATE_DEPT = `mutation($input: CreateDepartmentInput!) { createDepartment(input: $input) { id } }`;
const CREATE_EMP = `mutation($input: CreateEmployeeInput!) { createEmployee(input: $input) { id } }`;
const REPORT = `query($dimensions: [ReportDimension!]!, $from: Date!, $to: Date!, $timeZone: String, $statuses: [ClaimStatus!], $departmentLevel: Int) {
  expenseReport(dimensions: $dimensions, from: $from, to: $to, timeZone: $timeZone, statuses: $statuses, departmentLevel: $departmentLevel) {
    dimensions from to timeZone statuses departmentLevel
    rows { ...R } subtotals { ...R } grandTotal { ...R }
  }
}
fragment R on ExpenseReportRow { rowType level cells { dimension key label } count total }`;

type Dimension = 'DEPARTMENT' | 'DEPARTMENT_SUBTREE' | 'EMPLOYEE' | 'CATEGORY' | 'MONTH' | 'QUARTER' | 'STATUS';
interface Row {
  rowType: string;
  level: number;
  cells: { dimension: Dimension; key: string | null; label: string | null }[];
  count: number;
  total: string;
}
interface Report {
  dimensions: Dimension[];
  from: string;
  to: string;
  timeZone: string;
  statuses: ClaimStatus[];
  departmentLevel: number;
  rows: Row[];
  subtotals: Row[];
  grandTotal: Row;
}

const money = (f: bigint): string => `${f / 100n}.${String(f % 100n).padStart(2, '0')}`;
/** A deterministic generator (mulberry32): the same ten years of claims at every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Local calendar fields: Asia/Shanghai is UTC+8 all year (no DST since 1991); UTC is UTC. */
const localIso = (d: Date, zone: 'Asia/Shanghai' | 'UTC') => new Date(d.getTime() + (zone === 'UTC' ? 0 : 8 * HOUR)).toISOString();

function keyOf(c: Known, d: Dimension, zone: 'Asia/Shanghai' | 'UTC', deptLevel: number): string {
  const iso = localIso(c.reportAt, zone);
  switch (d) {
    case 'DEPARTMENT':
      return c.departmentId;
    case 'DEPARTMENT_SUBTREE':
      return deptLevel === 1 ? top.get(c.departmentId)! : level2.get(c.departmentId)!;
    case 'EMPLOYEE':
      return c.applicantId;
    case 'CATEGORY':
      return c.category;
    case 'STATUS':
      return c.status;
    case 'MONTH':
      return iso.slice(0, 7);
    case 'QUARTER':
      return `${iso.slice(0, 4)}-Q${Math.ceil(Number(iso.slice(5, 7)) / 3)}`;
  }
}

function labelOf(d: Dimension, key: string): string | null {
  return d === 'DEPARTMENT' || d === 'DEPARTMENT_SUBTREE' || d === 'EMPLOYEE' ? (names.get(key) ?? null) : null;
}

/** The report as the test computes it: DETAIL groups, ROLLUP subtotals per leading prefix, the grand total. */
function expected(claims: Known[], dims: Dimension[], o: { zone: 'Asia/Shanghai' | 'UTC'; from: string; to: string; statuses?: ClaimStatus[]; deptLevel?: number }) {
  const day = (c: Known) => localIso(c.reportAt, o.zone).slice(0, 10);
  const counted = claims.filter((c) => day(c) >= o.from && day(c) <= o.to && (!o.statuses || o.statuses.includes(c.status)));
  const level = (n: number, rowType: string): Row[] => {
    const groups = new Map<string, { keys: string[]; count: number; total: bigint }>();
    for (const c of counted) {
      const keys = dims.slice(0, n).map((d) => keyOf(c, d, o.zone, o.deptLevel ?? 1));
      const g = groups.get(keys.join('|')) ?? { keys, count: 0, total: 0n };
      g.count++;
      g.total += c.totalFen;
      groups.set(keys.join('|'), g);
    }
    const compare = (a: string[], b: string[]) => {
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
      return 0;
    };
    return [...groups.values()]
      .sort((a, b) => compare(a.keys, b.keys))
      .map((g) => ({
        rowType,
        level: n,
        cells: dims.map((dimension, i) => (i < n ? { dimension, key: g.keys[i], label: labelOf(dimension, g.keys[i]) } : { dimension, key: null, label: null })),
        count: g.count,
        total: money(g.total),
      }));
  };
  const total = counted.reduce((s, c) => s + c.totalFen, 0n);
  return {
    rows: level(dims.length, 'DETAIL'),
    subtotals: dims.slice(1).flatMap((_, i) => level(i + 1, 'SUBTOTAL')),
    grandTotal: { rowType: 'TOTAL', level: 0, cells: dims.map((dimension) => ({ dimension, key: null, label: null })), count: counted.length, total: money(total) },
  };
}

const report = async (who: Principal, vars: Record<string, unknown>) => ok(await oa.gql<{ expenseReport: Report }>(who, REPORT, vars)).expenseReport;

async function apiClaim(who: Principal, category: ExpenseCategory, amount: string): Promise<string> {
  const input = { title: `${category} ${amount}`, category, items: [{ description: 'item', amount, occurredOn: '2026-01-05' }] };
  return ok(await oa.gql<{ createExpenseClaim: { id: string } }>(who, CREATE_CLAIM, { input })).createExpenseClaim.id;
}

/** Reads a claim as stored and records it with its report date per status (docs/api.md#reports-for-bi-tools). */
async function remember(id: string): Promise<void> {
  const c = (await oaModels(oa.connection).ExpenseClaim.findById(id).lean<ExpenseClaimDoc>())!;
  const reportAt = { APPROVED: c.approvedAt, REJECTED: c.decidedAt, WITHDRAWN: c.decidedAt, SUBMITTED: c.submittedAt, DRAFT: c.createdAt }[c.status]!;
  known.push({ id, applicantId: c.applicantId, departmentId: c.departmentId, category: c.category, status: c.status, totalFen: BigInt(c.totalFen), reportAt });
}

let employeesByDept: Map<string, string[]>;
let factory: string;
let lineA: string;
let formulaDept: string;

beforeAll(async () => {
  org = await seedOrg(oa);
  // A second top department with two below it (one named like a formula), beside head office → sales, operations.
  const dept = async (code: string, name: string, parentId?: string) => ok(await oa.gql<{ createDepartment: { id: string } }>(ADMIN, CREATE_DEPT, { input: { code, name, parentId } })).createDepartment.id;
  factory = await dept('FAC', 'Factory');
  lineA = await dept('FAC-A', 'Line A', factory);
  formulaDept = await dept('FAC-X', '=1+2 Line X', factory);
  const emp = async (no: string, name: string, departmentId: string) => ok(await oa.gql<{ createEmployee: { id: string } }>(ADMIN, CREATE_EMP, { input: { employeeNo: no, name, departmentId } })).createEmployee.id;
  const worker1 = await emp('F001', 'Wang Worker', lineA);
  const worker2 = await emp('F002', 'Li Worker', lineA);
  const worker3 = await emp('F003', '@Zhao Worker', formulaDept);
  const ops = (await oaModels(oa.connection).Employee.findById(org.ids.outsider).lean())!.departmentId;
  for (const [id, parent] of [
    [org.hq, null],
    [org.sales, org.hq],
    [ops, org.hq],
    [factory, null],
    [lineA, factory],
    [formulaDept, factory],
  ] as const) {
    top.set(id, parent ?? id);
    level2.set(id, id);
  }
  for (const d of await oaModels(oa.connection).Department.find().lean()) names.set(d._id.toHexString(), d.name);
  for (const e of await oaModels(oa.connection).Employee.find().lean()) names.set(e._id.toHexString(), e.name);
  employeesByDept = new Map([
    [org.hq, [org.ids.ceo, org.ids.accountant, org.ids.director, org.ids.auditor]],
    [org.sales, [org.ids.alice, org.ids.bob, org.ids.salesManager]],
    [ops, [org.ids.outsider]],
    [lineA, [worker1, worker2]],
    [formulaDept, [worker3]],
  ]);

  // Through the API: one claim in each status.
  const approved = await apiClaim(org.as.alice, 'TRAVEL', '1234.56');
  ok(await oa.gql(org.as.alice, SUBMIT, { id: approved }));
  ok(await oa.gql(org.as.salesManager, DECIDE, { id: approved, d: 'APPROVE' }));
  ok(await oa.gql(org.as.accountant, DECIDE, { id: approved, d: 'APPROVE' }));
  const rejected = await apiClaim(org.as.bob, 'MEALS', '88.80');
  ok(await oa.gql(org.as.bob, SUBMIT, { id: rejected }));
  ok(await oa.gql(org.as.salesManager, DECIDE, { id: rejected, d: 'REJECT' }));
  const submitted = await apiClaim(org.as.auditor, 'OFFICE', '10.01');
  ok(await oa.gql(org.as.auditor, SUBMIT, { id: submitted }));
  const withdrawn = await apiClaim(org.as.alice, 'OTHER', '5.00');
  ok(await oa.gql(org.as.alice, WITHDRAW, { id: withdrawn }));
  const draft = await apiClaim(org.as.bob, 'TRAINING', '300.00');
  for (const id of [approved, rejected, submitted, withdrawn, draft]) await remember(id);

  // Through the oa models: ten years (2020-2029) of claims in every status, department, employee and category.
  const rnd = random(20260916);
  const start = Date.parse('2019-12-31T16:00:00.000Z'); // 2020-01-01 00:00 in Shanghai
  const span = Date.parse('2029-12-31T16:00:00.000Z') - start;
  const depts = [...employeesByDept.keys()];
  const docs: Array<Omit<ExpenseClaimDoc, '_id'> & { _id: Types.ObjectId }> = [];
  const edge = (at: string, status: ClaimStatus, departmentId: string, applicantId: string) => ({ at: new Date(at), status, departmentId, applicantId });
  // Time-zone edges: 23:30 UTC on a month's last day is the next month (and quarter, and year) in Shanghai.
  const edges = [
    edge('2024-03-31T23:30:00.000Z', 'APPROVED', lineA, worker1),
    edge('2025-12-31T23:30:00.000Z', 'REJECTED', org.sales, org.ids.alice),
    edge('2027-06-30T23:30:00.000Z', 'DRAFT', formulaDept, worker3),
  ];
  for (let i = 0; i < 1500 + edges.length; i++) {
    const e = edges[i - 1500];
    const departmentId = e?.departmentId ?? depts[Math.floor(rnd() * depts.length)];
    const staff = employeesByDept.get(departmentId)!;
    const applicantId = e?.applicantId ?? staff[Math.floor(rnd() * staff.length)];
    const status = e?.status ?? STATUSES[Math.floor(rnd() * STATUSES.length)];
    const at = e?.at ?? new Date(start + Math.floor(rnd() * span));
    // The report date is `at`; the earlier dates lie before it (a claim is created, then submitted, then decided).
    const createdAt = status === 'DRAFT' ? at : new Date(at.getTime() - Math.floor(rnd() * 20 * DAY) - 2 * DAY);
    const submittedAt = status === 'DRAFT' || (status === 'WITHDRAWN' && rnd() < 0.5) ? null : status === 'SUBMITTED' ? at : new Date(createdAt.getTime() + DAY);
    const decided = status === 'APPROVED' || status === 'REJECTED' || status === 'WITHDRAWN' ? at : null;
    const amountFen = 1 + Math.floor(rnd() ** 3 * 2_000_000_00); // up to 2 million yuan, mostly small
    docs.push({
      _id: new Types.ObjectId(),
      claimNo: `BX-BULK-${String(i).padStart(5, '0')}`,
      applicantId,
      departmentId,
      title: `bulk ${i}`,
      category: CATEGORIES[Math.floor(rnd() * CATEGORIES.length)],
      items: [{ description: 'bulk', amountFen, occurredOn: createdAt.toISOString().slice(0, 10), invoiceNo: null }],
      totalFen: amountFen,
      status,
      approvalId: null,
      createdAt,
      submittedAt,
      approvedAt: status === 'APPROVED' ? at : null,
      decidedAt: decided,
      external: null,
    });
  }
  await oaModels(oa.connection).ExpenseClaim.insertMany(docs);
  for (const d of docs) {
    known.push({ id: d._id.toHexString(), applicantId: d.applicantId, departmentId: d.departmentId, category: d.category, status: d.status, totalFen: BigInt(d.totalFen), reportAt: d.approvedAt ?? d.decidedAt ?? d.submittedAt ?? d.createdAt });
  }
}, 120_000);

const TEN_YEARS = { from: '2020-01-01', to: '2029-12-31' } as const;

describe('expenseReport over ten years and three dimensions', () => {
  it('equals the test’s own groups, ROLLUP subtotals and grand total (department tree, status, month)', async () => {
    const dims: Dimension[] = ['DEPARTMENT_SUBTREE', 'STATUS', 'MONTH'];
    const got = await report(org.as.accountant, { dimensions: dims, ...TEN_YEARS });
    expect(got).toMatchObject({ dimensions: dims, ...TEN_YEARS, timeZone: 'Asia/Shanghai', statuses: STATUSES, departmentLevel: 1 });
    const want = expected(known, dims, { zone: 'Asia/Shanghai', ...TEN_YEARS });
    expect(got.grandTotal).toEqual(want.grandTotal);
    expect(got.subtotals).toEqual(want.subtotals);
    expect(got.rows).toEqual(want.rows);
    // Every claim of the ten years, in two top departments; the totals are exact far past 2^31 fen.
    expect(got.grandTotal.count).toBe(known.length);
    expect(got.subtotals.filter((r) => r.level === 1).map((r) => r.cells[0].key)).toEqual([org.hq, factory].sort());
    expect(BigInt(got.grandTotal.total.replace('.', ''))).toBeGreaterThan(2n ** 31n);
  });

  it('rolls up to a chosen department level, and counts by employee and quarter with only the statuses asked', async () => {
    const dims: Dimension[] = ['DEPARTMENT_SUBTREE', 'EMPLOYEE', 'QUARTER'];
    const vars = { dimensions: dims, ...TEN_YEARS, statuses: ['APPROVED', 'REJECTED'], departmentLevel: 2 };
    const got = await report(org.as.auditor, vars);
    const want = expected(known, dims, { zone: 'Asia/Shanghai', ...TEN_YEARS, statuses: ['APPROVED', 'REJECTED'], deptLevel: 2 });
    expect(got).toMatchObject({ ...want, statuses: ['APPROVED', 'REJECTED'], departmentLevel: 2 });
    expect(got.rows.some((r) => r.cells[0].key === lineA && r.cells[0].label === 'Line A')).toBe(true);
    expect(got.rows.find((r) => r.cells[1].key === org.ids.alice)?.cells[1].label).toBe('Alice');
  });

  it('takes the time zone: 23:30 UTC on a month’s last day is the next month in Asia/Shanghai, the same month in UTC', async () => {
    const dims: Dimension[] = ['DEPARTMENT', 'CATEGORY', 'MONTH'];
    for (const zone of ['Asia/Shanghai', 'UTC'] as const) {
      const got = await report(org.as.accountant, { dimensions: dims, ...TEN_YEARS, timeZone: zone === 'UTC' ? 'UTC' : null });
      expect(got.timeZone).toBe(zone);
      const want = expected(known, dims, { zone, ...TEN_YEARS });
      expect(got.rows).toEqual(want.rows);
      expect(got.subtotals).toEqual(want.subtotals);
      expect(got.grandTotal).toEqual(want.grandTotal);
    }
    // The edge claim of 2024-03-31 23:30 UTC, spelled out: April (Q2) in Shanghai, March (Q1) in UTC.
    const edge = { dimensions: ['DEPARTMENT', 'QUARTER', 'MONTH'], from: '2024-03-31', to: '2024-04-01', statuses: ['APPROVED'] };
    const inShanghai = await report(org.as.accountant, edge);
    expect(inShanghai.rows.filter((r) => r.cells[0].key === lineA).map((r) => [r.cells[1].key, r.cells[2].key])).toContainEqual(['2024-Q2', '2024-04']);
    expect(inShanghai.rows.filter((r) => r.cells[0].key === lineA).map((r) => r.cells[2].key)).not.toContain('2024-03');
    const inUtc = await report(org.as.accountant, { ...edge, timeZone: 'UTC' });
    expect(inUtc.rows.filter((r) => r.cells[0].key === lineA).map((r) => [r.cells[1].key, r.cells[2].key])).toContainEqual(['2024-Q1', '2024-03']);
  });

  it('is one aggregate command in the database', async () => {
    await report(org.as.accountant, { dimensions: ['CATEGORY'], ...TEN_YEARS });
    oa.commands.length = 0;
    await report(org.as.accountant, { dimensions: ['STATUS', 'MONTH'], ...TEN_YEARS });
    expect(oa.commands).toEqual(['aggregate']);
  });
});

describe('expenseReport row scope', () => {
  it('shows a MANAGER their department’s claims and an EMPLOYEE their own', async () => {
    const dims: Dimension[] = ['DEPARTMENT', 'EMPLOYEE', 'STATUS'];
    const manager = await report(org.as.salesManager, { dimensions: dims, ...TEN_YEARS });
    const want = expected(
      known.filter((c) => c.departmentId === org.sales),
      dims,
      { zone: 'Asia/Shanghai', ...TEN_YEARS },
    );
    expect(manager).toMatchObject(want);
    expect(new Set(manager.rows.map((r) => r.cells[0].key))).toEqual(new Set([org.sales]));
    const alice = await report(org.as.alice, { dimensions: dims, ...TEN_YEARS });
    expect(alice).toMatchObject(expected(known.filter((c) => c.applicantId === org.ids.alice), dims, { zone: 'Asia/Shanghai', ...TEN_YEARS }));
    expect(new Set(alice.rows.map((r) => r.cells[1].key))).toEqual(new Set([org.ids.alice]));
    const stranger = await report(user(new Types.ObjectId().toHexString(), ['EMPLOYEE'], null), { dimensions: dims, ...TEN_YEARS });
    expect(stranger.rows).toEqual([]);
    expect(stranger.grandTotal).toMatchObject({ count: 0, total: '0.00' });
    // An API key with reports:read reads every row, employees by id only (no person's name for integrations).
    const integration: Principal = { sub: 'apikey:k1', roles: [], departmentId: null, kind: 'integration', scopes: ['reports:read'] };
    const byKey = await report(integration, { dimensions: ['EMPLOYEE'], ...TEN_YEARS });
    const all = expected(known, ['EMPLOYEE'], { zone: 'Asia/Shanghai', ...TEN_YEARS });
    expect(byKey.rows).toEqual(all.rows.map((r) => ({ ...r, cells: r.cells.map((c) => ({ ...c, label: null })) })));
    expect(byKey.grandTotal).toEqual(all.grandTotal);
  });
});

describe('expenseReport validation', () => {
  const fieldOf = (r: GqlResult) => (r.errors?.[0]?.extensions as { field?: string } | undefined)?.field;
  const refused = async (vars: Record<string, unknown>) => {
    const r = await oa.gql(org.as.accountant, REPORT, { dimensions: ['MONTH'], ...TEN_YEARS, ...vars });
    expect(codes(r), JSON.stringify(vars)).toEqual(['BAD_USER_INPUT']);
    return { field: fieldOf(r), message: r.errors![0].message };
  };

  it('names the argument of every refusal', async () => {
    expect(await refused({ dimensions: ['DEPARTMENT', 'EMPLOYEE', 'CATEGORY', 'MONTH'] })).toMatchObject({ field: 'dimensions', message: expect.stringMatching(/1 to 3/) });
    expect(await refused({ dimensions: ['MONTH', 'CATEGORY', 'MONTH'] })).toMatchObject({ field: 'dimensions', message: expect.stringMatching(/MONTH/) });
    expect(await refused({ dimensions: [] })).toMatchObject({ field: 'dimensions' });
    // 2020-01-01..2029-12-31 is 3,653 days (allowed above); one more is not.
    expect(await refused({ from: '2019-12-31' })).toMatchObject({ field: 'to', message: expect.stringMatching(/3654 days.*3653/) });
    expect(await refused({ from: '2026-02-02', to: '2026-02-01' })).toMatchObject({ field: 'from' });
    for (const timeZone of ['Mars/Olympus_Mons', '+08:00', '', 'Asia/Shanghai; DROP']) expect(await refused({ timeZone })).toMatchObject({ field: 'timeZone' });
    expect(await refused({ departmentLevel: 0 })).toMatchObject({ field: 'departmentLevel' });
    expect(await refused({ departmentLevel: 21 })).toMatchObject({ field: 'departmentLevel' });
    expect(await refused({ statuses: [] })).toMatchObject({ field: 'statuses' });
  });
});

describe('approvalWaitTimes', () => {
  const WAITS = `query($g: ApprovalWaitGroup, $from: Date!, $to: Date!, $timeZone: String) {
    approvalWaitTimes(groupBy: $g, from: $from, to: $to, timeZone: $timeZone) { stepKey stepName approverId approverName count waitAvgMs waitP50Ms waitP95Ms waitMaxMs }
  }`;
  interface Decision {
    claim: string;
    step: string;
    approver: string;
    activatedAt: number;
    decidedAt: number;
  }
  const decisions: Decision[] = [];
  const T0 = Date.parse('2031-03-02T01:00:00.000Z'); // a period of its own, after the ten years above
  const STEP_NAMES: Record<string, string> = { manager: 'Department manager', finance: 'Finance review', director: 'Finance director' };

  beforeAll(async () => {
    // Waits in minutes per claim: manager, finance, director (amount above the threshold).
    const plan: Array<{ who: 'alice' | 'bob' | 'auditor'; amount: string; waits: number[]; reject?: boolean }> = [
      { who: 'alice', amount: '6000.00', waits: [30, 120, 5] },
      { who: 'alice', amount: '10.00', waits: [600, 45] },
      { who: 'bob', amount: '7000.00', waits: [90, 60 * 26, 15] },
      { who: 'auditor', amount: '20.00', waits: [3 * 60 + 1, 10] },
      { who: 'bob', amount: '30.00', waits: [7], reject: true },
    ];
    const instances = oa.connection.collection('workflow_instances');
    for (const [n, p] of plan.entries()) {
      const as = org.as[p.who];
      const id = await apiClaim(as, 'TRAVEL', p.amount);
      ok(await oa.gql(as, SUBMIT, { id }));
      const manager = p.who === 'auditor' ? org.as.ceo : org.as.salesManager;
      const approvers = [manager, org.as.accountant, org.as.director].slice(0, p.waits.length);
      for (const a of approvers) ok(await oa.gql(a, DECIDE, { id, d: p.reject ? 'REJECT' : 'APPROVE' }));
      // The decision times, placed: each step activated when the one before was decided.
      const claim = (await oaModels(oa.connection).ExpenseClaim.findById(id).lean<ExpenseClaimDoc>())!;
      const instance = (await instances.findOne({ _id: claim.approvalId as never }))!;
      let t = T0 + n * DAY;
      const steps = (instance.steps as Array<{ key: string; activatedAt?: Date; decisions: Array<{ decidedAt: Date; approverId: string }> }>).map((s) => {
        const i = ['manager', 'finance', 'director'].indexOf(s.key);
        if (i >= p.waits.length || s.decisions.length === 0) return s;
        const activatedAt = t;
        t += p.waits[i] * 60_000;
        decisions.push({ claim: id, step: s.key, approver: s.decisions[0].approverId, activatedAt, decidedAt: t });
        return { ...s, activatedAt: new Date(activatedAt), decisions: s.decisions.map((d) => ({ ...d, decidedAt: new Date(t) })) };
      });
      await instances.updateOne({ _id: instance._id }, { $set: { steps } });
    }
  });

  const rank = (sorted: number[], p: number) => sorted[Math.ceil((p * sorted.length) / 100) - 1];
  function expectedWaits(ds: Decision[], by: 'STEP' | 'APPROVER' | 'STEP_AND_APPROVER', hideNames = false) {
    const groups = new Map<string, Decision[]>();
    const keyOfD = (d: Decision) => (by === 'STEP' ? d.step : by === 'APPROVER' ? d.approver : `${d.step}|${d.approver}`);
    for (const d of ds) groups.set(keyOfD(d), [...(groups.get(keyOfD(d)) ?? []), d]);
    const order = ['manager', 'finance', 'director'];
    return [...groups.values()]
      .sort((a, b) => (by === 'APPROVER' ? (a[0].approver < b[0].approver ? -1 : 1) : order.indexOf(a[0].step) - order.indexOf(b[0].step) || (a[0].approver < b[0].approver ? -1 : 1)))
      .map((g) => {
        const times = g.map((d) => d.decidedAt - d.activatedAt).sort((a, b) => a - b);
        return {
          stepKey: by === 'APPROVER' ? null : g[0].step,
          stepName: by === 'APPROVER' ? null : STEP_NAMES[g[0].step],
          approverId: by === 'STEP' ? null : g[0].approver,
          approverName: by === 'STEP' || hideNames ? null : names.get(g[0].approver)!,
          count: g.length,
          waitAvgMs: Math.round(times.reduce((a, b) => a + b, 0) / times.length),
          waitP50Ms: rank(times, 50),
          waitP95Ms: rank(times, 95),
          waitMaxMs: times.at(-1)!,
        };
      });
  }
  const waits = async (who: Principal, g: string | null, from: string, to: string, timeZone?: string) =>
    ok(await oa.gql<{ approvalWaitTimes: unknown[] }>(who, WAITS, { g, from, to, timeZone })).approvalWaitTimes;

  it('gives count, average, p50, p95 and maximum per step, per approver and per both, from the decision times', async () => {
    const period = ['2031-03-01', '2031-03-31'] as const;
    for (const by of ['STEP', 'APPROVER', 'STEP_AND_APPROVER'] as const) {
      expect(await waits(org.as.accountant, by, ...period), by).toEqual(expectedWaits(decisions, by));
    }
    // Spelled out for the manager step: 30, 600, 90, 181, 7 minutes.
    expect((await waits(org.as.accountant, null, ...period))[0]).toEqual({
      stepKey: 'manager',
      stepName: 'Department manager',
      approverId: null,
      approverName: null,
      count: 5,
      waitAvgMs: Math.round(((30 + 600 + 90 + 181 + 7) * 60_000) / 5),
      waitP50Ms: 90 * 60_000,
      waitP95Ms: 600 * 60_000,
      waitMaxMs: 600 * 60_000,
    });
  });

  it('counts decisions by their day in the time zone, and only on claims of the caller’s scope', async () => {
    // The first claim's decisions fall on 2031-03-02 (Shanghai and UTC alike); one day of period holds them alone.
    const first = decisions.filter((d) => d.claim === decisions[0].claim);
    expect(await waits(org.as.accountant, 'STEP', '2031-03-02', '2031-03-02')).toEqual(expectedWaits(first, 'STEP'));
    expect(await waits(org.as.accountant, 'STEP', '2031-03-02', '2031-03-02', 'UTC')).toEqual(expectedWaits(first, 'STEP'));
    const aliceClaims = (await oaModels(oa.connection).ExpenseClaim.find({ applicantId: org.ids.alice }, { _id: 1 }).lean()).map((c) => c._id.toHexString());
    const own = decisions.filter((d) => aliceClaims.includes(d.claim));
    expect(own.length).toBe(5);
    expect(await waits(org.as.alice, 'STEP_AND_APPROVER', '2031-03-01', '2031-03-31')).toEqual(expectedWaits(own, 'STEP_AND_APPROVER'));
    // The ceo manages head office: the auditor's claim (and those they were asked to approve: the same one).
    const hqClaims = (await oaModels(oa.connection).ExpenseClaim.find({ departmentId: org.hq }, { _id: 1 }).lean()).map((c) => c._id.toHexString());
    expect(await waits(org.as.ceo, 'STEP', '2031-03-01', '2031-03-31')).toEqual(expectedWaits(decisions.filter((d) => hqClaims.includes(d.claim)), 'STEP'));
    // An integration reads approvers by id only.
    const integration: Principal = { sub: 'apikey:k1', roles: [], departmentId: null, kind: 'integration', scopes: ['reports:read'] };
    expect(await waits(integration, 'APPROVER', '2031-03-01', '2031-03-31')).toEqual(expectedWaits(decisions, 'APPROVER', true));
    const refused = await oa.gql(org.as.accountant, WAITS, { g: 'STEP', from: '2031-01-01', to: '2041-01-01' });
    expect(codes(refused)).toEqual(['BAD_USER_INPUT']);
    expect((refused.errors![0].extensions as { field?: string }).field).toBe('to');
  });
});

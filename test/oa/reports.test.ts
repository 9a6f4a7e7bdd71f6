// Expense reports (issue 7 §3): expenseSummary and claimCycleTimes through the oa subgraph with signed identities.
// Claims are created, submitted and approved through the subgraph; their approval and submission instants are then
// placed directly in the database on the edges of days and months in Asia/Shanghai. Every expectation is computed
// here from the claims' amounts (as strings, with BigInt) and instants, never by the code under test.
import mongoose, { Types } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEngine, type RunningEngine } from '../../engine/index.ts';
import { dayStartIn, localDateKeyExpr, offsetSegments, reportPeriod } from '../../platform/business-time.ts';
import { today } from '../../platform/graphql.ts';
import type { Principal } from '../../platform/identity.ts';
import { type GqlResult, codes, ok, useOaSubgraph } from './fixture.ts';
import { CREATE_CLAIM, DECIDE, type Org, SUBMIT, seedOrg } from './seed.ts';
import { type Stack, seed, startStack } from '../sync/stack.ts';

const oa = useOaSubgraph('oa_reports');
let org: Org;

type Category = 'TRAVEL' | 'MEALS' | 'OFFICE' | 'TRAINING' | 'OTHER';
type Who = 'alice' | 'bob' | 'auditor';
interface Planned {
  who: Who;
  category: Category;
  amounts: string[];
  /** Approval instant, written as local Shanghai time. */
  approvedAt: string;
  /** Submission to approval, ms. */
  cycleMs: number;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const PLANNED: Planned[] = [
  // The last millisecond of September in Shanghai (15:59:59.999 UTC): September, although UTC says so too.
  { who: 'alice', category: 'TRAVEL', amounts: ['0.01'], approvedAt: '2026-09-30T23:59:59.999+08:00', cycleMs: HOUR },
  // The first millisecond of October in Shanghai: still 30 September in UTC. Past 2^31 fen and 2^31 ms (30 days).
  { who: 'alice', category: 'MEALS', amounts: ['99999999.99', '99999999.99', '0.01'], approvedAt: '2026-10-01T00:00:00.000+08:00', cycleMs: 30 * DAY },
  { who: 'bob', category: 'TRAVEL', amounts: ['1234.56', '0.07'], approvedAt: '2026-10-15T12:00:00.000+08:00', cycleMs: 2 * DAY },
  { who: 'bob', category: 'OFFICE', amounts: ['4999.99'], approvedAt: '2026-10-31T23:59:59.999+08:00', cycleMs: 5 * 60_000 },
  // The first millisecond of November in Shanghai, 31 October in UTC.
  { who: 'auditor', category: 'TRAVEL', amounts: ['5000.01'], approvedAt: '2026-11-01T00:00:00.000+08:00', cycleMs: 10 * DAY },
  { who: 'auditor', category: 'TRAINING', amounts: ['250.50', '0.50'], approvedAt: '2026-10-20T09:00:00.000+08:00', cycleMs: DAY + 1 },
  { who: 'alice', category: 'TRAVEL', amounts: ['12.34'], approvedAt: '2026-10-02T08:00:00.000+08:00', cycleMs: 3 * HOUR },
];

interface Made extends Planned {
  id: string;
  departmentId: string;
  totalFen: bigint;
}
const made: Made[] = [];

const fen = (amount: string): bigint => {
  const [whole, frac = ''] = amount.split('.');
  return BigInt(whole) * 100n + BigInt(frac.padEnd(2, '0'));
};
const money = (f: bigint): string => `${f / 100n}.${String(f % 100n).padStart(2, '0')}`;
const shanghaiMonth = (iso: string) => iso.slice(0, 7); // the planned instants are written in +08:00
const shanghaiDay = (iso: string) => iso.slice(0, 10);

async function file(who: Who, category: Category, amounts: string[]): Promise<string> {
  const as = org.as[who];
  const input = { title: `${category} ${amounts.join('+')}`, category, items: amounts.map((amount) => ({ description: `item ${amount}`, amount, occurredOn: '2026-09-01' })) };
  const created = ok(await oa.gql<{ createExpenseClaim: { id: string } }>(as, CREATE_CLAIM, { input })).createExpenseClaim;
  ok(await oa.gql(as, SUBMIT, { id: created.id }));
  return created.id;
}

async function approve(id: string, who: Who, total: bigint): Promise<void> {
  const manager = who === 'auditor' ? org.as.ceo : org.as.salesManager;
  const approvers: Principal[] = [manager, org.as.accountant, ...(total > 500_000n ? [org.as.director] : [])];
  for (const p of approvers) ok(await oa.gql(p, DECIDE, { id, d: 'APPROVE' }));
}

beforeAll(async () => {
  org = await seedOrg(oa);
  const claims = oa.connection.collection('expense_claims');
  for (const p of PLANNED) {
    const id = await file(p.who, p.category, p.amounts);
    const totalFen = p.amounts.map(fen).reduce((a, b) => a + b, 0n);
    await approve(id, p.who, totalFen);
    const approvedAt = new Date(p.approvedAt);
    await claims.updateOne({ _id: new Types.ObjectId(id) }, { $set: { approvedAt, submittedAt: new Date(approvedAt.getTime() - p.cycleMs) } });
    made.push({ ...p, id, departmentId: p.who === 'auditor' ? org.hq : org.sales, totalFen });
  }
  // Claims that are not approved count nowhere: one waiting for approval, one rejected, one draft.
  await file('alice', 'OTHER', ['77.70']);
  const rejected = await file('bob', 'TRAVEL', ['10.00']);
  ok(await oa.gql(org.as.salesManager, DECIDE, { id: rejected, d: 'REJECT' }));
  ok(await oa.gql(org.as.bob, CREATE_CLAIM, { input: { title: 'draft', category: 'TRAVEL', items: [{ description: 'x', amount: '3.00', occurredOn: '2026-09-01' }] } }));
});

const SUMMARY = `query($g: SummaryGroup!, $from: Date!, $to: Date!) { expenseSummary(groupBy: $g, from: $from, to: $to) { key label count total } }`;
const CYCLES = `query($g: SummaryGroup, $from: Date!, $to: Date!) { claimCycleTimes(groupBy: $g, from: $from, to: $to) {
  key label count submissionToApprovalAvgMs submissionToApprovalP50Ms submissionToApprovalP95Ms submissionToApprovalMaxMs } }`;
type Group = 'DEPARTMENT' | 'CATEGORY' | 'MONTH';
interface Row {
  key: string;
  label: string | null;
  count: number;
  total: string;
}

const summary = async (who: Principal, g: Group, from: string, to: string) =>
  ok(await oa.gql<{ expenseSummary: Row[] }>(who, SUMMARY, { g, from, to })).expenseSummary;

/** Who sees which claims (ROW_SCOPES.ExpenseClaim), as the test states it. */
const scopes: Record<string, (c: Made) => boolean> = {
  alice: (c) => c.who === 'alice',
  bob: (c) => c.who === 'bob',
  salesManager: (c) => c.departmentId === org.sales,
  ceo: (c) => c.departmentId === org.hq,
  accountant: () => true,
  director: () => true,
  auditor: () => true,
};

function keyOf(c: Made, g: Group | null): string {
  if (g === 'DEPARTMENT') return c.departmentId;
  if (g === 'CATEGORY') return c.category;
  if (g === 'MONTH') return shanghaiMonth(c.approvedAt);
  return 'ALL';
}

const inPeriod = (c: Made, from: string, to: string) => shanghaiDay(c.approvedAt) >= from && shanghaiDay(c.approvedAt) <= to;

function expectedSummary(viewer: string, g: Group, from: string, to: string): Row[] {
  const groups = new Map<string, Made[]>();
  for (const c of made.filter((c) => scopes[viewer](c) && inPeriod(c, from, to))) groups.set(keyOf(c, g), [...(groups.get(keyOf(c, g)) ?? []), c]);
  const name = (k: string) => (g !== 'DEPARTMENT' ? null : k === org.sales ? 'Sales' : k === org.hq ? 'Head office' : '?');
  return [...groups.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([key, cs]) => ({ key, label: name(key), count: cs.length, total: money(cs.reduce((s, c) => s + c.totalFen, 0n)) }));
}

describe('expenseSummary', () => {
  const QUARTER = ['2026-09-01', '2026-11-30'] as const;
  const OCTOBER = ['2026-10-01', '2026-10-31'] as const;

  it('groups the approved claims by department, category and month, totals exact to the fen', async () => {
    for (const g of ['DEPARTMENT', 'CATEGORY', 'MONTH'] as const) {
      expect(await summary(org.as.accountant, g, ...QUARTER), g).toEqual(expectedSummary('accountant', g, ...QUARTER));
    }
    // Spelled out once, so the expectation helper cannot hide a mistake.
    expect(await summary(org.as.accountant, 'MONTH', ...QUARTER)).toEqual([
      { key: '2026-09', label: null, count: 1, total: '0.01' },
      { key: '2026-10', label: null, count: 5, total: '200006497.95' },
      { key: '2026-11', label: null, count: 1, total: '5000.01' },
    ]);
    expect(await summary(org.as.accountant, 'CATEGORY', ...QUARTER)).toContainEqual({ key: 'MEALS', label: null, count: 1, total: '199999999.99' });
    expect(await summary(org.as.accountant, 'DEPARTMENT', ...QUARTER)).toContainEqual({ key: org.hq, label: 'Head office', count: 2, total: '5251.01' });
  });

  it('counts a claim by its approval day in Asia/Shanghai, from and to included', async () => {
    // 2026-09-30 23:59:59.999 and 2026-11-01 00:00 (Shanghai) are outside October; 10-01 00:00 and 10-31 23:59:59.999 inside.
    const october = await summary(org.as.accountant, 'MONTH', ...OCTOBER);
    expect(october).toEqual([{ key: '2026-10', label: null, count: 5, total: '200006497.95' }]);
    expect(await summary(org.as.accountant, 'CATEGORY', '2026-10-01', '2026-10-01')).toEqual([{ key: 'MEALS', label: null, count: 1, total: '199999999.99' }]);
    expect(await summary(org.as.accountant, 'CATEGORY', '2026-09-30', '2026-09-30')).toEqual([{ key: 'TRAVEL', label: null, count: 1, total: '0.01' }]);
    expect(await summary(org.as.accountant, 'CATEGORY', '2026-10-31', '2026-10-31')).toEqual([{ key: 'OFFICE', label: null, count: 1, total: '4999.99' }]);
    expect(await summary(org.as.accountant, 'CATEGORY', '2026-11-01', '2026-11-01')).toEqual([{ key: 'TRAVEL', label: null, count: 1, total: '5000.01' }]);
    expect(await summary(org.as.accountant, 'DEPARTMENT', '2026-12-01', '2026-12-31')).toEqual([]);
  });

  it('covers the caller’s claims only: own for an employee, the department’s for a manager, all for finance', async () => {
    for (const viewer of ['alice', 'bob', 'salesManager', 'ceo', 'accountant', 'director', 'auditor'] as const) {
      for (const g of ['DEPARTMENT', 'CATEGORY', 'MONTH'] as const) {
        expect(await summary(org.as[viewer], g, ...QUARTER), `${viewer} ${g}`).toEqual(expectedSummary(viewer, g, ...QUARTER));
      }
    }
    expect(await summary(org.as.alice, 'DEPARTMENT', ...QUARTER)).toEqual([{ key: org.sales, label: 'Sales', count: 3, total: '200000012.34' }]);
    expect(await summary(org.as.bob, 'DEPARTMENT', ...QUARTER)).toEqual([{ key: org.sales, label: 'Sales', count: 2, total: '6234.62' }]);
    expect(await summary(org.as.salesManager, 'DEPARTMENT', ...QUARTER)).toEqual([{ key: org.sales, label: 'Sales', count: 5, total: '200006246.96' }]);
    expect(await summary(org.as.outsider, 'DEPARTMENT', ...QUARTER)).toEqual([]);
  });

  it('is computed in the database: one aggregate command, no claim read', async () => {
    await summary(org.as.accountant, 'CATEGORY', ...QUARTER); // warm: route and indexes
    oa.commands.length = 0;
    await summary(org.as.accountant, 'MONTH', ...QUARTER);
    expect(oa.commands).toEqual(['aggregate']);
  });

  it('refuses a period that ends before it starts or spans more than 366 days, naming the argument', async () => {
    const fieldOf = (r: GqlResult) => (r.errors?.[0]?.extensions as { field?: string } | undefined)?.field;
    const backwards = await oa.gql(org.as.accountant, SUMMARY, { g: 'MONTH', from: '2026-10-02', to: '2026-10-01' });
    expect(codes(backwards)).toEqual(['BAD_USER_INPUT']);
    expect(fieldOf(backwards)).toBe('from');
    const tooLong = await oa.gql(org.as.accountant, SUMMARY, { g: 'MONTH', from: '2025-01-01', to: '2026-01-02' });
    expect(codes(tooLong)).toEqual(['BAD_USER_INPUT']);
    expect(fieldOf(tooLong)).toBe('to');
    expect(tooLong.errors?.[0]?.message).toMatch(/367 days.*366/);
    // A leap year is 366 days: allowed.
    expect(await summary(org.as.accountant, 'MONTH', '2024-01-01', '2024-12-31')).toEqual([]);
    expect(codes(await oa.gql(org.as.accountant, SUMMARY, { g: 'MONTH', from: '2026-02-30', to: '2026-03-01' }))).toEqual(['BAD_USER_INPUT']);
    const cycles = await oa.gql(org.as.accountant, CYCLES, { g: null, from: '2026-10-02', to: '2026-10-01' });
    expect(codes(cycles)).toEqual(['BAD_USER_INPUT']);
    expect(fieldOf(cycles)).toBe('from');
  });
});

describe('claimCycleTimes', () => {
  interface CycleRow {
    key: string;
    label: string | null;
    count: number;
    submissionToApprovalAvgMs: number;
    submissionToApprovalP50Ms: number;
    submissionToApprovalP95Ms: number;
    submissionToApprovalMaxMs: number;
  }
  const cycles = async (who: Principal, g: Group | null, from: string, to: string) =>
    ok(await oa.gql<{ claimCycleTimes: CycleRow[] }>(who, CYCLES, { g, from, to })).claimCycleTimes;
  const rank = (sorted: number[], p: number) => sorted[Math.ceil((p * sorted.length) / 100) - 1];

  function expected(viewer: string, g: Group | null, from: string, to: string): CycleRow[] {
    const groups = new Map<string, Made[]>();
    for (const c of made.filter((c) => scopes[viewer](c) && inPeriod(c, from, to))) groups.set(keyOf(c, g), [...(groups.get(keyOf(c, g)) ?? []), c]);
    return [...groups.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([key, cs]) => {
        const times = cs.map((c) => c.cycleMs).sort((a, b) => a - b);
        return {
          key,
          label: g === 'DEPARTMENT' ? (key === org.sales ? 'Sales' : 'Head office') : null,
          count: cs.length,
          submissionToApprovalAvgMs: Math.round(times.reduce((a, b) => a + b, 0) / times.length),
          submissionToApprovalP50Ms: rank(times, 50),
          submissionToApprovalP95Ms: rank(times, 95),
          submissionToApprovalMaxMs: times.at(-1)!,
        };
      });
  }

  it('gives average, p50, p95 and maximum per group, beyond 2^31 ms, scoped like the summary', async () => {
    const all = await cycles(org.as.accountant, null, '2026-09-01', '2026-11-30');
    expect(all).toEqual(expected('accountant', null, '2026-09-01', '2026-11-30'));
    const sorted = PLANNED.map((p) => p.cycleMs).sort((a, b) => a - b);
    expect(all).toEqual([
      {
        key: 'ALL',
        label: null,
        count: 7,
        submissionToApprovalAvgMs: Math.round(sorted.reduce((a, b) => a + b) / 7),
        submissionToApprovalP50Ms: DAY + 1, // 4th of 7
        submissionToApprovalP95Ms: 30 * DAY, // 7th of 7
        submissionToApprovalMaxMs: 30 * DAY,
      },
    ]);
    for (const viewer of ['alice', 'salesManager', 'ceo', 'accountant'] as const) {
      for (const g of ['DEPARTMENT', 'CATEGORY', 'MONTH', null] as const) {
        expect(await cycles(org.as[viewer], g, '2026-09-01', '2026-11-30'), `${viewer} ${g}`).toEqual(expected(viewer, g, '2026-09-01', '2026-11-30'));
      }
    }
    expect(await cycles(org.as.accountant, 'MONTH', '2026-10-01', '2026-10-31')).toEqual(expected('accountant', 'MONTH', '2026-10-01', '2026-10-31'));
    expect(await cycles(org.as.outsider, null, '2026-09-01', '2026-11-30')).toEqual([]);
  });
});

describe('business days and months in the pipeline (platform/business-time.ts)', () => {
  let engine: RunningEngine;
  let connection: mongoose.Connection;
  beforeAll(async () => {
    engine = await startEngine({ port: 0, dbPath: null });
    connection = await mongoose.createConnection(engine.uriFor('business_time')).asPromise();
  });
  afterAll(async () => {
    await connection?.close();
    await engine?.close();
  });

  it('turns a period into UTC instants of its first and next-after-last midnight', () => {
    expect(reportPeriod('Asia/Shanghai', '2026-10-01', '2026-10-31')).toMatchObject({
      start: new Date('2026-09-30T16:00:00.000Z'),
      end: new Date('2026-10-31T16:00:00.000Z'),
    });
    // Berlin: summer time ends on 2026-10-25, so October starts at +02:00 and November at +01:00.
    expect(reportPeriod('Europe/Berlin', '2026-10-01', '2026-10-31')).toMatchObject({
      start: new Date('2026-09-30T22:00:00.000Z'),
      end: new Date('2026-10-31T23:00:00.000Z'),
    });
    expect(dayStartIn('America/New_York', '2026-03-08')).toEqual(new Date('2026-03-08T05:00:00.000Z'));
    expect(dayStartIn('America/New_York', '2026-03-09')).toEqual(new Date('2026-03-09T04:00:00.000Z'));
  });

  it('finds the daylight-saving transitions of a period, to the millisecond', () => {
    const p = reportPeriod('Europe/Berlin', '2026-01-01', '2026-12-31');
    expect(offsetSegments('Europe/Berlin', p.start, p.end)).toEqual([
      { since: new Date('2025-12-31T23:00:00.000Z'), offsetMs: HOUR },
      { since: new Date('2026-03-29T01:00:00.000Z'), offsetMs: 2 * HOUR },
      { since: new Date('2026-10-25T01:00:00.000Z'), offsetMs: HOUR },
    ]);
    const s = reportPeriod('Asia/Shanghai', '2026-01-01', '2026-12-31');
    expect(offsetSegments('Asia/Shanghai', s.start, s.end)).toEqual([{ since: s.start, offsetMs: 8 * HOUR }]);
  });

  it('groups instants by local day and month on both sides of midnight and of a transition', async () => {
    const coll = connection.collection('instants');
    const at = ['2026-03-28T22:59:59.999Z', '2026-03-28T23:00:00.000Z', '2026-03-29T21:59:59.999Z', '2026-03-29T22:00:00.000Z', '2026-10-31T22:59:59.999Z', '2026-10-31T23:00:00.000Z'];
    await coll.insertMany(at.map((t) => ({ t: new Date(t) })));
    const p = reportPeriod('Europe/Berlin', '2026-01-01', '2026-12-31');
    const rows = await coll.aggregate([{ $group: { _id: { day: localDateKeyExpr('$t', 'day', 'Europe/Berlin', p), month: localDateKeyExpr('$t', 'month', 'Europe/Berlin', p) }, n: { $sum: 1 } } }, { $sort: { '_id.day': 1 } }]).toArray();
    expect(rows.map((r) => [r._id.day, r._id.month, r.n])).toEqual([
      ['2026-03-28', '2026-03', 1],
      ['2026-03-29', '2026-03', 2], // 00:00 +01:00 and 23:59:59.999 +02:00
      ['2026-03-30', '2026-03', 1],
      ['2026-10-31', '2026-10', 1],
      ['2026-11-01', '2026-11', 1],
    ]);
  });
});

describe('expenseSummary through the gateway (real JWT, shield)', () => {
  let stack: Stack;
  let gwOrg: Org;
  beforeAll(async () => {
    stack = await startStack({ label: 'oa_reports_gateway' });
    gwOrg = await seed(stack, '-GW');
    const claim = async (as: Principal, amount: string, category: Category) => {
      const c = ok(await stack.oa.gql<{ createExpenseClaim: { id: string } }>(as, CREATE_CLAIM, { input: { title: 't', category, items: [{ description: 'd', amount, occurredOn: '2026-09-01' }] } })).createExpenseClaim;
      ok(await stack.oa.gql(as, SUBMIT, { id: c.id }));
      ok(await stack.oa.gql(gwOrg.as.salesManager, DECIDE, { id: c.id, d: 'APPROVE' }));
      ok(await stack.oa.gql(gwOrg.as.accountant, DECIDE, { id: c.id, d: 'APPROVE' }));
    };
    await claim(gwOrg.as.alice, '100.10', 'TRAVEL');
    await claim(gwOrg.as.alice, '0.05', 'MEALS');
    await claim(gwOrg.as.bob, '999.99', 'TRAVEL');
  });
  afterAll(async () => stack?.close());

  it('lets an employee run the report, over their own claims only', async () => {
    // Approved just now: a period of yesterday..tomorrow in Shanghai holds them whatever the hour.
    const now = Date.now();
    const from = today('Asia/Shanghai', new Date(now - DAY));
    const to = today('Asia/Shanghai', new Date(now + DAY));
    const query = `query($from: Date!, $to: Date!) {
      expenseSummary(groupBy: CATEGORY, from: $from, to: $to) { key label count total }
      claimCycleTimes(from: $from, to: $to) { key count }
    }`;
    const alice = await stack.gql<{ expenseSummary: Row[]; claimCycleTimes: { key: string; count: number }[] }>(await stack.token(gwOrg.ids.alice), query, { from, to });
    expect(alice.errors).toBeUndefined();
    expect(alice.data!.expenseSummary).toEqual([
      { key: 'MEALS', label: null, count: 1, total: '0.05' },
      { key: 'TRAVEL', label: null, count: 1, total: '100.10' },
    ]);
    expect(alice.data!.claimCycleTimes).toEqual([{ key: 'ALL', count: 2 }]);
    const manager = await stack.gql<{ expenseSummary: Row[] }>(await stack.token(gwOrg.ids.salesManager), query, { from, to });
    expect(manager.data!.expenseSummary).toEqual([
      { key: 'MEALS', label: null, count: 1, total: '0.05' },
      { key: 'TRAVEL', label: null, count: 2, total: '1100.09' },
    ]);
    const anonymous = await fetch(stack.gateways[0].url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables: { from, to } }) });
    expect(anonymous.status).toBe(401);
  });
});

// Expense claims through the oa subgraph's own endpoint, with gateway-signed identities.
import { describe, expect, it } from 'vitest';
import { signPrincipal } from '../../platform/identity.ts';
import { ADMIN, codes, ok, useOaSubgraph } from './fixture.ts';
import { CREATE_CLAIM, DECIDE, type Org, SUBMIT, WITHDRAW, item, seedOrg } from './seed.ts';

const oa = useOaSubgraph('oa_claims');

type Claim = { id: string; claimNo: string; status: string; total: string };

async function file(org: Org, who: keyof Org['as'], items: ReturnType<typeof item>[], title = 'Trip to Shanghai'): Promise<Claim> {
  return ok(await oa.gql<{ createExpenseClaim: Claim }>(org.as[who], CREATE_CLAIM, { input: { title, category: 'TRAVEL', items } })).createExpenseClaim;
}

describe('identity', () => {
  it('answers 401 without a valid internal identity, for queries, _service and _entities alike', async () => {
    for (const query of ['{ departments { id } }', '{ _service { sdl } }', '{ _entities(representations: [{ __typename: "Employee", id: "x" }]) { __typename } }']) {
      const res = await fetch(oa.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ errors: [{ message: 'Unauthenticated: a valid internal identity is required', extensions: { code: 'UNAUTHENTICATED' } }] });
    }
    const body = JSON.stringify({ query: '{ departments { id } }' });
    const forged = await signPrincipal(ADMIN, 'another-secret-of-sufficient-length-000000', { audience: 'oa', method: 'POST', body });
    const res = await fetch(oa.url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-internal-identity': forged }, body });
    expect(res.status).toBe(401);
  });

  it('serves its SDL to a signed caller', async () => {
    const sdl = ok(await oa.gql<{ _service: { sdl: string } }>(ADMIN, '{ _service { sdl } }'))._service.sdl;
    expect(sdl).toMatch(/type ExpenseClaim\s+@key\(fields: "id"\)/);
  });
});

describe('the approval of a claim, end to end', () => {
  it('runs manager, accountant and (above the threshold) finance director, then APPROVED, with events in order', async () => {
    const org = await seedOrg(oa, '-e2e');
    const claim = await file(org, 'alice', [item('3000.00', 'INV-E2E-1'), item('2500.50', 'INV-E2E-2')]);
    expect(claim.status).toBe('DRAFT');
    expect(claim.total).toBe('5500.50');
    expect(claim.claimNo).toMatch(/^BX-\d{4}-\d{6}$/);

    const submitted = ok(await oa.gql<{ submitExpenseClaim: { status: string; approval: { steps: Array<{ name: string; status: string; assignees: Array<{ id: string }> }> } } }>(org.as.alice, SUBMIT, { id: claim.id })).submitExpenseClaim;
    expect(submitted.status).toBe('SUBMITTED');
    expect(submitted.approval.steps.map((s) => [s.name, s.status])).toEqual([
      ['Department manager', 'ACTIVE'],
      ['Finance review', 'WAITING'],
      ['Finance director', 'WAITING'],
    ]);
    expect(submitted.approval.steps[0].assignees.map((a) => a.id)).toEqual([org.ids.salesManager]);

    // Not assigned to the active step: FORBIDDEN, for the applicant, the accountant (a later step) and the auditor.
    for (const who of ['alice', 'accountant', 'auditor', 'bob'] as const) {
      expect(codes(await oa.gql(org.as[who], DECIDE, { id: claim.id, d: 'APPROVE' }))).toEqual(['FORBIDDEN']);
    }
    let decided = ok(await oa.gql<{ decideApproval: { status: string } }>(org.as.salesManager, DECIDE, { id: claim.id, d: 'APPROVE', c: 'ok' })).decideApproval;
    expect(decided.status).toBe('SUBMITTED');
    expect(codes(await oa.gql(org.as.salesManager, DECIDE, { id: claim.id, d: 'APPROVE' }))).toEqual(['FORBIDDEN']);
    decided = ok(await oa.gql<{ decideApproval: { status: string } }>(org.as.accountant, DECIDE, { id: claim.id, d: 'APPROVE' })).decideApproval;
    expect(decided.status).toBe('SUBMITTED');
    const final = ok(await oa.gql<{ decideApproval: { status: string; approvedAt: string; approval: { status: string } } }>(org.as.director, DECIDE, { id: claim.id, d: 'APPROVE' })).decideApproval;
    expect(final.status).toBe('APPROVED');
    expect(final.approval.status).toBe('APPROVED');
    expect(Date.parse(final.approvedAt)).toBeGreaterThan(Date.now() - 60_000);

    const events = await oa.services.events.forSubject({ type: 'ExpenseClaim', id: claim.id });
    expect(events.map((e) => e.type)).toEqual(['CLAIM_SUBMITTED', 'CLAIM_APPROVED']);
    expect(events[0].seq).toBeLessThan(events[1].seq);
    expect(events[1].payload).toMatchObject({ claimNo: claim.claimNo, total: '5500.50', totalFen: 550050, applicantId: org.ids.alice });
    expect(codes(await oa.gql(org.as.director, DECIDE, { id: claim.id, d: 'APPROVE' }))).toEqual(['CONFLICT']);
  });

  it('skips the finance director at or below the threshold', async () => {
    const org = await seedOrg(oa, '-small');
    const claim = await file(org, 'bob', [item('5000.00')]);
    ok(await oa.gql(org.as.bob, SUBMIT, { id: claim.id }));
    ok(await oa.gql(org.as.salesManager, DECIDE, { id: claim.id, d: 'APPROVE' }));
    const done = ok(await oa.gql<{ decideApproval: { status: string; approval: { steps: Array<{ status: string }> } } }>(org.as.accountant, DECIDE, { id: claim.id, d: 'APPROVE' })).decideApproval;
    expect(done.status).toBe('APPROVED');
    expect(done.approval.steps.map((s) => s.status)).toEqual(['APPROVED', 'APPROVED', 'SKIPPED']);
  });

  it('ends on a rejection, releases the invoices and records CLAIM_REJECTED', async () => {
    const org = await seedOrg(oa, '-rej');
    const claim = await file(org, 'alice', [item('120.00', 'INV-REJ-1')]);
    ok(await oa.gql(org.as.alice, SUBMIT, { id: claim.id }));
    const rejected = ok(await oa.gql<{ decideApproval: { status: string } }>(org.as.salesManager, DECIDE, { id: claim.id, d: 'REJECT', c: 'no receipt' })).decideApproval;
    expect(rejected.status).toBe('REJECTED');
    const again = await file(org, 'bob', [item('120.00', 'INV-REJ-1')]);
    expect(again.status).toBe('DRAFT');
    const events = await oa.services.events.forSubject({ type: 'ExpenseClaim', id: claim.id });
    expect(events.map((e) => e.type)).toEqual(['CLAIM_SUBMITTED', 'CLAIM_REJECTED']);
    expect(events[1].payload.comment).toBe('no receipt');

    // The steps not reached read CANCELLED, not WAITING; statuses and modes are enums of the schema.
    const APPROVAL = `query($id: ID!) { expenseClaim(id: $id) { approval { status steps { name mode status } } } }`;
    type Approval = { expenseClaim: { approval: { status: string; steps: Array<{ name: string; mode: string; status: string }> } } };
    const read = async () => ok(await oa.gql<Approval>(org.as.alice, APPROVAL, { id: claim.id })).expenseClaim.approval;
    expect(await read()).toEqual({
      status: 'REJECTED',
      steps: [
        { name: 'Department manager', mode: 'ANY', status: 'REJECTED' },
        { name: 'Finance review', mode: 'ANY', status: 'CANCELLED' },
        // Below the threshold the director's step never applied: it stays SKIPPED.
        { name: 'Finance director', mode: 'ANY', status: 'SKIPPED' },
      ],
    });
    // An approval rejected before that rule kept WAITING in storage: it is shown CANCELLED, and not rewritten.
    const instances = oa.connection.collection('workflow_instances');
    await instances.updateOne({ 'subject.id': claim.id }, { $set: { 'steps.1.status': 'WAITING' } });
    expect((await read()).steps[1].status).toBe('CANCELLED');
    expect((await instances.findOne({ 'subject.id': claim.id }))!.steps[1].status).toBe('WAITING');
    const types = ok(await oa.gql<{ __type: { fields: Array<{ name: string; type: { ofType: { name: string; kind: string } } }> } }>(org.as.alice, '{ __type(name: "ApprovalStep") { fields { name type { ofType { name kind } } } } }')).__type.fields;
    expect(types.filter((f) => f.name === 'status' || f.name === 'mode').map((f) => [f.name, f.type.ofType.name, f.type.ofType.kind])).toEqual([
      ['mode', 'ApprovalMode', 'ENUM'],
      ['status', 'ApprovalStepStatus', 'ENUM'],
    ]);
  });
});

describe('claims', () => {
  it('numbers claims per year without gaps, even when a creation fails', async () => {
    const org = await seedOrg(oa, '-num');
    const a = await file(org, 'alice', [item('1.00', 'INV-NUM-1')]);
    expect(codes(await oa.gql(org.as.bob, CREATE_CLAIM, { input: { title: 'dup', category: 'MEALS', items: [item('2.00', 'INV-NUM-1')] } }))).toEqual(['CONFLICT']);
    const b = await file(org, 'alice', [item('3.00')]);
    const seq = (no: string) => Number(no.slice(-6));
    expect(seq(b.claimNo)).toBe(seq(a.claimNo) + 1);
    expect(b.claimNo.slice(3, 7)).toBe(a.claimNo.slice(3, 7));
  });

  it('validates input with BAD_USER_INPUT', async () => {
    const org = await seedOrg(oa, '-val');
    const bad = async (items: unknown[], title = 'T') => codes(await oa.gql(org.as.alice, CREATE_CLAIM, { input: { title, category: 'OFFICE', items } }));
    expect(await bad([])).toEqual(['BAD_USER_INPUT']);
    expect(await bad([item('0.00')])).toEqual(['BAD_USER_INPUT']);
    expect(await bad([item('-5.00')])).toEqual(['BAD_USER_INPUT']);
    expect(await bad([item('1.234')])).toEqual(['BAD_USER_INPUT']);
    expect(await bad([item('12abc')])).toEqual(['BAD_USER_INPUT']);
    expect(await bad([item('10.00', undefined, '2999-01-01')])).toEqual(['BAD_USER_INPUT']);
    expect(await bad([item('10.00', undefined, '2026-02-30')])).toEqual(['BAD_USER_INPUT']);
    expect(await bad([item('1.00', 'INV-SAME'), item('2.00', 'INV-SAME')])).toEqual(['BAD_USER_INPUT']);
    expect(await bad([item('1.00')], '  ')).toEqual(['BAD_USER_INPUT']);
    const res = await oa.gql<{ createExpenseClaim: { total: string } }>(org.as.alice, CREATE_CLAIM, { input: { title: 'Sum', category: 'OFFICE', items: [item('0.10'), item('0.20'), item('1234.5')] } });
    expect(ok(res).createExpenseClaim.total).toBe('1234.80');
  });

  it('refuses an invoice booked on another live claim with CONFLICT, and frees it when that claim is withdrawn', async () => {
    const org = await seedOrg(oa, '-inv');
    const first = await file(org, 'alice', [item('10.00', 'inv-dup-9')]);
    const dup = await oa.gql(org.as.bob, CREATE_CLAIM, { input: { title: 'again', category: 'MEALS', items: [item('10.00', 'INV-DUP-9')] } });
    expect(codes(dup)).toEqual(['CONFLICT']);
    expect(dup.errors![0].message).toContain(first.claimNo);
    expect(ok(await oa.gql<{ withdrawExpenseClaim: { status: string } }>(org.as.alice, WITHDRAW, { id: first.id })).withdrawExpenseClaim.status).toBe('WITHDRAWN');
    expect((await file(org, 'bob', [item('10.00', 'INV-DUP-9')])).status).toBe('DRAFT');
  });

  it('lets only the applicant withdraw, and only before the first decision', async () => {
    const org = await seedOrg(oa, '-wd');
    const claim = await file(org, 'alice', [item('50.00')]);
    ok(await oa.gql(org.as.alice, SUBMIT, { id: claim.id }));
    expect(codes(await oa.gql(org.as.salesManager, WITHDRAW, { id: claim.id }))).toEqual(['FORBIDDEN']);
    ok(await oa.gql(org.as.salesManager, DECIDE, { id: claim.id, d: 'APPROVE' }));
    expect(codes(await oa.gql(org.as.alice, WITHDRAW, { id: claim.id }))).toEqual(['CONFLICT']);
    const other = await file(org, 'alice', [item('60.00')]);
    ok(await oa.gql(org.as.alice, SUBMIT, { id: other.id }));
    expect(ok(await oa.gql<{ withdrawExpenseClaim: { status: string } }>(org.as.alice, WITHDRAW, { id: other.id })).withdrawExpenseClaim.status).toBe('WITHDRAWN');
    const events = await oa.services.events.forSubject({ type: 'ExpenseClaim', id: other.id });
    expect(events.map((e) => e.type)).toEqual(['CLAIM_SUBMITTED', 'CLAIM_WITHDRAWN']);
    expect(codes(await oa.gql(org.as.salesManager, DECIDE, { id: other.id, d: 'APPROVE' }))).toEqual(['CONFLICT']);
  });
});

describe('row-level scope', () => {
  it('shows employees their own claims, managers their department, finance and audit everything', async () => {
    const org = await seedOrg(oa, '-scope');
    const a = await file(org, 'alice', [item('1.00')], 'alice claim');
    const b = await file(org, 'bob', [item('2.00')], 'bob claim');
    const o = await file(org, 'outsider', [item('3.00')], 'ops claim');
    const mine = [a.id, b.id, o.id];
    const visible = async (who: keyof Org['as']) => {
      const res = ok(await oa.gql<{ expenseClaims: { edges: Array<{ node: { id: string } }> } }>(org.as[who], '{ expenseClaims(first: 100) { edges { node { id } } } }'));
      return res.expenseClaims.edges.map((e) => e.node.id).filter((id) => mine.includes(id)).sort();
    };
    expect(await visible('alice')).toEqual([a.id]);
    expect(await visible('bob')).toEqual([b.id]);
    expect(await visible('salesManager')).toEqual([a.id, b.id].sort());
    expect(await visible('ceo')).toEqual([]);
    for (const who of ['accountant', 'director', 'auditor'] as const) expect(await visible(who)).toEqual([...mine].sort());
    const peek = ok(await oa.gql<{ expenseClaim: unknown }>(org.as.bob, `query($id: ID!) { expenseClaim(id: $id) { id } }`, { id: a.id }));
    expect(peek.expenseClaim).toBeNull();
    // A reference out of scope resolves to FORBIDDEN for that entity only (the gateway then answers the field as
    // null with FORBIDDEN, not an object it cannot complete).
    const entity = await oa.gql<{ _entities: unknown[] }>(org.as.bob, `query($r: [_Any!]!) { _entities(representations: $r) { ... on ExpenseClaim { id } } }`, { r: [{ __typename: 'ExpenseClaim', id: a.id }, { __typename: 'ExpenseClaim', id: b.id }] });
    expect(entity.data!._entities).toEqual([null, { id: b.id }]);
    expect(entity.errors).toEqual([expect.objectContaining({ message: 'Not allowed: this expense claim is outside your scope', path: ['_entities', 0], extensions: { code: 'FORBIDDEN' } })]);
  });

  it('lets an approver see the claim assigned to them and list it among their tasks', async () => {
    const org = await seedOrg(oa, '-tasks');
    const claim = await file(org, 'alice', [item('9.00')]);
    ok(await oa.gql(org.as.alice, SUBMIT, { id: claim.id }));
    const tasks = ok(await oa.gql<{ myApprovalTasks: Array<{ id: string }> }>(org.as.salesManager, '{ myApprovalTasks { id } }')).myApprovalTasks;
    expect(tasks.map((t) => t.id)).toContain(claim.id);
    expect(ok(await oa.gql<{ myApprovalTasks: unknown[] }>(org.as.accountant, '{ myApprovalTasks { id } }')).myApprovalTasks.map((t) => (t as { id: string }).id)).not.toContain(claim.id);
  });

  it('pages with a stable cursor and an exact total', async () => {
    const org = await seedOrg(oa, '-page');
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push((await file(org, 'alice', [item(`${i + 1}.00`)], `page ${i}`)).id);
    const page = async (after?: string) =>
      ok(await oa.gql<{ expenseClaims: { edges: Array<{ cursor: string; node: { id: string } }>; pageInfo: { hasNextPage: boolean; endCursor: string }; totalCount: number } }>(org.as.alice, 'query($a: String) { expenseClaims(first: 5, after: $a) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } totalCount } }', { a: after })).expenseClaims;
    const p1 = await page();
    const p2 = await page(p1.pageInfo.endCursor);
    const p3 = await page(p2.pageInfo.endCursor);
    expect(p1.totalCount).toBe(12);
    expect([p1, p2, p3].map((p) => p.edges.length)).toEqual([5, 5, 2]);
    expect([p1, p2, p3].map((p) => p.pageInfo.hasNextPage)).toEqual([true, true, false]);
    expect([...p1.edges, ...p2.edges, ...p3.edges].map((e) => e.node.id)).toEqual([...ids].reverse());
    expect(codes(await oa.gql(org.as.alice, '{ expenseClaims(first: 5, after: "bogus") { totalCount } }'))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await oa.gql(org.as.alice, '{ expenseClaims(first: 1001) { totalCount } }'))).toEqual(['BAD_USER_INPUT']);
  });
});

describe('claim lists: filter and order', () => {
  const LIST = `query($f: ExpenseClaimFilter, $o: ExpenseClaimOrder, $first: Int, $after: String) {
    expenseClaims(filter: $f, orderBy: $o, first: $first, after: $after) { totalCount edges { cursor node { id claimNo title total status applicant { id } } } pageInfo { hasNextPage endCursor } }
  }`;
  type Page = { expenseClaims: { totalCount: number; edges: Array<{ cursor: string; node: { id: string; claimNo: string; title: string; total: string; status: string; applicant: { id: string } } }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } } };
  const list = async (who: Org['as'][keyof Org['as']], variables: Record<string, unknown>) => ok(await oa.gql<Page>(who, LIST, variables)).expenseClaims;

  it('filters by applicant, department subtree, statuses, creation day and text, within the caller scope', async () => {
    const org = await seedOrg(oa, '-lst');
    const a1 = await file(org, 'alice', [item('30.00', 'INV-LST-1')], 'Taxi to 机场 (a+b)');
    const a2 = await file(org, 'alice', [item('500.00', 'INV-LST-2')], 'Hotel Beijing');
    const b1 = await file(org, 'bob', [item('75.50', 'INV-LST-3')], 'Train ticket');
    ok(await oa.gql(org.as.alice, SUBMIT, { id: a2.id }));
    const auditor = org.as.auditor;
    const ids = (p: Page['expenseClaims']) => p.edges.map((e) => e.node.id).sort();
    const mine = { departmentId: org.sales };

    expect(ids(await list(auditor, { f: { ...mine, applicantId: org.ids.alice } }))).toEqual([a1.id, a2.id].sort());
    expect(ids(await list(auditor, { f: { ...mine, statuses: ['SUBMITTED'] } }))).toEqual([a2.id]);
    // Sales lies below HQ: without the subtree HQ has none of these claims, with it all three.
    expect((await list(auditor, { f: { departmentId: org.hq } })).totalCount).toBe(0);
    expect(ids(await list(auditor, { f: { departmentId: org.hq, includeSubdepartments: true, applicantId: null } })).filter((id) => [a1.id, a2.id, b1.id].includes(id))).toEqual([a1.id, a2.id, b1.id].sort());
    // Text: in the title or the claim number, case-insensitive, regex characters taken literally.
    expect(ids(await list(auditor, { f: { ...mine, text: 'HOTEL' } }))).toEqual([a2.id]);
    expect(ids(await list(auditor, { f: { ...mine, text: '(a+b)' } }))).toEqual([a1.id]);
    expect(ids(await list(auditor, { f: { ...mine, text: '机场' } }))).toEqual([a1.id]);
    expect(ids(await list(auditor, { f: { ...mine, text: b1.claimNo.toLowerCase() } }))).toEqual([b1.id]);
    expect((await list(auditor, { f: { ...mine, text: '.*' } })).totalCount).toBe(0);
    // Creation days in the business time zone: today holds all three, yesterday none.
    const today = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' }).format(new Date());
    const yesterday = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' }).format(new Date(Date.now() - 86_400_000));
    expect((await list(auditor, { f: { ...mine, createdFrom: today, createdTo: today } })).totalCount).toBe(3);
    expect((await list(auditor, { f: { ...mine, createdTo: yesterday } })).totalCount).toBe(0);
    // The caller's scope still holds: Bob filtering for Alice's claims sees none.
    expect((await list(org.as.bob, { f: { applicantId: org.ids.alice } })).totalCount).toBe(0);
    // Bad input names the argument.
    const refusal = await oa.gql(auditor, LIST, { f: { createdFrom: today, createdTo: yesterday } });
    expect(refusal.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'filter.createdFrom' } });
    expect((await oa.gql(auditor, LIST, { f: { text: 'x'.repeat(101) } })).errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'filter.text' } });
  });

  it('orders by amount or age, and pages through equal amounts with no repeat and no skip', async () => {
    const org = await seedOrg(oa, '-ord');
    const amounts = ['10.00', '99.99', '10.00', '250.00', '10.00', '0.01'];
    const claims = [];
    for (const [i, a] of amounts.entries()) claims.push(await file(org, 'alice', [item(a, `INV-ORD-${i}`)]));
    const f = { departmentId: org.sales };
    const walk = async (o: string) => {
      const seen: Array<{ id: string; total: string }> = [];
      let after: string | null = null;
      for (;;) {
        const page: Page['expenseClaims'] = await list(org.as.auditor, { f, o, first: 2, after });
        seen.push(...page.edges.map((e) => ({ id: e.node.id, total: e.node.total })));
        if (!page.pageInfo.hasNextPage) return seen;
        after = page.pageInfo.endCursor;
      }
    };
    const desc = await walk('AMOUNT_DESC');
    expect(desc.map((c) => c.total)).toEqual(['250.00', '99.99', '10.00', '10.00', '10.00', '0.01']);
    expect(new Set(desc.map((c) => c.id)).size).toBe(6);
    // Equal totals: newest first in AMOUNT_DESC, oldest first in AMOUNT_ASC.
    expect(desc.slice(2, 5).map((c) => c.id)).toEqual([claims[4].id, claims[2].id, claims[0].id]);
    const asc = await walk('AMOUNT_ASC');
    expect(asc.map((c) => c.id)).toEqual([...desc.map((c) => c.id)].reverse());
    expect((await walk('OLDEST')).map((c) => c.id)).toEqual(claims.map((c) => c.id));
    expect((await walk('NEWEST')).map((c) => c.id)).toEqual(claims.map((c) => c.id).reverse());
    // A cursor continues the order it came from only.
    const first = await list(org.as.auditor, { f, o: 'AMOUNT_DESC', first: 1 });
    const wrong = await oa.gql(org.as.auditor, LIST, { f, o: 'OLDEST', after: first.pageInfo.endCursor });
    expect(wrong.errors?.[0]).toMatchObject({ message: 'after is not a cursor of this list in the order OLDEST', extensions: { code: 'BAD_USER_INPUT', field: 'after' } });
  });

  it('pages backwards with last and before, in every order, meeting the forward pages exactly', async () => {
    const org = await seedOrg(oa, '-back');
    const amounts = ['10.00', '99.99', '10.00', '250.00', '10.00', '0.01', '42.00'];
    for (const [i, a] of amounts.entries()) await file(org, 'alice', [item(a, `INV-BACK-${i}`)]);
    const f = { departmentId: org.sales };
    const BACK = `query($f: ExpenseClaimFilter, $o: ExpenseClaimOrder, $last: Int, $before: String, $first: Int, $after: String) {
      expenseClaims(filter: $f, orderBy: $o, last: $last, before: $before, first: $first, after: $after) {
        edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      }
    }`;
    type BackPage = { expenseClaims: { edges: Array<{ cursor: string; node: { id: string } }>; pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null } } };
    const page = async (v: Record<string, unknown>) => ok(await oa.gql<BackPage>(org.as.auditor, BACK, { f, ...v })).expenseClaims;
    for (const o of ['NEWEST', 'OLDEST', 'AMOUNT_DESC', 'AMOUNT_ASC']) {
      const all = (await page({ o, first: 100 })).edges.map((e) => e.node.id);
      expect(all).toHaveLength(7);
      // From the end backwards, 3 at a time: the same list, and each page in the list's order.
      const seen: string[] = [];
      let before: string | null = null;
      let pages = 0;
      for (;;) {
        const p: BackPage['expenseClaims'] = await page({ o, last: 3, before });
        seen.unshift(...p.edges.map((e) => e.node.id));
        pages++;
        expect(p.pageInfo.startCursor).toBe(p.edges[0].cursor);
        expect(p.pageInfo.endCursor).toBe(p.edges.at(-1)!.cursor);
        expect(p.pageInfo.hasNextPage, o).toBe(before !== null);
        if (!p.pageInfo.hasPreviousPage) break;
        before = p.pageInfo.startCursor;
      }
      expect(seen, o).toEqual(all);
      expect(pages).toBe(3);
      // The second forward page is items 2 and 3; backwards from its end come the two before item 3.
      const forward = await page({ o, first: 2, after: (await page({ o, first: 2 })).pageInfo.endCursor });
      expect(forward.edges.map((e) => e.node.id)).toEqual([all[2], all[3]]);
      expect(forward.pageInfo.hasPreviousPage).toBe(true);
      const back = await page({ o, last: 2, before: forward.pageInfo.endCursor });
      expect(back.edges.map((e) => e.node.id)).toEqual([all[1], all[2]]);
      expect(back.pageInfo).toMatchObject({ hasPreviousPage: true, hasNextPage: true });
    }
    const first = await page({ o: 'NEWEST', first: 1 });
    expect(first.pageInfo).toMatchObject({ hasPreviousPage: false, hasNextPage: true });
    const bad = await oa.gql(org.as.auditor, BACK, { f, o: 'OLDEST', last: 1, before: first.pageInfo.endCursor });
    expect(bad.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'before' } });
    expect((await oa.gql(org.as.auditor, BACK, { f, last: 0 })).errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'last' } });
  });
});

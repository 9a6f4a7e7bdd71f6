// Queries across subgraphs that the caller may read whole run on the query planner (gateway/planned.ts): which ones
// qualify, and over HTTP, the same answers (data and errors) as the stitched path for callers of different roles,
// each subgraph call signed for the caller (the subgraphs apply their row scope), while refused fields, sensitive
// fields, mutations, the gateway's own node field and introspection stay stitched; a subgraph that is down fails
// only its own fields (one error at the list's path, where stitching gives one per row).
import { parse } from 'graphql';
import { beforeAll, describe, expect, it } from 'vitest';
import { GatewayMetrics } from '../../gateway/metrics.ts';
import { plannable } from '../../gateway/planned.ts';
import { joinMapOf } from '../../gateway/single-subgraph.ts';
import { applyPermissions } from '../../gateway/permissions.ts';
import { buildSupergraphSchema, loadSupergraphSdl } from '../../gateway/supergraph.ts';
import type { Principal } from '../../platform/identity.ts';
import { createLogger } from '../../platform/logger.ts';
import { SECRET, ok } from '../oa/fixture.ts';
import { CREATE_CLAIM, DECIDE, SUBMIT, item, seedOrg, type Org } from '../oa/seed.ts';
import { asOaClient, postAs, useGateway, useServedGateways } from './fixture.ts';

const sdl = loadSupergraphSdl();
const joins = joinMapOf(sdl);
const shielded = applyPermissions(buildSupergraphSchema({ supergraphSdl: sdl, urls: {}, internalSecret: SECRET, timeoutMs: 1000 }));
const planned = (source: string) => plannable(shielded, joins, parse(source));

describe('which operations the planner runs', () => {
  it('queries whose every field a subgraph resolves, joins included', () => {
    expect(planned('{ expenseClaims(first: 2) { edges { node { claimNo applicant { name } voucher { voucherNo } archiveRecord { archiveNo } } } } }')).toBe(true);
    expect(planned('query Q { ...F } fragment F on Query { expenseClaims { edges { node { voucher { claim { claimNo __typename } } } } } }')).toBe(true);
  });

  it('not mutations, sensitive fields, introspection nor the gateway\'s own node field', () => {
    expect(planned('mutation($i: CreateExpenseClaimInput!) { createExpenseClaim(input: $i) { id voucher { voucherNo } } }')).toBe(false);
    expect(planned('{ expenseClaims { edges { node { applicant { name bankAccount } voucher { voucherNo } } } } }')).toBe(false);
    expect(planned('{ __schema { queryType { name } } }')).toBe(false);
    expect(planned('{ expenseClaims { edges { node { claimNo __type: voucher { voucherNo } } } } }')).toBe(true);
    expect(planned('{ node(id: "x") { id } }')).toBe(false);
    // Every operation of the document counts, not only the one run.
    expect(planned('query A { departments { id } } mutation B { submitExpenseClaim(id: "x") { id } }')).toBe(false);
  });
});

const gw = useGateway('gateway_planned');
const client = asOaClient(gw);
const principals = new Map<string, Principal>();
const served = useServedGateways(gw, principals);
const calls = served.calls;
let org: Org;
const claimIds: string[] = [];

let stitchedUrl: string;
let plannedUrl: string;

beforeAll(async () => {
  org = await seedOrg(client as never, '-pl');
  for (const [name, p] of Object.entries(org.as)) principals.set(`Bearer ${name}`, p);
  const sync: Principal = { sub: 'sync-service', roles: [], departmentId: null, kind: 'service' };
  // Three claims of alice, approved; the first two with a voucher, the first filed as well.
  for (const n of [1, 2, 3]) {
    const created = ok(await client.gql(org.as.alice, CREATE_CLAIM, { input: { title: `Planned ${n}`, category: 'TRAVEL', items: [item(`${n}0.50`, `PL-INV-${n}`)] } })) as { createExpenseClaim: { id: string; claimNo: string } };
    const id = created.createExpenseClaim.id;
    claimIds.push(id);
    ok(await client.gql(org.as.alice, SUBMIT, { id }));
    ok(await client.gql(org.as.salesManager, DECIDE, { id, d: 'APPROVE' }));
    ok(await client.gql(org.as.accountant, DECIDE, { id, d: 'APPROVE' }));
    if (n === 3) continue;
    const voucher = ok(
      await client.gql(sync, 'mutation($c: ApprovedClaimInput!) { generateVoucher(claim: $c) { id } }', {
        c: { claimId: id, claimNo: created.createExpenseClaim.claimNo, title: `Planned ${n}`, category: 'TRAVEL', applicantId: org.ids.alice, departmentId: org.sales, approvedAt: new Date().toISOString(), total: `${n}0.50`, items: [{ description: 'item', amount: `${n}0.50`, occurredOn: '2026-11-01', invoiceNo: `PL-INV-${n}` }] },
      }),
    ) as { generateVoucher: { id: string } };
    if (n === 1) ok(await client.gql(sync, 'mutation($v: ID!) { fileVoucher(voucherId: $v) { id } }', { v: voucher.generateVoucher.id }));
  }
  // The same gateway twice: joins stitched, and on the planner.
  stitchedUrl = await served.serve({ passThrough: false, planned: false });
  plannedUrl = await served.serve({ passThrough: false, planned: true });
}, 90_000);

const post = postAs;

const LIST = `query List($n: Int) { expenseClaims(first: $n) { totalCount edges { cursor node {
  claimNo total status applicant { name department { code } } department { name }
  voucher { voucherNo debitTotal entries { accountCode debit credit } claim { claimNo } }
  archiveRecord { archiveNo retention voucher { voucherNo } }
} } pageInfo { hasNextPage endCursor } } }`;

describe('over HTTP: the planner answers as the stitched path does', () => {
  const cases: Array<{ who: string; query: string; variables?: () => Record<string, unknown>; planned: boolean; codes?: string[] }> = [
    // Finance sees every claim; alice only her own; the manager his department's: the subgraphs' row scope.
    { who: 'accountant', query: LIST, variables: () => ({ n: 50 }), planned: true },
    { who: 'alice', query: LIST, variables: () => ({ n: 50 }), planned: true },
    { who: 'salesManager', query: LIST, variables: () => ({ n: 50 }), planned: true },
    // Aliases, fragments, __typename, a claim without voucher.
    {
      who: 'accountant',
      query: 'query($id: ID!) { one: expenseClaim(id: $id) { ...C v: voucher { __typename no: voucherNo } } } fragment C on ExpenseClaim { __typename claimNo archiveRecord { archiveNo } }',
      variables: () => ({ id: claimIds[2] }),
      planned: true,
    },
    // A subgraph's own error keeps its path and code.
    { who: 'accountant', query: '{ expenseClaim(id: "000000000000000000000000") { claimNo voucher { voucherNo } } }', planned: true },
    // A sensitive field: stitched (masked per record).
    { who: 'accountant', query: '{ expenseClaims(first: 5) { edges { node { applicant { name idNumber } voucher { voucherNo } } } } }', planned: false, codes: ['FORBIDDEN', 'FORBIDDEN', 'FORBIDDEN'] },
    // A field the caller may not read: stitched, with the shield's partial answer.
    { who: 'alice', query: '{ expenseClaims(first: 5) { edges { node { claimNo voucher { voucherNo } } } } inboundEvents { totalCount } }', planned: false, codes: ['FORBIDDEN'] },
  ];

  it('reads vouchers and records across subgraphs for the claims that have them, in one entity call per subgraph', async () => {
    // First in this block: a stitched answer can leave calls in flight after it is sent (a field's error ends its
    // parent early), which would land among these.
    calls.length = 0;
    const { body } = await post(plannedUrl, 'accountant', LIST, { n: 50 });
    expect(body.errors).toBeUndefined();
    const nodes = (body.data!.expenseClaims as { edges: Array<{ node: Record<string, unknown> & { claimNo: string } }> }).edges.map((e) => e.node);
    const mine = nodes.filter((n) => (n.applicant as { name: string }).name === 'Alice' && /^BX-/.test(n.claimNo));
    expect(mine.filter((n) => n.voucher !== null)).toHaveLength(2);
    expect(mine.filter((n) => n.archiveRecord !== null)).toHaveLength(1);
    const filed = mine.find((n) => n.archiveRecord !== null)!;
    expect((filed.archiveRecord as { voucher: { voucherNo: string } }).voucher.voucherNo).toBe((filed.voucher as { voucherNo: string }).voucherNo);
    expect(calls.filter((c) => c.subgraph === 'archive')).toHaveLength(1);
  });

  for (const [i, c] of cases.entries()) {
    it(`case ${i + 1}: ${c.planned ? 'planned' : 'stitched'}, the same answer`, async () => {
      calls.length = 0;
      const stitched = await post(stitchedUrl, c.who, c.query, c.variables?.());
      const stitchedCalls = calls.splice(0);
      const direct = await post(plannedUrl, c.who, c.query, c.variables?.());
      expect(direct.status).toBe(stitched.status);
      expect(direct.body.data).toEqual(stitched.body.data);
      const shape = (b: typeof direct.body) => b.errors?.map((e) => ({ message: e.message, path: e.path, code: e.extensions?.code }));
      expect(shape(direct.body)).toEqual(shape(stitched.body));
      expect(direct.body.errors?.map((e) => e.extensions?.code)).toEqual(c.codes);
      // Every subgraph call carries a signed identity.
      expect(calls.length).toBeGreaterThan(0);
      expect(calls.every((call) => typeof call.identity === 'string' && call.identity.length > 20)).toBe(true);
      // The planner's calls are its own (an entity fetch by `_entities` with representations), not stitching's.
      if (c.planned) expect(calls.map((x) => x.query)).not.toEqual(stitchedCalls.map((x) => x.query));
      else expect(calls.map((x) => x.query)).toEqual(stitchedCalls.map((x) => x.query));
    });
  }

  it('a query the planner takes but cannot run is run stitched, counted in /metrics and said once in the log', async () => {
    const metrics = new GatewayMetrics({ processMetrics: false });
    const lines: Array<Record<string, unknown>> = [];
    const logger = createLogger({ level: 'info' }, { destination: { write: (line: string) => void lines.push(JSON.parse(line)) } });
    const failingUrl = await served.serve({ passThrough: true, planned: 'failing', metrics, logger });
    const query = 'query($n: Int) { expenseClaims(first: $n) { edges { node { claimNo voucher { voucherNo } } } } }';
    const stitched = await post(stitchedUrl, 'accountant', query, { n: 5 });
    for (const n of [5, 5, 5]) expect((await post(failingUrl, 'accountant', query, { n })).body).toEqual(stitched.body);
    // One subgraph alone: sent as written, not planned.
    await post(failingUrl, 'accountant', '{ departments { id } }');
    const counted = Object.fromEntries((await metrics.executionPaths.get()).values.map((v) => [v.labels.path, v.value]));
    expect(counted).toEqual({ planner_fallback: 3, stitched: 3, single_subgraph: 1 });
    const said = lines.filter((l) => l.msg === 'queries the query planner could not run were run stitched');
    // The first at once; the next two wait for the next minute's line. Never the query or its variables.
    expect(said).toHaveLength(1);
    expect(said[0].queries).toBe(1);
    expect(JSON.stringify(lines)).not.toContain('expenseClaims');
  });

  it('a subgraph that is down fails only its own fields, by path', async () => {
    await gw.stop('archive');
    const { body } = await post(plannedUrl, 'accountant', '{ expenseClaims(first: 3) { edges { node { claimNo voucher { voucherNo } } } } }');
    const edges = (body.data!.expenseClaims as { edges: Array<{ node: { claimNo: string; voucher: unknown } }> }).edges;
    expect(edges.length).toBeGreaterThan(0);
    expect(edges.every((e) => /^BX-/.test(e.node.claimNo) && e.node.voucher === null)).toBe(true);
    // One error for the entity fetch that failed, at the list's path (stitching says it once per row).
    expect(body.errors?.map((e) => [e.path, e.extensions?.code, e.message])).toEqual([[['expenseClaims', 'edges', 'node'], 'INTERNAL_SERVER_ERROR', 'Internal server error']]);
  });
});

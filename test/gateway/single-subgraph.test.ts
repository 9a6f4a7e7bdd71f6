// Operations one subgraph answers alone go to it as the client wrote them (gateway/single-subgraph.ts): which ones
// qualify, decided from the supergraph's join directives; and over HTTP, the same answers (data and errors) as
// the stitched path for every operation tried, for callers of different roles, with one call instead of a
// rewritten one, while joins, refused fields, sensitive fields and introspection stay stitched.
import { parse } from 'graphql';
import { beforeAll, describe, expect, it } from 'vitest';
import { joinMapOf, singleSubgraphOf } from '../../gateway/single-subgraph.ts';
import { buildSupergraphSchema, loadSupergraphSdl } from '../../gateway/supergraph.ts';
import type { Principal } from '../../platform/identity.ts';
import { SECRET, ok } from '../oa/fixture.ts';
import { CREATE_CLAIM, item, seedOrg, type Org } from '../oa/seed.ts';
import { asOaClient, postAs, useGateway, useServedGateways } from './fixture.ts';

const sdl = loadSupergraphSdl();
const joins = joinMapOf(sdl);
const bare = buildSupergraphSchema({ supergraphSdl: sdl, urls: {}, internalSecret: SECRET, timeoutMs: 1000 });
const aloneIn = (source: string) => singleSubgraphOf(bare, joins, parse(source));

describe('which operations one subgraph answers alone', () => {
  it('reads the owners of fields from the join directives', () => {
    expect([...joins.urls.keys()].sort()).toEqual(['archive', 'oa', 'sync']);
    expect([...joins.fields.get('Query.expenseClaims')!]).toEqual(['oa']);
    expect([...joins.fields.get('ExpenseClaim.voucher')!]).toEqual(['archive']);
    expect([...joins.fields.get('ExpenseClaim.id')!].sort()).toEqual(['archive', 'oa', 'sync']);
  });

  it('sends an operation to the subgraph that owns every field of it, fragments included', () => {
    expect(aloneIn('{ expenseClaims(first: 2) { edges { cursor node { id claimNo total status } } pageInfo { hasNextPage } } }')).toBe('oa');
    expect(aloneIn('query Q { ...F } fragment F on Query { departments { id code __typename } }')).toBe('oa');
    expect(aloneIn('{ archiveRecords { edges { node { archiveNo voucher { voucherNo } } } } }')).toBe('archive');
    expect(aloneIn('mutation($i: CreateExpenseClaimInput!) { createExpenseClaim(input: $i) { id } }')).toBe('oa');
    // The archive's stub of a claim holds its id: reading only the id stays in the archive.
    expect(aloneIn('{ voucher(id: "x") { voucherNo claim { id } } }')).toBe('archive');
  });

  it('keeps stitched what needs a join, a sensitive field, introspection, or two subgraphs', () => {
    expect(aloneIn('{ expenseClaims { edges { node { claimNo voucher { voucherNo } } } } }')).toBeNull();
    expect(aloneIn('{ voucher(id: "x") { claim { claimNo } } }')).toBeNull();
    expect(aloneIn('{ me { name bankAccount } }')).toBeNull();
    expect(aloneIn('{ __schema { queryType { name } } }')).toBeNull();
    expect(aloneIn('{ departments { id } verifyArchiveChain { ok } }')).toBeNull();
    // Every operation and fragment of the document counts, not only the one run.
    expect(aloneIn('query A { departments { id } } query B { verifyArchiveChain { ok } }')).toBeNull();
  });
});

const gw = useGateway('gateway_single_subgraph');
const client = asOaClient(gw);
const principals = new Map<string, Principal>();
const served = useServedGateways(gw, principals);
const calls = served.calls;
let org: Org;

let stitchedUrl: string;
let directUrl: string;

beforeAll(async () => {
  org = await seedOrg(client as never, '-ss');
  for (const [name, p] of Object.entries(org.as)) principals.set(`Bearer ${name}`, p);
  principals.set('Bearer admin', { sub: 'admin-ss', roles: ['ADMIN'], departmentId: null, kind: 'user' });
  for (const n of [1, 2, 3]) ok(await client.gql(org.as.alice, CREATE_CLAIM, { input: { title: `Pass ${n}`, category: 'TRAVEL', items: [item(`${n}0.50`, `SS-INV-${n}`)] } }));
  // The same gateway twice, without and with the pass-through; joins stitched on both (planned.test.ts has the planner).
  stitchedUrl = await served.serve({ passThrough: false, planned: false });
  directUrl = await served.serve({ passThrough: true, planned: false });
}, 60_000);

const post = postAs;

describe('over HTTP: the pass-through answers as the stitched path does', () => {
  const cases: Array<{ who: string; query: string; variables?: () => Record<string, unknown>; alone: boolean; codes?: string[] }> = [
    { who: 'alice', query: 'query Mine($n: Int) { expenseClaims(first: $n) { totalCount edges { node { claimNo title total status items { amount invoiceNo } } } } }', variables: () => ({ n: 2 }), alone: true },
    { who: 'alice', query: 'query { me { name department { code } } list: expenseClaims(first: 1) { edges { node { ...C } } } } fragment C on ExpenseClaim { claimNo __typename }', alone: true },
    { who: 'admin', query: '{ departments { code name manager { name } } }', alone: true },
    // The subgraph's own errors keep their path and code.
    { who: 'alice', query: '{ expenseClaim(id: "000000000000000000000000") { claimNo } }', alone: true },
    { who: 'alice', query: 'query($id: ID!) { expenseClaim(id: $id) { claimNo } }', variables: () => ({ id: 'not-an-id' }), alone: true },
    { who: 'alice', query: 'mutation {\n  submitExpenseClaim(id: "000000000000000000000000") { id status }\n}', alone: true, codes: ['NOT_FOUND'] },
    // Variables that do not coerce are refused at the gateway, before any call (server.ts): no pass-through.
    { who: 'alice', query: 'query($s: ClaimStatus) { expenseClaims(status: $s) { totalCount } }', variables: () => ({ s: 'NOPE' }), alone: false, codes: ['BAD_USER_INPUT'] },
    // A sensitive field, masked per record by the gateway: stitched.
    { who: 'salesManager', query: 'query($id: ID!) { employee(id: $id) { name bankAccount } }', variables: () => ({ id: org.ids.alice }), alone: false },
    // A field the caller may not read: stitched, with the shield's partial answer.
    { who: 'alice', query: '{ departments { code } inboundEvents { totalCount } }', alone: false, codes: ['FORBIDDEN'] },
    // A join across subgraphs.
    { who: 'alice', query: '{ expenseClaims(first: 1) { edges { node { claimNo voucher { voucherNo } } } } }', alone: false },
  ];

  for (const [i, c] of cases.entries()) {
    it(`case ${i + 1}: ${c.alone ? 'one call with the client’s text' : 'stitched'}, the same answer`, async () => {
      const stitched = await post(stitchedUrl, c.who, c.query, c.variables?.());
      calls.length = 0;
      const direct = await post(directUrl, c.who, c.query, c.variables?.());
      expect(direct.status).toBe(stitched.status);
      expect(direct.body.data).toEqual(stitched.body.data);
      const shape = (b: typeof direct.body) => b.errors?.map((e) => ({ message: e.message, path: e.path, code: e.extensions?.code }));
      expect(shape(direct.body)).toEqual(shape(stitched.body));
      // The subgraph's locations are in the client's own text (sent verbatim): the pass-through keeps them.
      if (c.alone && c.codes?.[0] === 'NOT_FOUND') expect(direct.body.errors![0].locations).toEqual([{ line: 2, column: 3 }]);
      expect(direct.body.errors?.map((e) => e.extensions?.code)).toEqual(c.codes);
      if (c.alone) expect(calls.map(({ subgraph, query }) => ({ subgraph, query }))).toEqual([{ subgraph: 'oa', query: c.query }]);
      else expect(calls.every((call) => call.query !== c.query)).toBe(true);
    });
  }

  it('a subgraph that is down fails each root field, by path, as the stitched path does', async () => {
    const query = '{ departments { id } first: me { name } }';
    await gw.stop('oa');
    const stitched = await post(stitchedUrl, 'alice', query);
    const direct = await post(directUrl, 'alice', query);
    expect(direct.body.data ?? null).toEqual(stitched.body.data ?? null);
    expect(direct.body.errors?.map((e) => [e.path, e.extensions?.code])).toEqual([
      [['departments'], 'INTERNAL_SERVER_ERROR'],
      [['first'], 'INTERNAL_SERVER_ERROR'],
    ]);
    expect(stitched.body.errors?.map((e) => e.extensions?.code)).toContain('INTERNAL_SERVER_ERROR');
  });
});

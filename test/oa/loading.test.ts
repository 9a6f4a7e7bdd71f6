// No N+1: the number of database commands per operation does not depend on the length of the list.
import { describe, expect, it } from 'vitest';
import type { Principal } from '../../platform/identity.ts';
import { ok, useOaSubgraph } from './fixture.ts';
import { CREATE_CLAIM, SUBMIT, item, seedOrg } from './seed.ts';

const oa = useOaSubgraph('oa_loading');

const LIST = `query($n: Int!) { expenseClaims(first: $n) {
  totalCount
  edges { node { id claimNo total applicant { id name department { id code } } department { id name manager { id } }
    approval { status steps { name status assignees { id name department { code } } } } } }
} }`;

const ENTITIES = `query($r: [_Any!]!) { _entities(representations: $r) {
  ... on ExpenseClaim { id claimNo applicant { name } approval { steps { assignees { id } } } }
} }`;

async function countCommands(who: Principal, query: string, variables: Record<string, unknown>): Promise<{ count: number; data: Record<string, unknown> }> {
  oa.commands.length = 0;
  const data = ok(await oa.gql(who, query, variables));
  // Sessions and handshakes are not data access.
  const count = oa.commands.filter((c) => !['endSessions', 'hello', 'isMaster', 'ping'].includes(c)).length;
  return { count, data };
}

describe('data loading', () => {
  it('resolves 10, 100 and 200 claims with applicant, department and approval assignees in the same number of commands', async () => {
    const org = await seedOrg(oa, '-load');
    // Claims from several applicants and departments, all submitted so every one has an approval.
    const filers = [org.as.alice, org.as.bob, org.as.outsider, org.as.director];
    for (let i = 0; i < 200; i++) {
      const who = filers[i % filers.length];
      const claim = ok(await oa.gql<{ createExpenseClaim: { id: string } }>(who, CREATE_CLAIM, { input: { title: `load ${i}`, category: 'OFFICE', items: [item(`${(i % 50) + 1}.00`)] } })).createExpenseClaim;
      ok(await oa.gql(who, SUBMIT, { id: claim.id }));
    }
    const small = await countCommands(org.as.auditor, LIST, { n: 10 });
    const large = await countCommands(org.as.auditor, LIST, { n: 100 });
    const next = ok(await oa.gql<{ expenseClaims: { pageInfo: { endCursor: string } } }>(org.as.auditor, '{ expenseClaims(first: 100) { pageInfo { endCursor } } }'));
    const all = await countCommands(org.as.auditor, LIST.replace('expenseClaims(first: $n)', 'expenseClaims(first: $n, after: $a)').replace('query($n: Int!)', 'query($n: Int!, $a: String)'), { n: 100, a: next.expenseClaims.pageInfo.endCursor });
    const edges = (d: Record<string, unknown>) => (d.expenseClaims as { edges: Array<{ node: { applicant: { name: string }; approval: { steps: Array<{ assignees: unknown[] }> } } }> }).edges;
    expect(edges(small.data)).toHaveLength(10);
    expect(edges(large.data)).toHaveLength(100);
    expect((large.data.expenseClaims as { totalCount: number }).totalCount).toBeGreaterThanOrEqual(200);
    // Every node is fully resolved: names and assignees, not nulls.
    for (const e of edges(large.data)) {
      expect(e.node.applicant.name).toMatch(/\w/);
      expect(e.node.approval.steps[0].assignees.length).toBeGreaterThan(0);
    }
    expect(large.count).toBe(small.count);
    expect(all.count).toBe(small.count);
    // claims + count + employees + departments + approvals, and a second wave of employees/departments for assignees.
    expect(small.count).toBeLessThanOrEqual(8);

    // Entity resolution from other subgraphs is batched the same way: 200 references cost what 100 do. (Tiny
    // lists may need one query less, when their assignees happen to be among the applicants already loaded.)
    const ids = [...edges(large.data), ...edges(all.data)].map((e) => (e.node as unknown as { id: string }).id);
    expect(new Set(ids).size).toBe(200);
    const hundred = await countCommands(org.as.auditor, ENTITIES, { r: ids.slice(0, 100).map((id) => ({ __typename: 'ExpenseClaim', id })) });
    const twoHundred = await countCommands(org.as.auditor, ENTITIES, { r: ids.map((id) => ({ __typename: 'ExpenseClaim', id })) });
    expect((twoHundred.data._entities as unknown[]).filter((x) => x !== null)).toHaveLength(200);
    expect(twoHundred.count).toBe(hundred.count);
    expect(twoHundred.count).toBeLessThanOrEqual(6);
  }, 120_000);
});

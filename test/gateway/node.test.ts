// node(id) and nodes(ids) (issue 15 §7): the main entities fetched again by the id they already have, across both
// subgraphs, with the caller's row scope and field rules.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../helpers/wait.ts';
import type { Org } from '../oa/seed.ts';
import { type Stack, approvedClaim, seed, startStack } from '../sync/stack.ts';

let stack: Stack;
let org: Org;
let claim: { id: string; claimNo: string };
let voucherId: string;
let recordId: string;

const NODE = `query($id: ID!) {
  node(id: $id) {
    __typename id
    ... on ExpenseClaim { claimNo total voucher { voucherNo } }
    ... on Employee { name }
    ... on Voucher { voucherNo claim { claimNo } }
    ... on ArchiveRecord { archiveNo }
  }
}`;

beforeAll(async () => {
  stack = await startStack({ label: 'gateway_node' });
  org = await seed(stack);
  claim = await approvedClaim(stack, org, '66.00');
  const accountant = await stack.token('acct-node', ['ACCOUNTANT']);
  await until(async () => {
    const r = await stack.gql<{ expenseClaim: { voucher: { id: string } | null; archiveRecord: { id: string } | null } }>(accountant, `query($id: ID!) { expenseClaim(id: $id) { voucher { id } archiveRecord { id } } }`, { id: claim.id });
    voucherId = r.data?.expenseClaim.voucher?.id ?? '';
    recordId = r.data?.expenseClaim.archiveRecord?.id ?? '';
    return voucherId !== '' && recordId !== '';
  }, 'the claim filed');
});
afterAll(async () => stack?.close());

describe('node(id)', () => {
  it('fetches a claim, an employee, a voucher and an archive record by their ids, with fields from both subgraphs', async () => {
    const accountant = await stack.token('acct-node', ['ACCOUNTANT']);
    const node = async (id: string) => {
      const r = await stack.gql<{ node: Record<string, unknown> | null }>(accountant, NODE, { id });
      expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
      return r.data!.node;
    };
    const c = await node(claim.id);
    expect(c).toMatchObject({ __typename: 'ExpenseClaim', id: claim.id, claimNo: claim.claimNo, total: '66.00' });
    expect((c!.voucher as { voucherNo: string }).voucherNo).toMatch(/^记-/);
    expect(await node(org.ids.alice)).toEqual({ __typename: 'Employee', id: org.ids.alice, name: 'Alice' });
    expect(await node(voucherId)).toMatchObject({ __typename: 'Voucher', id: voucherId, claim: { claimNo: claim.claimNo } });
    expect(await node(recordId)).toMatchObject({ __typename: 'ArchiveRecord', id: recordId });
    // Not an id of anything, or not an id at all: null, no error.
    expect(await node('0123456789abcdef01234567')).toBeNull();
    expect(await node('no such id')).toBeNull();
  });

  it("keeps each caller's row scope: another employee gets null for Alice's claim, Alice gets it", async () => {
    const bob = await stack.token(org.ids.bob);
    const alice = await stack.token(org.ids.alice);
    expect((await stack.gql<{ node: unknown }>(bob, NODE, { id: claim.id })).data!.node).toBeNull();
    expect((await stack.gql<{ node: { claimNo: string } }>(alice, NODE, { id: claim.id })).data!.node).toMatchObject({ claimNo: claim.claimNo });
    // Field rules still hold through Node: an employee's bank account stays masked or refused.
    const r = await stack.gql<{ node: unknown }>(bob, `query($id: ID!) { node(id: $id) { ... on Employee { bankAccount } } }`, { id: org.ids.alice });
    expect(r.errors?.[0].extensions?.code).toBe('FORBIDDEN');
  });

  it('nodes(ids) answers each id in order, null where nothing is found, and refuses more than 100', async () => {
    const accountant = await stack.token('acct-node', ['ACCOUNTANT']);
    const r = await stack.gql<{ nodes: Array<{ __typename: string; id: string } | null> }>(accountant, `query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }`, { ids: [recordId, 'nope', claim.id] });
    expect(r.data!.nodes).toEqual([{ __typename: 'ArchiveRecord', id: recordId }, null, { __typename: 'ExpenseClaim', id: claim.id }]);
    const many = await stack.gql(accountant, `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, { ids: Array.from({ length: 101 }, (_, i) => String(i)) });
    expect(many.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'ids' });
  });
});

// Caller-only permission rules decided once per operation (gateway/operation-rules.ts), on the real supergraph and
// permission model: an operation runs without the shield only when every field it selects, in every fragment and on
// every possible type of an abstract one, is allowed to the caller; any refusal sends it through the shield.
import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { allowsWholeOperation } from '../../gateway/operation-rules.ts';
import { buildSupergraphSchema, loadSupergraphSdl } from '../../gateway/supergraph.ts';
import type { Principal, Role } from '../../platform/identity.ts';

const schema = buildSupergraphSchema({ supergraphSdl: loadSupergraphSdl(), urls: {}, internalSecret: 'operation-rules-test-secret-0123456789', timeoutMs: 1000 });
const user = (roles: Role[]): Principal => ({ sub: 'e1', roles, departmentId: 'd1', kind: 'user' });
const allows = (query: string, who: Principal | null) => allowsWholeOperation(schema, parse(query), who);

describe('allowsWholeOperation', () => {
  it('is true when every field is allowed to the caller, sensitive ones included (their masking stays per record)', () => {
    expect(allows('{ expenseClaims(first: 5) { edges { node { id claimNo total applicant { name bankAccount } } } pageInfo { hasNextPage } } }', user(['EMPLOYEE']))).toBe(true);
    expect(allows('{ syncJobs(first: 5) { claimNo status } }', user(['ADMIN']))).toBe(true);
    expect(allows('{ __typename me { __typename id } }', user(['EMPLOYEE']))).toBe(true);
  });

  it('is false when any field anywhere would be refused: a role rule, a fragment, a second operation, no caller', () => {
    expect(allows('{ syncJobs(first: 5) { claimNo } }', user(['EMPLOYEE']))).toBe(false);
    expect(allows('query A { me { id } } query B { syncJobs(first: 1) { claimNo } }', user(['EMPLOYEE']))).toBe(false);
    expect(allows('{ me { id } ...F } fragment F on Query { webhooks { id } }', user(['ACCOUNTANT']))).toBe(false);
    expect(allows('{ me { id } }', null)).toBe(false);
  });

  it('keeps its decision per document and role set', () => {
    const doc = parse('{ syncJobs(first: 1) { claimNo } }');
    expect(allowsWholeOperation(schema, doc, user(['ADMIN']))).toBe(true);
    expect(allowsWholeOperation(schema, doc, user(['EMPLOYEE']))).toBe(false);
    expect(allowsWholeOperation(schema, doc, { ...user(['ADMIN']), sub: 'someone-else' })).toBe(true);
  });
});

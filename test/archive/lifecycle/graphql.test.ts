// The lifecycle over GraphQL: schema/archive.graphql + schema/archive-lifecycle.graphql served as one subgraph with
// the core and lifecycle resolvers merged, called with gateway-signed identities.
import { readFileSync } from 'node:fs';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import { composeServices, compositionHasErrors } from '@theguild/federation-composition';
import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Principal, signPrincipal } from '../../../platform/identity.ts';
import { createLogger } from '../../../platform/logger.ts';
import { type RunningSubgraph, Subgraph } from '../../../platform/subgraph.ts';
import type { ArchiveContext } from '../../../subgraphs/archive/context.ts';
import { lifecycleResolvers } from '../../../subgraphs/archive/lifecycle/resolvers.ts';
import { createArchiveLoaders } from '../../../subgraphs/archive/loaders.ts';
import { archiveResolvers } from '../../../subgraphs/archive/resolvers.ts';
import { PEOPLE, type Person, idOf, useLifecycle, who } from './fixture.ts';

const fx = useLifecycle('graphql');
const SECRET = 'test-internal-secret-0123456789abcdef0123';
const schemaText = (f: string) => readFileSync(new URL(`../../../schema/${f}`, import.meta.url), 'utf8');

type Resolvers = Record<string, Record<string, unknown>>;
/** Type by type, the lifecycle's fields added to the core's (ArchiveRecord gets both). */
function merge(...maps: Resolvers[]): Resolvers {
  const out: Resolvers = {};
  for (const m of maps) for (const [type, fields] of Object.entries(m)) out[type] = type in out ? { ...out[type], ...fields } : fields; // scalars pass unchanged
  return out;
}

let running: RunningSubgraph;
beforeAll(async () => {
  const subgraph = new Subgraph<ArchiveContext>({
    name: 'archive',
    typeDefs: parse(schemaText('archive.graphql') + '\n' + schemaText('archive-lifecycle.graphql')),
    resolvers: merge(archiveResolvers as unknown as Resolvers, lifecycleResolvers as unknown as Resolvers) as GraphQLResolverMap<ArchiveContext>,
    secret: SECRET,
    logger: createLogger({ level: 'silent' }),
    production: false,
    context: (principal) => ({ ...fx.svc, principal, loaders: createArchiveLoaders(fx.svc, principal) }),
  });
  running = await subgraph.listen(0, '127.0.0.1');
});
afterAll(async () => {
  await running?.close();
});

interface Result<T> {
  data?: T;
  errors?: Array<{ message: string; extensions?: { code?: string; refused?: Array<{ archiveNo: string; reasons: string[] }> } }>;
}
async function gql<T = Record<string, any>>(as: Person | Principal, query: string, variables?: Record<string, unknown>): Promise<Result<T>> {
  const principal = typeof as === 'string' ? who(as) : as;
  const body = JSON.stringify({ query, variables });
  const res = await fetch(running.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-internal-identity': await signPrincipal(principal, SECRET, { audience: 'archive', method: 'POST', body }) },
    body,
  });
  return (await res.json()) as Result<T>;
}
function ok<T>(r: Result<T>): T {
  if (r.errors?.length || !r.data) throw new Error(`GraphQL errors: ${JSON.stringify(r.errors)}`);
  return r.data;
}
const codes = (r: Result<unknown>) => (r.errors ?? []).map((e) => e.extensions?.code);

const LOAN = 'id status archiveNo insideFinance from until record { id archiveNo status } approvalSteps { key status assigneeIds decidedBy }';
const REGISTER = `id registerNo status electronic handlerIds destroyedAt
  lines { recordId title volumeNo count fiscalYear archiveNo retention retentionYears retentionStartsOn expiresOn extendedUntil yearsServed destroyedAt record { status } }
  signatures { capacity employeeId decision }
  pendingSignatories { capacity employeeIds }
  filedRecord { kind retention }`;

describe('archive lifecycle over GraphQL', () => {
  it('composes with the oa subgraph', () => {
    const result = composeServices([
      { name: 'oa', typeDefs: parse(schemaText('oa.graphql')), url: 'http://oa/graphql' },
      { name: 'archive', typeDefs: parse(schemaText('archive.graphql') + '\n' + schemaText('archive-lifecycle.graphql')), url: 'http://archive/graphql' },
    ]);
    if (compositionHasErrors(result)) throw new Error(result.errors.map((e) => e.message).join('\n'));
    expect(result.supergraphSdl).toMatch(/type ArchiveRecord[^{]*\{[^}]*holds: \[Hold!\]!/s);
  });

  it('reads content with a purpose, logged and verifiable; refuses it to others', async () => {
    fx.now = new Date('2026-12-01T02:00:00Z');
    const r = await fx.file('BANK_STATEMENT', 2024, 'Statement 2024');
    const read = ok(await gql('auditor', 'mutation($id: ID!) { readArchiveContent(recordId: $id, purpose: "year-end audit") { content mediaType contentDigest accessLogSeq record { id archiveNo } } }', { id: idOf(r) })).readArchiveContent;
    expect(read).toMatchObject({ content: r.content, mediaType: 'application/json', contentDigest: r.contentDigest, record: { id: idOf(r), archiveNo: r.archiveNo } });
    expect(codes(await gql('alice', 'mutation($id: ID!) { readArchiveContent(recordId: $id, purpose: "x") { content } }', { id: idOf(r) }))).toEqual(['FORBIDDEN']);
    const log = ok(await gql('auditor', 'query($id: ID) { accessLog(recordId: $id, first: 5) { totalCount edges { node { seq action actorId purpose digest previousDigest } } pageInfo { hasNextPage } } verifyAccessLog { ok checked firstBrokenSeq } }', { id: idOf(r) }));
    expect(log.accessLog.edges[0].node).toMatchObject({ seq: read.accessLogSeq, action: 'READ_CONTENT', actorId: PEOPLE.auditor.id, purpose: 'year-end audit' });
    expect(log.verifyAccessLog).toMatchObject({ ok: true, firstBrokenSeq: null });
    expect(codes(await gql('alice', '{ verifyAccessLog { ok } }'))).toEqual(['FORBIDDEN']);
  });

  it('borrows: request, two approvals, hand-out, return', async () => {
    fx.now = new Date('2026-12-01T02:00:00Z');
    const r = await fx.file('GENERAL_LEDGER', 2024, 'General ledger 2024');
    const requested = ok(await gql('alice', `mutation($i: LoanRequestInput!) { requestLoan(input: $i) { ${LOAN} } }`, { i: { recordId: idOf(r), purpose: 'dispute', from: '2026-12-01', until: '2026-12-10' } })).requestLoan;
    expect(requested).toMatchObject({ status: 'REQUESTED', insideFinance: false, record: null });
    expect(requested.approvalSteps.map((s: { key: string; status: string }) => [s.key, s.status])).toEqual([['archivist', 'ACTIVE'], ['accounting-head', 'WAITING']]);
    const tooLong = await gql('alice', 'mutation($i: LoanRequestInput!) { requestLoan(input: $i) { id } }', { i: { recordId: idOf(r), purpose: 'x', from: '2026-12-01', until: '2027-06-01' } });
    expect(codes(tooLong)).toEqual(['BAD_USER_INPUT']);

    const DECIDE = `mutation($id: ID!, $d: ArchiveDecision!) { decideLoan(id: $id, decision: $d) { ${LOAN} } }`;
    expect(ok(await gql('archivist1', DECIDE, { id: requested.id, d: 'APPROVE' })).decideLoan.status).toBe('REQUESTED');
    const waiting = ok(await gql('finHead', '{ loansAwaitingMyDecision { id } }')).loansAwaitingMyDecision;
    expect(waiting).toEqual([{ id: requested.id }]);
    expect(ok(await gql('finHead', DECIDE, { id: requested.id, d: 'APPROVE' })).decideLoan.status).toBe('APPROVED');
    const started = ok(await gql('archivist2', `mutation($id: ID!) { startLoan(id: $id) { ${LOAN} } }`, { id: requested.id })).startLoan;
    expect(started).toMatchObject({ status: 'ON_LOAN', record: { id: idOf(r), status: 'BORROWED' } });
    expect(ok(await gql('alice', 'mutation($id: ID!) { readArchiveContent(recordId: $id, purpose: "dispute") { content } }', { id: idOf(r) })).readArchiveContent.content).toBe(r.content);
    const returned = ok(await gql('archivist2', `mutation($id: ID!) { returnLoan(id: $id) { ${LOAN} } }`, { id: requested.id })).returnLoan;
    expect(returned).toMatchObject({ status: 'RETURNED', record: { status: 'FILED' } });
    const mine = ok(await gql('alice', '{ loans(first: 10) { totalCount edges { node { id status } } } }')).loans;
    expect(mine.edges).toEqual([{ node: { id: requested.id, status: 'RETURNED' } }]);
  });

  it('appraises, holds, and destroys through a signed register', async () => {
    fx.now = new Date('2026-12-01T02:00:00Z');
    const a = await fx.file('TAX_RETURN', 2012, 'VAT 2012');
    const b = await fx.file('TAX_RETURN', 2013, 'VAT 2013');
    const APPRAISE = `mutation($id: ID!, $o: String!, $u: Date) { appraiseRecord(recordId: $id, opinion: $o, extendUntil: $u) {
      id conclusion previousExpiresOn extendedUntil opinionRecord { kind retention } record { expiresOn extendedUntil } } }`;
    const extended = ok(await gql('archivist1', APPRAISE, { id: idOf(b), o: 'open dispute', u: '2030-12-31' })).appraiseRecord;
    expect(extended).toMatchObject({ conclusion: 'EXTEND', previousExpiresOn: '2023-12-31', extendedUntil: '2030-12-31', opinionRecord: { kind: 'APPRAISAL_OPINION', retention: 'PERMANENT' }, record: { expiresOn: '2030-12-31', extendedUntil: '2030-12-31' } });
    ok(await gql('archivist1', APPRAISE, { id: idOf(a), o: 'no further value' }));
    const withAppraisals = ok(await gql('auditor', 'query($id: ID!) { archiveRecord(id: $id) { appraisals { conclusion opinion } holds { index } } }', { id: idOf(a) })).archiveRecord;
    expect(withAppraisals).toEqual({ appraisals: [{ conclusion: 'DESTROY', opinion: 'no further value' }], holds: [] });

    const held = ok(await gql('accountant', 'mutation($id: ID!) { placeHold(recordId: $id, reason: "unsettled receivable") { status holds { index reason placedBy } } }', { id: idOf(a) })).placeHold;
    expect(held).toEqual({ status: 'ON_HOLD', holds: [{ index: 0, reason: 'unsettled receivable', placedBy: PEOPLE.accountant.id }] });

    const PROPOSE = `mutation($i: ProposeDestructionInput!) { proposeDestruction(input: $i) { ${REGISTER} } }`;
    const refused = await gql('archivist1', PROPOSE, { i: { recordIds: [idOf(a), idOf(b)], reason: 'expired', secondHandlerId: PEOPLE.clerk.id } });
    expect(codes(refused)).toEqual(['CONFLICT']);
    expect(refused.errors![0].extensions!.refused!.map((x) => x.archiveNo)).toEqual([a.archiveNo, b.archiveNo]);

    expect(ok(await gql('accountant', 'mutation($id: ID!) { releaseHold(recordId: $id, index: 0) { status holds { index } } }', { id: idOf(a) })).releaseHold).toEqual({ status: 'FILED', holds: [] });
    const register = ok(await gql('archivist1', PROPOSE, { i: { recordIds: [idOf(a)], reason: 'expired', secondHandlerId: PEOPLE.clerk.id } })).proposeDestruction;
    expect(register).toMatchObject({ status: 'PENDING', electronic: true, handlerIds: [PEOPLE.archivist1.id, PEOPLE.clerk.id], signatures: [], filedRecord: null });
    expect(register.lines).toEqual([
      {
        recordId: idOf(a), title: 'VAT 2012', volumeNo: a.archiveNo.split('-').at(-1), count: 1, fiscalYear: 2012, archiveNo: a.archiveNo, retention: 'Y10',
        retentionYears: 10, retentionStartsOn: '2013-01-01', expiresOn: '2022-12-31', extendedUntil: null, yearsServed: 13, destroyedAt: null, record: { status: 'FILED' },
      },
    ]);
    expect(register.pendingSignatories.map((p: { capacity: string }) => p.capacity)).toEqual(['HANDLER', 'UNIT_HEAD', 'ARCHIVE_HEAD', 'ACCOUNTING_HEAD', 'IT_SUPERVISOR']);

    const SIGN = `mutation($id: ID!) { signDestruction(id: $id, decision: APPROVE) { ${REGISTER} } }`;
    expect(codes(await gql('alice', SIGN, { id: register.id }))).toEqual(['FORBIDDEN']);
    expect(ok(await gql('itHead', '{ destructionRegistersAwaitingMySignature { id } }')).destructionRegistersAwaitingMySignature).toEqual([{ id: register.id }]);
    let last: any;
    for (const person of ['clerk', 'unitHead', 'finHead', 'itHead', 'archivist1', 'archivist2'] as const) last = ok(await gql(person, SIGN, { id: register.id })).signDestruction;
    expect(last).toMatchObject({ status: 'DESTROYED', pendingSignatories: [], filedRecord: { kind: 'DESTRUCTION_REGISTER', retention: 'PERMANENT' } });
    expect(last.lines[0]).toMatchObject({ record: { status: 'DESTROYED' } });
    expect(last.lines[0].destroyedAt).toBe(last.destroyedAt);
    expect(last.signatures.map((s: { capacity: string }) => s.capacity)).toEqual(['HANDLER', 'UNIT_HEAD', 'ACCOUNTING_HEAD', 'IT_SUPERVISOR', 'HANDLER', 'ARCHIVE_HEAD']);

    const after = ok(await gql('auditor', `query($id: ID!) { verifyArchiveChain { ok } archiveRecord(id: $id) { status destroyedAt title archiveNo } destructionRegisters(status: DESTROYED) { totalCount } }`, { id: idOf(a) }));
    expect(after.verifyArchiveChain.ok).toBe(true);
    expect(after.archiveRecord).toMatchObject({ status: 'DESTROYED', title: 'VAT 2012', archiveNo: a.archiveNo });
    expect(after.destructionRegisters.totalCount).toBe(1);
    expect(codes(await gql('auditor', 'mutation($id: ID!) { readArchiveContent(recordId: $id, purpose: "x") { content } }', { id: idOf(a) }))).toEqual(['CONFLICT']);
    expect(ok(await gql('auditor', 'query($id: ID) { accessLog(recordId: $id) { edges { node { action } } } }', { id: idOf(a) })).accessLog.edges.map((e: { node: { action: string } }) => e.node.action)).toEqual(['DESTROYED']);
  });
});

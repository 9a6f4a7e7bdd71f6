// The syncEvents subscription through the gateway: who sees which events (row scope and field rules as in
// queries), replay with `after` then live events without gap or duplicate, authentication and token expiry on
// both transports, and a slow subscriber costing at most one page.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { events, sseSubscribe, wsSubscribe } from '../helpers/subscribers.ts';
import { ADMIN, ok } from '../oa/fixture.ts';
import type { Org } from '../oa/seed.ts';
import { type Stack, approvedClaim, seed, startStack } from './stack.ts';

const BANK_ACCOUNT = '6222021234567890128';
const ALL = `subscription($after: String, $types: [SyncEventType!]) {
  syncEvents(after: $after, types: $types) { seq type claim { id claimNo applicant { name bankAccount } } }
}`;

let stack: Stack;
let org: Org;
let adminId: string;

beforeAll(async () => {
  // Pages of 3 events make every replay below span several reads.
  stack = await startStack({ label: 'sync_subscriptions', subscriptionPageSize: 3 });
  org = await seed(stack);
  ok(await stack.oa.gql(ADMIN, `mutation($id: ID!, $input: UpdateEmployeeInput!) { updateEmployee(id: $id, input: $input) { id } }`, { id: org.ids.alice, input: { bankAccount: BANK_ACCOUNT } }));
  const created = ok(
    await stack.oa.gql<{ createEmployee: { id: string } }>(ADMIN, `mutation($input: CreateEmployeeInput!) { createEmployee(input: $input) { id } }`, {
      input: { employeeNo: 'E900', name: 'Ada Admin', departmentId: org.hq, roles: ['ADMIN'] },
    }),
  );
  adminId = created.createEmployee.id;
});
afterAll(async () => stack?.close());

const ws = async (sub: string, query = ALL, variables?: Record<string, unknown>, roles: string[] = []) =>
  wsSubscribe(stack.gateways[0].wsUrl, { authorization: `Bearer ${await stack.token(sub, roles as never)}` }, query, variables);

/** Waits until the pipeline has filed every approved claim (the last of a claim's events is ARCHIVE_FILED). */
async function settled(): Promise<string> {
  const admin = await stack.token('ops-admin', ['ADMIN']);
  for (const started = Date.now(); Date.now() - started < 10_000; await new Promise((r) => setTimeout(r, 25))) {
    const s = await stack.gql<{ syncStatus: { backlog: number; position: string; head: string } }>(admin, `{ syncStatus { backlog position head } }`);
    const status = s.data?.syncStatus;
    if (status && status.backlog === 0 && status.position === status.head) return status.head;
  }
  throw new Error('the pipeline did not settle');
}

describe('who receives what', () => {
  it('an employee receives the events of their own claims only, a manager those of the department, with field rules applied', async () => {
    await settled();
    const alice = await ws(org.ids.alice);
    const bob = await ws(org.ids.bob);
    const outsider = await ws(org.ids.outsider);
    const manager = await ws(org.ids.salesManager);
    const auditor = await ws(org.ids.auditor);
    const admin = await ws(adminId);
    await new Promise((r) => setTimeout(r, 300));
    const mine = await approvedClaim(stack, org, '88.00');
    const types = ['CLAIM_SUBMITTED', 'CLAIM_APPROVED', 'VOUCHER_CREATED', 'ARCHIVE_FILED'];
    for (const s of [alice, manager, auditor, admin]) await s.until((r) => events(r).length >= 4);
    await settled();
    await new Promise((r) => setTimeout(r, 200));

    expect(events(alice).map((e) => e.type)).toEqual(types);
    // Her own bank account in full; the manager of her department sees the last four; the auditor masked too.
    expect(events(alice)[0].claim).toEqual({ id: mine.id, claimNo: mine.claimNo, applicant: { name: 'Alice', bankAccount: BANK_ACCOUNT } });
    expect((events(manager)[0].claim as { applicant: { bankAccount: string } }).applicant.bankAccount).toBe(`${'*'.repeat(15)}0128`);
    expect((events(auditor)[0].claim as { applicant: { bankAccount: string } }).applicant.bankAccount).toBe(`${'*'.repeat(15)}0128`);
    // ADMIN watches the flow (seq, type, ids) but claim contents stay under the claim's own scope.
    expect(events(admin).map((e) => e.type)).toEqual(types);
    expect(events(admin).every((e) => e.claim === null)).toBe(true);
    // No FORBIDDEN noise for ADMIN: a claim out of its scope is null, its nested fields never asked.
    expect(admin.results.filter((r) => r.errors).map((r) => r.errors)).toEqual([]);
    // Bob (same department, no manager role) and someone from another department receive nothing.
    expect(bob.results).toEqual([]);
    expect(outsider.results).toEqual([]);
    for (const s of [alice, bob, outsider, manager, auditor, admin]) await s.dispose();
  });

  it('a field the caller may not read comes back null with FORBIDDEN in that event, as in a query', async () => {
    const from = await settled();
    const alice = await ws(org.ids.alice, `subscription($after: String) { syncEvents(after: $after, types: [CLAIM_APPROVED]) { seq archiveRecord { holds { reason } } } }`, { after: from });
    await approvedClaim(stack, org, '9.99');
    await alice.until((r) => r.results.length >= 1);
    expect(alice.results[0].data).toEqual({ syncEvents: { seq: expect.stringMatching(/^\d{12}$/), archiveRecord: null } });
    await alice.dispose();
    // On ARCHIVE_FILED her own record resolves, but its holds are for archive readers: FORBIDDEN at that path,
    // and (holds being non-null) the record comes back null, exactly as the same query would.
    const from2 = await settled();
    const filed = await ws(org.ids.alice, `subscription($after: String) { syncEvents(after: $after, types: [ARCHIVE_FILED]) { seq archiveRecord { archiveNo holds { reason } } } }`, { after: from2 });
    await approvedClaim(stack, org, '9.98');
    await filed.until((r) => r.results.length >= 1);
    const [result] = filed.results;
    expect(result.errors).toEqual([
      { message: 'Not allowed: this field is for ARCHIVIST, AUDITOR, ACCOUNTANT, FINANCE_DIRECTOR', locations: expect.any(Array), path: ['syncEvents', 'archiveRecord', 'holds'], extensions: { code: 'FORBIDDEN' } },
    ]);
    expect(result.data).toEqual({ syncEvents: { seq: expect.stringMatching(/^\d{12}$/), archiveRecord: null } });
    const query = await stack.gql<{ syncEvents: unknown[] }>(await stack.token(org.ids.alice), `query($after: String) { syncEvents(after: $after, types: [ARCHIVE_FILED]) { seq archiveRecord { archiveNo holds { reason } } } }`, { after: from2 });
    expect(query.data!.syncEvents).toEqual([result.data!.syncEvents]);
    expect(query.errors?.map((e) => [e.extensions?.code, (e as { path?: unknown[] }).path])).toEqual([['FORBIDDEN', ['syncEvents', 0, 'archiveRecord', 'holds']]]);
    await filed.dispose();
  });
});

describe('replay with after, then live', () => {
  it('delivers every later stored event once, in order, then live ones, with no gap or duplicate at the seam', async () => {
    const start = await settled();
    for (let i = 0; i < 3; i++) await approvedClaim(stack, org, `1${i}.00`);
    const head = await settled();
    const accountant = await stack.token(org.ids.accountant);
    const stored = await stack.gql<{ syncEvents: { seq: string; type: string }[] }>(accountant, `query($after: String) { syncEvents(after: $after, first: 500) { seq type } }`, { after: start });
    expect(stored.data!.syncEvents.length).toBeGreaterThanOrEqual(12);
    expect(stored.data!.syncEvents.at(-1)!.seq).toBe(head);

    // Resume from the middle of the stored events: replay spans several pages of 3.
    const resumeAt = stored.data!.syncEvents[4].seq;
    const sub = wsSubscribe(stack.gateways[0].wsUrl, { authorization: `Bearer ${accountant}` }, `subscription($after: String) { syncEvents(after: $after) { seq type } }`, { after: resumeAt });
    const sse = sseSubscribe(stack.gateways[0].sseUrl, { authorization: `Bearer ${accountant}` }, `subscription($after: String) { syncEvents(after: $after) { seq type } }`, { after: resumeAt });
    const replayed = stored.data!.syncEvents.slice(5).map((e) => e.seq);
    await sub.until((r) => events(r).length >= replayed.length);
    // Live events arrive while (and after) the replay runs.
    await approvedClaim(stack, org, '77.00');
    const last = await settled();
    for (const s of [sub, sse]) {
      await s.until((r) => events(r).at(-1)?.seq === last);
      const seqs = events(s).map((e) => e.seq as string);
      const all = await stack.gql<{ syncEvents: { seq: string }[] }>(accountant, `query($after: String) { syncEvents(after: $after, first: 500) { seq } }`, { after: resumeAt });
      expect(seqs).toEqual(all.data!.syncEvents.map((e) => e.seq));
      expect(new Set(seqs).size).toBe(seqs.length);
      expect(seqs.slice(0, replayed.length)).toEqual(replayed);
      await s.dispose();
    }
  });

  it('refuses a malformed after with BAD_USER_INPUT and ends the stream', async () => {
    const sub = await ws(org.ids.accountant, ALL, { after: 'yesterday' });
    await sub.until((r) => r.completed);
    expect(sub.results[0]?.errors?.[0]?.extensions?.code ?? (sub.error as { message?: string })).toBeTruthy();
    const codes = sub.results.flatMap((r) => r.errors ?? []).map((e) => e.extensions?.code);
    expect(codes).toEqual(['BAD_USER_INPUT']);
  });
});

describe('authentication', () => {
  it('closes a WebSocket without a valid token with 4401 and answers SSE without one with 401', async () => {
    const none = wsSubscribe(stack.gateways[0].wsUrl, {}, ALL);
    await none.until((r) => r.closed !== undefined);
    expect(none.closed).toEqual({ code: 4401, reason: 'Unauthenticated: a Bearer token or an API key is required' });
    const forged = wsSubscribe(stack.gateways[0].wsUrl, { authorization: 'Bearer a.b.c' }, ALL);
    await forged.until((r) => r.closed !== undefined);
    expect(forged.closed?.code).toBe(4401);
    expect(forged.results).toEqual([]);

    const res = await fetch(stack.gateways[0].sseUrl, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream' }, body: JSON.stringify({ query: ALL }) });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ errors: [{ message: 'Unauthenticated: a Bearer token or an API key is required', extensions: { code: 'UNAUTHENTICATED' } }] });
  });

  it('ends a subscription when its token expires: WebSocket close 4401 "Token expired", SSE an UNAUTHENTICATED error then complete', async () => {
    const short = await stack.token(org.ids.accountant, [], 2);
    const w = wsSubscribe(stack.gateways[0].wsUrl, { authorization: `Bearer ${short}` }, ALL);
    const s = sseSubscribe(stack.gateways[0].sseUrl, { authorization: `Bearer ${short}` }, ALL);
    await w.until((r) => r.closed !== undefined, 6000);
    expect(w.closed).toEqual({ code: 4401, reason: 'Token expired' });
    await s.until((r) => r.completed, 6000);
    expect(s.results.at(-1)?.errors?.map((e) => e.extensions?.code)).toEqual(['UNAUTHENTICATED']);
  });
});

describe('operations over the subscription transports', () => {
  it('tells a client that POSTs a subscription to /graphql where subscriptions are served', async () => {
    const r = await stack.gql(await stack.token(org.ids.accountant), `subscription { syncEvents { seq } }`);
    expect(r.status).toBe(400);
    expect(r.errors).toEqual([{ message: 'Subscriptions are served over graphql-ws (WebSocket) on /graphql and over SSE on /graphql/stream', extensions: { code: 'BAD_USER_INPUT' } }]);
  });

  it('answers queries over graphql-ws under the same rules, and refuses subscriptions to anything but syncEvents', async () => {
    const q = await ws(org.ids.alice, `{ syncJobs { id } }`);
    await q.until((r) => r.completed);
    expect(q.results[0].errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
    const me = await ws(org.ids.alice, `{ me { name } }`);
    await me.until((r) => r.completed);
    expect(me.results).toEqual([{ data: { me: { name: 'Alice' } } }]);
    const bad = await ws(org.ids.alice, `subscription { syncEvents { seq } other: syncEvents { seq } }`);
    await bad.until((r) => r.completed);
    expect(bad.error ?? bad.results[0]?.errors).toBeTruthy();
  });
});

describe('a slow subscriber', () => {
  it('holds at most one page: the next page is read only once the previous one has been handed on', async () => {
    const from = '000000000000';
    const accountant = await stack.token(org.ids.accountant);
    const principal = { sub: org.ids.accountant, roles: ['EMPLOYEE', 'ACCOUNTANT'] as never, departmentId: org.hq, kind: 'user' as const };
    void accountant;
    const { gateway } = stack.gateways[0];
    const { parse } = await import('graphql');
    let reads = 0;
    const counted = (async function* () {})();
    void counted;
    const stream = gateway.streams.stream({
      document: parse(`subscription($after: String) { syncEvents(after: $after) { seq } }`),
      variableValues: { after: from },
      context: { principal, directory: async () => null },
      beforeYield: async () => {
        reads++;
      },
    });
    // Nothing is read before the consumer asks.
    const openBefore = gateway.streams.open;
    const first = await stream.next();
    expect(first.done).toBe(false);
    expect(reads).toBe(1);
    expect(gateway.streams.open).toBe(openBefore + 1);
    // The consumer stalls: the gateway holds this page (3 events) and has read no further.
    await new Promise((r) => setTimeout(r, 300));
    expect(reads).toBe(1);
    await stream.next();
    await stream.next();
    expect(reads).toBe(3);
    await stream.return(undefined);
    expect(gateway.streams.open).toBe(openBefore);
  });
});

// Retrying safely (platform/integration/served-request.ts): a creation retried with the same Idempotency-Key creates
// one claim (one after the other, and five at once), the same key for another request or another user behaves as it
// must, and a request past its deadline leaves nothing behind (refused on arrival, and aborted before commit). Real
// HTTP through the test stack's gateway, and the transaction wrapper itself against the embedded engine.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { identityHeaders, servicePrincipal } from '../../platform/identity.ts';
import { AUDIT_OUTBOX, IDEMPOTENCY_KEYS, IDEMPOTENCY_TTL_MS, serveRequest, sweepIdempotencyKeys } from '../../platform/integration/served-request.ts';
import { transaction } from '../../platform/integration/transactions.ts';
import { WorkerLoop } from '../../platform/integration/worker-loop.ts';
import { SECRET } from '../oa/fixture.ts';
import { CREATE_CLAIM, type Org, item } from '../oa/seed.ts';
import { type Stack, seed, startStack } from '../sync/stack.ts';

let stack: Stack;
let org: Org;
let alice: string;
let bob: string;
beforeAll(async () => {
  stack = await startStack({ label: 'served_request' });
  org = await seed(stack);
  alice = await stack.token(org.ids.alice);
  bob = await stack.token(org.ids.bob);
});
afterAll(() => stack?.close());

type Answer = { status: number; body: { data?: { createExpenseClaim: { id: string } } | null; errors?: { message: string; extensions?: { code?: string } }[] } };

async function create(token: string, title: string, key?: string, amount = '12.00'): Promise<Answer> {
  const res = await fetch(stack.gateways[0].url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...(key === undefined ? {} : { 'idempotency-key': key }) },
    body: JSON.stringify({ query: CREATE_CLAIM, variables: { input: { title, category: 'TRAVEL', items: [item(amount)] } } }),
  });
  return { status: res.status, body: (await res.json()) as Answer['body'] };
}

const claimsTitled = (title: string) => stack.connection.db!.collection('expense_claims').countDocuments({ title });

describe('Idempotency-Key', () => {
  it('a creation retried with the same key creates one claim and answers the same', async () => {
    const first = await create(alice, 'Retried taxi', 'key-retried-0001');
    const again = await create(alice, 'Retried taxi', 'key-retried-0001');
    expect(first.body.errors).toBeUndefined();
    expect(again.body.data?.createExpenseClaim.id).toBe(first.body.data?.createExpenseClaim.id);
    expect(await claimsTitled('Retried taxi')).toBe(1);
    // Without a key, the same request is a new claim each time.
    await create(alice, 'Retried taxi');
    expect(await claimsTitled('Retried taxi')).toBe(2);
  });

  it('five at once with one key create one claim; the others answer it or IDEMPOTENCY_KEY_IN_USE, and a retry answers it', async () => {
    const answers = await Promise.all(Array.from({ length: 5 }, () => create(alice, 'Concurrent taxi', 'key-concurrent-01')));
    expect(await claimsTitled('Concurrent taxi')).toBe(1);
    const ids = new Set(answers.flatMap((a) => (a.body.data ? [a.body.data.createExpenseClaim.id] : [])));
    expect(ids.size).toBe(1);
    for (const a of answers) if (!a.body.data) expect(a.body.errors?.[0]?.extensions?.code).toBe('IDEMPOTENCY_KEY_IN_USE');
    let retried: Answer | undefined;
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 20))) {
      retried = await create(alice, 'Concurrent taxi', 'key-concurrent-01');
      if (retried.body.data) break;
    }
    expect(retried?.body.data?.createExpenseClaim.id).toBe([...ids][0]);
    expect(await claimsTitled('Concurrent taxi')).toBe(1);
  });

  it('refuses the same key for another request, keeps keys per user, and refuses a malformed key', async () => {
    await create(alice, 'Keyed lunch', 'key-per-request-1');
    const other = await create(alice, 'Keyed lunch', 'key-per-request-1', '99.00');
    expect(other.body.errors?.[0]).toMatchObject({ message: 'This Idempotency-Key was used for another request; use a new key for a new request', extensions: { code: 'BAD_USER_INPUT' } });
    // Bob's key is his own: the same string creates his claim.
    expect((await create(bob, 'Keyed lunch', 'key-per-request-1')).body.errors).toBeUndefined();
    expect(await claimsTitled('Keyed lunch')).toBe(2);
    for (const bad of ['short', 'x'.repeat(129), 'has space in it']) {
      const r = await create(alice, 'Never created', bad);
      expect(r.status).toBe(400);
      expect(r.body.errors?.[0]?.message).toContain('Idempotency-Key must be 8 to 128 printable ASCII characters');
    }
    expect(await claimsTitled('Never created')).toBe(0);
  });

  it('forgets keys after 24 hours', async () => {
    await create(alice, 'Old key', 'key-to-expire-01');
    const keys = stack.connection.db!.collection(IDEMPOTENCY_KEYS);
    expect(await keys.countDocuments({ _id: `oa:${org.ids.alice}:key-to-expire-01` as never })).toBe(1);
    expect(await sweepIdempotencyKeys(stack.connection, Date.now() + IDEMPOTENCY_TTL_MS + 60_000)).toBeGreaterThanOrEqual(1);
    expect(await keys.countDocuments({ _id: `oa:${org.ids.alice}:key-to-expire-01` as never })).toBe(0);
  });

  it('the key sweep and the audit outbox drain read by age through an index, not the whole collection', async () => {
    const stage = async (name: string) => {
      const explained = (await stack.connection.db!.collection(name).find({ at: { $lt: new Date() } }).sort({ at: 1 }).limit(500).explain('queryPlanner')) as { queryPlanner: { winningPlan: { stage: string; inputStage?: { stage: string; indexName: string } } } };
      return explained.queryPlanner.winningPlan.inputStage ?? explained.queryPlanner.winningPlan;
    };
    expect(await stage(IDEMPOTENCY_KEYS)).toMatchObject({ stage: 'IXSCAN', indexName: 'idempotency_keys_by_time' });
    expect(await stage(AUDIT_OUTBOX)).toMatchObject({ stage: 'IXSCAN', indexName: 'audit_outbox_by_time' });
  });
});

it('a keyed mutation whose answer reaches into another subgraph runs that part as usual, and replays whole', async () => {
  const query = `mutation($input: CreateExpenseClaimInput!) { createExpenseClaim(input: $input) { id voucher { id } archiveRecord { id } } }`;
  const send = async () => {
    const res = await fetch(stack.gateways[0].url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${alice}`, 'idempotency-key': 'key-federated-01' },
      body: JSON.stringify({ query, variables: { input: { title: 'Federated taxi', category: 'TRAVEL', items: [item('7.00')] } } }),
    });
    return (await res.json()) as { data?: { createExpenseClaim: { id: string; voucher: null; archiveRecord: null } }; errors?: unknown[] };
  };
  const first = await send();
  expect(first.errors).toBeUndefined();
  expect(first.data?.createExpenseClaim).toMatchObject({ voucher: null, archiveRecord: null });
  const again = await send();
  expect(again.errors).toBeUndefined();
  expect(again.data?.createExpenseClaim.id).toBe(first.data?.createExpenseClaim.id);
  expect(await claimsTitled('Federated taxi')).toBe(1);
});

describe('deadlines', () => {
  it('a request arriving past its deadline is not run', async () => {
    const body = JSON.stringify({ query: CREATE_CLAIM, variables: { input: { title: 'Too late', category: 'TRAVEL', items: [item('5.00')] } } });
    const headers = await identityHeaders(org.as.alice, SECRET, { audience: 'oa', method: 'POST', body }, { origin: { requestId: 'late-request-0001', deadline: Date.now() - 1 } });
    const res = await fetch(stack.oaUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    expect(((await res.json()) as Answer['body']).errors?.[0]?.extensions?.code).toBe('DEADLINE_EXCEEDED');
    expect(await claimsTitled('Too late')).toBe(0);
  });

  it('a transaction still running at its deadline aborts before commit: nothing of it is applied', async () => {
    const notes = stack.connection.db!.collection('deadline_notes');
    const deadline = Date.now() + 200;
    const who = { principal: org.as.alice, origin: { requestId: 'slow-request-0001', clientAddress: null, operationName: null, deadline }, source: 'oa' as const, bodyDigest: 'x' };
    const run = serveRequest(who, stack.connection, () =>
      transaction(stack.connection, async (session) => {
        await notes.insertOne({ at: new Date() }, { session });
        // The work outlives the deadline (waiting for the condition, not for a time).
        while (Date.now() <= deadline) await new Promise((r) => setTimeout(r, 10));
      }),
    );
    await expect(run).rejects.toMatchObject({ extensions: { code: 'DEADLINE_EXCEEDED' } });
    expect(await notes.countDocuments()).toBe(0);
  });

  it('a worker loop woken during a request runs its pass outside it: past the request’s deadline, its transaction still commits', async () => {
    const notes = stack.connection.db!.collection('woken_notes');
    const loop = new WorkerLoop({
      work: () => transaction(stack.connection, async (session) => void (await notes.insertOne({ at: new Date() }, { session }))),
      logger: { error: () => undefined },
      failure: 'the woken pass failed',
    });
    const deadline = Date.now() + 50;
    const who = { principal: org.as.alice, origin: { requestId: 'waking-request-0001', clientAddress: null, operationName: 'Wake', deadline }, source: 'oa' as const, bodyDigest: 'x' };
    // The request wakes the loop once its own deadline has passed (waiting for the condition, not for a time).
    const pass = await serveRequest(who, stack.connection, async () => {
      while (Date.now() <= deadline) await new Promise((r) => setTimeout(r, 10));
      return loop.runNow();
    });
    await loop.stop();
    expect(pass).toBeUndefined();
    expect(await notes.countDocuments()).toBe(1);
  });

  for (const [who, runs] of [['a user', false], ['a service', true]] as const) {
    it(`a transaction that waited in its lane past its caller’s deadline ${runs ? 'still runs for a service (idempotent; its retry finds it)' : 'never starts for a user'}`, async () => {
      let releaseFirst!: () => void;
      let firstRunning = false;
      const first = transaction(
        stack.connection,
        async () => {
          firstRunning = true;
          await new Promise<void>((resolve) => (releaseFirst = resolve));
        },
        { lane: 'deadline-lane' },
      );
      for (const until = Date.now() + 10_000; !firstRunning && Date.now() < until; ) await new Promise((r) => setTimeout(r, 5));
      const deadline = Date.now() + 100;
      let secondRan = false;
      const principal = who === 'a user' ? org.as.alice : servicePrincipal('sync');
      const caller = { principal, origin: { requestId: null, clientAddress: null, operationName: null, deadline }, source: 'archive' as const, bodyDigest: 'x' };
      const second = serveRequest(caller, stack.connection, () =>
        transaction(
          stack.connection,
          async () => {
            secondRan = true;
          },
          { lane: 'deadline-lane' },
        ),
      );
      while (Date.now() <= deadline) await new Promise((r) => setTimeout(r, 10));
      releaseFirst();
      await first;
      if (runs) await second;
      else await expect(second).rejects.toMatchObject({ extensions: { code: 'DEADLINE_EXCEEDED' } });
      expect(secondRan).toBe(runs);
    });
  }

  it('a service’s transaction started before its deadline commits after it: the pipeline’s retry finds it, so a loaded machine still progresses', async () => {
    const notes = stack.connection.db!.collection('deadline_service_notes');
    const deadline = Date.now() + 200;
    const who = { principal: servicePrincipal('sync'), origin: { requestId: null, clientAddress: null, operationName: null, deadline }, source: 'archive' as const, bodyDigest: 'x' };
    await serveRequest(who, stack.connection, () =>
      transaction(stack.connection, async (session) => {
        await notes.insertOne({ at: new Date() }, { session });
        while (Date.now() <= deadline) await new Promise((r) => setTimeout(r, 10));
      }),
    );
    expect(await notes.countDocuments()).toBe(1);
  });
});

// The resumable subscription client (client/events.ts) against the real gateway, on both transports: it starts
// before the gateway is up, keeps the stream across a gateway restart with approvals made while it was down, and
// delivers every CLAIM_APPROVED of the log once, in order: no gap, no duplicate.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EventStream, type Transport, subscribeToEvents } from '../../client/events.ts';
import { until } from '../helpers/wait.ts';
import type { Org } from '../oa/seed.ts';
import { type Stack, approvedClaim, seed, startStack } from '../sync/stack.ts';

let stack: Stack;
let org: Org;
let token: string;

beforeAll(async () => {
  stack = await startStack({ label: 'client_events', subscriptionPollMs: 200 });
  org = await seed(stack);
  token = await stack.token(org.ids.auditor);
});
afterAll(async () => {
  await stack?.close();
});

const QUERY = 'subscription Events($after: String, $types: [SyncEventType!]) { syncEvents(after: $after, types: $types) { seq type claimId } }';
type Event = { seq: string; type: string; claimId: string | null };

/** The seqs of CLAIM_APPROVED in the log after `after`, as the gateway formats them (12 digits). */
async function approvalsInLog(after: string): Promise<string[]> {
  const events = await stack.connection.collection<{ seq: number; type: string }>('domain_events').find({ type: 'CLAIM_APPROVED', seq: { $gt: Number(after) } }).sort({ seq: 1 }).toArray();
  return events.map((e) => String(e.seq).padStart(12, '0'));
}

const headOfLog = async () => String((await stack.connection.collection<{ seq: number }>('domain_events').find().sort({ seq: -1 }).limit(1).next())?.seq ?? 0).padStart(12, '0');

describe('subscribeToEvents', () => {
  for (const transport of ['graphql-ws', 'sse'] as Transport[]) {
    it(`over ${transport}: resumes across a gateway restart with no gap and no duplicate`, async () => {
      const start = await headOfLog();
      const received: Event[] = [];
      const retries: unknown[] = [];
      const gateway = () => stack.gateways[0];
      const stream: EventStream = subscribeToEvents<Event>({
        url: transport === 'graphql-ws' ? gateway().wsUrl : gateway().sseUrl,
        transport,
        token: () => token,
        query: QUERY,
        variables: { types: ['CLAIM_APPROVED'] },
        after: start,
        onEvent: (e) => void received.push(e),
        onRetry: (reason) => retries.push(reason),
        backoff: { initialMs: 20, maxMs: 200 },
      });
      try {
        const claims = [await approvedClaim(stack, org, '11.00'), await approvedClaim(stack, org, '12.00')];
        await until(() => received.length >= 2, 'the first two events');

        // The gateway goes away; two approvals happen meanwhile; it comes back on the same address.
        await stack.restartGateway(0, async () => {
          claims.push(await approvedClaim(stack, org, '13.00'), await approvedClaim(stack, org, '14.00'));
        });
        claims.push(await approvedClaim(stack, org, '15.00'));
        await until(() => received.length >= 5, 'all five events');

        const expected = await approvalsInLog(start);
        expect(received.map((e) => e.seq)).toEqual(expected);
        expect(received.map((e) => e.claimId)).toEqual(claims.map((c) => c.id));
        expect(stream.lastSeq).toBe(expected.at(-1));
        // It did lose the connection, and came back by itself.
        expect(retries.length).toBeGreaterThan(0);
      } finally {
        await stream.stop();
      }
      // Stopped means stopped: nothing more arrives.
      const count = received.length;
      await approvedClaim(stack, org, '16.00');
      await until(async () => (await approvalsInLog(start)).length === count + 1, 'the sixth approval in the log');
      expect(received.length).toBe(count);
    }, 60_000);
  }

  it('keeps trying while the gateway is not there yet, then delivers from the position given', async () => {
    const start = await headOfLog();
    await approvedClaim(stack, org, '21.00');
    const received: Event[] = [];
    const retries: unknown[] = [];
    const stream = subscribeToEvents<Event>({
      url: 'ws://127.0.0.1:9/graphql', // nothing listens: refused, and retried (graphql-ws alone would give up)
      transport: 'graphql-ws',
      token: () => token,
      query: QUERY,
      variables: { types: ['CLAIM_APPROVED'] },
      after: start,
      onEvent: (e) => void received.push(e),
      onRetry: (reason) => retries.push(reason),
      backoff: { initialMs: 10, maxMs: 40 },
    });
    await until(() => retries.length >= 3, 'three refused tries');
    await stream.stop();
    expect(received).toEqual([]);

    const live = subscribeToEvents<Event>({ url: stack.gateways[0].wsUrl, transport: 'graphql-ws', token: () => token, query: QUERY, variables: { types: ['CLAIM_APPROVED'] }, after: start, onEvent: (e) => void received.push(e) });
    try {
      await until(() => received.length === 1, 'the approval made before subscribing');
      expect(received[0].seq).toBe((await approvalsInLog(start))[0]);
    } finally {
      await live.stop();
    }
  });
});

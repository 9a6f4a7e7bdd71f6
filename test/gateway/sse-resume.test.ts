// SSE as a browser's EventSource uses it: every syncEvents event carries its seq as `id:`, a reconnect with
// Last-Event-ID resumes right after it, and a gateway that stops cuts its streams instead of completing them (a
// client reads `complete` as "finished" and would not come back). A browser, which cannot set the header, opens the
// stream with a short-lived ticket (POST /graphql/stream/ticket).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StreamTickets } from '../../gateway/subscriptions/stream-ticket.ts';
import { until } from '../helpers/wait.ts';
import type { Org } from '../oa/seed.ts';
import { type Stack, approvedClaim, seed, startStack } from '../sync/stack.ts';

let stack: Stack;
let org: Org;
let token: string;

beforeAll(async () => {
  stack = await startStack({ label: 'gateway_sse_resume', subscriptionPollMs: 200 });
  org = await seed(stack);
  token = await stack.token(org.ids.auditor);
});
afterAll(async () => {
  await stack?.close();
});

const QUERY = 'subscription($after: String) { syncEvents(after: $after, types: [CLAIM_APPROVED]) { seq claim { id } } }';

/** An open SSE stream: the text received so far, and whether (and how) it ended. */
function open(after: string, headers: Record<string, string> = {}, ticket?: string) {
  const state = { text: '', status: 0, ended: null as null | 'end' | 'error', abort: new AbortController() };
  const url = new URL(stack.gateways[0].sseUrl);
  url.searchParams.set('query', QUERY);
  url.searchParams.set('variables', JSON.stringify({ after }));
  if (ticket !== undefined) url.searchParams.set('ticket', ticket);
  // GET, as EventSource sends it: with a ticket and no header, as a browser; else with the token in the header.
  const auth: Record<string, string> = ticket === undefined ? { authorization: `Bearer ${token}` } : {};
  void fetch(url, { headers: { accept: 'text/event-stream', ...auth, ...headers }, signal: state.abort.signal })
    .then(async (res) => {
      state.status = res.status;
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        state.text += decoder.decode(value, { stream: true });
      }
      state.ended = 'end';
    })
    .catch(() => (state.ended = 'error'));
  return state;
}

/** The events of a stream's text: their id lines and the seq in their data. */
const eventsOf = (text: string) =>
  text
    .split('\n\n')
    .filter((block) => block.includes('event: next'))
    .map((block) => ({ id: /^id: (.*)$/m.exec(block)?.[1] ?? null, seq: (JSON.parse(/^data: (.*)$/m.exec(block)![1]) as { data: { syncEvents: { seq: string } } }).data.syncEvents.seq }));

const headOfLog = async () => String((await stack.connection.collection<{ seq: number }>('domain_events').find().sort({ seq: -1 }).limit(1).next())?.seq ?? 0).padStart(12, '0');

describe('SSE for EventSource', () => {
  it('sends each event with its seq as id, and resumes after Last-Event-ID', async () => {
    const start = await headOfLog();
    const first = open(start);
    try {
      await approvedClaim(stack, org, '31.00');
      await approvedClaim(stack, org, '32.00');
      await until(() => eventsOf(first.text).length === 2, 'two events');
      const events = eventsOf(first.text);
      for (const e of events) expect(e.id).toBe(e.seq);
      expect(events[0].seq < events[1].seq).toBe(true);

      // A reconnect that says where it was: the header wins over the `after` in the URL it was opened with.
      const again = open(start, { 'last-event-id': events[0].id! });
      try {
        await until(() => eventsOf(again.text).length >= 1, 'the resumed stream');
        expect(eventsOf(again.text).map((e) => e.seq)).toEqual([events[1].seq]);
      } finally {
        again.abort.abort();
      }
      // A Last-Event-ID that is not a seq is ignored: the URL's position stands.
      const odd = open(start, { 'last-event-id': 'x; DROP' });
      try {
        await until(() => eventsOf(odd.text).length >= 2, 'the stream from the URL position');
        expect(eventsOf(odd.text).map((e) => e.seq)).toEqual(events.map((e) => e.seq));
      } finally {
        odd.abort.abort();
      }
    } finally {
      first.abort.abort();
    }
  });

  it('opens for a browser with a ticket bought with the token: sealed, a minute long, good for streams only', async () => {
    const base = new URL(stack.gateways[0].sseUrl);
    const buy = (headers: Record<string, string>, method = 'POST') => fetch(`${base.origin}/graphql/stream/ticket`, { method, headers });
    const bought = await buy({ authorization: `Bearer ${token}` });
    expect(bought.status).toBe(200);
    expect(bought.headers.get('cache-control')).toBe('no-store');
    const { ticket, expiresAt } = (await bought.json()) as { ticket: string; expiresAt: string };
    expect(Date.parse(expiresAt) - Date.now()).toBeGreaterThan(50_000);
    expect(Date.parse(expiresAt) - Date.now()).toBeLessThanOrEqual(60_000);
    // The token is not readable in it.
    expect(Buffer.from(ticket, 'base64url').toString('latin1')).not.toContain(token.split('.')[1].slice(0, 20));

    const start = await headOfLog();
    const stream = open(start, {}, ticket);
    try {
      await approvedClaim(stack, org, '34.00');
      await until(() => eventsOf(stream.text).length === 1, 'an event on the ticket stream');
      expect(stream.status).toBe(200);
    } finally {
      stream.abort.abort();
    }

    // Refused: no token to buy with, GET, a ticket altered by one character, and a ticket used as a bearer token.
    expect((await buy({})).status).toBe(401);
    expect((await buy({ authorization: `Bearer ${token}` }, 'GET')).status).toBe(405);
    const altered = ticket.slice(0, 30) + (ticket[30] === 'A' ? 'B' : 'A') + ticket.slice(31);
    const refused = open(start, {}, altered);
    await until(() => refused.ended !== null, 'the refusal');
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.text)).toMatchObject({ errors: [{ extensions: { code: 'UNAUTHENTICATED' } }] });
    const asBearer = await fetch(stack.gateways[0].url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ticket}` }, body: '{"query":"{ me { name } }"}' });
    expect(asBearer.status).toBe(401);
  });

  it('tickets expire, and open only under the secret that sealed them', () => {
    let now = 1_000_000;
    const tickets = new StreamTickets('s'.repeat(40), 60_000, () => now);
    const { ticket } = tickets.issue('Bearer a.b.c');
    expect(tickets.open(ticket)).toBe('Bearer a.b.c');
    expect(new StreamTickets('t'.repeat(40), 60_000, () => now).open(ticket)).toBeNull();
    now += 60_000;
    expect(tickets.open(ticket)).toBeNull();
    expect(tickets.open('not a ticket')).toBeNull();
  });

  it('is cut, not completed, when the gateway stops', async () => {
    const stream = open(await headOfLog());
    await approvedClaim(stack, org, '33.00');
    await until(() => eventsOf(stream.text).length === 1, 'an event');
    await stack.restartGateway(0);
    await until(() => stream.ended !== null, 'the stream to end');
    expect(stream.text).not.toContain('event: complete');
  });
});

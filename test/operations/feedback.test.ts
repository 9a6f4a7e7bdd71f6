// Users' feedback (issue 16 §5), on the real stack through the gateway: a user sends feedback about their claim; an
// ADMIN subscriber (graphql-ws), an OA plugin's API key of scope feedback:read (graphql-ws) and a webhook (Standard
// Webhooks signed) receive FEEDBACK_RECEIVED; ADMIN lists, tags and closes it, and the sender sees it closed. Others
// neither see it nor name a claim or record outside their scope (the same NOT_FOUND as a missing one); inputs are
// checked by the text policy; a user past 20 an hour is refused.
import { type IncomingMessage, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Received, events, wsSubscribe } from '../helpers/subscribers.ts';
import { verifyStandard } from '../helpers/standard-webhooks.ts';
import { until } from '../helpers/wait.ts';
import { ok } from '../oa/fixture.ts';
import { CREATE_CLAIM, type Org, item } from '../oa/seed.ts';
import { type Stack, approvedClaim, seed, startStack } from '../sync/stack.ts';

type Answer<T> = Awaited<ReturnType<Stack['gql']>> & { data?: T; errors?: { message: string; extensions?: { code?: string; field?: string; retryAfterSeconds?: number } }[] };

const SECRET = `whsec_${Buffer.from('feedback-receiver-secret-bytes-0123').toString('base64')}`;
const FIELDS = `id text sender { id } claimId claim { id claimNo } archiveRecordId archiveRecord { id archiveNo } source { page client } createdAt status tags closedAt closedBy resolution history { kind by tags resolution }`;
const SEND = `mutation($input: SendFeedbackInput!) { sendFeedback(input: $input) { ${FIELDS} } }`;
const FEEDBACK_EVENTS = `subscription($after: String) { syncEvents(types: [FEEDBACK_RECEIVED, FEEDBACK_CLOSED], after: $after) { seq type feedbackId claimId claim { id } detail } }`;

interface Feedback {
  id: string;
  text: string;
  sender: { id: string };
  claimId: string | null;
  claim: { id: string; claimNo: string } | null;
  archiveRecordId: string | null;
  archiveRecord: { id: string; archiveNo: string } | null;
  source: { page: string | null; client: string | null };
  status: string;
  tags: string[];
  closedBy: string | null;
  resolution: string | null;
  history: { kind: string; by: string; tags: string[] | null; resolution: string | null }[];
}

let stack: Stack;
let org: Org;
let admin: string;
let alice: string;
let bob: string;
let claim: { id: string; claimNo: string };
let apiKey: string;
const subscribers: Received[] = [];
const hooks: { path: string; headers: IncomingMessage['headers']; body: string }[] = [];
const receiver = createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString('utf8')));
  req.on('end', () => {
    hooks.push({ path: req.url ?? '', headers: req.headers, body });
    res.writeHead(204).end();
  });
});

/** From the head of the log now (`after`): nothing sent later is missed, however long the socket takes to open. */
const subscribe = (authorization: string, after: string, query = FEEDBACK_EVENTS) => {
  const r = wsSubscribe(stack.gateways[0].wsUrl, { authorization }, query, { after });
  subscribers.push(r);
  return r;
};
const send = (token: string, input: Record<string, unknown>) => stack.gql<{ sendFeedback: Feedback }>(token, SEND, { input }) as Promise<Answer<{ sendFeedback: Feedback }>>;
const errorOf = (a: { errors?: Answer<unknown>['errors'] }) => ({ code: a.errors?.[0]?.extensions?.code, field: a.errors?.[0]?.extensions?.field });
const hookEvents = (path = '/feedback') =>
  hooks.filter((h) => h.path === path).map((h) => ({ verified: verifyStandard(SECRET, h.headers, h.body) as { event: Record<string, unknown>; data?: unknown }, raw: h }));

beforeAll(async () => {
  stack = await startStack({ label: 'ops_feedback' });
  org = await seed(stack);
  admin = await stack.token('ops-admin', ['ADMIN']);
  alice = await stack.token(org.ids.alice);
  bob = await stack.token(org.ids.bob);
  claim = ok(await stack.oa.gql<{ createExpenseClaim: { id: string; claimNo: string } }>(org.as.alice, CREATE_CLAIM, { input: { title: 'Hotel', category: 'TRAVEL', items: [item('88.00')] } })).createExpenseClaim;
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const hook = await stack.gql(admin, `mutation($url: String!, $secret: String!) { registerWebhook(url: $url, types: [FEEDBACK_RECEIVED, FEEDBACK_CLOSED], secret: $secret) { id } }`, {
    url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/feedback`,
    secret: SECRET,
  });
  expect(hook.errors).toBeUndefined();
  const key = await stack.gql<{ createApiKey: { key: string; apiKey: { id: string } } }>(admin, `mutation { createApiKey(input: { name: "OA feedback plugin", scopes: [FEEDBACK_READ] }) { key apiKey { id } } }`);
  expect(key.errors).toBeUndefined();
  apiKey = key.data!.createApiKey.key;
  // The plugin's own webhook: each delivery carries what its selection reads under the feedback:read key.
  const withSelection = await stack.gql(
    admin,
    `mutation($url: String!, $secret: String!, $key: ID!) { registerWebhook(url: $url, types: [FEEDBACK_RECEIVED], secret: $secret, selection: "{ type feedbackId }", apiKeyId: $key) { id } }`,
    { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/plugin`, secret: SECRET, key: key.data!.createApiKey.apiKey.id },
  );
  expect(withSelection.errors).toBeUndefined();
});
afterAll(async () => {
  for (const s of subscribers) await s.dispose();
  await stack?.close();
  receiver.close();
});

describe('feedback round trip', () => {
  it('reaches the operators, an OA plugin and a webhook; ADMIN tags and closes it; the sender sees it closed', async () => {
    const head = (await stack.gql<{ syncEventHead: string }>(admin, `{ syncEventHead }`)).data!.syncEventHead;
    const operators = subscribe(`Bearer ${admin}`, head);
    const plugin = subscribe(`ApiKey ${apiKey}`, head, `subscription($after: String) { syncEvents(after: $after) { seq type feedbackId claimId } }`);
    const sender = subscribe(`Bearer ${alice}`, head);
    const other = subscribe(`Bearer ${bob}`, head);

    const sent = await send(alice, { text: '  The voucher number is not shown on my claim.\r\nPlease add it.  ', claimId: claim.id, source: { page: '/console/claims', client: 'console' } });
    expect(sent.errors).toBeUndefined();
    const fb = sent.data!.sendFeedback;
    expect(fb).toMatchObject({
      text: 'The voucher number is not shown on my claim.\nPlease add it.',
      sender: { id: org.ids.alice },
      claimId: claim.id,
      claim: { id: claim.id, claimNo: claim.claimNo },
      archiveRecordId: null,
      source: { page: '/console/claims', client: 'console' },
      status: 'OPEN',
      tags: [],
      closedBy: null,
      history: [{ kind: 'SENT', by: org.ids.alice, tags: null, resolution: null }],
    });

    const received = (r: Received, type: string) => events(r).find((e) => e.type === type && e.feedbackId === fb.id);
    await operators.until((r) => !!received(r, 'FEEDBACK_RECEIVED'));
    // ADMIN sees every feedback event, with the claim's id but not the claim (outside ADMIN's row scope): no error.
    expect(received(operators, 'FEEDBACK_RECEIVED')).toMatchObject({ type: 'FEEDBACK_RECEIVED', feedbackId: fb.id, claimId: claim.id, claim: null, detail: 'console /console/claims' });
    expect(operators.results.every((x) => !x.errors)).toBe(true);
    await plugin.until((r) => !!received(r, 'FEEDBACK_RECEIVED'));
    // The plugin's key reads feedback events only, and the item they name.
    expect(events(plugin).every((e) => String(e.type).startsWith('FEEDBACK_'))).toBe(true);
    const byKey = await fetch(stack.gateways[0].url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `ApiKey ${apiKey}` },
      body: JSON.stringify({ query: `query($id: ID!) { feedbackItem(id: $id) { id text status sender { id } } }`, variables: { id: fb.id } }),
    }).then((r) => r.json() as Promise<{ data?: { feedbackItem: unknown }; errors?: unknown }>);
    expect(byKey).toEqual({ data: { feedbackItem: { id: fb.id, text: fb.text, status: 'OPEN', sender: { id: org.ids.alice } } } });
    await sender.until((r) => !!received(r, 'FEEDBACK_RECEIVED'));
    await until(() => hookEvents().some((h) => h.verified.event.feedbackId === fb.id && h.verified.event.type === 'FEEDBACK_RECEIVED'), 'the signed webhook delivery');
    expect(hookEvents().find((h) => h.verified.event.feedbackId === fb.id)!.verified.event).toMatchObject({ type: 'FEEDBACK_RECEIVED', feedbackId: fb.id, claimId: claim.id });
    await until(() => hookEvents('/plugin').some((h) => h.verified.event.feedbackId === fb.id), "the plugin's webhook delivery");
    expect(hookEvents('/plugin').find((h) => h.verified.event.feedbackId === fb.id)!.verified.data).toEqual({ type: 'FEEDBACK_RECEIVED', feedbackId: fb.id });

    const listed = await stack.gql<{ feedback: { totalCount: number; edges: { node: Feedback }[] } }>(admin, `{ feedback(status: OPEN) { totalCount edges { node { ${FIELDS} } } } }`);
    expect(listed.errors).toBeUndefined();
    expect(listed.data!.feedback.edges.map((e) => e.node.id)).toContain(fb.id);
    expect(listed.data!.feedback.edges.find((e) => e.node.id === fb.id)!.node).toMatchObject({ text: fb.text, claimId: claim.id, claim: null });

    const tagged = await stack.gql<{ tagFeedback: Feedback }>(admin, `mutation($id: ID!) { tagFeedback(id: $id, tags: ["UX", "voucher-no", "ux"]) { tags } }`, { id: fb.id });
    expect(tagged.data!.tagFeedback.tags).toEqual(['ux', 'voucher-no']);
    const byTag = await stack.gql<{ feedback: { edges: { node: { id: string } }[] } }>(admin, `{ feedback(tag: "voucher-no") { edges { node { id } } } }`);
    expect(byTag.data!.feedback.edges.map((e) => e.node.id)).toEqual([fb.id]);
    expect(errorOf(await stack.gql(admin, `mutation($id: ID!) { tagFeedback(id: $id, tags: ["ok", "not a slug"]) { id } }`, { id: fb.id }))).toEqual({ code: 'BAD_USER_INPUT', field: 'tags[1]' });
    expect(errorOf(await stack.gql(admin, `{ feedback(tag: "-x") { totalCount } }`))).toEqual({ code: 'BAD_USER_INPUT', field: 'tag' });

    // The sender and the auditor may not handle it; the auditor reads it.
    expect(errorOf(await stack.gql(alice, `mutation($id: ID!) { closeFeedback(id: $id) { id } }`, { id: fb.id })).code).toBe('FORBIDDEN');
    const auditor = await stack.token(org.ids.auditor);
    expect(errorOf(await stack.gql(auditor, `mutation($id: ID!) { tagFeedback(id: $id, tags: []) { id } }`, { id: fb.id })).code).toBe('FORBIDDEN');
    expect((await stack.gql<{ feedbackItem: { id: string } }>(auditor, `query($id: ID!) { feedbackItem(id: $id) { id } }`, { id: fb.id })).data!.feedbackItem).toEqual({ id: fb.id });

    const closed = await stack.gql<{ closeFeedback: Feedback }>(admin, `mutation($id: ID!) { closeFeedback(id: $id, resolution: "Shown from release 2.3") { ${FIELDS} } }`, { id: fb.id });
    expect(closed.errors).toBeUndefined();
    expect(closed.data!.closeFeedback).toMatchObject({ status: 'CLOSED', closedBy: 'ops-admin', resolution: 'Shown from release 2.3' });
    expect(closed.data!.closeFeedback.history.map((h) => h.kind)).toEqual(['SENT', 'TAGGED', 'CLOSED']);
    await operators.until((r) => !!received(r, 'FEEDBACK_CLOSED'));
    await sender.until((r) => !!received(r, 'FEEDBACK_CLOSED'));
    await until(() => hookEvents().some((h) => h.verified.event.feedbackId === fb.id && h.verified.event.type === 'FEEDBACK_CLOSED'), 'the FEEDBACK_CLOSED delivery');

    const mine = await stack.gql<{ myFeedback: { totalCount: number; edges: { node: Feedback }[] } }>(alice, `{ myFeedback { totalCount edges { node { id status resolution closedAt } } } }`);
    expect(mine.data!.myFeedback.edges.find((e) => e.node.id === fb.id)!.node).toMatchObject({ status: 'CLOSED', resolution: 'Shown from release 2.3' });

    // Bob heard nothing of Alice's feedback: his own event arrives after hers, and it is the only one he got.
    const bobs = (await send(bob, { text: 'Sync is slow today' })).data!.sendFeedback;
    await other.until((r) => events(r).some((e) => e.feedbackId === bobs.id));
    expect(events(other).map((e) => e.feedbackId)).toEqual([bobs.id]);

    const reopened = await stack.gql<{ reopenFeedback: Feedback }>(admin, `mutation($id: ID!) { reopenFeedback(id: $id) { status closedBy resolution history { kind } } }`, { id: fb.id });
    expect(reopened.data!.reopenFeedback).toMatchObject({ status: 'OPEN', closedBy: null, resolution: null });
    expect(reopened.data!.reopenFeedback.history.at(-1)).toEqual({ kind: 'REOPENED' });
    expect(errorOf(await stack.gql(admin, `mutation($id: ID!) { reopenFeedback(id: $id) { id } }`, { id: fb.id })).code).toBe('CONFLICT');
  });
});

describe('who sees and names what', () => {
  it("keeps another employee from another's feedback and from a claim or record outside their scope", async () => {
    const fb = (await send(alice, { text: 'About my claim', claimId: claim.id })).data!.sendFeedback;
    expect((await stack.gql<{ feedbackItem: unknown }>(bob, `query($id: ID!) { feedbackItem(id: $id) { id text } }`, { id: fb.id })).data!.feedbackItem).toBeNull();
    const bobsList = await stack.gql<{ myFeedback: { edges: { node: { id: string } }[] } }>(bob, `{ myFeedback { edges { node { id } } } }`);
    expect(bobsList.data!.myFeedback.edges.map((e) => e.node.id)).not.toContain(fb.id);
    expect(errorOf(await stack.gql(bob, `{ feedback { totalCount } }`)).code).toBe('FORBIDDEN');

    // Alice's claim does not exist for Bob: the same answer as an id that exists nowhere.
    const hidden = await send(bob, { text: 'Her claim', claimId: claim.id });
    const missing = await send(bob, { text: 'No claim', claimId: 'f'.repeat(24) });
    expect(errorOf(hidden)).toEqual({ code: 'NOT_FOUND', field: 'input.claimId' });
    expect(hidden.errors![0].message).toBe(missing.errors![0].message);
    expect(errorOf(missing)).toEqual(errorOf(hidden));
    // Her manager reads the department's claims, so may name it.
    const manager = await stack.token(org.ids.salesManager);
    expect((await send(manager, { text: 'Her claim, from her manager', claimId: claim.id })).data!.sendFeedback.claimId).toBe(claim.id);

    // An archive record: its owner may name it, someone outside its scope gets NOT_FOUND as for a missing one.
    const filed = await approvedClaim(stack, org, '42.00');
    let recordId = '';
    await until(async () => {
      const r = await stack.gql<{ expenseClaim: { archiveRecord: { id: string } | null } }>(alice, `query($id: ID!) { expenseClaim(id: $id) { archiveRecord { id } } }`, { id: filed.id });
      recordId = r.data?.expenseClaim.archiveRecord?.id ?? '';
      return recordId !== '';
    }, 'the claim filed');
    const onRecord = await send(alice, { text: 'The record title is cut', archiveRecordId: recordId });
    expect(onRecord.data!.sendFeedback).toMatchObject({ archiveRecordId: recordId, archiveRecord: { id: recordId } });
    const outsider = await stack.token(org.ids.outsider);
    const refused = await send(outsider, { text: 'Not mine', archiveRecordId: recordId });
    expect(errorOf(refused)).toEqual({ code: 'NOT_FOUND', field: 'input.archiveRecordId' });
    expect(refused.errors![0].message).toBe((await send(outsider, { text: 'None', archiveRecordId: 'a'.repeat(24) })).errors![0].message);
  });

  it('refuses API keys: they are not users', async () => {
    const res = await fetch(stack.gateways[0].url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `ApiKey ${apiKey}` },
      body: JSON.stringify({ query: SEND, variables: { input: { text: 'from a key' } } }),
    }).then((r) => r.json() as Promise<{ errors?: { extensions?: { code?: string } }[] }>);
    expect(res.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});

describe('input', () => {
  it('names the field of every refusal', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ text: '   ' }, 'input.text'],
      [{ text: 'x'.repeat(4001) }, 'input.text'],
      [{ text: 'ok', claimId: 'not-an-id' }, 'input.claimId'],
      [{ text: 'ok', archiveRecordId: '123' }, 'input.archiveRecordId'],
      [{ text: 'ok', source: { client: '<img src=x>' } }, 'input.source.client'],
      [{ text: 'ok', source: { page: 'p'.repeat(201) } }, 'input.source.page'],
      [{ text: 'ok', source: { page: '/claims\n/2' } }, 'input.source.page'],
    ];
    for (const [input, field] of cases) expect(errorOf(await send(alice, input)), JSON.stringify(input).slice(0, 80)).toEqual({ code: 'BAD_USER_INPUT', field });
    expect((await send(alice, { text: 'x'.repeat(4000) })).data!.sendFeedback.text).toHaveLength(4000);
  });

  it('stores markup as plain text and refuses bidi overrides and control characters', async () => {
    const markup = '<script>alert(1)</script> & <b onmouseover="x()">bold</b>\n\tindented';
    expect((await send(alice, { text: markup, source: { page: '/console/<script>' } })).data!.sendFeedback).toMatchObject({ text: markup, source: { page: '/console/<script>', client: null } });
    const rtl = await send(alice, { text: 'invoice \u202Efdp.exe' });
    expect(errorOf(rtl)).toEqual({ code: 'BAD_USER_INPUT', field: 'input.text' });
    expect(rtl.errors![0].message).toBe('input.text contains the bidirectional control U+202E at position 9');
    const bell = await send(alice, { text: 'ding\u0007' });
    expect(bell.errors![0].message).toBe('input.text contains the control character U+0007 at position 5');
  });
});

describe('rate limit', () => {
  it('refuses a user past 20 an hour, saying when to try again; others are not held back', async () => {
    const outsider = await stack.token(org.ids.outsider);
    for (let i = 0; i < 20; i++) expect((await send(outsider, { text: `note ${i}` })).errors).toBeUndefined();
    const over = await send(outsider, { text: 'one more' });
    expect(over.errors![0].extensions).toMatchObject({ code: 'RATE_LIMITED' });
    expect(over.errors![0].extensions!.retryAfterSeconds).toBeGreaterThan(3000);
    expect(over.errors![0].message).toMatch(/^At most 20 feedback items an hour: try again in \d+ s$/);
    expect((await send(bob, { text: 'still fine' })).errors).toBeUndefined();
    // Paging the 20 backwards and forwards gives them all once, newest first.
    const page = async (args: string) =>
      (await stack.gql<{ myFeedback: { edges: { cursor: string; node: { text: string } }[]; pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; endCursor: string; startCursor: string } } }>(outsider, `{ myFeedback(${args}) { edges { cursor node { text } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`)).data!.myFeedback;
    const first = await page('first: 15');
    const rest = await page(`first: 15, after: "${first.pageInfo.endCursor}"`);
    expect([...first.edges, ...rest.edges].map((e) => e.node.text)).toEqual(Array.from({ length: 20 }, (_, i) => `note ${19 - i}`));
    expect([first.pageInfo.hasNextPage, rest.pageInfo.hasNextPage]).toEqual([true, false]);
    const back = await page(`last: 5, before: "${rest.pageInfo.startCursor}"`);
    expect(back.edges.map((e) => e.node.text)).toEqual(['note 9', 'note 8', 'note 7', 'note 6', 'note 5']);
    expect(back.pageInfo.hasPreviousPage).toBe(true);
  });
});

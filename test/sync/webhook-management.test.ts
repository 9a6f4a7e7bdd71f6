// Webhook management through the gateway (issue 15 §6): update, pause, delete, secret rotation with an overlap, a
// test event, Standard Webhooks signatures verified with the reference library, and a GraphQL selection per webhook
// whose answer each delivery carries, read under the webhook's API key with a subscriber's permissions.
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { identityHeaders, servicePrincipal } from '../../platform/identity.ts';
import { verifiesWith, verifyStandard } from '../helpers/standard-webhooks.ts';
import { until } from '../helpers/wait.ts';
import { ADMIN, SECRET, ok } from '../oa/fixture.ts';
import type { Org } from '../oa/seed.ts';
import { type Stack, approvedClaim, seed, startStack } from './stack.ts';

const BANK_ACCOUNT = '6222021234567890128';
/** The specification's form: whsec_ and the base64 of random bytes. */
const SPEC_SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
const NEXT_SECRET = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;

interface Got {
  headers: Record<string, string>;
  body: string;
  json: { deliveryId: string; type: string; event: { seq: string; type: string; claimId: string | null } | null; data?: unknown };
}

/** A receiver on 127.0.0.1 that keeps what it gets and answers `status`. */
class Receiver {
  got: Got[] = [];
  status = 204;
  private server: Server | undefined;
  url = '';
  async open(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        this.got.push({ headers: req.headers as Record<string, string>, body, json: JSON.parse(body) });
        res.writeHead(this.status).end();
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
    return this;
  }
  of(claimId: string): Got[] {
    return this.got.filter((g) => g.json.event?.claimId === claimId);
  }
  close(): Promise<void> {
    this.server?.closeAllConnections();
    return new Promise((r) => this.server?.close(() => r()) ?? r());
  }
}

let stack: Stack;
let org: Org;
let admin: string;
const receivers: Receiver[] = [];

beforeAll(async () => {
  stack = await startStack({ label: 'webhook_management', sync: { pollMs: 50 } });
  org = await seed(stack);
  ok(await stack.oa.gql(ADMIN, `mutation($id: ID!, $input: UpdateEmployeeInput!) { updateEmployee(id: $id, input: $input) { id } }`, { id: org.ids.alice, input: { bankAccount: BANK_ACCOUNT } }));
  admin = await stack.token('ops-admin', ['ADMIN']);
});
afterAll(async () => {
  for (const r of receivers) await r.close();
  await stack?.close();
});

async function receiver(): Promise<Receiver> {
  const r = await new Receiver().open();
  receivers.push(r);
  return r;
}

async function gql<T>(query: string, variables?: Record<string, unknown>): Promise<T> {
  const r = await stack.gql<T>(admin, query, variables);
  expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
  return r.data as T;
}

const refusal = async (query: string, variables?: Record<string, unknown>) => (await stack.gql(admin, query, variables)).errors?.[0] as { message: string; extensions: { code: string; field?: string } };

const REGISTER = `mutation($url: String!, $types: [SyncEventType!]!, $secret: String!, $selection: String, $apiKeyId: ID) {
  registerWebhook(url: $url, types: $types, secret: $secret, selection: $selection, apiKeyId: $apiKeyId) { id selection apiKeyId legacyHeaders active }
}`;

async function apiKey(scopes: string[]): Promise<string> {
  const made = await gql<{ createApiKey: { apiKey: { id: string } } }>(`mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { apiKey { id } } }`, { input: { name: `hooks ${scopes.join(' ')}`, scopes } });
  return made.createApiKey.apiKey.id;
}

describe('a webhook with a selection', () => {
  it("carries the selected fields in `data`, read under its API key: a claim's numbers, never a person's bank account", async () => {
    const keyId = await apiKey(['EVENTS_READ', 'CLAIMS_READ']);
    const r = await receiver();
    const selection = '{ seq type claim { claimNo total status } }';
    const hook = (await gql<{ registerWebhook: { id: string; selection: string; apiKeyId: string; legacyHeaders: boolean } }>(REGISTER, { url: r.url, types: ['CLAIM_APPROVED'], secret: SPEC_SECRET, selection, apiKeyId: keyId })).registerWebhook;
    expect(hook).toMatchObject({ selection, apiKeyId: keyId, legacyHeaders: false });
    const claim = await approvedClaim(stack, org, '77.70');
    await until(() => r.of(claim.id).length === 1, 'the delivery');
    const [got] = r.of(claim.id);
    expect(verifyStandard(SPEC_SECRET, got.headers, got.body)).toEqual(got.json);
    expect(got.json.data).toEqual({ seq: got.json.event!.seq, type: 'CLAIM_APPROVED', claim: { claimNo: claim.claimNo, total: '77.70', status: 'APPROVED' } });
    // Retries and replays send the bytes stored with the delivery, data included.
    const stored = await gql<{ webhookDeliveries: { id: string; status: string }[] }>(`query($id: ID!) { webhookDeliveries(webhookId: $id) { id status } }`, { id: hook.id });
    expect(stored.webhookDeliveries).toEqual([{ id: got.json.deliveryId, status: 'DELIVERED' }]);
    await gql(`mutation($id: ID!) { replayWebhookDelivery(id: $id) { id } }`, { id: got.json.deliveryId });
    await until(() => r.of(claim.id).length === 2, 'the replay');
    expect(r.of(claim.id)[1].body).toBe(got.body);
  });

  it('is checked when set: valid on SyncEvent, one selection set, every field within the key scopes', async () => {
    const events = await apiKey(['EVENTS_READ']);
    const claims = await apiKey(['CLAIMS_READ']);
    const r = await receiver();
    const register = (selection: string, apiKeyId: string | null) => refusal(REGISTER, { url: r.url, types: ['CLAIM_APPROVED'], secret: SPEC_SECRET, selection, apiKeyId });
    expect((await register('{ claim { applicant { bankAccount } } }', events)).extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'selection' });
    expect((await register('{ claim { total } }', events)).message).toContain('ExpenseClaim.total');
    expect((await register('{ seq }', claims)).extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'apiKeyId' });
    expect((await register('{ seq }', null)).extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'apiKeyId' });
    expect((await register('{ nope }', events)).message).toContain('Cannot query field "nope"');
    expect((await register('{ seq } } query Other { syncJobs { id } ', events)).extensions.field).toBe('selection');
    expect((await register('seq type', events)).extensions.field).toBe('selection');
    expect((await register(`{ ${'seq '.repeat(2000)}}`, events)).extensions.field).toBe('selection');
    await gql(`mutation($id: ID!) { revokeApiKey(id: $id) { id } }`, { id: events });
    expect((await register('{ seq }', events)).extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'apiKeyId' });
  });
});

describe('managing a webhook', () => {
  it('updates its types and selection, pauses it without losing events, and deletes it with its pending deliveries', async () => {
    const keyId = await apiKey(['EVENTS_READ', 'CLAIMS_READ']);
    const r = await receiver();
    const { id } = (await gql<{ registerWebhook: { id: string } }>(REGISTER, { url: r.url, types: ['CLAIM_SUBMITTED'], secret: SPEC_SECRET })).registerWebhook;
    const update = `mutation($id: ID!, $input: UpdateWebhookInput!) { updateWebhook(id: $id, input: $input) { types selection apiKeyId updatedAt } }`;
    const updated = await gql<{ updateWebhook: { types: string[]; selection: string; apiKeyId: string; updatedAt: string } }>(update, { id, input: { types: ['CLAIM_APPROVED', 'ARCHIVE_FILED'], selection: '{ claim { claimNo } }', apiKeyId: keyId } });
    expect(updated.updateWebhook).toMatchObject({ types: ['CLAIM_APPROVED', 'ARCHIVE_FILED'], selection: '{ claim { claimNo } }', apiKeyId: keyId });
    expect(updated.updateWebhook.updatedAt).toBeTruthy();
    expect((await refusal(update, { id, input: { url: 'ftp://x/' } })).extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'url' });
    expect((await refusal(update, { id, input: { types: null } })).extensions.code).toBe('BAD_USER_INPUT');

    const first = await approvedClaim(stack, org, '1.00');
    await until(() => r.of(first.id).length === 2, 'CLAIM_APPROVED and ARCHIVE_FILED');
    expect(r.of(first.id).map((g) => g.json.type).sort()).toEqual(['ARCHIVE_FILED', 'CLAIM_APPROVED']);
    expect(r.of(first.id).map((g) => g.json.data)).toEqual([{ claim: { claimNo: first.claimNo } }, { claim: { claimNo: first.claimNo } }]);

    // Paused: nothing is sent; resumed: what happened meanwhile arrives.
    await gql(`mutation($id: ID!) { setWebhookActive(id: $id, active: false) { active } }`, { id });
    const second = await approvedClaim(stack, org, '2.00');
    await until(async () => {
      const s = (await gql<{ syncStatus: { backlog: number; position: string; head: string } }>(`{ syncStatus { backlog position head } }`)).syncStatus;
      return s.backlog === 0 && s.position === s.head;
    }, 'the pipeline settled');
    expect(r.of(second.id)).toHaveLength(0);
    // The selection removed (null), the rest kept.
    await gql(update, { id, input: { selection: null } });
    await gql(`mutation($id: ID!) { setWebhookActive(id: $id, active: true) { active } }`, { id });
    await until(() => r.of(second.id).length === 2, "the paused period's deliveries");
    expect(r.of(second.id).every((g) => g.json.data === undefined)).toBe(true);

    // Deleted: its deliveries not yet made go with it; nothing more is sent.
    r.status = 500;
    const third = await approvedClaim(stack, org, '3.00');
    await until(() => r.of(third.id).length >= 1, 'a failing delivery');
    expect(await gql<{ deleteWebhook: string }>(`mutation($id: ID!) { deleteWebhook(id: $id) }`, { id })).toEqual({ deleteWebhook: id });
    const hooks = await gql<{ webhooks: { id: string }[] }>(`{ webhooks { id } }`);
    expect(hooks.webhooks.map((h) => h.id)).not.toContain(id);
    const left = await gql<{ webhookDeliveries: { status: string }[] }>(`query($id: ID!) { webhookDeliveries(webhookId: $id, first: 100) { status } }`, { id });
    expect(left.webhookDeliveries.every((d) => d.status === 'DELIVERED')).toBe(true);
    expect((await refusal(`mutation($id: ID!) { deleteWebhook(id: $id) }`, { id })).extensions.code).toBe('NOT_FOUND');
  });

  it('rotates its secret: during the overlap both secrets verify, without one only the new', async () => {
    const r = await receiver();
    const { id } = (await gql<{ registerWebhook: { id: string } }>(REGISTER, { url: r.url, types: ['CLAIM_APPROVED'], secret: SPEC_SECRET })).registerWebhook;
    const rotate = `mutation($id: ID!, $secret: String!, $overlap: Int) { rotateWebhookSecret(id: $id, secret: $secret, overlapSeconds: $overlap) { previousSecretExpiresAt updatedAt } }`;
    const rotated = await gql<{ rotateWebhookSecret: { previousSecretExpiresAt: string; updatedAt: string } }>(rotate, { id, secret: NEXT_SECRET, overlap: 3600 });
    expect(Date.parse(rotated.rotateWebhookSecret.previousSecretExpiresAt) - Date.parse(rotated.rotateWebhookSecret.updatedAt)).toBe(3600_000);
    const during = await approvedClaim(stack, org, '4.00');
    await until(() => r.of(during.id).length === 1, 'the delivery');
    const [a] = r.of(during.id);
    expect(a.headers['webhook-signature'].split(' ')).toHaveLength(2);
    expect(verifiesWith(NEXT_SECRET, a.headers, a.body)).toBe(true);
    expect(verifiesWith(SPEC_SECRET, a.headers, a.body)).toBe(true);

    const third = `whsec_${Buffer.alloc(32, 11).toString('base64')}`;
    await gql(rotate, { id, secret: third, overlap: 0 });
    const after = await approvedClaim(stack, org, '5.00');
    await until(() => r.of(after.id).length === 1, 'the delivery');
    const [b] = r.of(after.id);
    expect(b.headers['webhook-signature'].split(' ')).toHaveLength(1);
    expect(verifiesWith(third, b.headers, b.body)).toBe(true);
    expect(verifiesWith(NEXT_SECRET, b.headers, b.body)).toBe(false);
    expect((await refusal(rotate, { id, secret: 'short', overlap: 0 })).extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'secret' });
    expect((await refusal(rotate, { id, secret: NEXT_SECRET, overlap: 8 * 86_400 })).extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'overlapSeconds' });
  });

  it('sends a signed test event on request, and says what the receiver answered', async () => {
    const r = await receiver();
    const { id } = (await gql<{ registerWebhook: { id: string } }>(REGISTER, { url: r.url, types: ['ARCHIVE_FILED'], secret: SPEC_SECRET })).registerWebhook;
    const TEST = `mutation($id: ID!) { sendTestWebhook(id: $id) { delivered statusCode error durationMs } }`;
    const sent = await gql<{ sendTestWebhook: { delivered: boolean; statusCode: number; error: string | null; durationMs: number } }>(TEST, { id });
    expect(sent.sendTestWebhook).toMatchObject({ delivered: true, statusCode: 204, error: null });
    expect(r.got).toHaveLength(1);
    expect(verifyStandard(SPEC_SECRET, r.got[0].headers, r.got[0].body)).toMatchObject({ type: 'WEBHOOK_TEST', event: null });
    r.status = 503;
    await gql(`mutation($id: ID!) { setWebhookActive(id: $id, active: false) { active } }`, { id });
    const failed = await gql<{ sendTestWebhook: { delivered: boolean; statusCode: number; error: string } }>(TEST, { id });
    expect(failed.sendTestWebhook).toMatchObject({ delivered: false, statusCode: 503 });
    expect(failed.sendTestWebhook.error).toBeTruthy();
    const employee = await stack.token(org.ids.alice);
    expect((await stack.gql(employee, TEST, { id })).errors?.[0].extensions?.code).toBe('FORBIDDEN');
  });
});

describe('the gateway', () => {
  it('accepts an internal identity only on behalf of an integration', async () => {
    const body = JSON.stringify({ query: '{ syncJobs { id } }' });
    const headers = await identityHeaders(servicePrincipal('sync'), SECRET, { audience: 'gateway', method: 'POST', body });
    const res = await fetch(stack.gateways[0].url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    expect(res.status).toBe(403);
    const forged = await identityHeaders(servicePrincipal('sync'), 'another-secret-0123456789abcdef0123', { audience: 'gateway', method: 'POST', body });
    expect((await fetch(stack.gateways[0].url, { method: 'POST', headers: { 'content-type': 'application/json', ...forged }, body })).status).toBe(401);
  });
});

// Integration credentials (issue 15 §5): ADMIN makes API keys with scopes; a key is shown once and stored hashed;
// it authenticates on HTTP, graphql-ws and SSE as an integration that reads only what INTEGRATION grants its scopes;
// it is rate-limited, rotated with an overlap, revoked (its open streams end), and its last use is recorded.
import { buildSchema, isObjectType } from 'graphql';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { apiKeyHash } from '../../platform/api-key-token.ts';
import { API_SCOPES, INTEGRATION, ruleFor } from '../../schema/permissions.ts';
import { events, sseSubscribe, wsSubscribe } from '../helpers/subscribers.ts';
import { until } from '../helpers/wait.ts';
import { ADMIN, ok } from '../oa/fixture.ts';
import type { Org } from '../oa/seed.ts';
import { type Stack, approvedClaim, seed, startStack } from '../sync/stack.ts';

const BANK_ACCOUNT = '6222021234567890128';
const CREATE = `mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { key apiKey { id name scopes rateLimitPerMinute active lastUsedAt createdBy } } }`;
const EVENTS = `subscription { syncEvents { seq type claim { id claimNo } } }`;

type Answer = { status: number; headers: Headers; data?: Record<string, unknown> | null; errors?: { message: string; path?: string[]; extensions?: { code?: string } }[] };

let stack: Stack;
let org: Org;
let admin: string;

beforeAll(async () => {
  // Checks are trusted for 100 ms, so revocations and rotations show within the test's waits.
  stack = await startStack({ label: 'api_keys', apiKeyCacheMs: 100 });
  org = await seed(stack);
  ok(await stack.oa.gql(ADMIN, `mutation($id: ID!, $input: UpdateEmployeeInput!) { updateEmployee(id: $id, input: $input) { id } }`, { id: org.ids.alice, input: { bankAccount: BANK_ACCOUNT } }));
  admin = await stack.token('ops-admin', ['ADMIN']);
});
afterAll(async () => stack?.close());

async function post(authorization: string, query: string, variables?: Record<string, unknown>): Promise<Answer> {
  const res = await fetch(stack.gateways[0].url, { method: 'POST', headers: { 'content-type': 'application/json', authorization }, body: JSON.stringify({ query, variables }) });
  return { status: res.status, headers: res.headers, ...((await res.json()) as object) };
}

async function createKey(input: Record<string, unknown>): Promise<{ key: string; id: string }> {
  const r = await stack.gql<{ createApiKey: { key: string; apiKey: { id: string } } }>(admin, CREATE, { input });
  expect(r.errors).toBeUndefined();
  return { key: r.data!.createApiKey.key, id: r.data!.createApiKey.apiKey.id };
}

const codes = (a: Answer) => (a.errors ?? []).map((e) => e.extensions?.code);

describe('the INTEGRATION role', () => {
  it('grants only fields of the graph that have a rule, never a mutation, a service-only or a sensitive field', () => {
    const schema = buildSchema(fs.readFileSync(new URL('../../schema/api.graphql', import.meta.url), 'utf8'));
    for (const scope of API_SCOPES) {
      for (const [type, grant] of Object.entries(INTEGRATION[scope])) {
        expect(type).not.toBe('Mutation');
        const t = schema.getType(type);
        expect(t && isObjectType(t), `${type} is an object type of the API`).toBe(true);
        const fields = grant === '*' ? Object.keys((t as import('graphql').GraphQLObjectType).getFields()) : grant;
        for (const field of fields) {
          expect((t as import('graphql').GraphQLObjectType).getFields()[field], `${type}.${field}`).toBeDefined();
          const rule = ruleFor(type, field);
          expect(rule, `${type}.${field} has a rule`).toBeDefined();
          expect(['services', 'sensitive']).not.toContain(rule!.kind);
        }
      }
    }
  });
});

describe('API keys', () => {
  it('are made by ADMIN only, with a clear error for bad input, and shown once: only a hash is stored', async () => {
    const employee = await stack.token(org.ids.alice);
    expect((await stack.gql(employee, CREATE, { input: { name: 'BI', scopes: ['CLAIMS_READ'] } })).errors?.[0].extensions?.code).toBe('FORBIDDEN');
    const bad = async (input: Record<string, unknown>) => (await stack.gql(admin, CREATE, { input })).errors?.[0] as { message: string; extensions: { code: string; field?: string } };
    expect((await bad({ name: '  ', scopes: ['CLAIMS_READ'] })).extensions.code).toBe('BAD_USER_INPUT');
    expect((await bad({ name: 'BI', scopes: [] })).extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.scopes' });
    expect((await bad({ name: 'BI', scopes: ['CLAIMS_READ'], rateLimitPerMinute: 0 })).extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.rateLimitPerMinute' });
    expect((await bad({ name: 'BI', scopes: ['CLAIMS_READ'], expiresAt: '2001-01-01T00:00:00Z' })).extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.expiresAt' });
    expect((await bad({ name: 'BI', scopes: ['CLAIMS:READ'] })).extensions.code).toBe('BAD_USER_INPUT');

    const made = await stack.gql<{ createApiKey: { key: string; apiKey: Record<string, unknown> } }>(admin, CREATE, { input: { name: 'Power BI', scopes: ['CLAIMS_READ', 'EVENTS_READ'] } });
    const { key, apiKey } = made.data!.createApiKey;
    expect(key).toMatch(/^oak_[0-9a-f]{24}_[A-Za-z0-9_-]{43}$/);
    expect(apiKey).toMatchObject({ name: 'Power BI', scopes: ['CLAIMS_READ', 'EVENTS_READ'], rateLimitPerMinute: 600, active: true, lastUsedAt: null, createdBy: 'ops-admin' });
    const stored = await stack.connection.collection('api_keys').findOne({ _id: new (await import('mongoose')).Types.ObjectId(apiKey.id as string) });
    expect(JSON.stringify(stored)).not.toContain(key.slice(-43));
    expect(stored!.hashes).toEqual([expect.objectContaining({ hash: apiKeyHash(key), expiresAt: null })]);
    const listed = await stack.gql<{ apiKeys: Record<string, unknown>[] }>(admin, `{ apiKeys { id name } }`);
    expect(listed.data!.apiKeys).toContainEqual({ id: apiKey.id, name: 'Power BI' });
    expect(JSON.stringify(listed)).not.toContain(key);
  });

  it('read what their scopes grant over HTTP, and nothing else: no person but by id, no operations, no mutation', async () => {
    const claim = await approvedClaim(stack, org, '321.00');
    const { key, id } = await createKey({ name: 'BI claims', scopes: ['CLAIMS_READ'] });
    const auth = `ApiKey ${key}`;
    const list = await post(auth, `query($id: ID!) { expenseClaim(id: $id) { claimNo total status applicant { id } department { name } } }`, { id: claim.id });
    expect(list.status).toBe(200);
    expect(list.errors).toBeUndefined();
    expect(list.data!.expenseClaim).toEqual({ claimNo: claim.claimNo, total: '321.00', status: 'APPROVED', applicant: { id: org.ids.alice }, department: { name: expect.any(String) } });
    const all = await post(auth, `{ expenseClaims(first: 50) { totalCount } }`);
    expect((all.data!.expenseClaims as { totalCount: number }).totalCount).toBeGreaterThanOrEqual(1);

    const person = await post(auth, `query($id: ID!) { expenseClaim(id: $id) { claimNo applicant { name bankAccount idNumber } } }`, { id: claim.id });
    expect(codes(person)).toEqual(['FORBIDDEN', 'FORBIDDEN', 'FORBIDDEN']);
    expect(JSON.stringify(person)).not.toContain('0128');
    expect(JSON.stringify(person)).not.toContain('Alice');
    const ops = await post(auth, `{ syncJobs { id } }`);
    expect(codes(ops)).toEqual(['FORBIDDEN']);
    const scope = await post(auth, `{ syncEvents(first: 1) { seq } }`);
    expect(scope.errors?.[0].message).toContain('events:read');
    const mutation = await post(auth, `mutation { createApiKey(input: { name: "escalate", scopes: [CLAIMS_READ] }) { key } }`);
    expect(codes(mutation)).toEqual(['FORBIDDEN']);
    // Its requests are its own in the audit trail and in lastUsedAt.
    await until(async () => {
      const keys = await stack.gql<{ apiKeys: { id: string; lastUsedAt: string | null }[] }>(admin, `{ apiKeys { id lastUsedAt } }`);
      return keys.data!.apiKeys.find((k) => k.id === id)?.lastUsedAt !== null;
    }, 'lastUsedAt');
  });

  it('read the reports over every row with reports:read, as finance does, and not the claims themselves', async () => {
    await approvedClaim(stack, org, '10.00');
    // Compared with finance's answer once the pipeline has filed everything (the statistics would move meanwhile).
    await until(async () => {
      const s = (await stack.gql<{ syncStatus: { backlog: number; position: string; head: string } }>(admin, `{ syncStatus { backlog position head } }`)).data?.syncStatus;
      return !!s && s.backlog === 0 && s.position === s.head;
    }, 'the pipeline settled');
    const { key } = await createKey({ name: 'reporting', scopes: ['REPORTS_READ'] });
    const today = new Date().toISOString().slice(0, 10);
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const reports = `query($from: Date!, $to: Date!, $day: Date!) {
      expenseSummary(groupBy: CATEGORY, from: $from, to: $to) { key count total }
      claimCycleTimes(from: $from, to: $to) { key count }
      syncStatistics(from: $day, to: $day) { day synced }
      archiveStatistics { category count }
    }`;
    const vars = { from: yesterday, to: tomorrow, day: today };
    const byKey = await post(`ApiKey ${key}`, reports, vars);
    expect(byKey.errors).toBeUndefined();
    const finance = await stack.gql(await stack.token('finance-director', ['FINANCE_DIRECTOR', 'AUDITOR']), reports, vars);
    expect(finance.errors).toBeUndefined();
    expect(byKey.data).toEqual(finance.data);
    expect((byKey.data!.expenseSummary as unknown[]).length).toBeGreaterThan(0);
    expect(codes(await post(`ApiKey ${key}`, `{ expenseClaims { totalCount } }`))).toEqual(['FORBIDDEN']);
    expect(codes(await post(`ApiKey ${key}`, `{ syncEvents { seq } }`))).toEqual(['FORBIDDEN']);
  });

  it('are refused when malformed, unknown or of the wrong secret, without saying which', async () => {
    const { key } = await createKey({ name: 'wrong', scopes: ['REPORTS_READ'] });
    // The last character changed (to another that a 32-byte secret's base64url can end with): the key of the wrong secret.
    const altered = `${key.slice(0, -1)}${key.endsWith('A') ? 'E' : 'A'}`;
    for (const auth of ['ApiKey', 'ApiKey nonsense', `ApiKey ${altered}`, `ApiKey oak_${'0'.repeat(24)}_${'a'.repeat(43)}`]) {
      const r = await post(auth, `{ __typename }`);
      expect(r.status, auth).toBe(401);
      expect(r.errors?.[0].message).toBe('Unauthenticated: the API key is invalid or revoked');
    }
  });

  it('stream events over graphql-ws and SSE, with the numbers of what they refer to', async () => {
    const { key } = await createKey({ name: 'OA plugin', scopes: ['EVENTS_READ'] });
    const ws = wsSubscribe(stack.gateways[0].wsUrl, { authorization: `ApiKey ${key}` }, EVENTS);
    const sse = sseSubscribe(stack.gateways[0].sseUrl, { authorization: `ApiKey ${key}` }, EVENTS);
    // Both are subscribed once the gateway counts them.
    await until(() => stack.gateways[0].gateway.streams.open >= 2, 'two open streams');
    const claim = await approvedClaim(stack, org, '45.60');
    for (const s of [ws, sse]) await s.until((r) => events(r).some((e) => e.type === 'ARCHIVE_FILED' && (e.claim as { id: string } | null)?.id === claim.id));
    for (const s of [ws, sse]) {
      const mine = events(s).filter((e) => (e.claim as { id: string } | null)?.id === claim.id);
      expect(mine.map((e) => e.type)).toEqual(['CLAIM_SUBMITTED', 'CLAIM_APPROVED', 'VOUCHER_CREATED', 'ARCHIVE_FILED']);
      expect(mine[0].claim).toEqual({ id: claim.id, claimNo: claim.claimNo });
      expect(s.results.every((r) => !r.errors)).toBe(true);
    }
    await ws.dispose();
    await sse.dispose();
  });

  it('are rate-limited per key: HTTP 429 with Retry-After, a WebSocket closed with 4429', async () => {
    const { key } = await createKey({ name: 'chatty', scopes: ['REPORTS_READ'], rateLimitPerMinute: 3 });
    const other = await createKey({ name: 'quiet', scopes: ['REPORTS_READ'], rateLimitPerMinute: 3 });
    const statuses: number[] = [];
    let last: Answer | undefined;
    for (let i = 0; i < 4; i++) statuses.push((last = await post(`ApiKey ${key}`, `{ __typename }`)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(last!.errors?.[0].extensions?.code).toBe('RATE_LIMITED');
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Another key is not affected.
    expect((await post(`ApiKey ${other.key}`, `{ __typename }`)).status).toBe(200);
    const ws = wsSubscribe(stack.gateways[0].wsUrl, { authorization: `ApiKey ${key}` }, EVENTS);
    await until(() => ws.closed !== undefined, 'the WebSocket closed');
    expect(ws.closed!.code).toBe(4429);
    await ws.dispose();
  });

  it('rotate with an overlap in which both keys work, and without one the old key stops at once', async () => {
    const { key: first, id } = await createKey({ name: 'rotating', scopes: ['REPORTS_READ'] });
    const rotate = `mutation($id: ID!, $overlap: Int) { rotateApiKey(id: $id, overlapSeconds: $overlap) { key apiKey { id previousKeyExpiresAt rotatedAt active } } }`;
    const r1 = await stack.gql<{ rotateApiKey: { key: string; apiKey: { previousKeyExpiresAt: string; rotatedAt: string } } }>(admin, rotate, { id, overlap: 3600 });
    const second = r1.data!.rotateApiKey.key;
    expect(second).not.toBe(first);
    expect(second.slice(0, 28)).toBe(first.slice(0, 28)); // the same key id
    expect(Date.parse(r1.data!.rotateApiKey.apiKey.previousKeyExpiresAt) - Date.parse(r1.data!.rotateApiKey.apiKey.rotatedAt)).toBe(3600_000);
    expect((await post(`ApiKey ${first}`, `{ __typename }`)).status).toBe(200);
    expect((await post(`ApiKey ${second}`, `{ __typename }`)).status).toBe(200);

    const r2 = await stack.gql<{ rotateApiKey: { key: string; apiKey: { previousKeyExpiresAt: string | null } } }>(admin, rotate, { id, overlap: 0 });
    const third = r2.data!.rotateApiKey.key;
    expect(r2.data!.rotateApiKey.apiKey.previousKeyExpiresAt).toBeNull();
    await until(async () => (await post(`ApiKey ${second}`, `{ __typename }`)).status === 401, 'the second key refused');
    expect((await post(`ApiKey ${first}`, `{ __typename }`)).status).toBe(401);
    expect((await post(`ApiKey ${third}`, `{ __typename }`)).status).toBe(200);
    const tooLong = await stack.gql(admin, rotate, { id, overlap: 8 * 86_400 });
    expect(tooLong.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'overlapSeconds' });
  });

  it('revoked, stop on every transport, and their open streams end', async () => {
    const { key, id } = await createKey({ name: 'leaving', scopes: ['EVENTS_READ'] });
    const ws = wsSubscribe(stack.gateways[0].wsUrl, { authorization: `ApiKey ${key}` }, EVENTS);
    const sse = sseSubscribe(stack.gateways[0].sseUrl, { authorization: `ApiKey ${key}` }, EVENTS);
    const before = stack.gateways[0].gateway.streams.open;
    await until(() => stack.gateways[0].gateway.streams.open >= 2, 'two open streams');
    const revoked = await stack.gql<{ revokeApiKey: { active: boolean; revokedAt: string; revokedBy: string } }>(admin, `mutation($id: ID!) { revokeApiKey(id: $id) { active revokedAt revokedBy } }`, { id });
    expect(revoked.data!.revokeApiKey).toMatchObject({ active: false, revokedBy: 'ops-admin' });
    await until(() => ws.closed !== undefined, 'the WebSocket closed');
    expect(ws.closed!.code).toBe(4401);
    await sse.until((r) => r.completed || r.results.some((x) => x.errors?.length));
    expect(JSON.stringify(sse.results)).toContain('API key revoked');
    expect(stack.gateways[0].gateway.streams.open).toBeLessThanOrEqual(before);
    expect((await post(`ApiKey ${key}`, `{ __typename }`)).status).toBe(401);
    const socket = new WebSocket(stack.gateways[0].wsUrl, 'graphql-transport-ws');
    const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `ApiKey ${key}` } })));
    expect(await closed).toBe(4401);
    const listed = await stack.gql<{ apiKeys: { id: string }[] }>(admin, `{ apiKeys { id } }`);
    expect(listed.data!.apiKeys.map((k) => k.id)).not.toContain(id);
    const all = await stack.gql<{ apiKeys: { id: string }[] }>(admin, `{ apiKeys(includeRevoked: true) { id } }`);
    expect(all.data!.apiKeys.map((k) => k.id)).toContain(id);
    await ws.dispose();
    await sse.dispose();
  });
});

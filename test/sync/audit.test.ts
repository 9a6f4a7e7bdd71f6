// The audit trail (issue 7 §4) through the whole stack: what the gateway records (mutations, refusals, failed
// authentication on every transport, subscription starts), who may read it, filters and pagination, the hash chain
// detecting an edited and a deleted entry, recordAudit closed to clients; and the recorder's bounded buffer.
import { appendFile, mkdtemp, readFile, stat } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SignJWT } from 'jose';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditSpool } from '../../gateway/audit-spool.ts';
import { AuditRecorder, type AuditRecord, AuditSinkError, GATEWAY_SERVICE, actionOf, describeOperation, normaliseAddress, outcomeOf } from '../../gateway/audit.ts';
import { parse } from 'graphql';
import { auditDigest } from '../../subgraphs/operations/audit/trail.ts';
import { identityHeaders } from '../../platform/identity.ts';
import { signedGraphql } from '../helpers/graphql.ts';
import { CREATE_CLAIM, item } from '../oa/seed.ts';
import { wsSubscribe } from '../helpers/subscribers.ts';
import { ADMIN, SECRET, ok, user } from '../oa/fixture.ts';
import type { Org } from '../oa/seed.ts';
import { type Stack, seed, startStack } from './stack.ts';

const AUDIT_LOG = `query($actor: String, $source: String, $action: String, $outcome: String, $from: DateTime, $to: DateTime, $first: Int, $after: String) {
  auditLog(actor: $actor, source: $source, action: $action, outcome: $outcome, from: $from, to: $to, first: $first, after: $after) {
    entries { id seq at actor roles address source action operationName outcome durationMs digest previousDigest }
    endCursor
  }
}`;
const VERIFY = `{ verifyAuditLog { valid checked firstBrokenSeq } }`;
const RECORD = `mutation($entries: [AuditEntryInput!]!) { recordAudit(entries: $entries) }`;
const MAKE_DEPARTMENT = `mutation MakeDepartment($input: CreateDepartmentInput!) { createDepartment(input: $input) { id } }`;

interface Entry {
  id: string;
  seq: number;
  at: string;
  actor: string | null;
  roles: string[];
  address: string | null;
  source: string;
  action: string;
  operationName: string | null;
  outcome: string;
  durationMs: number | null;
  digest: string;
  previousDigest: string | null;
}
interface Page {
  entries: Entry[];
  endCursor: string | null;
}

let stack: Stack;
let org: Org;
let adminId: string;
let admin: string;
let auditor: string;
let bob: string;

beforeAll(async () => {
  stack = await startStack({ label: 'sync_audit' });
  org = await seed(stack, '-AU');
  adminId = ok(
    await stack.oa.gql<{ createEmployee: { id: string } }>(ADMIN, `mutation($input: CreateEmployeeInput!) { createEmployee(input: $input) { id } }`, {
      input: { employeeNo: 'E901-AU', name: 'Ada Admin', departmentId: org.hq, roles: ['ADMIN'] },
    }),
  ).createEmployee.id;
  admin = await stack.token(adminId);
  auditor = await stack.token(org.ids.auditor);
  bob = await stack.token(org.ids.bob);
});
afterAll(async () => stack?.close());

/** Every gateway hands over what it buffered. */
const flushed = async () => {
  for (const g of stack.gateways) await g.gateway.audit.flush();
};

async function auditLog(variables: Record<string, unknown> = {}, as = auditor): Promise<Page> {
  await flushed();
  const r = await stack.gql<{ auditLog: Page }>(as, AUDIT_LOG, variables);
  expect(r.errors).toBeUndefined();
  return r.data!.auditLog;
}

async function verify(): Promise<{ valid: boolean; checked: number; firstBrokenSeq: number | null }> {
  await flushed();
  const r = await stack.gql<{ verifyAuditLog: { valid: boolean; checked: number; firstBrokenSeq: number | null } }>(admin, VERIFY);
  expect(r.errors).toBeUndefined();
  return r.data!.verifyAuditLog;
}

const refusals = async () => (await auditLog({ action: 'authenticate', first: 200 })).entries;
const codes = (r: { errors?: { extensions?: { code?: string } }[] }) => (r.errors ?? []).map((e) => e.extensions?.code);

describe('what the gateway records', () => {
  it('a mutation, with actor, roles, address, outcome OK and a duration', async () => {
    const before = new Date().toISOString();
    const made = await stack.gql(admin, MAKE_DEPARTMENT, { input: { code: 'AUD1', name: 'Audit one' } });
    expect(made.errors).toBeUndefined();
    const { entries } = await auditLog({ actor: adminId, action: 'mutation createDepartment' });
    expect(entries).toHaveLength(1);
    const [e] = entries;
    expect(e).toMatchObject({ actor: adminId, address: '127.0.0.1', source: 'gateway', action: 'mutation createDepartment', operationName: 'MakeDepartment', outcome: 'OK' });
    expect(e.roles).toContain('ADMIN');
    expect(e.durationMs).toEqual(expect.any(Number));
    expect(e.durationMs).toBeGreaterThanOrEqual(0);
    expect(e.at >= before && e.at <= new Date().toISOString()).toBe(true);
    expect(e.digest).toMatch(/^[0-9a-f]{64}$/);
    // Nothing of the request's content, and never a token.
    expect(JSON.stringify(e)).not.toContain('AUD1');
    expect(JSON.stringify(e)).not.toContain(admin.split('.')[2]);
  });

  it('a FORBIDDEN query and mutation, a request without a token and one with a forged token', async () => {
    const peek = await stack.gql(bob, `query Peek { syncJobs { id } }`);
    expect(codes(peek)).toContain('FORBIDDEN');
    const dept = await stack.gql(bob, MAKE_DEPARTMENT, { input: { code: 'AUD2', name: 'Not allowed' } });
    expect(codes(dept)).toContain('FORBIDDEN');
    // A query that succeeds is not recorded.
    ok(await stack.gql(bob, `query Fine { syncEventHead }`));

    const mine = (await auditLog({ actor: org.ids.bob })).entries;
    expect(mine.map((e) => [e.action, e.operationName, e.outcome])).toEqual([
      ['mutation createDepartment', 'MakeDepartment', 'FORBIDDEN'],
      ['query syncJobs', 'Peek', 'FORBIDDEN'],
    ]);
    expect(mine.every((e) => e.address === '127.0.0.1' && e.source === 'gateway' && (e.durationMs ?? -1) >= 0)).toBe(true);

    const count = (await refusals()).length;
    const none = await fetch(stack.gateways[0].url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ syncEventHead }' }) });
    expect(none.status).toBe(401);
    const forgedToken = await new SignJWT({ roles: ['ADMIN'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('mallory')
      .setExpirationTime(Math.floor(Date.now() / 1000) + 300)
      .sign(new TextEncoder().encode('not-the-secret-of-this-gateway-0123456789abcdef'));
    const forged = await fetch(stack.gateways[0].url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${forgedToken}` }, body: JSON.stringify({ query: '{ syncEventHead }' }) });
    expect(forged.status).toBe(401);

    const after = await refusals();
    expect(after).toHaveLength(count + 2);
    for (const e of after.slice(0, 2)) {
      expect(e).toMatchObject({ actor: null, roles: [], address: '127.0.0.1', action: 'authenticate', operationName: null, outcome: 'UNAUTHENTICATED' });
      expect(e.durationMs).toEqual(expect.any(Number));
    }
    // The unverified token's subject is never trusted.
    expect((await auditLog({ actor: 'mallory' })).entries).toEqual([]);
  });

  it('a WebSocket connect without a token (4401), SSE without one (401), subscription starts and a mutation over WebSocket', async () => {
    const count = (await refusals()).length;
    const sub = `subscription Watch { syncEvents { seq } }`;
    const noToken = wsSubscribe(stack.gateways[0].wsUrl, {}, sub);
    await noToken.until((r) => r.closed !== undefined);
    expect(noToken.closed?.code).toBe(4401);
    const sse = await fetch(stack.gateways[0].sseUrl, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream' }, body: JSON.stringify({ query: sub }) });
    expect(sse.status).toBe(401);
    await sse.body?.cancel();
    const after = await refusals();
    expect(after).toHaveLength(count + 2);
    expect(after.slice(0, 2).every((e) => e.actor === null && e.address === '127.0.0.1' && e.outcome === 'UNAUTHENTICATED')).toBe(true);

    const watching = wsSubscribe(stack.gateways[0].wsUrl, { authorization: `Bearer ${auditor}` }, sub);
    const overWs = wsSubscribe(stack.gateways[0].wsUrl, { authorization: `Bearer ${admin}` }, `mutation OverWs { createDepartment(input: { code: "AUD3", name: "Over WebSocket" }) { id } }`);
    await overWs.until((r) => r.completed);
    expect(overWs.results[0].errors).toBeUndefined();
    await overWs.dispose();
    let started: Entry[] = [];
    for (const t = Date.now(); started.length === 0 && Date.now() - t < 5000; await new Promise((r) => setTimeout(r, 50))) {
      started = (await auditLog({ actor: org.ids.auditor, action: 'subscribe' })).entries;
    }
    expect(started[0]).toMatchObject({ action: 'subscribe syncEvents', operationName: 'Watch', outcome: 'OK', address: '127.0.0.1', durationMs: null });
    expect(started[0].roles).toContain('AUDITOR');
    await watching.dispose();
    const ws = (await auditLog({ actor: adminId, action: 'mutation createDepartment' })).entries;
    expect(ws[0]).toMatchObject({ operationName: 'OverWs', outcome: 'OK', address: '127.0.0.1' });
  });
});

describe('reading the trail', () => {
  it('filters by actor, source, outcome, action prefix and time', async () => {
    const from = new Date().toISOString();
    for (const code of ['AUD4', 'AUD5', 'AUD6']) ok(await stack.gql(admin, MAKE_DEPARTMENT, { input: { code, name: code } }));
    const to = new Date().toISOString();

    const window = (await auditLog({ from, to })).entries;
    expect(window).toHaveLength(3);
    expect(window.every((e) => e.actor === adminId && e.at >= from && e.at <= to)).toBe(true);
    expect((await auditLog({ from: new Date(Date.now() + 3_600_000).toISOString() })).entries).toEqual([]);
    expect((await auditLog({ to: from, actor: adminId })).entries.every((e) => e.at <= from)).toBe(true);

    const forbidden = (await auditLog({ outcome: 'FORBIDDEN', first: 200 })).entries;
    expect(forbidden.length).toBeGreaterThanOrEqual(2);
    expect(forbidden.every((e) => e.outcome === 'FORBIDDEN')).toBe(true);

    const queries = (await auditLog({ action: 'query', first: 200 })).entries;
    expect(queries.length).toBeGreaterThan(0);
    expect(queries.every((e) => e.action.startsWith('query'))).toBe(true);
    const mutations = (await auditLog({ action: 'mutation', first: 200 })).entries;
    expect(mutations.every((e) => e.action.startsWith('mutation'))).toBe(true);
    // The prefix is literal text, not a pattern.
    expect((await auditLog({ action: '.*' })).entries).toEqual([]);

    expect((await auditLog({ source: 'gateway', first: 200 })).entries.every((e) => e.source === 'gateway')).toBe(true);
    expect((await auditLog({ source: 'oa' })).entries).toEqual([]);
  });

  it('pages newest first with after = endCursor, without overlap', async () => {
    const all = (await auditLog({ actor: adminId, first: 200 })).entries;
    expect(all.length).toBeGreaterThanOrEqual(5);
    expect(all.map((e) => e.seq)).toEqual([...all.map((e) => e.seq)].sort((a, b) => b - a));
    const seen: number[] = [];
    let after: string | null = null;
    do {
      const page: Page = await auditLog({ actor: adminId, first: 2, ...(after ? { after } : {}) });
      expect(page.entries.length).toBeLessThanOrEqual(2);
      seen.push(...page.entries.map((e) => e.seq));
      after = page.endCursor;
    } while (after);
    expect(seen).toEqual(all.map((e) => e.seq));

    for (const [variables, field] of [[{ first: 0 }, 'first'], [{ first: 201 }, 'first'], [{ after: 'not-a-cursor' }, 'after'], [{ source: 'elsewhere' }, 'source']] as const) {
      await flushed();
      const r = await stack.gql(auditor, AUDIT_LOG, variables);
      expect(codes(r)).toEqual(['BAD_USER_INPUT']);
      expect(JSON.stringify(r.errors)).toContain(field);
    }
  });

  it('AUDITOR and ADMIN may read and verify; an EMPLOYEE gets FORBIDDEN (and that is recorded)', async () => {
    expect((await auditLog({}, auditor)).entries.length).toBeGreaterThan(0);
    expect((await auditLog({}, admin)).entries.length).toBeGreaterThan(0);
    const service = await stack.token('ops-monitor', ['AUDITOR']);
    expect((await auditLog({}, service)).entries.length).toBeGreaterThan(0);
    for (const query of [AUDIT_LOG, VERIFY]) {
      const r = await stack.gql(bob, query);
      expect(codes(r)).toContain('FORBIDDEN');
      expect(r.data?.auditLog ?? r.data?.verifyAuditLog ?? null).toBeNull();
    }
    const refused = (await auditLog({ actor: org.ids.bob, outcome: 'FORBIDDEN' })).entries.map((e) => e.action);
    expect(refused).toContain('query auditLog');
    expect(refused).toContain('query verifyAuditLog');
  });
});

describe("a user's mutation audited in its own transaction", () => {
  it('leaves its entry under the request id even when no gateway ever records it, and none when it fails', async () => {
    // As the gateway calls oa, but nobody records at the gateway: only the mutation's own transaction can.
    const call = async (requestId: string, input: unknown) => {
      const body = JSON.stringify({ query: CREATE_CLAIM, variables: { input } });
      const headers = await identityHeaders(org.as.alice, SECRET, { audience: 'oa', method: 'POST', body }, { origin: { requestId, clientAddress: '198.51.100.7', operationName: 'FromPlugin' } });
      const res = await fetch(stack.oaUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
      return (await res.json()) as { data?: unknown; errors?: unknown[] };
    };
    expect((await call('outbox-request-ok-1', { title: 'Taxi', category: 'TRAVEL', items: [item('12.00')] })).errors).toBeUndefined();
    expect((await call('outbox-request-bad-1', { title: 'Taxi', category: 'TRAVEL', items: [item('-1.00')] })).errors?.length).toBeGreaterThan(0);

    const BY_ACTOR = `query($actor: String) { auditLog(actor: $actor, first: 200) { entries { requestId source action operationName address outcome } } }`;
    let mine: { requestId: string | null; source: string; action: string; operationName: string | null; address: string | null; outcome: string }[] = [];
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
      mine = ok(await stack.gql<{ auditLog: { entries: typeof mine } }>(auditor, BY_ACTOR, { actor: org.ids.alice })).auditLog.entries.filter((e) => e.requestId?.startsWith('outbox-request-'));
      if (mine.length) break;
    }
    expect(mine).toEqual([{ requestId: 'outbox-request-ok-1', source: 'oa', action: 'mutation createExpenseClaim', operationName: 'FromPlugin', address: '198.51.100.7', outcome: 'OK' }]);
    expect(await stack.connection.db!.collection('audit_outbox').countDocuments()).toBe(0);
  });
});

describe('recordAudit is for the gateway only', () => {
  const entry = { at: new Date().toISOString(), actor: 'forger', roles: [], address: '10.0.0.1', action: 'mutation fake', outcome: 'OK' };

  it('a client gets FORBIDDEN through the gateway; without the signature the subgraph answers 401', async () => {
    expect(codes(await stack.gql(bob, RECORD, { entries: [entry] }))).toContain('FORBIDDEN');
    // A token whose subject is no employee is a service account to the gateway: the sync subgraph still refuses it.
    const bot = await stack.token('ops-bot', ['ADMIN']);
    expect(codes(await stack.gql(bot, RECORD, { entries: [entry] }))).toContain('FORBIDDEN');
    const unsigned = await fetch(stack.sync.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: RECORD, variables: { entries: [entry] } }) });
    expect(unsigned.status).toBe(401);
    // Signed, but for a user: the subgraph checks the kind itself too.
    expect(codes(await signedGraphql({ url: stack.sync.url, audience: 'sync' }, SECRET, user(org.ids.auditor, ['AUDITOR']), RECORD, { entries: [entry] }))).toEqual(['FORBIDDEN']);
    expect((await auditLog({ actor: 'forger' })).entries).toEqual([]);
  });

  it('the gateway identity stores valid batches, has each nonsense entry refused alone, and stores a request id once', async () => {
    const asGateway = (entries: unknown[]) => signedGraphql<{ recordAudit: number }>({ url: stack.sync.url, audience: 'sync' }, SECRET, GATEWAY_SERVICE, RECORD, { entries });
    const bad: [Record<string, unknown>, string][] = [
      [{ address: 'not-an-address' }, 'address'],
      [{ roles: ['SUPERUSER'] }, 'roles'],
      [{ outcome: 'PWNED' }, 'outcome'],
      [{ action: 'x'.repeat(301) }, 'action'],
      [{ action: 'drop\ntable' }, 'action'],
      [{ actor: 'a'.repeat(201) }, 'actor'],
      [{ operationName: 'not a name' }, 'operationName'],
      [{ durationMs: -1 }, 'durationMs'],
      [{ at: new Date(Date.now() + 3_600_000).toISOString() }, 'at'],
    ];
    // One bad entry among good ones (a `sub` the gateway let through, an address mangled): refused alone, the others
    // of the batch stored, and the answer counts only those.
    for (const [i, [change, field]] of bad.entries()) {
      const r = await asGateway([{ ...entry, actor: 'alone', operationName: `Good${i}` }, { ...entry, actor: 'alone', ...change }]);
      expect(r.errors, field).toBeUndefined();
      expect(r.data?.recordAudit, field).toBe(1);
    }
    const alone = (await auditLog({ actor: 'alone', first: 100 })).entries;
    expect(alone.map((e) => e.operationName).sort()).toEqual(bad.map((_, i) => `Good${i}`).sort());

    // Sent twice under one request id (a spool after a crash, or the subgraph's own entry first): stored once.
    const once = { ...entry, actor: 'once', requestId: 'request-0123456789' };
    expect((await asGateway([once])).data?.recordAudit).toBe(1);
    expect((await asGateway([once, { ...once, requestId: 'request-abcdefghij' }])).data?.recordAudit).toBe(2);
    const ids = ok(await stack.gql<{ auditLog: { entries: { requestId: string }[] } }>(auditor, '{ auditLog(actor: "once") { entries { requestId } } }')).auditLog.entries;
    expect(ids.map((e) => e.requestId).sort()).toEqual(['request-0123456789', 'request-abcdefghij']);
    expect(codes(await asGateway([{ ...once, requestId: 'short' }, once]))).toEqual([]);
    const stored = await asGateway([{ ...entry, actor: 'batch', operationName: 'Direct', durationMs: 3 }, { ...entry, actor: 'batch', address: '::1' }]);
    expect(stored.data?.recordAudit).toBe(2);
    const entries = (await auditLog({ actor: 'batch' })).entries;
    expect(entries.map((e) => [e.source, e.address, e.operationName])).toEqual([
      ['gateway', '::1', null],
      ['gateway', '10.0.0.1', 'Direct'],
    ]);
    expect(entries[0].seq).toBe(entries[1].seq + 1);
    expect(entries[0].previousDigest).toBe(entries[1].digest);
  });
});

describe('the hash chain', () => {
  const log = () => stack.connection.db!.collection<Record<string, unknown> & { seq: number }>('audit_log');

  it('verifies, then names an entry edited directly in the database and one deleted', async () => {
    const clean = await verify();
    const total = (await auditLog({ first: 200 })).entries.length;
    expect(clean).toEqual({ valid: true, checked: total, firstBrokenSeq: null });
    expect(total).toBeGreaterThan(6);

    // Edited: bob's FORBIDDEN mutation made to look harmless.
    const [target] = (await auditLog({ actor: org.ids.bob, action: 'mutation createDepartment' })).entries;
    await log().updateOne({ seq: target.seq }, { $set: { outcome: 'OK' } });
    expect(await verify()).toMatchObject({ valid: false, firstBrokenSeq: target.seq });
    // Edited with its digest recomputed: its successor's link gives it away.
    const doc = (await log().findOne({ seq: target.seq }))!;
    const { _id, digest, ...rest } = doc;
    await log().updateOne({ seq: target.seq }, { $set: { digest: auditDigest(rest as never) } });
    expect(await verify()).toMatchObject({ valid: false, firstBrokenSeq: target.seq });
    await log().updateOne({ seq: target.seq }, { $set: { outcome: 'FORBIDDEN', digest } });
    expect((await verify()).valid).toBe(true);

    // Deleted from the middle: named by the entry after which it is missing.
    const middle = Math.floor(total / 2);
    const removed = (await log().findOne({ seq: middle }))!;
    await log().deleteOne({ seq: middle });
    expect(await verify()).toMatchObject({ valid: false, firstBrokenSeq: middle - 1 });
    await log().insertOne(removed);
    expect((await verify()).valid).toBe(true);

    // Deleted from the end: the counter remembers it.
    const last = (await log().find().sort({ seq: -1 }).limit(1).toArray())[0];
    await log().deleteOne({ seq: last.seq });
    expect(await verify()).toMatchObject({ valid: false, firstBrokenSeq: last.seq - 1 });
    await log().insertOne(last);
    expect(await verify()).toMatchObject({ valid: true, firstBrokenSeq: null });
  });
});

// ── The recorder alone, with a stubbed sink ─────────────────────────────────────────────────────────

const record = (n: number): AuditRecord => ({ at: new Date(0).toISOString(), actor: `user-${n}`, roles: [], address: '127.0.0.1', action: 'mutation x', operationName: null, outcome: 'OK', durationMs: n, requestId: `request-${n}` });

function recorder(sink: (entries: AuditRecord[]) => Promise<number | void>, opts: { maxBuffer?: number; batchSize?: number; flushMs?: number; trustProxy?: boolean; spool?: AuditSpool<AuditRecord> } = {}) {
  const registry = new Registry();
  const warnings: object[] = [];
  // A sink that says nothing accepted everything.
  const counted = async (b: AuditRecord[]) => (await sink(b)) ?? b.length;
  const r = new AuditRecorder({ sink: counted, logger: { warn: (obj) => void warnings.push(obj) }, registry, flushMs: 60_000, ...opts });
  const dropped = async () => (await registry.getSingleMetric('gateway_audit_dropped_total')!.get()).values[0]?.value ?? 0;
  return { r, registry, warnings, dropped };
}

describe('the recorder', () => {
  it('keeps at most maxBuffer entries, dropping the oldest, counting them and warning once a minute', async () => {
    const sent: AuditRecord[][] = [];
    const { r, registry, warnings, dropped } = recorder(async (b) => void sent.push(b), { maxBuffer: 5 });
    for (let i = 1; i <= 8; i++) r.record(record(i));
    expect(r.buffered).toBe(5);
    expect(await dropped()).toBe(3);
    expect(warnings).toHaveLength(1);
    expect(await registry.metrics()).toContain('gateway_audit_dropped_total 3');
    await r.flush();
    expect(sent.flat().map((e) => e.actor)).toEqual(['user-4', 'user-5', 'user-6', 'user-7', 'user-8']);
    expect(r.buffered).toBe(0);
  });

  it('sends batches of batchSize at once, keeps a failed batch for later, drops one the sink refuses for good', async () => {
    let fail: 'no' | 'retry' | 'never' = 'no';
    const sent: number[] = [];
    const { r, warnings, dropped } = recorder(
      async (b) => {
        if (fail === 'retry') throw new AuditSinkError('sync subgraph unreachable');
        if (fail === 'never') throw new AuditSinkError('recordAudit: BAD_USER_INPUT', false);
        sent.push(b.length);
      },
      { batchSize: 100 },
    );
    for (let i = 0; i < 250; i++) r.record(record(i));
    await r.flush();
    expect(sent).toEqual([100, 100, 50]);

    fail = 'retry';
    for (let i = 0; i < 3; i++) r.record(record(i));
    await r.flush();
    expect(r.buffered).toBe(3);
    expect(await dropped()).toBe(0);
    expect(warnings).toHaveLength(1);
    fail = 'no';
    await r.flush();
    expect(sent).toEqual([100, 100, 50, 3]);

    fail = 'never';
    r.record(record(1));
    await r.flush();
    expect(r.buffered).toBe(0);
    expect(await dropped()).toBe(1);
    await r.stop();
  });

  it('spools every entry before sending; a gateway killed with entries undelivered sends them at its next start', async () => {
    const file = path.join(await mkdtemp(path.join(tmpdir(), 'audit-spool-')), 'gateway-4000.jsonl');
    const down = recorder(async () => {
      throw new AuditSinkError('sync subgraph unreachable');
    }, { spool: new AuditSpool(file) });
    for (let i = 1; i <= 5; i++) down.r.record(record(i));
    await down.r.flush();
    expect(down.r.buffered).toBe(5);
    // Killed here: no stop(). Its entries are in the file.
    expect((await readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l).requestId)).toEqual(['request-1', 'request-2', 'request-3', 'request-4', 'request-5']);

    const sent: AuditRecord[] = [];
    const next = recorder(async (b) => void sent.push(...b), { spool: new AuditSpool(file) });
    expect(next.r.buffered).toBe(5);
    await next.r.flush();
    expect(sent.map((e) => e.requestId)).toEqual(['request-1', 'request-2', 'request-3', 'request-4', 'request-5']);
    // Everything delivered: the spool is empty again, and a third start sends nothing.
    expect((await stat(file)).size).toBe(0);
    next.r.record(record(6));
    await next.r.flush();
    await next.r.stop();
    const third = recorder(async (b) => void sent.push(...b), { spool: new AuditSpool(file) });
    expect(third.r.buffered).toBe(0);

    // Half-delivered: the cursor remembers where the next start resumes; a line torn by a power loss is cut off.
    const half = recorder(async (b) => {
      if (b.some((e) => e.requestId === 'request-9')) throw new AuditSinkError('sync subgraph unreachable');
      sent.push(...b);
    }, { spool: new AuditSpool(file), batchSize: 2 });
    for (const n of [7, 8, 9, 10]) half.r.record(record(n));
    await half.r.flush();
    await appendFile(file, '{"at":"2026-');
    const resumed: AuditRecord[] = [];
    const last = recorder(async (b) => void resumed.push(...b), { spool: new AuditSpool(file) });
    last.r.record(record(11));
    await last.r.flush();
    expect(resumed.map((e) => e.requestId)).toEqual(['request-9', 'request-10', 'request-11']);
  });

  it('flushes on its own after flushMs, and everything left on stop()', async () => {
    const sent: AuditRecord[] = [];
    const { r } = recorder(async (b) => void sent.push(...b), { flushMs: 20 });
    r.record(record(1));
    await new Promise((res) => setTimeout(res, 100));
    expect(sent).toHaveLength(1);
    const slow = recorder(async (b) => void sent.push(...b), { flushMs: 60_000 });
    slow.r.record(record(2));
    slow.r.record(record(3));
    await slow.r.stop();
    expect(sent.map((e) => e.actor)).toEqual(['user-1', 'user-2', 'user-3']);
    slow.r.record(record(4));
    expect(await slow.dropped()).toBe(1);
    await r.stop();
  });

  it('reads the client address from the socket, or X-Forwarded-For only behind a trusted proxy', () => {
    const req = (remoteAddress: string, forwarded?: string) => ({ socket: { remoteAddress }, headers: forwarded ? { 'x-forwarded-for': forwarded } : {} }) as unknown as IncomingMessage;
    const plain = recorder(async () => {}).r;
    const proxied = recorder(async () => {}, { trustProxy: true }).r;
    expect(plain.addressOf(req('::ffff:127.0.0.1'))).toBe('127.0.0.1');
    expect(plain.addressOf(req('10.0.0.5', '203.0.113.7'))).toBe('10.0.0.5');
    expect(proxied.addressOf(req('10.0.0.5', '203.0.113.7, 10.0.0.1'))).toBe('203.0.113.7');
    expect(proxied.addressOf(req('10.0.0.5', 'garbage, 203.0.113.7'))).toBe('10.0.0.5');
    expect(normaliseAddress('[2001:DB8::1]:443')).toBe('2001:db8::1');
    expect(normaliseAddress('198.51.100.2:8080')).toBe('198.51.100.2');
    expect(normaliseAddress('Bearer abc')).toBeNull();
  });

  it('describes operations by type and root fields, and outcomes by code', () => {
    const doc = parse(`fragment F on Mutation { b: submitExpenseClaim(id: "1") { id } } mutation Two { decideApproval(claimId: "1", decision: APPROVE) { id } ...F } query Q { a }`);
    expect(describeOperation(doc, 'Two')).toEqual({ type: 'mutation', fields: ['decideApproval', 'submitExpenseClaim'], name: 'Two' });
    expect(describeOperation(doc, null)).toBeNull();
    expect(actionOf('mutation', ['decideApproval', 'submitExpenseClaim'])).toBe('mutation decideApproval,submitExpenseClaim');
    expect(actionOf('query', Array.from({ length: 100 }, (_, i) => `field${i}`)).length).toBeLessThanOrEqual(300);
    expect(outcomeOf(undefined)).toBe('OK');
    expect(outcomeOf([{ extensions: { code: 'NOT_FOUND' } }, { extensions: { code: 'FORBIDDEN' } }])).toBe('FORBIDDEN');
    expect(outcomeOf([{ extensions: { code: 'DOWNSTREAM_SERVICE_ERROR' } }])).toBe('INTERNAL_SERVER_ERROR');
  });
});

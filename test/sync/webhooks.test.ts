// WebhookService against a real database and real HTTP receivers on 127.0.0.1.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Connection, Types } from 'mongoose';
import { pino } from 'pino';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EventLog } from '../../platform/integration/events.ts';
import { Lease } from '../../platform/integration/lease.ts';
import { formatSeq } from '../../platform/integration/event-seq.ts';
import { WebhookService, type WebhookLogger, type WebhookServiceOptions } from '../../subgraphs/sync/webhooks/service.ts';
import { verifyDelivery } from '../../subgraphs/sync/webhooks/signature.ts';
import { verifiesWith, verifyStandard } from '../helpers/standard-webhooks.ts';
import { rejection, sleep, useMongo } from '../helpers/mongo.ts';

const mongo = useMongo('webhooks');
const MASTER = 'test-internal-secret-0123456789abcdef';
const SECRET = 'super-secret-value-42-chosen-freely';

// The service accepts a pino logger as is.
const _pinoFits: WebhookLogger = pino({ enabled: false });
void _pinoFits;

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}

type Mode = 'ok' | 'fail500' | 'hang' | 'redirect' | 'bigBody' | 'slow';

/** A receiver whose behaviour the test switches; it can be closed and reopened on the same port. */
class Receiver {
  received: Received[] = [];
  mode: Mode = 'ok';
  port = 0;
  private server: http.Server | undefined;
  private sockets = new Set<import('node:net').Socket>();

  async open(port = 0): Promise<this> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        switch (this.mode) {
          case 'ok':
            return void res.writeHead(204).end();
          case 'fail500':
            return void res.writeHead(500).end('boom');
          case 'hang':
            return; // never answers
          case 'redirect':
            return void res.writeHead(302, { Location: `http://127.0.0.1:${this.port}/elsewhere` }).end();
          case 'bigBody':
            res.writeHead(200);
            return void res.end(Buffer.alloc(1024 * 1024, 'x'));
          case 'slow':
            return void setTimeout(() => res.writeHead(200).end(), 150);
        }
      });
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
    this.server = undefined;
  }
}

function captureLogger() {
  const lines: { level: string; obj: object; msg?: string }[] = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj, msg });
  return { lines, logger: { info: at('info'), warn: at('warn'), error: at('error') } satisfies WebhookLogger };
}

let conn: Connection;
let log: EventLog;
const services: WebhookService[] = [];
const receivers: Receiver[] = [];
const logs = captureLogger();
let now = Date.parse('2031-03-01T08:00:00Z');
const clock = () => new Date(now);

beforeAll(async () => {
  conn = await mongo.mongoose();
  log = new EventLog(conn);
  await log.events.init();
});

afterEach(async () => {
  // Webhooks of one test must not receive the next test's events.
  await conn.collection('webhooks').updateMany({}, { $set: { active: false } });
  for (const s of services.splice(0)) await s.stop();
  for (const r of receivers.splice(0)) await r.close();
});

async function service(opts: Partial<WebhookServiceOptions> = {}, connection = conn): Promise<WebhookService> {
  const s = new WebhookService({
    connection,
    events: new EventLog(connection),
    logger: logs.logger,
    masterSecret: MASTER,
    allowPrivateTargets: true,
    baseDelayMs: 1000,
    timeoutMs: 300,
    clock,
    random: () => 1,
    ...opts,
  });
  await s.init();
  services.push(s);
  return s;
}

async function receiver(): Promise<Receiver> {
  const r = await new Receiver().open();
  receivers.push(r);
  return r;
}

let claimNo = 0;
async function append(type: string, payload: Record<string, unknown> = {}): Promise<{ seq: number; claimId: string; occurredAt: Date }> {
  const claimId = `claim-${++claimNo}`;
  const occurredAt = new Date(now);
  const event = await conn.transaction(async (session) =>
    log.append(session, { type, subject: { type: 'ExpenseClaim', id: claimId }, actor: 'test', payload, occurredAt }),
  );
  return { seq: event.seq, claimId, occurredAt };
}

const deliveriesOf = async (s: WebhookService, webhookId: string) => (await s.deliveries({ webhookId, first: 100 })).items;

describe('registration', () => {
  it('returns the webhook without its secret, stores the secret encrypted, dedupes types', async () => {
    const s = await service();
    const hook = await s.register({ url: 'http://127.0.0.1:9/hook', types: ['CLAIM_APPROVED', 'ARCHIVE_FILED', 'CLAIM_APPROVED'], secret: SECRET }, 'admin-1');
    expect(Object.keys(hook).sort()).toEqual(['active', 'apiKeyId', 'createdAt', 'id', 'legacyHeaders', 'previousSecretExpiresAt', 'selection', 'types', 'updatedAt', 'url']);
    // A webhook registered now signs the Standard Webhooks way only.
    expect(hook).toMatchObject({ url: 'http://127.0.0.1:9/hook', types: ['CLAIM_APPROVED', 'ARCHIVE_FILED'], active: true, legacyHeaders: false, selection: null, apiKeyId: null });
    expect(JSON.stringify(hook)).not.toContain(SECRET);
    const stored = await conn.collection('webhooks').findOne({});
    expect(stored?.secretEnc).toMatch(/^v1\./);
    expect(JSON.stringify(stored)).not.toContain(SECRET);
    expect(stored?.createdBy).toBe('admin-1');
    expect((await s.list()).map((w) => w.id)).toContain(hook.id);
  });

  it('refuses bad input naming the field', async () => {
    const s = await service({ allowPrivateTargets: false, resolve: async () => ['93.184.216.34'] });
    const cases: [Parameters<WebhookService['register']>[0], string, RegExp][] = [
      [{ url: 'http://127.0.0.1/hook', types: ['CLAIM_APPROVED'], secret: SECRET }, 'url', /loopback/],
      [{ url: 'ftp://example.com/', types: ['CLAIM_APPROVED'], secret: SECRET }, 'url', /http or https/],
      [{ url: 'https://hooks.example.com/', types: [], secret: SECRET }, 'types', /at least one/],
      [{ url: 'https://hooks.example.com/', types: ['CLAIM_APPROVED', 'CLAIM_DRAFTED'], secret: SECRET }, 'types', /unknown event type CLAIM_DRAFTED/],
      [{ url: 'https://hooks.example.com/', types: ['CLAIM_APPROVED'], secret: 'short' }, 'secret', /16 to 256/],
      [{ url: 'https://hooks.example.com/', types: ['CLAIM_APPROVED'], secret: 'x'.repeat(257) }, 'secret', /16 to 256/],
      [{ url: 'https://hooks.example.com/', types: ['CLAIM_APPROVED'], secret: 'whsec_not-base64-but-long-enough' }, 'secret', /base64 of 24 to 64/],
      [{ url: 'https://hooks.example.com/', types: ['CLAIM_APPROVED'], secret: `whsec_${Buffer.alloc(16).toString('base64')}` }, 'secret', /base64 of 24 to 64/],
    ];
    for (const [input, field, message] of cases) {
      const err = await rejection(() => s.register(input, 'admin-1'));
      expect(err.extensions, JSON.stringify(input).slice(0, 80)).toEqual({ code: 'BAD_USER_INPUT', field });
      expect(err.message).toMatch(message);
    }
    await expect(s.register({ url: 'https://hooks.example.com/in', types: ['SYNC_FAILED'], secret: SECRET }, 'admin-1')).resolves.toMatchObject({ active: true });
  });

  it('reports unknown and malformed ids as NOT_FOUND, and bad paging as BAD_USER_INPUT', async () => {
    const s = await service();
    for (const id of ['0123456789abcdef01234567', 'nope']) {
      expect((await rejection(() => s.setActive(id, false))).extensions).toEqual({ code: 'NOT_FOUND' });
      expect((await rejection(() => s.replay(id))).extensions).toEqual({ code: 'NOT_FOUND' });
    }
    for (const first of [0, 101, 1.5]) expect((await rejection(() => s.deliveries({ first }))).extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'first' });
    expect((await rejection(() => s.deliveries({ after: 'x' }))).extensions).toMatchObject({ field: 'after' });
  });
});

describe('delivery', () => {
  it('POSTs the exact body with verifiable headers, only for the subscribed types and only events after registration', async () => {
    const r = await receiver();
    const s = await service();
    const before = await append('ARCHIVE_FILED', { archiveRecordId: 'rec-0' });
    const hook = await s.register({ url: r.url, types: ['ARCHIVE_FILED', 'VOUCHER_CREATED'], secret: SECRET }, 'admin-1');
    await append('CLAIM_SUBMITTED', { claimNo: 'BX-1' }); // not subscribed
    await append('CLAIM_DRAFTED'); // not a sync event at all
    const filed = await append('ARCHIVE_FILED', { voucherId: 'v-1', archiveRecordId: 'rec-1', archiveNo: 'A-1', amountFen: 1234 });

    const result = await s.tick();
    expect(result).toMatchObject({ leaseHeld: true, enqueued: 1, attempted: 1, delivered: 1, failed: 0, dead: 0 });
    expect(r.received).toHaveLength(1);
    const [got] = r.received;
    const [delivery] = await deliveriesOf(s, hook.id);
    expect(delivery).toMatchObject({ status: 'DELIVERED', attempts: 1, lastStatusCode: 204, lastError: null, seq: formatSeq(filed.seq), eventType: 'ARCHIVE_FILED' });
    expect(got.body).toBe(
      JSON.stringify({
        deliveryId: delivery.id,
        type: 'ARCHIVE_FILED',
        timestamp: filed.occurredAt.toISOString(),
        event: { seq: formatSeq(filed.seq), type: 'ARCHIVE_FILED', occurredAt: filed.occurredAt.toISOString(), claimId: filed.claimId, voucherId: 'v-1', archiveRecordId: 'rec-1' },
      }),
    );
    expect(got.body).toBe(delivery.body);
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.headers['user-agent']).toBe('oa-archive-sync-webhooks/1');
    // Standard Webhooks headers, verified with the specification's reference library as a receiver would.
    expect(got.headers['webhook-id']).toBe(delivery.id);
    expect(got.headers['webhook-timestamp']).toBe(String(Math.floor(now / 1000)));
    expect(got.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(verifyStandard(SECRET, got.headers, got.body, now)).toEqual(JSON.parse(got.body));
    expect(verifiesWith('wrong-secret-0123456789', got.headers, got.body, now)).toBe(false);
    expect(verifiesWith(SECRET, got.headers, got.body.replace('rec-1', 'rec-2'), now)).toBe(false);
    // Not the headers of before: they are for webhooks registered before (legacyHeaders).
    expect(got.headers['x-signature-256']).toBeUndefined();
    expect(before.seq).toBeLessThan(filed.seq);

    // Nothing is delivered twice, and the cursor has moved on.
    expect(await s.tick()).toMatchObject({ enqueued: 0, attempted: 0 });
    expect(r.received).toHaveLength(1);
    expect((await conn.collection('sync_cursors').findOne({ _id: 'webhooks' as never }))?.seq).toBeGreaterThanOrEqual(filed.seq);
  });

  it('keeps the headers of before for a webhook registered before, beside the Standard Webhooks ones', async () => {
    const r = await receiver();
    const s = await service();
    const hook = await s.register({ url: r.url, types: ['CLAIM_APPROVED'], secret: SECRET }, 'admin-1');
    // As a webhook stored by the release before this one: no legacyHeaders field.
    await conn.collection('webhooks').updateOne({ _id: new Types.ObjectId(hook.id) }, { $unset: { legacyHeaders: '' } });
    expect((await s.list()).find((w) => w.id === hook.id)?.legacyHeaders).toBe(true);
    await append('CLAIM_APPROVED');
    expect(await s.tick()).toMatchObject({ delivered: 1 });
    const [got] = r.received;
    expect(verifyDelivery({ secret: SECRET, headers: got.headers, rawBody: got.body, now })).toEqual({ ok: true, deliveryId: got.headers['webhook-id'] });
    expect(got.headers['x-delivery-id']).toBe(got.headers['webhook-id']);
    expect(verifiesWith(SECRET, got.headers, got.body, now)).toBe(true);
    // Turned off, the old headers go.
    await s.update(hook.id, { legacyHeaders: false }, 'admin-1');
    await append('CLAIM_APPROVED');
    expect(await s.tick()).toMatchObject({ delivered: 1 });
    expect(r.received[1].headers['x-signature-256']).toBeUndefined();
    expect(verifiesWith(SECRET, r.received[1].headers, r.received[1].body, now)).toBe(true);
  });

  it('retries 500, timeout and connection refused with backoff, dead-letters after maxAttempts, and replays the identical body', async () => {
    const r = await receiver();
    const s = await service({ maxAttempts: 4, timeoutMs: 200 });
    const hook = await s.register({ url: r.url, types: ['SYNC_FAILED'], secret: SECRET }, 'admin-1');
    await append('SYNC_FAILED', { detail: 'archive down' });
    const status = async () => (await deliveriesOf(s, hook.id))[0];

    r.mode = 'fail500';
    expect(await s.tick()).toMatchObject({ enqueued: 1, attempted: 1, failed: 1 });
    let d = await status();
    expect(d).toMatchObject({ status: 'FAILED', attempts: 1, lastError: 'HTTP 500', lastStatusCode: 500 });
    expect(d.nextAttemptAt!.getTime() - now).toBe(1000); // base * 2^0 (random = 1: the top of the jitter range)

    // Not due yet: nothing is sent.
    expect(await s.tick()).toMatchObject({ attempted: 0 });
    now += 1000;
    r.mode = 'hang';
    expect(await s.tick()).toMatchObject({ attempted: 1, failed: 1 });
    d = await status();
    expect(d).toMatchObject({ status: 'FAILED', attempts: 2, lastError: 'timeout after 200 ms', lastStatusCode: null });
    expect(d.nextAttemptAt!.getTime() - now).toBe(2000);

    const port = r.port;
    await r.close();
    now += 2000;
    expect(await s.tick()).toMatchObject({ attempted: 1, failed: 1 });
    d = await status();
    expect(d).toMatchObject({ status: 'FAILED', attempts: 3, lastError: 'connection refused' });
    expect(d.nextAttemptAt!.getTime() - now).toBe(4000);

    now += 4000;
    const lines = logs.lines.length;
    expect(await s.tick()).toMatchObject({ attempted: 1, dead: 1 });
    d = await status();
    expect(d).toMatchObject({ status: 'DEAD', attempts: 4, lastError: 'connection refused', nextAttemptAt: null });
    expect(logs.lines.slice(lines).find((l) => l.msg === 'webhook delivery dead-lettered')).toMatchObject({ level: 'warn', obj: { deliveryId: d.id, attempts: 4 } });
    expect((await s.deliveries({ status: 'DEAD' })).items.map((x) => x.id)).toContain(d.id);

    // DEAD stays dead however long we wait.
    now += 3_600_000;
    expect(await s.tick()).toMatchObject({ attempted: 0 });

    // The receiver is fixed; a replay sends the very same body, with a fresh signature.
    await r.open(port);
    r.received = [];
    r.mode = 'ok';
    const replayed = await s.replay(d.id);
    expect(replayed).toMatchObject({ status: 'PENDING', attempts: 4, replays: 1 });
    expect(await s.tick()).toMatchObject({ attempted: 1, delivered: 1 });
    expect(r.received).toHaveLength(1);
    expect(r.received[0].body).toBe(d.body);
    expect(verifiesWith(SECRET, r.received[0].headers, r.received[0].body, now)).toBe(true);
    expect(await status()).toMatchObject({ status: 'DELIVERED', attempts: 5, replays: 1, lastError: null, lastStatusCode: 204 });
    expect((await s.deliveries({ status: 'DEAD', webhookId: hook.id })).items).toHaveLength(0);
  });

  it('applies full jitter between 50% and 100% of the capped backoff', async () => {
    const r = await receiver();
    r.mode = 'fail500';
    const s = await service({ random: Math.random, baseDelayMs: 1000, maxDelayMs: 3000, maxAttempts: 10 });
    const hook = await s.register({ url: r.url, types: ['SYNC_FAILED'], secret: SECRET }, 'admin-1');
    for (let i = 0; i < 6; i++) await append('SYNC_FAILED');
    await s.tick();
    for (const d of await deliveriesOf(s, hook.id)) {
      const delay = d.nextAttemptAt!.getTime() - now;
      expect(delay).toBeGreaterThanOrEqual(500);
      expect(delay).toBeLessThanOrEqual(1000);
    }
    // Later attempts are capped at maxDelayMs.
    for (let i = 0; i < 4; i++) {
      now += 3000;
      await s.tick();
    }
    for (const d of await deliveriesOf(s, hook.id)) {
      expect(d.attempts).toBe(5);
      const delay = d.nextAttemptAt!.getTime() - now;
      expect(delay).toBeGreaterThanOrEqual(1500);
      expect(delay).toBeLessThanOrEqual(3000);
    }
  });

  it('treats a redirect as a failure without following it, and discards large response bodies', async () => {
    const r = await receiver();
    const s = await service();
    const hook = await s.register({ url: r.url, types: ['CLAIM_APPROVED'], secret: SECRET }, 'admin-1');
    r.mode = 'redirect';
    await append('CLAIM_APPROVED');
    await s.tick();
    expect(r.received).toHaveLength(1); // /elsewhere was never requested
    expect((await deliveriesOf(s, hook.id))[0]).toMatchObject({ status: 'FAILED', lastStatusCode: 302, lastError: 'HTTP 302: redirects are not followed' });

    r.mode = 'bigBody';
    now += 60_000;
    expect(await s.tick()).toMatchObject({ delivered: 1 });
  });

  it('refuses at delivery time a host that now resolves to loopback (DNS rebinding)', async () => {
    const r = await receiver();
    let calls = 0;
    const s = await service({ allowPrivateTargets: false, resolve: async () => (calls++ === 0 ? ['93.184.216.34'] : ['127.0.0.1']) });
    const hook = await s.register({ url: `http://rebind.test:${r.port}/hook`, types: ['CLAIM_APPROVED'], secret: SECRET }, 'admin-1');
    await append('CLAIM_APPROVED');
    expect(await s.tick()).toMatchObject({ attempted: 1, failed: 1 });
    expect(r.received).toHaveLength(0);
    expect((await deliveriesOf(s, hook.id))[0].lastError).toBe('target refused: rebind.test resolved to 127.0.0.1, a loopback address (allowed only with WEBHOOK_ALLOW_PRIVATE_TARGETS=true)');
  });

  it('refuses at delivery time an IP-literal target once private targets are no longer allowed', async () => {
    const r = await receiver();
    const permissive = await service();
    const hook = await permissive.register({ url: r.url, types: ['CLAIM_APPROVED'], secret: SECRET }, 'admin-1');
    const strict = await service({ allowPrivateTargets: false });
    await append('CLAIM_APPROVED');
    expect(await strict.tick()).toMatchObject({ attempted: 1, failed: 1 });
    expect(r.received).toHaveLength(0);
    expect((await deliveriesOf(strict, hook.id))[0].lastError).toBe('target refused: 127.0.0.1 is a loopback address (allowed only with WEBHOOK_ALLOW_PRIVATE_TARGETS=true)');
  });

  it('sends nothing while paused, and on resumption what was due and what happened meanwhile', async () => {
    const r = await receiver();
    const s = await service();
    const hook = await s.register({ url: r.url, types: ['VOUCHER_CREATED'], secret: SECRET }, 'admin-1');
    await append('VOUCHER_CREATED', { voucherId: 'v-9' });
    expect(await s.tick()).toMatchObject({ delivered: 1 });
    const [d] = await deliveriesOf(s, hook.id);

    expect(await s.setActive(hook.id, false)).toMatchObject({ id: hook.id, active: false });
    await s.replay(d.id);
    await append('VOUCHER_CREATED', { voucherId: 'v-10' }); // appended while paused: owed, sent on resumption
    expect(await s.tick()).toMatchObject({ enqueued: 0, attempted: 0 });
    expect((await deliveriesOf(s, hook.id)).map((x) => x.status)).toEqual(['PENDING']);

    await s.setActive(hook.id, true);
    expect(await s.tick()).toMatchObject({ attempted: 2, delivered: 2 });
    const meanwhile = (await deliveriesOf(s, hook.id))[0];
    expect(r.received.map((x) => x.body).sort()).toEqual([d.body, d.body, meanwhile.body].sort());
  });

  it('pages deliveries newest first', async () => {
    const r = await receiver();
    const s = await service();
    const hook = await s.register({ url: r.url, types: ['CLAIM_REJECTED'], secret: SECRET }, 'admin-1');
    for (let i = 0; i < 5; i++) await append('CLAIM_REJECTED');
    await s.tick();
    const page1 = await s.deliveries({ webhookId: hook.id, first: 2 });
    const page2 = await s.deliveries({ webhookId: hook.id, first: 2, after: page1.endCursor! });
    const page3 = await s.deliveries({ webhookId: hook.id, first: 2, after: page2.endCursor! });
    const seqs = [...page1.items, ...page2.items, ...page3.items].map((d) => d.seq);
    expect(seqs).toEqual([...seqs].sort().reverse());
    expect(seqs).toHaveLength(5);
    expect(page3.endCursor).toBeNull();
  });
});

describe('several instances', () => {
  async function runConcurrently(withLease: boolean) {
    const r = await receiver();
    r.mode = 'slow';
    const other = await mongo.mongoose();
    const leaseName = `webhooks-${withLease}`;
    const a = await service({ lease: withLease ? new Lease(conn, leaseName, 10_000, 'A') : undefined, concurrency: 4 });
    const b = await service({ lease: withLease ? new Lease(other, leaseName, 10_000, 'B') : undefined, concurrency: 4 }, other);
    const hook = await a.register({ url: r.url, types: ['CLAIM_APPROVED'], secret: SECRET }, 'admin-1');
    const seqs: number[] = [];
    const held = { a: 0, b: 0 };
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 5; i++) seqs.push((await append('CLAIM_APPROVED')).seq);
      const [ra, rb] = await Promise.all([a.tick(), b.tick()]);
      held.a += Number(ra.leaseHeld);
      held.b += Number(rb.leaseHeld);
    }
    await Promise.all([a.tick(), b.tick()]);
    const sent = r.received.map((x) => (JSON.parse(x.body) as { event: { seq: string } }).event.seq);
    expect([...sent].sort()).toEqual(seqs.map(formatSeq));
    expect(new Set(r.received.map((x) => x.headers['webhook-id'])).size).toBe(seqs.length);
    expect((await deliveriesOf(a, hook.id)).every((d) => d.status === 'DELIVERED' && d.attempts === 1)).toBe(true);
    return held;
  }

  it('with a lease each, only the holder works and no event is delivered twice', async () => {
    const held = await runConcurrently(true);
    expect(held.a === 0 || held.b === 0).toBe(true);
    expect(held.a + held.b).toBeGreaterThan(0);
  });

  it('without leases, atomic claims still keep every event to one delivery', async () => {
    await runConcurrently(false);
  });
});

describe('timer', () => {
  it('runs ticks on a timer, logs tick errors without throwing, and stop() waits for in-flight deliveries', async () => {
    const r = await receiver();
    const s = await service();
    const hook = await s.register({ url: r.url, types: ['RECONCILIATION_DIFFERENCE'], secret: SECRET }, 'admin-1');
    r.mode = 'slow';
    s.start(20);
    await append('RECONCILIATION_DIFFERENCE');
    for (let i = 0; i < 100 && r.received.length === 0; i++) await sleep(10);
    expect(r.received).toHaveLength(1);
    await s.stop(); // the receiver answers after 150 ms; stop waits for it
    expect((await deliveriesOf(s, hook.id))[0].status).toBe('DELIVERED');

    // A failing tick is logged and the timer keeps going.
    let calls = 0;
    const broken = { events: log.events, read: async () => Promise.reject(new Error(`boom ${++calls}`)) } as unknown as EventLog;
    const failing = await service({ events: broken });
    const errors = logs.lines.length;
    failing.start(10);
    for (let i = 0; i < 100 && calls < 3; i++) await sleep(10);
    await failing.stop();
    expect(calls).toBeGreaterThanOrEqual(3);
    expect(logs.lines.slice(errors).filter((l) => l.level === 'error' && l.msg === 'webhook tick failed').length).toBeGreaterThanOrEqual(3);
  });
});

describe('secrecy', () => {
  it('never writes the secret into a log line', () => {
    expect(logs.lines.length).toBeGreaterThan(5);
    const text = JSON.stringify(logs.lines, (_k, v: unknown) => (v instanceof Error ? { message: v.message, stack: v.stack } : v));
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(MASTER);
  });
});

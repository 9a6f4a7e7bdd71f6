// Anomaly alerts: each rule is provoked for real, raises its alert, and the alert is pushed to an `alerts`
// subscription (graphql-ws, ADMIN) and to a webhook registered for ALERT_RAISED; open alerts deduplicate;
// ADMIN acknowledges, resolves and runs the fault-handling action an alert points to.
import { type IncomingMessage, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Received, sseSubscribe, wsSubscribe } from '../helpers/subscribers.ts';
import { ADMIN, ok } from '../oa/fixture.ts';
import type { Org } from '../oa/seed.ts';
import { ArchiveProxy } from './archive-proxy.ts';
import { type Stack, approvedClaim, seed, startStack } from './stack.ts';
import { Registry } from 'prom-client';
import { conventionProblems } from '../helpers/prometheus.ts';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { ed25519Key } from '../../platform/integration/chain-seal.ts';
import { archiveSnapshot, cutNewest, rewriteChains } from '../archive/tamper.ts';

const proxy = new ArchiveProxy();
let stack: Stack;
let org: Org;
let admin: string;
let adminId: string;
let feed: Received;
let sseFeed: Received;
const hooks: { headers: IncomingMessage['headers']; body: string }[] = [];
let receiverStatus = 204;
const receiver = createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString('utf8')));
  req.on('end', () => {
    hooks.push({ headers: req.headers, body });
    res.writeHead(receiverStatus).end();
  });
});

const ALERT_FIELDS = `id rule severity status message subject count raisedAt actions { kind target label }`;
interface Alert {
  id: string;
  rule: string;
  severity: string;
  status: string;
  message: string;
  subject: string | null;
  count: number;
  actions: { kind: string; target: string | null; label: string }[];
}

beforeAll(async () => {
  const url = await proxy.listen();
  stack = await startStack({
    label: 'sync_alerts',
    archiveUrlForSync: url,
    // Heads sealed outside the database: tamperings the database alone cannot show raise the alert too.
    seal: { key: ed25519Key(generateKeyPairSync('ed25519').privateKey), dir: path.join(await mkdtemp(path.join(tmpdir(), 'alert-seals-')), 'seals') },
    sync: {
      maxAttempts: 2,
      retryBaseMs: 20,
      retryMaxMs: 40,
      webhookMaxAttempts: 2,
      alertRules: {
        SYNC_FAILURES: { threshold: 2 },
        SYNC_LAG: { threshold: 60_000 },
        PROBING: { threshold: 4, windowMs: 60_000 },
        BULK_ACCESS: { threshold: 4, windowMs: 60_000 },
        // Resolved by the system as soon as the subgraph answers again.
        SUBGRAPH_DOWN: { threshold: 2, closeAfterMs: 0 },
        ARCHIVE_CHAIN_BROKEN: { windowMs: 0 },
      },
    },
  });
  proxy.target = stack.archiveUrl;
  org = await seed(stack);
  adminId = ok(
    await stack.oa.gql<{ createEmployee: { id: string } }>(ADMIN, `mutation($input: CreateEmployeeInput!) { createEmployee(input: $input) { id } }`, {
      input: { employeeNo: 'E901', name: 'Ada Admin', departmentId: org.hq, roles: ['ADMIN'] },
    }),
  ).createEmployee.id;
  admin = await stack.token(adminId);
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const hook = await stack.gql(admin, `mutation($url: String!) { registerWebhook(url: $url, types: [ALERT_RAISED], secret: "alert-receiver-secret-0123") { id } }`, {
    url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/alerts`,
  });
  expect(hook.errors).toBeUndefined();
  feed = wsSubscribe(stack.gateways[0].wsUrl, { authorization: `Bearer ${admin}` }, `subscription { alerts { ${ALERT_FIELDS} } }`);
  sseFeed = sseSubscribe(stack.gateways[0].sseUrl, { authorization: `Bearer ${admin}` }, `subscription { alerts { id rule } }`);
  await new Promise((r) => setTimeout(r, 300));
});
afterAll(async () => {
  await feed?.dispose();
  await sseFeed?.dispose();
  await stack?.close();
  proxy.server.close();
  receiver.close();
});

const pushed = (r: Received) => r.results.map((x) => (x.data as { alerts: Alert } | undefined)?.alerts).filter((a): a is Alert => !!a);

/** Evaluates the rules and returns the alert of `rule` (and subject) once it has been pushed to the subscriber and the webhook. */
async function raisedAndPushed(rule: string, subject?: string): Promise<Alert> {
  await stack.sync.services.monitor.evaluate();
  const match = (a: Alert) => a.rule === rule && (subject === undefined || a.subject === subject);
  await feed.until((r) => pushed(r).some(match), 10_000);
  const alert = pushed(feed).find(match)!;
  const started = Date.now();
  while (!hooks.some((h) => (JSON.parse(h.body) as { event: { alertId?: string; type: string } }).event.type === 'ALERT_RAISED' && h.body.includes(alert.id))) {
    if (Date.now() - started > 10_000) throw new Error(`the webhook did not receive ${rule}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return alert;
}

async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const gql = <T,>(query: string, variables?: Record<string, unknown>) => stack.gql<T>(admin, query, variables);

describe('alert rules', () => {
  it('SYNC_FAILURES and SYNC_JOB_DEAD: failures above the rate, a dead job, and the retry it points to', async () => {
    proxy.mode = 'down';
    const claim = await approvedClaim(stack, org, '61.00');
    await until(() => stack.connection.collection('sync_jobs').findOne({ claimId: claim.id }), (j) => j?.status === 'DEAD');
    const rate = await raisedAndPushed('SYNC_FAILURES');
    // Over SSE as well.
    await sseFeed.until((r) => r.results.some((x) => (x.data as { alerts?: { id: string } } | undefined)?.alerts?.id === rate.id));
    expect(rate).toMatchObject({ severity: 'WARNING', status: 'OPEN', subject: 'sync', count: 1 });
    expect(rate.message).toMatch(/^2 sync failures in the last 5 min \(threshold 2\)$/);
    const dead = await raisedAndPushed('SYNC_JOB_DEAD');
    expect(dead.severity).toBe('CRITICAL');
    expect(dead.message).toContain(`Sync of ${claim.claimNo} is DEAD: archive subgraph answered HTTP 503`);
    expect(dead.actions).toEqual([{ kind: 'RETRY_SYNC_JOB', target: expect.any(String), label: `Retry the sync of ${claim.claimNo}` }]);

    // Open alerts deduplicate: the condition still holding at the next evaluation is the same alert and the same
    // occurrence (count counts occurrences, not evaluations), and is not pushed again.
    const countOf = async () => (await gql<{ alerts: Alert[] }>(`{ alerts(status: OPEN) { ${ALERT_FIELDS} } }`)).data!.alerts.filter((a) => a.rule === 'SYNC_JOB_DEAD');
    const before = await countOf();
    await stack.sync.services.monitor.evaluate();
    expect(before).toEqual([expect.objectContaining({ id: dead.id })]);
    expect(await countOf()).toEqual([expect.objectContaining({ id: dead.id, count: before[0].count })]);
    expect(before[0].count).toBe(1);
    expect(pushed(feed).filter((a) => a.id === dead.id)).toHaveLength(1);

    // The fault is fixed; the action retries the job, and the alert is acknowledged (someone acted on it).
    proxy.mode = 'forward';
    const ran = await gql<{ runAlertAction: Alert }>(`mutation($id: ID!) { runAlertAction(id: $id) { ${ALERT_FIELDS} } }`, { id: dead.id });
    expect(ran.errors).toBeUndefined();
    expect(ran.data!.runAlertAction.status).toBe('ACKNOWLEDGED');
    await until(() => stack.connection.collection('sync_jobs').findOne({ claimId: claim.id }), (j) => j?.status === 'SUCCEEDED');
    const resolved = await gql<{ resolveAlert: Alert & { resolvedBy: string; resolution: string } }>(`mutation($id: ID!) { resolveAlert(id: $id, resolution: "archive back") { status resolvedBy resolution } }`, { id: dead.id });
    expect(resolved.data!.resolveAlert).toEqual({ status: 'RESOLVED', resolvedBy: adminId, resolution: 'archive back' });
    await gql(`mutation($id: ID!) { resolveAlert(id: $id) { id } }`, { id: rate.id });
  });

  it('SUBGRAPH_DOWN: a subgraph that misses probes in a row', async () => {
    proxy.mode = 'down';
    await stack.sync.services.monitor.evaluate(); // first miss: not yet
    const alert = await raisedAndPushed('SUBGRAPH_DOWN', 'subgraph:archive');
    expect(alert).toMatchObject({ severity: 'CRITICAL', message: 'The archive subgraph did not answer 2 probes in a row' });
    const status = await gql<{ systemStatus: { subgraphs: { name: string; status: string; failures: number }[] } }>(`{ systemStatus { subgraphs { name status failures } } }`);
    expect(status.data!.systemStatus.subgraphs).toEqual(
      expect.arrayContaining([
        { name: 'archive', status: 'DOWN', failures: expect.any(Number) },
        { name: 'oa', status: 'UP', failures: 0 },
        { name: 'sync', status: 'UP', failures: 0 },
      ]),
    );
    // Still down at the next evaluations: the same alert, one occurrence, not one count per evaluation.
    await stack.sync.services.monitor.evaluate();
    await stack.sync.services.monitor.evaluate();
    const open = await gql<{ alerts: (Alert & { status: string })[] }>(`{ alerts(status: OPEN) { id rule subject count } }`);
    expect(open.data!.alerts.filter((a) => a.rule === 'SUBGRAPH_DOWN')).toEqual([{ id: alert.id, rule: 'SUBGRAPH_DOWN', subject: 'subgraph:archive', count: 1 }]);

    // The archive answers again: the alert closes by itself, recorded as resolved by the system, and subscribers hear of it.
    proxy.mode = 'forward';
    expect(await stack.sync.services.monitor.evaluate()).toMatchObject({ resolved: 1 });
    await feed.until((r) => pushed(r).some((a) => a.id === alert.id && a.status === 'RESOLVED'), 10_000);
    const closed = await gql<{ alerts: Array<{ id: string; status: string; resolvedBy: string; resolution: string; resolvedAt: string }> }>(`{ alerts(status: RESOLVED, first: 500) { id status resolvedBy resolution resolvedAt } }`);
    expect(closed.data!.alerts.find((a) => a.id === alert.id)).toMatchObject({ status: 'RESOLVED', resolvedBy: 'system', resolution: 'The condition cleared' });
    const events = await gql<{ syncEvents: { type: string; detail: string }[] }>(`{ syncEvents(types: [ALERT_RESOLVED], first: 500) { type detail } }`);
    expect(events.data!.syncEvents).toContainEqual({ type: 'ALERT_RESOLVED', detail: 'SUBGRAPH_DOWN resolved: the condition cleared' });
  });

  it('RECONCILIATION_DIFFERENCE: a period that does not reconcile, and reconciling again once it is fixed', async () => {
    const claim = await approvedClaim(stack, org, '62.00');
    const voucher = await until(() => stack.connection.collection('vouchers').findOne({ claimId: claim.id }), (v) => !!v);
    await until(() => stack.connection.collection('archive_records').findOne({ voucherId: voucher!._id.toHexString() }), (r) => !!r);
    await stack.connection.collection('vouchers').updateOne({ _id: voucher!._id }, { $inc: { debitTotalFen: 1, creditTotalFen: 1 } });
    const [y, p] = [voucher!.fiscalYear as number, voucher!.period as number];
    const run = await gql<{ reconcile: { differences: { kind: string }[] } }>(`mutation($y: Int!, $p: Int!) { reconcile(fiscalYear: $y, period: $p) { differences { kind detail } } }`, { y, p });
    expect(run.data!.reconcile.differences).toEqual([{ kind: 'AMOUNT_MISMATCH', detail: expect.any(String) }]);
    const period = `${y}-${String(p).padStart(2, '0')}`;
    const alert = await raisedAndPushed('RECONCILIATION_DIFFERENCE', `period:${period}`);
    expect(alert.message).toBe(`Reconciliation of ${period} found 1 difference(s)`);
    expect(alert.actions).toEqual([{ kind: 'RERUN_RECONCILIATION', target: period, label: `Reconcile ${period} again` }]);
    await stack.connection.collection('vouchers').updateOne({ _id: voucher!._id }, { $inc: { debitTotalFen: -1, creditTotalFen: -1 } });
    await gql(`mutation($id: ID!) { runAlertAction(id: $id, kind: RERUN_RECONCILIATION) { id } }`, { id: alert.id });
    const latest = await gql<{ reconciliations: { differences: unknown[]; trigger: string }[] }>(`{ reconciliations(first: 1) { trigger differences { kind } } }`);
    expect(latest.data!.reconciliations).toEqual([{ trigger: 'MANUAL', differences: [] }]);
    await gql(`mutation($id: ID!) { resolveAlert(id: $id) { id } }`, { id: alert.id });
    // Reconciled clean: the rule finds nothing for the period any more.
    await stack.sync.services.monitor.evaluate();
    const open = await gql<{ alerts: Alert[] }>(`{ alerts(status: OPEN) { rule subject } }`);
    expect(open.data!.alerts.filter((a) => a.rule === 'RECONCILIATION_DIFFERENCE')).toEqual([]);
  });

  it('ARCHIVE_CHAIN_BROKEN: a filed record changed in the database', async () => {
    const record = await stack.connection.collection('archive_records').findOne({}, { sort: { _id: 1 } });
    await stack.connection.collection('archive_records').updateOne({ _id: record!._id }, { $set: { title: `${record!.title as string} (edited)` } });
    const alert = await raisedAndPushed('ARCHIVE_CHAIN_BROKEN');
    expect(alert.message).toBe(`The archive fixity chain is broken: CHANGED at ${record!.archiveNo as string}`);
    expect(alert.actions.map((a) => a.kind)).toEqual(['VERIFY_ARCHIVE_CHAIN']);
    await stack.connection.collection('archive_records').updateOne({ _id: record!._id }, { $set: { title: record!.title } });
  });

  it('ARCHIVE_CHAIN_BROKEN: each tampering of the archive, at the next evaluation', async () => {
    const records = stack.connection.collection('archive_records');
    while ((await records.countDocuments()) < 3) {
      const n = await records.countDocuments();
      await approvedClaim(stack, org, '12.00');
      await until(() => records.countDocuments(), (c) => c > n);
    }
    const [first, middle] = await records.find({}, { sort: { chainSeq: 1 } }).toArray();
    const newest = (await records.find({}, { sort: { chainSeq: -1 }, limit: 1 }).toArray())[0];
    const cases: Array<[string, () => Promise<unknown>, string, string]> = [
      ['content removed', () => records.updateOne({ _id: middle._id }, { $set: { content: null } }), 'CONTENT_MISSING', middle.archiveNo as string],
      ['destroyed without a register', () => records.updateOne({ _id: middle._id }, { $set: { content: null, status: 'DESTROYED', destroyedAt: new Date() } }), 'DESTROYED_WITHOUT_REGISTER', middle.archiveNo as string],
      ['the newest record removed', () => records.deleteOne({ _id: newest._id }), 'REMOVED', newest.archiveNo as string],
      ['a middle record removed', () => records.deleteOne({ _id: middle._id }), 'REMOVED', middle.archiveNo as string],
      ['content edited', () => records.updateOne({ _id: first._id }, { $set: { content: '{"edited":true}' } }), 'CHANGED', first.archiveNo as string],
    ];
    for (const [, tamper, problem, archiveNo] of cases) {
      await tamper();
      const alert = await raisedAndPushed('ARCHIVE_CHAIN_BROKEN', `archive-chain:${problem}:${archiveNo}`);
      expect(alert.message).toBe(`The archive fixity chain is broken: ${problem} at ${archiveNo}`);
      // Put back as it was, and the alert resolved, before the next case.
      for (const r of [first, middle, newest]) await records.replaceOne({ _id: r._id }, r, { upsert: true });
      await gql(`mutation($id: ID!) { resolveAlert(id: $id) { id } }`, { id: alert.id });
    }
    const archive = await gql<{ alerts: Alert[] }>(`{ alerts(status: OPEN) { rule subject } }`);
    expect(archive.data!.alerts.filter((a) => a.rule === 'ARCHIVE_CHAIN_BROKEN')).toEqual([]);
  });

  it('ARCHIVE_CHAIN_BROKEN: chains recomputed after an edit, or cut with their counters, against the sealed heads', async () => {
    const db = stack.connection.db!;
    const restore = await archiveSnapshot(stack.connection);
    const [, middle] = await db.collection('archive_records').find({}, { sort: { chainSeq: 1 } }).toArray();
    const cases: Array<[() => Promise<string>, string]> = [
      [async () => (await rewriteChains(stack.connection, middle.archiveNo as string, '{"edited":true}'), middle.archiveNo as string), 'CHANGED'],
      [async () => (await cutNewest(stack.connection)).archiveNo, 'REMOVED'],
    ];
    for (const [tamper, problem] of cases) {
      const archiveNo = await tamper();
      const alert = await raisedAndPushed('ARCHIVE_CHAIN_BROKEN', `archive-chain:${problem}:${archiveNo}`);
      expect(alert.message).toBe(`The archive fixity chain is broken: ${problem} at ${archiveNo}`);
      await restore();
      await gql(`mutation($id: ID!) { resolveAlert(id: $id) { id } }`, { id: alert.id });
    }
  });

  it('WEBHOOK_DEAD: a dead-lettered delivery, replayed once the receiver is fixed', async () => {
    receiverStatus = 500;
    const failing = await stack.gql<{ registerWebhook: { id: string } }>(admin, `mutation($url: String!) { registerWebhook(url: $url, types: [CLAIM_APPROVED], secret: "failing-receiver-secret-01") { id } }`, {
      url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/claims`,
    });
    await approvedClaim(stack, org, '63.00');
    const webhookId = failing.data!.registerWebhook.id;
    const dead = await until(() => gql<{ webhookDeliveries: { id: string; status: string }[] }>(`query($w: ID) { webhookDeliveries(webhookId: $w, status: DEAD) { id status } }`, { w: webhookId }), (r) => (r.data?.webhookDeliveries.length ?? 0) > 0);
    receiverStatus = 204; // alerts must reach the alert receiver again
    // This delivery's alert: an ALERT_RAISED sent to the alert receiver while it answered 500 may be dead too.
    const alert = await raisedAndPushed('WEBHOOK_DEAD', `delivery:${dead.data!.webhookDeliveries[0].id}`);
    expect(alert.message).toBe('Webhook delivery of CLAIM_APPROVED was dead-lettered: HTTP 500');
    expect(alert.actions[0].kind).toBe('REPLAY_WEBHOOK_DELIVERY');
    await gql(`mutation($id: ID!) { runAlertAction(id: $id) { id } }`, { id: alert.id });
    await until(() => gql<{ webhookDeliveries: { status: string }[] }>(`query($w: ID) { webhookDeliveries(webhookId: $w) { status } }`, { w: webhookId }), (r) => r.data?.webhookDeliveries[0]?.status === 'DELIVERED');
  });

  it('SYNC_LAG: approvals waiting longer than the target', async () => {
    proxy.mode = 'down';
    const claim = await approvedClaim(stack, org, '64.00');
    // Pretend it was approved two minutes ago.
    await until(() => stack.connection.collection('sync_jobs').findOne({ claimId: claim.id }), (j) => !!j);
    await stack.connection.collection('sync_jobs').updateOne({ claimId: claim.id }, { $set: { approvedAt: new Date(Date.now() - 120_000), status: 'FAILED', nextAttemptAt: new Date(Date.now() + 3_600_000) } });
    const alert = await raisedAndPushed('SYNC_LAG');
    expect(alert.message).toMatch(/^the oldest unfiled approval has waited \d+ ms \(target 60000 ms\)$/);
    proxy.mode = 'forward';
    await stack.connection.collection('sync_jobs').updateOne({ claimId: claim.id }, { $set: { nextAttemptAt: new Date() } });
    await until(() => stack.connection.collection('sync_jobs').findOne({ claimId: claim.id }), (j) => j?.status === 'SUCCEEDED');
  });

  it('BULK_ACCESS: one user reading far more archive records than usual', async () => {
    const accountant = await stack.token(org.ids.accountant);
    for (let i = 0; i < 5; i++) await approvedClaim(stack, org, `7${i}.00`);
    await until(() => stack.connection.collection('archive_records').countDocuments(), (n) => n >= 5);
    const records = await stack.connection.collection('archive_records').find({}, { projection: { _id: 1 } }).sort({ _id: -1 }).limit(5).toArray();
    for (const r of records) {
      const read = await stack.gql(accountant, `mutation($id: ID!) { readArchiveContent(recordId: $id, purpose: "audit sample") { contentDigest } }`, { id: r._id.toHexString() });
      expect(read.errors).toBeUndefined();
    }
    const alert = await raisedAndPushed('BULK_ACCESS', `actor:${org.ids.accountant}`);
    expect(alert.message).toBe(`${org.ids.accountant} read or borrowed ${records.length} archive records in the last 1 min; usually 0.0`);
  });

  it('PROBING: repeated refusals for one address', async () => {
    for (let i = 0; i < 5; i++) {
      const res = await fetch(stack.gateways[0].url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer not.a.token' }, body: '{"query":"{ me { id } }"}' });
      expect(res.status).toBe(401);
    }
    // The gateway's audit trail is written in batches.
    await until(() => stack.connection.collection('audit_log').countDocuments({ outcome: 'UNAUTHENTICATED' }), (n) => n >= 5);
    const alert = await raisedAndPushed('PROBING', 'address:127.0.0.1');
    expect(alert.message).toMatch(/^\d+ refused requests \(UNAUTHENTICATED or FORBIDDEN\) from address 127\.0\.0\.1 in the last 1 min$/);
 
    // And for one principal: a signed-in employee trying operations of other roles.
    const bob = await stack.token(org.ids.bob);
    for (let i = 0; i < 4; i++) expect((await stack.gql(bob, `{ syncJobs { id } }`)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    await stack.gateways[0].gateway.audit.flush();
    const byActor = await raisedAndPushed('PROBING', `actor:${org.ids.bob}`);
    expect(byActor.message).toBe(`4 refused requests (UNAUTHENTICATED or FORBIDDEN) from actor ${org.ids.bob} in the last 1 min`);
  });
});

describe('alert handling', () => {
  it('is for ADMIN; AUDITOR reads; others are refused; bad ids are NOT_FOUND', async () => {
    const auditor = await stack.token(org.ids.auditor);
    const alice = await stack.token(org.ids.alice);
    const codes = (r: { errors?: { extensions?: { code?: string } }[] }) => r.errors?.map((e) => e.extensions?.code);
    expect(codes(await stack.gql(auditor, `{ alerts { id } alertRules { rule enabled threshold } }`))).toBeUndefined();
    const [any] = (await gql<{ alerts: { id: string }[] }>(`{ alerts { id } }`)).data!.alerts;
    expect(codes(await stack.gql(auditor, `mutation($id: ID!) { acknowledgeAlert(id: $id) { id } }`, { id: any.id }))).toEqual(['FORBIDDEN']);
    expect(codes(await stack.gql(alice, `{ alerts { id } }`))).toEqual(['FORBIDDEN']);
    expect(codes(await stack.gql(alice, `{ systemStatus { openAlerts } }`))).toEqual(['FORBIDDEN']);
    expect(codes(await gql(`mutation { acknowledgeAlert(id: "0123456789abcdef01234567") { id } }`))).toEqual(['NOT_FOUND']);
    const aliceFeed = wsSubscribe(stack.gateways[0].wsUrl, { authorization: `Bearer ${alice}` }, `subscription { alerts { id } }`);
    await aliceFeed.until((r) => r.completed);
    expect(aliceFeed.results.flatMap((r) => r.errors ?? []).map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
  });

  it('pages through the alerts with after: each once, newest first, per status too', async () => {
    for (const status of [null, 'RESOLVED']) {
      const all = (await gql<{ alerts: { id: string }[] }>(`query($s: AlertStatus) { alerts(status: $s, first: 500) { id } }`, { s: status })).data!.alerts.map((a) => a.id);
      expect(all.length, String(status)).toBeGreaterThan(2);
      const paged: string[] = [];
      for (let after: string | null = null; ; ) {
        const page: string[] = (await gql<{ alerts: { id: string }[] }>(`query($s: AlertStatus, $a: ID) { alerts(status: $s, first: 2, after: $a) { id } }`, { s: status, a: after })).data!.alerts.map((a) => a.id);
        if (!page.length) break;
        paged.push(...page);
        after = page.at(-1)!;
      }
      expect(paged).toEqual(all);
    }
    const bad = await gql(`{ alerts(after: "0123456789abcdef01234567") { id } }`);
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
  });

  it('lists the rules as configured, and systemStatus sums up the whole integration', async () => {
    const rules = await gql<{ alertRules: { rule: string; enabled: boolean; threshold: number; windowMs: number }[] }>(`{ alertRules { rule enabled threshold windowMs } }`);
    expect(rules.data!.alertRules.map((r) => r.rule)).toEqual(['SYNC_FAILURES', 'SYNC_JOB_DEAD', 'ARCHIVE_USABILITY', 'SYNC_LAG', 'PROBING', 'BULK_ACCESS', 'HANDOVER_OVERDUE', 'RECONCILIATION_DIFFERENCE', 'ARCHIVE_CHAIN_BROKEN', 'SUBGRAPH_DOWN', 'WEBHOOK_DEAD']);
    expect(rules.data!.alertRules.find((r) => r.rule === 'PROBING')).toEqual({ rule: 'PROBING', enabled: true, threshold: 4, windowMs: 60_000 });
    await stack.gateways[0].gateway.heartbeat.beat();
    const status = await gql<{ systemStatus: Record<string, unknown> & { gateways: { id: string }[]; sync: { backlog: number } } }>(
      `{ systemStatus { checkedAt database databaseLatencyMs failingWebhooks deadDeliveries openSubscriptions openAlerts gateways { id openSubscriptions } sync { backlog dead } } }`,
    );
    expect(status.errors).toBeUndefined();
    const s = status.data!.systemStatus;
    expect(s.database).toBe('UP');
    expect(s.gateways).toEqual([{ id: stack.gateways[0].gateway.heartbeat.id, openSubscriptions: expect.any(Number) }]);
    expect(s.openSubscriptions).toBeGreaterThanOrEqual(1); // the alert feed
    const open = await gql<{ alerts: unknown[] }>(`{ alerts(status: OPEN) { id } }`);
    const acked = await gql<{ alerts: unknown[] }>(`{ alerts(status: ACKNOWLEDGED) { id } }`);
    expect(s.openAlerts).toBe(open.data!.alerts.length + acked.data!.alerts.length);
    const metrics = await stack.sync.metrics.registry.metrics();
    expect(metrics).toMatch(/^ops_subgraph_up\{subgraph="oa"\} 1$/m);
    expect(metrics).toMatch(/^ops_open_alerts\{rule="[A-Z_]+",severity="[A-Z]+"\} \d+$/m);
    // Probe round trips in seconds (issue 14), and the registries `npm start` serves together: each name once,
    // conventional names, no gauge with a quantile label.
    expect(metrics).toMatch(/^ops_subgraph_probe_seconds\{subgraph="oa"\} \d+(\.\d+)?(e-\d+)?$/m);
    expect(metrics).not.toContain('_ms');
    const served = await Registry.merge([stack.gateways[0].gateway.metrics.registry, stack.sync.metrics.registry]).metrics();
    expect(conventionProblems(served)).toEqual([]);
  });
});

// The crash test: the all-in-one process is killed with SIGKILL at random points during a stream of
// approvals and restarted on the same data directory, several times. Afterwards every approved claim has exactly
// one voucher and one archive record (and reconciliation agrees), and a graphql-ws subscriber that resumed after
// each crash from the last seq it saw has received every event of the log exactly once, in order.
// Replay a failing run with CRASH_SEED=<the seed it printed>.
// After each restart the dead process's pipeline lease blocks consumption for up to its TTL (SYNC_LEASE_TTL_MS,
// 5 s); the restarted process then takes over the jobs that were RUNNING when the process died.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signedGraphql } from '../helpers/graphql.ts';
import { type Received, events, wsSubscribe } from '../helpers/subscribers.ts';
import type { OaFixture } from '../oa/fixture.ts';
import { CREATE_CLAIM, DECIDE, type Org, SUBMIT, item, seedOrg } from '../oa/seed.ts';
import { type AllInOne, type Listening, killAllChildren, seededRandom, sleep, startAllInOne } from './crash-process.ts';

const INTERNAL_SECRET = 'crash-test-internal-secret-0123456789abcdef';
const JWT_SECRET = 'crash-test-client-jwt-secret-0123456789abcdef';
const TIME_ZONE = 'Asia/Shanghai';
/** Process lives killed in the middle of the approvals; one more start afterwards checks the outcome. */
const KILLS = 5;
/** Approval streams running at once. */
const WORKERS = 3;

const SUBSCRIPTION = `subscription($after: String) { syncEvents(after: $after) { seq type claim { id } } }`;
const EVENTS_PAGE = `query($after: String) { syncEvents(after: $after, first: 500) { seq type claim { id } } }`;
const SYNC_STATUS = `{ syncStatus { backlog failed dead position head } }`;
const UNFINISHED_JOBS = `{ running: syncJobs(status: RUNNING, first: 200) { claimNo status attempts createdAt lastError }
  failed: syncJobs(status: FAILED, first: 200) { claimNo status attempts lastError nextAttemptAt }
  pending: syncJobs(status: PENDING, first: 200) { claimNo status attempts } }`;
const APPROVED_CLAIMS = `{ expenseClaims(status: APPROVED, first: 1000) {
  totalCount pageInfo { hasNextPage }
  edges { node { id claimNo total approvedAt voucher { id debitTotal } archiveRecord { id voucher { id } } } }
} }`;
const AUDIT_PAGE = `query($after: String) { auditLog(action: "mutation", first: 200, after: $after) { entries { requestId outcome } endCursor } }`;
type AuditPage = { entries: { requestId: string | null; outcome: string }[]; endCursor: string | null };
const RECONCILE = `mutation($y: Int!, $p: Int!) { reconcile(fiscalYear: $y, period: $p) {
  fiscalYear period approvedClaims vouchers archiveRecords differences { kind claimNo detail }
} }`;

interface GqlBody<T> {
  data?: T | null;
  errors?: { message: string; extensions?: { code?: string } }[];
  /** The gateway's id of the request (x-request-id): what the audit trail records it under. */
  requestId?: string | null;
}

/** POST /graphql; a network failure (the process died) throws. */
async function gql<T>(url: string, token: string, query: string, variables?: Record<string, unknown>): Promise<GqlBody<T>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(15_000),
  });
  return { ...((await res.json()) as GqlBody<T>), requestId: res.headers.get('x-request-id') };
}

/** Data of a successful call; throws with the errors otherwise. */
async function must<T>(url: string, token: string, query: string, variables?: Record<string, unknown>): Promise<T> {
  const body = await gql<T>(url, token, query, variables);
  if (body.errors?.length || !body.data) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
  return body.data;
}

const token = (sub: string, roles: string[] = []) =>
  new SignJWT({ roles })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setExpirationTime('15m')
    .sign(new TextEncoder().encode(JWT_SECRET));

interface Tokens {
  alice: string;
  manager: string;
  accountant: string;
  admin: string;
}

interface Traffic {
  /** Set just before the SIGKILL: no new request starts after it. */
  killing: boolean;
  /** Claims whose last approval answered APPROVED. */
  confirmed: string[];
  /** Request ids of the mutations answered without errors: each must have its audit entry, kills or not. */
  acknowledged: string[];
  /** Requests sent before the kill that failed because of it (no answer, connection reset). */
  cutByKill: number;
  /** What went wrong while the process was alive: must stay empty. */
  unexpected: string[];
}

/** Alice files claims and her manager and the accountant approve them, one after another, until the kill. */
async function approvalStream(url: string, tokens: Tokens, random: () => number, traffic: Traffic): Promise<void> {
  const call = async <T>(who: string, query: string, variables: Record<string, unknown>): Promise<T | null> => {
    if (traffic.killing) return null;
    let body: GqlBody<T>;
    try {
      body = await gql<T>(url, who, query, variables);
    } catch (err) {
      if (traffic.killing) traffic.cutByKill++;
      else traffic.unexpected.push(`request failed while the process was alive: ${String(err)}`);
      return null;
    }
    if (body.errors?.length || !body.data) {
      traffic.unexpected.push(`GraphQL errors: ${JSON.stringify(body.errors)}`);
      return null;
    }
    if (body.requestId) traffic.acknowledged.push(body.requestId);
    else traffic.unexpected.push('a response without x-request-id');
    return body.data;
  };
  while (!traffic.killing) {
    const fen = 100 + Math.floor(random() * 400_000); // 1.00 to 4000.99: under the director's threshold
    const amount = `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, '0')}`;
    const created = await call<{ createExpenseClaim: { id: string } }>(tokens.alice, CREATE_CLAIM, { input: { title: 'Taxi', category: 'TRAVEL', items: [item(amount)] } });
    if (!created) return;
    const id = created.createExpenseClaim.id;
    if (!(await call(tokens.alice, SUBMIT, { id }))) return;
    if (!(await call(tokens.manager, DECIDE, { id, d: 'APPROVE' }))) return;
    const decided = await call<{ decideApproval: { status: string } }>(tokens.accountant, DECIDE, { id, d: 'APPROVE' });
    if (!decided) return;
    if (decided.decideApproval.status !== 'APPROVED') traffic.unexpected.push(`claim ${id} is ${decided.decideApproval.status} after both approvals`);
    traffic.confirmed.push(id);
  }
}

/** The seqs a subscriber received, and anything else it got (errors must not be among them). */
function receivedSeqs(sub: Received): { seqs: string[]; errors: unknown[] } {
  return { seqs: events(sub).map((e) => String(e.seq)), errors: sub.results.filter((r) => r.errors?.length).map((r) => r.errors) };
}

const periodOf = (iso: string): string =>
  new Intl.DateTimeFormat('en-CA', { timeZone: TIME_ZONE, year: 'numeric', month: '2-digit' }).format(new Date(iso));

let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'oa-crash-'));
});
afterAll(async () => {
  await killAllChildren();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('SIGKILL during a stream of approvals', () => {
  it('ends with one voucher and one archive record per approved claim, and a resuming subscriber gets every event once', { timeout: 300_000 }, async () => {
    const seed = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
    // Two streams: the kill points replay exactly from the seed whatever the interleaving of the requests, which
    // draws the claim amounts.
    const killRandom = seededRandom(seed);
    const amountRandom = seededRandom(seed ^ 0x5bd1e995);
    console.log(`crash test seed: ${seed} (replay with CRASH_SEED=${seed})`);
    const startedAt = Date.now();

    const env = {
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      DATA_DIR: dataDir,
      PORT: '0',
      OA_PORT: '0',
      ARCHIVE_PORT: '0',
      SYNC_PORT: '0',
      INTERNAL_SECRET,
      JWT_SECRET,
      BUSINESS_TIMEZONE: TIME_ZONE,
      SYNC_POLL_MS: '50',
      SYNC_RETRY_BASE_MS: '50',
      SYNC_RETRY_MAX_MS: '500',
      RECONCILE_INTERVAL_MS: '0',
      // A claim approved a moment ago without a voucher counts as missing: the check below is meant to be strict.
      RECONCILE_GRACE_MS: '0',
    };

    let org: Org | undefined;
    let tokens: Tokens | undefined;
    /** Every seq the subscriber received, across all lives of the process, in arrival order. */
    const received: string[] = [];
    const subscriberErrors: unknown[] = [];
    /** The last seq the subscriber saw: where its subscription in the next life starts (`after`). */
    let lastSeq = '000000000000';
    const rounds: { life: number; killAfterMs: number; confirmed: number; cutByKill: number; receivedEvents: number }[] = [];
    const confirmed: string[] = [];
    const acknowledged: string[] = [];
    const unexpected: string[] = [];

    for (let life = 1; life <= KILLS; life++) {
      const proc: AllInOne = startAllInOne(env);
      const at: Listening = await proc.ready();
      if (!org) {
        // Once, through the oa subgraph this life logged, with identities signed as the gateway would.
        const oa = { gql: (who, query, variables) => signedGraphql({ url: at.oa, audience: 'oa' }, INTERNAL_SECRET, who, query, variables) } as OaFixture;
        org = await seedOrg(oa);
        tokens = {
          alice: await token(org.ids.alice),
          manager: await token(org.ids.salesManager),
          accountant: await token(org.ids.accountant),
          admin: await token('crash-test-admin', ['ADMIN']),
        };
      }
      const t = tokens!;
      const sub = wsSubscribe(at.wsUrl, { authorization: `Bearer ${t.accountant}` }, SUBSCRIPTION, { after: lastSeq });
      const traffic: Traffic = { killing: false, confirmed: [], acknowledged: [], cutByKill: 0, unexpected: [] };
      const streams = Array.from({ length: WORKERS }, () => approvalStream(at.graphqlUrl, t, amountRandom, traffic));
      const killAfterMs = 300 + Math.floor(killRandom() * 1700);
      await sleep(killAfterMs);
      traffic.killing = true;
      await proc.kill();
      await Promise.all(streams);
      const got = receivedSeqs(sub);
      await sub.dispose();
      received.push(...got.seqs);
      subscriberErrors.push(...got.errors);
      if (got.seqs.length) lastSeq = got.seqs[got.seqs.length - 1];
      confirmed.push(...traffic.confirmed);
      acknowledged.push(...traffic.acknowledged);
      unexpected.push(...traffic.unexpected);
      rounds.push({ life, killAfterMs, confirmed: traffic.confirmed.length, cutByKill: traffic.cutByKill, receivedEvents: got.seqs.length });
    }

    // ---- the last life: no traffic; the pipeline catches up, the subscriber resumes once more ----
    const proc = startAllInOne(env);
    const at = await proc.ready();
    const t = tokens!;
    const sub = wsSubscribe(at.wsUrl, { authorization: `Bearer ${t.accountant}` }, SUBSCRIPTION, { after: lastSeq });
    const restartedAt = Date.now();

    type Approved = { expenseClaims: { totalCount: number; pageInfo: { hasNextPage: boolean }; edges: { node: { id: string; claimNo: string; total: string; approvedAt: string; voucher: { id: string; debitTotal: string } | null; archiveRecord: { id: string; voucher: { id: string } | null } | null } }[] } };
    type Status = { syncStatus: { backlog: number; failed: number; dead: number; position: string; head: string } };
    let status: Status['syncStatus'] | undefined;
    let approved: Approved['expenseClaims'] | undefined;
    for (const deadline = Date.now() + 150_000; ; ) {
      status = (await must<Status>(at.graphqlUrl, t.admin, SYNC_STATUS)).syncStatus;
      approved = (await must<Approved>(at.graphqlUrl, t.accountant, APPROVED_CLAIMS)).expenseClaims;
      const settled = approved.edges.every((e) => e.node.voucher && e.node.archiveRecord);
      if (status.backlog === 0 && status.position === status.head && settled) break;
      if (Date.now() > deadline) {
        const jobs = await gql<Record<string, unknown>>(at.graphqlUrl, t.admin, UNFINISHED_JOBS).catch((err: unknown) => String(err));
        const unfiled = approved.edges.filter((e) => !e.node.voucher || !e.node.archiveRecord).map((e) => e.node.claimNo);
        throw new Error(`the pipeline did not catch up: ${JSON.stringify(status)}; approved claims not filed: ${unfiled.join(', ')}; jobs: ${JSON.stringify(jobs)}`);
      }
      await sleep(100);
    }
    const caughtUpMs = Date.now() - restartedAt;

    // The whole log, paged through the gateway as the subscriber's identity sees it.
    const logged: { seq: string; type: string; claim: { id: string } | null }[] = [];
    for (let after = '000000000000'; ; ) {
      const page = (await must<{ syncEvents: typeof logged }>(at.graphqlUrl, t.accountant, EVENTS_PAGE, { after })).syncEvents;
      if (!page.length) break;
      logged.push(...page);
      after = page[page.length - 1].seq;
    }
    // The head may be a tombstone (a seq drawn by a transaction that did not commit: platform/integration/events.ts).
    expect(Number(logged.at(-1)?.seq)).toBeLessThanOrEqual(Number(status.head));
    const head = logged.at(-1)!.seq;
    // A busy machine can leave the stream in its backoff (up to 30 s) from reads that failed during the restart; in
    // CI, with other suites beside it, 90 s was once not enough (the test's own limit is 300 s).
    await sub.until((r) => events(r).at(-1)?.seq === head, 150_000);
    const last = receivedSeqs(sub);
    received.push(...last.seqs);
    subscriberErrors.push(...last.errors);
    rounds.push({ life: KILLS + 1, killAfterMs: 0, confirmed: 0, cutByKill: 0, receivedEvents: last.seqs.length });
    await sub.dispose();

    const reconciliations = [];
    const periods = [...new Set(approved.edges.map((e) => periodOf(e.node.approvedAt)))].sort();
    for (const p of periods) {
      const [y, m] = p.split('-').map(Number);
      reconciliations.push((await must<{ reconcile: { fiscalYear: number; period: number; approvedClaims: number; vouchers: number; archiveRecords: number; differences: unknown[] } }>(at.graphqlUrl, t.admin, RECONCILE, { y, p: m })).reconcile);
    }
    // Every acknowledged mutation has its audit entry (written in the mutation's own transaction), once.
    const audited = new Map<string, number>();
    for (const deadline = Date.now() + 30_000; ; ) {
      audited.clear();
      for (let after: string | null = null; ; ) {
        const page: AuditPage = (await must<{ auditLog: AuditPage }>(at.graphqlUrl, t.admin, AUDIT_PAGE, { after })).auditLog;
        for (const e of page.entries) if (e.requestId && e.outcome === 'OK') audited.set(e.requestId, (audited.get(e.requestId) ?? 0) + 1);
        after = page.endCursor;
        if (!after) break;
      }
      if (acknowledged.every((id) => audited.has(id)) || Date.now() > deadline) break;
      await sleep(200);
    }
    await proc.kill();

    const cutByKill = rounds.reduce((n, r) => n + r.cutByKill, 0);
    console.log(
      JSON.stringify({
        seed,
        rounds,
        approvedClaims: approved.totalCount,
        confirmedApprovals: confirmed.length,
        events: logged.length,
        cutByKill,
        caughtUpMs,
        totalMs: Date.now() - startedAt,
      }),
    );

    // Nothing went wrong while the process was alive, and the kills did land in the middle of the approvals.
    expect(unexpected).toEqual([]);
    expect(cutByKill).toBeGreaterThan(0);
    expect(confirmed.length).toBeGreaterThan(0);

    expect(acknowledged.filter((id) => !audited.has(id))).toEqual([]);
    expect([...audited.values()].filter((n) => n !== 1)).toEqual([]);
    expect(acknowledged.length).toBeGreaterThanOrEqual(confirmed.length * 4);

    // Every approved claim has its voucher and its archive record, none shared, and the pipeline is done.
    expect(approved.pageInfo.hasNextPage).toBe(false);
    expect(approved.totalCount).toBe(approved.edges.length);
    const approvedIds = approved.edges.map((e) => e.node.id);
    expect(approvedIds).toEqual(expect.arrayContaining(confirmed));
    for (const { node } of approved.edges) {
      expect(node.voucher, node.claimNo).not.toBeNull();
      expect(node.voucher!.debitTotal, node.claimNo).toBe(node.total);
      expect(node.archiveRecord?.voucher?.id, node.claimNo).toBe(node.voucher!.id);
    }
    expect(new Set(approved.edges.map((e) => e.node.voucher!.id)).size).toBe(approved.edges.length);
    expect(new Set(approved.edges.map((e) => e.node.archiveRecord!.id)).size).toBe(approved.edges.length);
    expect(status).toMatchObject({ backlog: 0, failed: 0, dead: 0 });

    // Reconciliation of every period with approvals agrees: no differences, and as many vouchers and records as claims.
    expect(reconciliations.reduce((n, r) => n + r.approvedClaims, 0)).toBe(approved.totalCount);
    for (const r of reconciliations) {
      expect(r.differences).toEqual([]);
      expect(r.vouchers).toBe(r.approvedClaims);
      expect(r.archiveRecords).toBe(r.approvedClaims);
    }

    // The log tells each approved claim's story once: approved, voucher created, filed.
    const count = (type: string) => {
      const n = new Map<string, number>();
      for (const e of logged) if (e.type === type && e.claim) n.set(e.claim.id, (n.get(e.claim.id) ?? 0) + 1);
      return n;
    };
    const [approvals, vouchers, filings] = [count('CLAIM_APPROVED'), count('VOUCHER_CREATED'), count('ARCHIVE_FILED')];
    for (const id of approvedIds) expect([approvals.get(id), vouchers.get(id), filings.get(id)], id).toEqual([1, 1, 1]);
    expect([approvals.size, vouchers.size, filings.size]).toEqual([approvedIds.length, approvedIds.length, approvedIds.length]);

    // The subscriber, resumed after every crash from the last seq it had, got exactly the log: no gap, no duplicate.
    expect(subscriberErrors).toEqual([]);
    expect(new Set(received).size).toBe(received.length);
    for (let i = 1; i < received.length; i++) expect(received[i] > received[i - 1], `${received[i - 1]} then ${received[i]}`).toBe(true);
    expect(received).toEqual(logged.map((e) => e.seq));
    // It did resume: events reached it after a restart, from the `after` it had kept.
    expect(rounds.some((r) => r.life > 1 && r.receivedEvents > 0)).toBe(true);
  });
});

// The "done when": a claim approved through the gateway reaches a graphql-ws subscriber, an SSE subscriber
// and a webhook receiver as CLAIM_APPROVED, VOUCHER_CREATED and ARCHIVE_FILED, with the claim, its applicant, the
// voucher and the archive record resolved from their own subgraphs, and the webhook deliveries signed.
import { type IncomingMessage, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifiesWith, verifyStandard } from '../helpers/standard-webhooks.ts';
import { events, sseSubscribe, wsSubscribe } from '../helpers/subscribers.ts';
import { CREATE_CLAIM, DECIDE, SUBMIT, item, type Org } from '../oa/seed.ts';
import { type Stack, seed, startStack } from './stack.ts';

const SUBSCRIPTION = `subscription($types: [SyncEventType!]) {
  syncEvents(types: $types) {
    seq type occurredAt detail
    claim { claimNo total status applicant { name bankAccount } }
    voucher { voucherNo debitTotal creditTotal }
    archiveRecord { archiveNo retention }
  }
}`;
const TYPES = ['CLAIM_APPROVED', 'VOUCHER_CREATED', 'ARCHIVE_FILED'];

let stack: Stack;
let org: Org;
const deliveries: { headers: IncomingMessage['headers']; body: string }[] = [];
const receiver = createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString('utf8')));
  req.on('end', () => {
    deliveries.push({ headers: req.headers, body });
    res.writeHead(204).end();
  });
});

beforeAll(async () => {
  stack = await startStack({ label: 'sync_e2e' });
  org = await seed(stack);
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
});
afterAll(async () => {
  await stack?.close();
  receiver.close();
});

describe('an approval through the gateway', () => {
  it('reaches graphql-ws and SSE subscribers with federated fields, and a webhook receiver signed', async () => {
    const admin = await stack.token('ops-admin', ['ADMIN']);
    const webhookSecret = 'receiver-shared-secret-0123456789';
    const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/oa`;
    const registered = await stack.gql<{ registerWebhook: { id: string; url: string; types: string[]; active: boolean } }>(
      admin,
      `mutation($url: String!, $types: [SyncEventType!]!, $secret: String!) { registerWebhook(url: $url, types: $types, secret: $secret) { id url types active } }`,
      { url: hookUrl, types: TYPES, secret: webhookSecret },
    );
    expect(registered.errors).toBeUndefined();
    expect(registered.data!.registerWebhook).toMatchObject({ url: hookUrl, types: TYPES, active: true });

    // The accountant reads every claim, voucher and record, and bank accounts in full (docs/domain.md).
    const accountant = await stack.token(org.ids.accountant);
    const ws = wsSubscribe(stack.gateways[0].wsUrl, { authorization: `Bearer ${accountant}` }, SUBSCRIPTION, { types: TYPES });
    const sse = sseSubscribe(stack.gateways[0].sseUrl, { authorization: `Bearer ${accountant}` }, SUBSCRIPTION, { types: TYPES });
    // Both have started (and read the head) once a no-op round trip to the gateway has passed.
    await new Promise((r) => setTimeout(r, 300));

    const alice = await stack.token(org.ids.alice);
    const manager = await stack.token(org.ids.salesManager);
    const created = await stack.gql<{ createExpenseClaim: { id: string; claimNo: string } }>(alice, CREATE_CLAIM, {
      input: { title: 'Client visit', category: 'TRAVEL', items: [item('1234.50', 'INV-E2E-1')] },
    });
    expect(created.errors).toBeUndefined();
    const claim = created.data!.createExpenseClaim;
    expect((await stack.gql(alice, SUBMIT, { id: claim.id })).errors).toBeUndefined();
    expect((await stack.gql(manager, DECIDE, { id: claim.id, d: 'APPROVE' })).errors).toBeUndefined();
    // The finance review completes the route (amounts under the threshold need no director).
    const decided = await stack.gql<{ decideApproval: { status: string } }>(accountant, DECIDE, { id: claim.id, d: 'APPROVE' });
    expect(decided.errors).toBeUndefined();
    expect(decided.data!.decideApproval.status).toBe('APPROVED');

    for (const sub of [ws, sse]) {
      await sub.until((r) => events(r).length >= 3);
      const got = events(sub);
      expect(got.map((e) => e.type)).toEqual(TYPES);
      const seqs = got.map((e) => e.seq as string);
      expect([...seqs].sort()).toEqual(seqs);
      for (const e of got) {
        expect(e.claim).toEqual({ claimNo: claim.claimNo, total: '1234.50', status: 'APPROVED', applicant: { name: 'Alice', bankAccount: null } });
      }
      expect(got[0].voucher).toBeNull();
      expect(got[1].voucher).toMatchObject({ debitTotal: '1234.50', creditTotal: '1234.50' });
      expect(String((got[1].voucher as { voucherNo: string }).voucherNo)).toMatch(/^记-\d{4}-\d{2}-\d{4}$/);
      expect(got[2].archiveRecord).toMatchObject({ retention: 'Y30' });
      expect(String((got[2].archiveRecord as { archiveNo: string }).archiveNo)).toMatch(/^Q001-\d{4}-D30-PZ-\d{5}$/);
      expect(got[1].detail).toContain(claim.claimNo);
      expect(sub.results.every((r) => !r.errors)).toBe(true);
    }
    // Same events, same order, on both transports.
    expect(events(ws).map((e) => e.seq)).toEqual(events(sse).map((e) => e.seq));

    const start = Date.now();
    while (deliveries.length < 3 && Date.now() - start < 10_000) await new Promise((r) => setTimeout(r, 20));
    expect(deliveries).toHaveLength(3);
    // Deliveries run in parallel and may arrive in any order; receivers order them by seq.
    deliveries.sort((a, b) => String(JSON.parse(a.body).event.seq).localeCompare(String(JSON.parse(b.body).event.seq)));
    const bodies = deliveries.map((d) => JSON.parse(d.body) as { deliveryId: string; event: Record<string, unknown> });
    expect(bodies.map((b) => b.event.type)).toEqual(TYPES);
    expect(bodies.map((b) => b.event.seq)).toEqual(events(ws).map((e) => e.seq));
    for (const [i, d] of deliveries.entries()) {
      // Verified as a receiver would, with the Standard Webhooks reference library.
      expect(verifyStandard(webhookSecret, d.headers as Record<string, string>, d.body)).toEqual(bodies[i]);
      expect(d.headers['webhook-id']).toBe(bodies[i].deliveryId);
      expect(bodies[i].event.claimId).toBe(claim.id);
      // The wrong secret does not verify.
      expect(verifiesWith('another-secret-0123456789abcdef', d.headers as Record<string, string>, d.body)).toBe(false);
    }
    expect(bodies[1].event.voucherId).toBeTruthy();
    expect(bodies[2].event.archiveRecordId).toBeTruthy();

    await ws.dispose();
    await sse.dispose();
  });
});

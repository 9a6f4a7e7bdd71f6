// OA platform events end to end: a signed, encrypted Feishu event posted to the oa subgraph's HTTP port becomes
// a real expense claim with its domain events; unmappable events are kept as REJECTED for ADMIN.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { signPrincipal } from '../../platform/identity.ts';
import type { RunningSubgraph } from '../../platform/subgraph.ts';
import type { InstanceDetail } from '../../subgraphs/oa/connectors/types.ts';
import { FakeDetails, feishuV1 } from '../connectors/helpers.ts';
import { postFeishu, startFeishuOa } from './feishu.ts';
import { ADMIN, SECRET, codes, ok, useOaSubgraph } from './fixture.ts';
import { seedOrg } from './seed.ts';

const oa = useOaSubgraph('oa_connectors');
const ENCRYPT_KEY = 'fs-encrypt-key-integration-7d1e';
const TOKEN = 'fs-verification-token-integration';
const dir = mkdtempSync(path.join(tmpdir(), 'oa-connectors-'));
let withConnectors: RunningSubgraph | undefined;
afterAll(async () => {
  await withConnectors?.close();
  rmSync(dir, { recursive: true, force: true });
});

const detail = (user: string, amount: string, invoice: string): InstanceDetail => ({
  externalUserId: user,
  title: 'Client visit',
  form: [
    { name: 'reason', value: 'Client visit in Shanghai' },
    { name: 'lines', value: [[{ name: 'what', value: 'Train ticket' }, { name: 'amount', value: amount }, { name: 'date', value: '2026-11-02' }, { name: 'invoice', value: invoice }]] },
  ],
});

const post = (url: string, event: unknown) => postFeishu(url, event, ENCRYPT_KEY);

describe('Feishu events through the oa subgraph', () => {
  it('files an approved claim once, with its events, and keeps unmappable events as REJECTED for ADMIN', async () => {
    const org = await seedOrg(oa, '-fs');
    const details = new FakeDetails();
    details.set('feishu', 'INST-OK', detail('fs-alice', '553.50', 'FS-INV-1'));
    details.set('feishu', 'INST-NOBODY', detail('fs-stranger', '10.00', 'FS-INV-2'));
    details.set('feishu', 'INST-SAME-INVOICE', detail('fs-alice', '553.50', 'FS-INV-1'));
    const feishu = await startFeishuOa({ connection: oa.connection, dir, alice: org.ids.alice, details, encryptKey: ENCRYPT_KEY, token: TOKEN });
    withConnectors = feishu.running;
    const url = feishu.url;
    const now = Date.now();

    // Unsigned: 401, nothing stored.
    const unsigned = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ encrypt: 'x' }) });
    expect(unsigned.status).toBe(401);

    const approved = feishuV1({ uuid: 'fs-ev-1', token: TOKEN, instanceCode: 'INST-OK', approvalCode: 'APPROVAL-TRAVEL', status: 'APPROVED', operateTime: now - 1000 });
    expect(await post(url, approved)).toMatchObject({ status: 200, body: { status: 'APPLIED' } });
    // The same event again, and an older PENDING one that arrives late: nothing changes.
    expect((await post(url, approved)).status).toBe(200);
    const late = feishuV1({ uuid: 'fs-ev-0', token: TOKEN, instanceCode: 'INST-OK', approvalCode: 'APPROVAL-TRAVEL', status: 'PENDING', operateTime: now - 5000 });
    expect(await post(url, late)).toMatchObject({ status: 200, body: { status: 'STALE' } });

    const claims = await oa.services.models.ExpenseClaim.find({ 'external.instanceCode': 'INST-OK' }).lean();
    expect(claims).toHaveLength(1);
    expect(claims[0]).toMatchObject({ status: 'APPROVED', applicantId: org.ids.alice, departmentId: org.sales, category: 'TRAVEL', totalFen: 55350, title: 'Client visit in Shanghai' });
    expect(claims[0].items).toEqual([{ description: 'Train ticket', amountFen: 55350, occurredOn: '2026-11-02', invoiceNo: 'FS-INV-1' }]);
    const events = await oa.services.events.forSubject({ type: 'ExpenseClaim', id: claims[0]._id.toHexString() });
    expect(events.map((e) => [e.type, e.actor])).toEqual([
      ['CLAIM_SUBMITTED', 'connector:feishu'],
      ['CLAIM_APPROVED', 'connector:feishu'],
    ]);
    // The booked invoice protects against the same invoice being claimed again in our own OA.
    const dup = await oa.gql(org.as.bob, 'mutation { createExpenseClaim(input: { title: "t", category: TRAVEL, items: [{ description: "d", amount: "1.00", occurredOn: "2026-11-02", invoiceNo: "FS-INV-1" }] }) { id } }');
    expect(codes(dup)).toEqual(['CONFLICT']);

    const unknownUser = feishuV1({ uuid: 'fs-ev-2', token: TOKEN, instanceCode: 'INST-NOBODY', approvalCode: 'APPROVAL-TRAVEL', status: 'APPROVED', operateTime: now });
    expect(await post(url, unknownUser)).toMatchObject({ status: 200, body: { status: 'REJECTED' } });

    // A second instance claiming the same invoice is refused by the OA's rules and kept as REJECTED, naming the claim.
    const sameInvoice = feishuV1({ uuid: 'fs-ev-3', token: TOKEN, instanceCode: 'INST-SAME-INVOICE', approvalCode: 'APPROVAL-TRAVEL', status: 'PENDING', operateTime: now });
    expect(await post(url, sameInvoice)).toMatchObject({ status: 200, body: { status: 'REJECTED' } });

    const listQuery = 'query($s: InboundEventStatus) { inboundEvents(status: $s) { totalCount edges { node { eventId status reason claim { id } } } } }';
    const client = async (who: typeof ADMIN) => {
      const body = JSON.stringify({ query: listQuery, variables: { s: 'REJECTED' } });
      const headers = { 'content-type': 'application/json', 'x-internal-identity': await signPrincipal(who, SECRET, { audience: 'oa', method: 'POST', body }) };
      const res = await fetch(withConnectors!.url, { method: 'POST', headers, body });
      return (await res.json()) as { data?: { inboundEvents: { totalCount: number; edges: Array<{ node: { eventId: string; status: string; reason: string } }> } }; errors?: Array<{ extensions: { code: string } }> };
    };
    const rejected = await client(ADMIN);
    expect(rejected.data!.inboundEvents.totalCount).toBe(2);
    const [invoiceRefusal, unknown] = rejected.data!.inboundEvents.edges.map((e) => e.node);
    expect(unknown).toMatchObject({ eventId: 'fs-ev-2', status: 'REJECTED' });
    expect(unknown.reason).toContain('fs-stranger');
    expect(invoiceRefusal).toMatchObject({ eventId: 'fs-ev-3', status: 'REJECTED' });
    expect(invoiceRefusal.reason).toContain(`invoice FS-INV-1 is already booked on claim ${claims[0].claimNo}`);
    expect(await oa.services.models.ExpenseClaim.countDocuments({ 'external.instanceCode': 'INST-SAME-INVOICE' })).toBe(0);
    const notAdmin = await client(org.as.accountant);
    expect(notAdmin.errors!.map((e) => e.extensions.code)).toEqual(['FORBIDDEN']);
    // Without connectors configured, the list is simply empty.
    expect(ok(await oa.gql<{ inboundEvents: { totalCount: number } }>(ADMIN, '{ inboundEvents { totalCount } }')).inboundEvents.totalCount).toBe(0);
  });
});

// The text policy applied to what an OA platform sends (issue 13): a signed Feishu event whose form holds hostile
// text is kept REJECTED with the reason and creates no claim; clean right-to-left text and emoji are applied, NFC.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunningSubgraph } from '../../platform/subgraph.ts';
import { applyExternalClaim } from '../../subgraphs/oa/claims.ts';
import { InboundEventStore } from '../../subgraphs/oa/connectors/inbound.ts';
import type { InstanceDetail } from '../../subgraphs/oa/connectors/types.ts';
import { FakeDetails, feishuV1 } from '../connectors/helpers.ts';
import { postFeishu, startFeishuOa } from './feishu.ts';
import { useOaSubgraph } from './fixture.ts';
import { seedOrg } from './seed.ts';

const oa = useOaSubgraph('oa_connector_text');
const ENCRYPT_KEY = 'fs-encrypt-key-text-policy-4c2a';
const TOKEN = 'fs-verification-token-text-policy';
const dir = mkdtempSync(path.join(tmpdir(), 'oa-connector-text-'));
let withConnectors: RunningSubgraph | undefined;
afterAll(async () => {
  await withConnectors?.close();
  rmSync(dir, { recursive: true, force: true });
});

const detail = (reason: string, what: string, invoice: string): InstanceDetail => ({
  externalUserId: 'fs-alice',
  title: 'Expense',
  form: [
    { name: 'reason', value: reason },
    { name: 'lines', value: [[{ name: 'what', value: what }, { name: 'amount', value: '42.00' }, { name: 'date', value: '2026-11-02' }, { name: 'invoice', value: invoice }]] },
  ],
});

const post = (url: string, event: unknown) => postFeishu(url, event, ENCRYPT_KEY);

describe('Feishu events with hostile text', () => {
  it('keeps them REJECTED with the reason and creates no claim; applies clean RTL text and emoji as NFC', async () => {
    const org = await seedOrg(oa, '-ct');
    const details = new FakeDetails();
    details.set('feishu', 'INST-BIDI', detail('Taxi\u202Eexe.pdf', 'Taxi', 'CT-INV-1'));
    details.set('feishu', 'INST-NUL', detail('Taxi', 'Airport\u0000transfer', 'CT-INV-2'));
    details.set('feishu', 'INST-OK', detail('נסיעה לחיפה 🚕 Cafe\u0301', 'Taxi\n出租车', 'CT-INV-3'));
    const feishu = await startFeishuOa({ connection: oa.connection, dir, alice: org.ids.alice, details, encryptKey: ENCRYPT_KEY, token: TOKEN });
    withConnectors = feishu.running;
    const url = feishu.url;
    const event = (uuid: string, instanceCode: string) =>
      feishuV1({ uuid, token: TOKEN, instanceCode, approvalCode: 'APPROVAL-TRAVEL', status: 'APPROVED', operateTime: Date.now() - 1000 });

    expect(await post(url, event('ct-ev-1', 'INST-BIDI'))).toMatchObject({ status: 200, body: { status: 'REJECTED' } });
    expect(await post(url, event('ct-ev-2', 'INST-NUL'))).toMatchObject({ status: 200, body: { status: 'REJECTED' } });
    expect(await post(url, event('ct-ev-3', 'INST-OK'))).toMatchObject({ status: 200, body: { status: 'APPLIED' } });

    const store = new InboundEventStore(oa.connection);
    const bidi = await store.get('feishu', 'ct-ev-1');
    expect(bidi).toMatchObject({ status: 'REJECTED', reasonCode: 'INVALID_TEXT', claimId: null });
    expect(bidi!.reason).toBe('field "reason": title contains the bidirectional control U+202E at position 5');
    const nul = await store.get('feishu', 'ct-ev-2');
    expect(nul).toMatchObject({ status: 'REJECTED', reasonCode: 'INVALID_TEXT', claimId: null });
    expect(nul!.reason).toBe('row 1 of "lines": field "what": description contains the control character U+0000 at position 8');
    // Nothing half-applied: no claim, no booked invoice, no domain event for the refused instances.
    expect(await oa.services.models.ExpenseClaim.countDocuments({ 'external.instanceCode': { $in: ['INST-BIDI', 'INST-NUL'] } })).toBe(0);
    expect(await oa.services.models.InvoiceBooking.countDocuments({ _id: { $in: ['CT-INV-1', 'CT-INV-2'] } })).toBe(0);

    const applied = await oa.services.models.ExpenseClaim.findOne({ 'external.instanceCode': 'INST-OK' }).lean();
    expect(applied).toMatchObject({ status: 'APPROVED', title: 'נסיעה לחיפה 🚕 Café' });
    expect(applied!.items.map((i) => i.description)).toEqual(['Taxi\n出租车']);
  });

  it('has the claim sink refuse hostile text itself, applying nothing', async () => {
    const org = await seedOrg(oa, '-cs');
    const before = await oa.services.models.ExpenseClaim.countDocuments();
    const result = await applyExternalClaim(oa.services, {
      source: { platform: 'feishu', instanceCode: 'INST-SINK', approvalCode: 'APPROVAL-TRAVEL' },
      applicantId: org.ids.alice,
      category: 'TRAVEL',
      title: 'Taxi\tShanghai',
      items: [{ description: 'Taxi', amountFen: 4200, occurredOn: '2026-11-02', invoiceNo: 'CS-INV-1' }],
      status: 'APPROVED',
      eventTime: new Date(),
    });
    expect(result).toEqual({ claimId: '', applied: false, refused: true, reason: 'title contains the control character U+0009 at position 5' });
    expect(await oa.services.models.ExpenseClaim.countDocuments()).toBe(before);
    expect(await oa.services.models.InvoiceBooking.countDocuments({ _id: 'CS-INV-1' })).toBe(0);
  });
});

// The audit trail sealed with the archive's key (subgraphs/operations/audit/trail.ts): its head sealed after each
// append, its tail cut together with its counter found against the seal; and each head the archive seals written into
// the trail as an entry by the archive (subgraphs/archive/seal-audit.ts).
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ed25519Key, readSealFile, sealFileOf } from '../../platform/integration/chain-seal.ts';
import { servicePrincipal } from '../../platform/identity.ts';
import { AUDIT_CHAIN } from '../../subgraphs/operations/audit/trail.ts';
import { archivist } from '../archive/fixture.ts';
import { signedGraphql } from '../helpers/graphql.ts';
import { SECRET, ok, user } from '../oa/fixture.ts';
import { type Stack, startStack } from './stack.ts';

const VERIFY = '{ verifyAuditLog { valid checked firstBrokenSeq problem } }';
const LOG = 'query($source: String) { auditLog(source: $source, first: 200) { entries { seq actor action } } }';
const RECORD = 'mutation($entries: [AuditEntryInput!]!) { recordAudit(entries: $entries) }';
const FILE = 'mutation($i: FileRecordInput!) { fileArchiveRecord(input: $i) { id archiveNo } }';
const AUDITOR = user('auditor-1', ['AUDITOR']);

let stack: Stack;
let sealDir: string;

beforeAll(async () => {
  sealDir = path.join(await mkdtemp(path.join(tmpdir(), 'audit-seals-')), 'seals');
  stack = await startStack({ label: 'sync_audit_seal', seal: { key: ed25519Key(generateKeyPairSync('ed25519').privateKey), dir: sealDir } });
}, 60_000);
afterAll(async () => stack?.close());

// Straight to the sync subgraph: nothing the gateway would record about these calls lands in the trail meanwhile.
const sync = <T>(who: Parameters<typeof signedGraphql>[2], query: string, variables?: Record<string, unknown>) => signedGraphql<T>({ url: stack.sync.url, audience: 'sync' }, SECRET, who, query, variables);
const verify = async () => ok(await sync<{ verifyAuditLog: Record<string, unknown> }>(AUDITOR, VERIFY)).verifyAuditLog;
const entries = async (source: string) => ok(await sync<{ auditLog: { entries: Array<{ seq: number; actor: string; action: string }> } }>(AUDITOR, LOG, { source })).auditLog.entries;

async function until<T>(probe: () => Promise<T | undefined>, what: string): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

describe('the archive writes its sealed heads into the audit trail', () => {
  it('a filing seals the records chain, and that head appears in the trail as the archive entry naming it', async () => {
    const input = { kind: 'TAX_RETURN', title: 'VAT return', fiscalYear: 2025, content: '{"n":1}', mediaType: 'application/json' };
    const filed = ok(await signedGraphql<{ fileArchiveRecord: { archiveNo: string } }>({ url: stack.archiveUrl, audience: 'archive' }, SECRET, archivist(), FILE, { i: input })).fileArchiveRecord;
    const head = (await readSealFile(sealFileOf(sealDir, 'archive_records')))!.at(-1)!;
    expect(head).toMatchObject({ seq: 1, label: filed.archiveNo });
    const entry = await until(async () => (await entries('archive')).find((e) => e.action.includes('archive_records')), 'the archive head entry');
    expect(entry).toMatchObject({ actor: 'archive', action: `sealed head archive_records seq 1 digest ${head.digest} archiveNo ${filed.archiveNo}` });
  });
});

describe('the audit trail sealed', () => {
  it('seals its head after each append; its tail cut with the counter is found against the seal', async () => {
    const at = new Date().toISOString();
    const batch = [0, 1, 2].map((i) => ({ at, actor: `user-${i}`, roles: [], address: null, action: 'mutation createDepartment', operationName: null, outcome: 'OK', durationMs: 3 }));
    expect(ok(await sync<{ recordAudit: number }>(servicePrincipal('gateway'), RECORD, { entries: batch })).recordAudit).toBe(3);
    const log = stack.connection.db!.collection<{ seq: number }>('audit_log');
    const newest = (await log.find().sort({ seq: -1 }).limit(1).toArray())[0].seq;
    // Sealed once the append committed, before recordAudit answered.
    expect((await readSealFile(sealFileOf(sealDir, AUDIT_CHAIN)))!.at(-1)).toMatchObject({ chain: AUDIT_CHAIN, seq: newest });
    expect(await verify()).toEqual({ valid: true, checked: newest, firstBrokenSeq: null, problem: null });

    // Whoever holds the database removes the newest entry and sets the counter back: the chain alone still holds.
    await log.deleteOne({ seq: newest });
    await stack.connection.db!.collection<{ _id: string; seq: number }>('counters').updateOne({ _id: AUDIT_CHAIN }, { $set: { seq: newest - 1 } });
    expect(await verify()).toEqual({ valid: false, checked: newest - 1, firstBrokenSeq: newest - 1, problem: 'REMOVED' });
  });
});

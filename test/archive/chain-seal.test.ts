// Sealed chain heads (platform/integration/chain-seal.ts, subgraphs/archive/seals.ts) against a holder of the database
// who rewrites the chains to the end, cuts the newest record with every counter fixed, or cuts the seal file; the
// auditor's check with the public key alone; and an archive from before seals, sealed from its current head.
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Connection } from 'mongoose';
import { describe, expect, it } from 'vitest';
import { ChainSeal, PUBLIC_KEY_FILE, type SealedHead, checkSeals, ed25519Verifier, hmacKey, loadSealKey, readLastJsonLine, readSealFile, sealFileOf } from '../../platform/integration/chain-seal.ts';
import type { ArchiveRecordDoc } from '../../subgraphs/archive/models.ts';
import { type ArchiveSealOptions, ArchiveSeals } from '../../subgraphs/archive/seals.ts';
import { until } from '../helpers/wait.ts';
import { ok } from '../oa/fixture.ts';
import { archivist, auditor, useArchiveSubgraph } from './fixture.ts';
import { archiveSnapshot, cutNewest, fileOldRecords, rewriteChains } from './tamper.ts';

const VERIFY = '{ verifyArchiveChain { ok checked firstBrokenArchiveNo problem } }';
type Verification = { ok: boolean; checked: number; firstBrokenArchiveNo: string | null; problem: string | null };

/** An Ed25519 key in a PEM file (mode 0600) and a seal directory, both fresh. */
async function sealSetup(): Promise<ArchiveSealOptions> {
  const dir = await mkdtemp(path.join(tmpdir(), 'archive-seals-'));
  const file = path.join(dir, 'key', 'seal.pem');
  const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, pem, { mode: 0o600 });
  const sealDir = path.join(dir, 'seals');
  return { key: await loadSealKey({ kind: 'ed25519-file', file }, sealDir), dir: sealDir };
}

describe('sealed chain heads', () => {
  let seal: ArchiveSealOptions;
  const archive = useArchiveSubgraph('archive_chain_seal', undefined, async () => (seal = await sealSetup()));
  const verify = async () => ok(await archive.gql<{ verifyArchiveChain: Verification }>(auditor, VERIFY)).verifyArchiveChain;
  const db = () => archive.connection.db!;

  /** Every collection a tampering touches, and the seal file, as they are now. */
  async function snapshot(): Promise<() => Promise<void>> {
    const chains = await archiveSnapshot(archive.connection);
    const file = sealFileOf(seal.dir, 'archive_records');
    const sealText = await readFile(file, 'utf8');
    return async () => {
      await chains();
      await writeFile(file, sealText);
    };
  }

  it('finds each tampering the database alone cannot show, naming the first record affected', async () => {
    const FILE = `mutation($i: FileRecordInput!) { fileArchiveRecord(input: $i) { id archiveNo } }`;
    const filed: Array<{ id: string; archiveNo: string }> = [];
    for (let i = 0; i < 4; i++) {
      const input = { kind: 'TAX_RETURN', title: `VAT return ${i}`, fiscalYear: 2025, content: `{"n":${i}}`, mediaType: 'application/json' };
      filed.push(ok(await archive.gql<{ fileArchiveRecord: { id: string; archiveNo: string } }>(archivist(), FILE, { i: input })).fileArchiveRecord);
    }
    expect(await verify()).toEqual({ ok: true, checked: 4, firstBrokenArchiveNo: null, problem: null });

    // A head sealed at every filing, each naming the one before, in the file outside the database.
    const heads = (await readSealFile(sealFileOf(seal.dir, 'archive_records')))!;
    expect(heads.map((h) => [h!.seq, h!.label, h!.alg])).toEqual(filed.map((f, i) => [i + 1, f.archiveNo, 'Ed25519']));
    // The check reads a chain's newest copy off the { chain, seq } index: one copy, not every seal of every chain.
    const newest = await db().collection('chain_seals').find({ chain: 'archive_records' }).sort({ seq: -1 }).limit(1).explain('executionStats');
    expect(newest.executionStats.totalDocsExamined).toBe(1);
    expect(JSON.stringify(newest.queryPlanner.winningPlan)).toContain('chain_seals_newest');
    expect(heads[0]!.previous).toBeNull();

    // An auditor with the public key alone verifies the seals against the records; another key does not.
    const publicKey = ed25519Verifier(await readFile(path.join(seal.dir, PUBLIC_KEY_FILE), 'utf8'));
    const records = await db().collection<ArchiveRecordDoc>('archive_records').find({}, { sort: { chainSeq: 1 } }).toArray();
    const view = { digestAt: (s: number) => records.find((r) => r.chainSeq === s)?.fixity.digest };
    expect(checkSeals(publicKey, 'archive_records', heads, null, view)).toEqual({ state: 'SEALED', sealedSeq: 4, firstAffectedSeq: null, firstAffectedLabel: null, problem: null });
    expect(checkSeals(hmacKey('x'.repeat(32)), 'archive_records', heads, null, view)).toMatchObject({ state: 'BROKEN', firstAffectedSeq: 1, problem: 'SEAL_BROKEN' });
    expect(JSON.stringify(heads)).not.toContain('PRIVATE');

    const restore = await snapshot();
    // An edit with both chains recomputed to the end (and the counters untouched): only the seals show it.
    await rewriteChains(archive.connection, filed[1].archiveNo, '{"n":999}');
    expect(await verify()).toEqual({ ok: false, checked: 4, firstBrokenArchiveNo: filed[1].archiveNo, problem: 'CHANGED' });
    await restore();
    expect(await verify()).toMatchObject({ ok: true });

    // The newest record and its history removed, every counter set back.
    await cutNewest(archive.connection);
    expect(await verify()).toEqual({ ok: false, checked: 3, firstBrokenArchiveNo: filed[3].archiveNo, problem: 'REMOVED' });
    // …and its seals cut from the file as well: the database's signed copy of the newest head shows the file cut.
    const file = sealFileOf(seal.dir, 'archive_records');
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
    await writeFile(file, `${lines.slice(0, 3).join('\n')}\n`);
    expect(await verify()).toMatchObject({ ok: false, problem: 'SEAL_BROKEN' });
    await restore();
    expect(await verify()).toMatchObject({ ok: true });

    // The seal file alone cut short.
    await writeFile(file, `${lines.slice(0, 2).join('\n')}\n`);
    expect(await verify()).toEqual({ ok: false, checked: 4, firstBrokenArchiveNo: filed[2].archiveNo, problem: 'SEAL_BROKEN' });
    // A head edited in the file: its signature no longer holds.
    await writeFile(file, [...lines.slice(0, 2), lines[2].replace(/"seq":3/, '"seq":5'), lines[3]].join('\n') + '\n');
    expect(await verify()).toMatchObject({ ok: false, firstBrokenArchiveNo: filed[2].archiveNo, problem: 'SEAL_BROKEN' });
    await restore();
    expect(await verify()).toMatchObject({ ok: true });
  });

  it('seals the access log: its newest entry removed with the counter set back is found', async () => {
    const [record] = await db().collection<ArchiveRecordDoc>('archive_records').find({}, { sort: { chainSeq: 1 }, limit: 1 }).toArray();
    const READ = 'mutation($id: ID!) { readArchiveContent(recordId: $id, purpose: "year-end audit") { accessLogSeq } }';
    for (let i = 0; i < 2; i++) ok(await archive.gql(auditor, READ, { id: record._id.toHexString() }));
    // What the archive's timer does: seal heads moved by reads.
    await archive.services.seals!.sealAll();
    const VERIFY_LOG = '{ verifyAccessLog { ok checked firstBrokenSeq problem } }';
    const verifyLog = async () => ok(await archive.gql<{ verifyAccessLog: Record<string, unknown> }>(auditor, VERIFY_LOG)).verifyAccessLog;
    expect(await verifyLog()).toEqual({ ok: true, checked: 2, firstBrokenSeq: null, problem: null });
    await db().collection('archive_access_log').deleteOne({ seq: 2 });
    await db().collection<{ _id: string; seq: number }>('counters').updateOne({ _id: 'archive_access_log' }, { $set: { seq: 1 } });
    expect(await verifyLog()).toEqual({ ok: false, checked: 1, firstBrokenSeq: 2, problem: 'REMOVED' });
  });
});

/** Four records as a release before seals filed them. */
const filedBeforeSeals = async (connection: Connection): Promise<void> => void (await fileOldRecords(connection));

describe('an archive from before seals', () => {
  let seal: ArchiveSealOptions;
  const archive = useArchiveSubgraph('archive_chain_seal_legacy', filedBeforeSeals, async () => (seal = await sealSetup()));

  it('verifies as before and is sealed from its current head on', async () => {
    expect(ok(await archive.gql<{ verifyArchiveChain: Verification }>(auditor, VERIFY)).verifyArchiveChain).toEqual({ ok: true, checked: 4, firstBrokenArchiveNo: null, problem: null });
    const heads = (await readSealFile(sealFileOf(seal.dir, 'archive_records')))!;
    expect(heads.map((h) => [h!.seq, h!.label, h!.previous])).toEqual([[4, 'Q001-2015-10Y-QT-00004', null]]);
    // Without any seal the state is "not sealed yet", which is no failure.
    expect(checkSeals(seal.key, 'archive_records', null, null, { digestAt: () => undefined })).toMatchObject({ state: 'NOT_SEALED_YET', problem: null });
    // Rewritten before the first head: the seal cannot say which record, only that none before it is vouched for.
    await rewriteChains(archive.connection, 'Q001-2015-10Y-QT-00002', '{"old":"edited"}');
    expect(ok(await archive.gql<{ verifyArchiveChain: Verification }>(auditor, VERIFY)).verifyArchiveChain).toEqual({ ok: false, checked: 4, firstBrokenArchiveNo: 'Q001-2015-10Y-QT-00001', problem: 'CHANGED' });
  });
});

describe('the newest seal, read from the end of the seal file', () => {
  const valid = (h: { seq?: unknown }) => Number.isSafeInteger(h.seq);

  it('finds the last line of a file far larger than its first window, whatever ends it', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'seal-tail-'));
    const file = path.join(dir, 'chain.seals.jsonl');
    expect(await readLastJsonLine(file, valid)).toBeNull(); // no file
    await writeFile(file, '');
    expect(await readLastJsonLine(file, valid)).toBeNull();
    // 40,000 lines (about 2.7 MB), the last one longer than the 16 KiB first window, with multi-byte text.
    const lines = Array.from({ length: 40_000 }, (_, i) => JSON.stringify({ seq: i, label: `记-${i}` }));
    lines.push(JSON.stringify({ seq: 40_000, label: '凭证'.repeat(20_000) }));
    await writeFile(file, `${lines.join('\n')}\n`);
    expect(await readLastJsonLine(file, valid)).toEqual({ seq: 40_000, label: '凭证'.repeat(20_000) });
    await writeFile(file, `${lines.slice(0, 3).join('\n')}\r\n\n  \n`); // trailing blank lines and CRLF
    expect(await readLastJsonLine(file, valid)).toEqual({ seq: 2, label: '记-2' });
    await writeFile(file, lines[0]); // one line, no line feed
    expect(await readLastJsonLine(file, valid)).toEqual({ seq: 0, label: '记-0' });
    await writeFile(file, `${lines[0]}\n{"seq": "one"}\n`); // not a head
    expect(await readLastJsonLine(file, valid)).toBeNull();
    await writeFile(file, `${lines[0]}\n{"seq": 1, "lab`); // torn
    expect(await readLastJsonLine(file, valid)).toBeNull();
    // What the whole-file reader says of its last line, for each of these.
    expect((await readSealFile(file))!.at(-1)).toBeNull();
  });
});

describe('sealing under load', () => {
  let seal: ArchiveSealOptions;
  const archive = useArchiveSubgraph('archive_chain_seal_load', undefined, async () => (seal = await sealSetup()));

  it('callers arriving while a seal runs share the next one, which seals the newest head', async () => {
    let seq = 1;
    let release: (() => void) | null = null;
    const head = async () => {
      // The first read waits until the test lets it go: the seal is running while the others arrive.
      if (release === null) await new Promise<void>((r) => (release = r));
      return { seq, digest: `d${seq}`, label: `L${seq}` };
    };
    const chain = new ChainSeal({ chain: 'load_test', key: seal.key, dir: seal.dir, connection: archive.connection, head });
    const first = chain.seal();
    await until(() => release !== null, 'the first seal to read the head');
    seq = 5; // four appends committed while the first seal runs
    const waiting = [chain.seal(), chain.seal(), chain.seal(), chain.seal()];
    release!();
    const [a, ...rest] = await Promise.all([first, ...waiting]);
    expect(a).toMatchObject({ seq: 5 }); // the first read after the appends
    // The four share one seal, which found the head sealed already: nothing more to write.
    expect(rest).toEqual([null, null, null, null]);
    expect((await readSealFile(sealFileOf(seal.dir, 'load_test')))!.map((h) => h!.seq)).toEqual([5]);

    seq = 6;
    const [b, c] = await Promise.all([chain.seal(), chain.seal()]);
    expect(b).toMatchObject({ seq: 6, previous: expect.any(String) });
    expect(c).toBe(b); // one seal for both
    expect((await readSealFile(sealFileOf(seal.dir, 'load_test')))!.map((h) => h!.seq)).toEqual([5, 6]);
  });

  it('a filing waits for its seal in the file, not for the audit trail, which gets every head once and in order', async () => {
    const announced: SealedHead[][] = [];
    let open: () => void = () => undefined;
    const gate = new Promise<void>((r) => (open = r));
    // Its own seal directory: the subgraph's seals (in seal.dir) run on the same chains.
    const dir = await mkdtemp(path.join(tmpdir(), 'archive-seals-announce-'));
    const seals = new ArchiveSeals(archive.connection, {
      ...seal,
      dir,
      announce: async (heads) => {
        announced.push(heads);
        await gate; // the audit trail does not answer yet
      },
    });
    const records = archive.connection.db!.collection('archive_records');
    const FILE = `mutation($i: FileRecordInput!) { fileArchiveRecord(input: $i) { id archiveNo } }`;
    for (let i = 0; i < 3; i++) {
      ok(await archive.gql(archivist(), FILE, { i: { kind: 'TAX_RETURN', title: `return ${i}`, fiscalYear: 2025, content: `{"n":${i}}`, mediaType: 'application/json' } }));
      // This instance seals as a filing does; it answers while the first announcement still hangs.
      await seals.sealAll();
    }
    const newest = (await records.find().sort({ chainSeq: -1 }).limit(1).next())!.chainSeq as number;
    expect((await readSealFile(sealFileOf(dir, 'archive_records')))!.at(-1)).toMatchObject({ seq: newest });
    expect(announced).toHaveLength(1); // one call in flight; the heads sealed since wait for it
    open();
    await seals.announced();
    const chains = announced.flat().filter((h) => h.chain === 'archive_records').map((h) => h.seq);
    expect(chains).toEqual([...chains].sort((x, y) => x - y));
    expect(new Set(chains).size).toBe(chains.length);
    expect(chains.at(-1)).toBe(newest);
    expect(announced.length).toBe(2); // what waited went in one call
  });
});

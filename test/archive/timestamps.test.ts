// Sealed heads time-stamped by an RFC 3161 authority (platform/integration/timestamp-authority.ts, head-timestamps.ts)
// against a local TSA the test starts (test/helpers/local-tsa.ts): tokens verify against the TSA's root only, replies
// for another request or another datum are refused, filing never waits for the TSA (down, slow, refusing), a token
// swapped in the seal directory is found by verifyArchiveChain, and `npm run verify-seals --tsa-cert` checks every token.
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLIC_KEY_FILE, loadSealKey, readSealFile, sealFileOf } from '../../platform/integration/chain-seal.ts';
import { readTimestampFile, stampedDatum, timestampFileOf } from '../../platform/integration/head-timestamps.ts';
import { ConfigError, loadConfig } from '../../platform/config.ts';
import { TimestampError, loadTimestampAuthority, parseCertificates, timestampAuthority, verifyTimestamp } from '../../platform/integration/timestamp-authority.ts';
import type { ArchiveSealOptions } from '../../subgraphs/archive/seals.ts';
import { repoRoot } from '../engine/child.ts';
import { type LocalTsa, startLocalTsa } from '../helpers/local-tsa.ts';
import { ok } from '../oa/fixture.ts';
import { archivist, auditor, useArchiveSubgraph } from './fixture.ts';

const VERIFY = '{ verifyArchiveChain { ok checked firstBrokenArchiveNo problem timestampedArchiveNo timestampedAt } }';
const FILE = `mutation($i: FileRecordInput!) { fileArchiveRecord(input: $i) { id archiveNo } }`;
type Verification = { ok: boolean; checked: number; firstBrokenArchiveNo: string | null; problem: string | null; timestampedArchiveNo: string | null; timestampedAt: string | null };

let tsa: LocalTsa;
beforeAll(async () => {
  tsa = await startLocalTsa();
});
afterAll(() => tsa.close());

describe('RFC 3161 client', () => {
  const authority = () => timestampAuthority({ url: tsa.url, trusted: parseCertificates(tsa.rootPem), timeoutMs: 5_000 });

  it('gets a token that verifies for its datum against the TSA root, and for nothing else', async () => {
    tsa.mode = 'ok';
    const datum = Buffer.from('{"chain":"archive_records","seq":1}');
    const before = Date.now();
    const stamp = await authority().stamp(datum);
    expect(stamp.signer).toBe('CN=Local Test TSA');
    expect(stamp.genTime.getTime()).toBeGreaterThanOrEqual(before - 1_000);
    expect(stamp.serial).toMatch(/^[0-9a-f]{20}$/);
    // Verified again from the DER alone, as an auditor does years later.
    expect((await verifyTimestamp(stamp.token, datum, parseCertificates(tsa.rootPem))).genTime).toEqual(stamp.genTime);
    await expect(verifyTimestamp(stamp.token, Buffer.from('another datum'), parseCertificates(tsa.rootPem))).rejects.toThrow(TimestampError);
    // A token that chains to another root proves nothing to us.
    await expect(verifyTimestamp(stamp.token, datum, parseCertificates(tsa.strangerPem))).rejects.toThrow(/does not verify/);
    await expect(verifyTimestamp(stamp.token.subarray(0, stamp.token.length - 9), datum, parseCertificates(tsa.rootPem))).rejects.toThrow(TimestampError);
  });

  it('refuses a reply for another request, a refusal and an HTTP error, each saying why', async () => {
    const datum = Buffer.from('x');
    tsa.mode = 'wrong-nonce';
    await expect(authority().stamp(datum)).rejects.toThrow('the TSA answered another request (nonce differs)');
    tsa.mode = 'refuse';
    await expect(authority().stamp(datum)).rejects.toThrow('the TSA refused the request (PKIStatus 2)');
    tsa.mode = 'http-500';
    await expect(authority().stamp(datum)).rejects.toThrow('the TSA answered HTTP 500');
    tsa.mode = 'ok';
    await expect(timestampAuthority({ url: 'http://127.0.0.1:1/tsa', trusted: [], timeoutMs: 2_000 }).stamp(datum)).rejects.toThrow(/the TSA is unreachable/);
  });
});

describe('configuration', () => {
  it('takes the TSA URL only with the certificates its tokens chain to, and refuses a file without one', async () => {
    expect(() => loadConfig({ ARCHIVE_TSA_URL: tsa.url })).toThrow(ConfigError);
    expect(() => loadConfig({ ARCHIVE_TSA_URL: tsa.url })).toThrow(/ARCHIVE_TSA_CERT_FILE/);
    expect(() => loadConfig({ ARCHIVE_TSA_URL: 'ftp://tsa.example', ARCHIVE_TSA_CERT_FILE: 'x.pem' })).toThrow(/ARCHIVE_TSA_URL/);
    const config = loadConfig({ ARCHIVE_TSA_URL: tsa.url, ARCHIVE_TSA_CERT_FILE: 'tsa.pem' });
    expect(config.archiveTsa).toEqual({ url: tsa.url, certFile: path.resolve('tsa.pem'), timeoutMs: 10_000 });
    expect(loadConfig({}).archiveTsa).toBeNull();
    const notPem = path.join(await mkdtemp(path.join(tmpdir(), 'tsa-cert-')), 'x.pem');
    await writeFile(notPem, 'hello');
    await expect(loadTimestampAuthority({ url: tsa.url, certFile: notPem, timeoutMs: 1_000 })).rejects.toThrow(`ARCHIVE_TSA_CERT_FILE ${notPem}: no PEM certificate found`);
  });
});

describe('time-stamped archive heads', () => {
  let seal: ArchiveSealOptions;
  let certFile: string;
  const archive = useArchiveSubgraph('archive_timestamps', undefined, async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'archive-tsa-'));
    const keyFile = path.join(dir, 'key', 'seal.pem');
    await mkdir(path.dirname(keyFile), { recursive: true });
    await writeFile(keyFile, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), { mode: 0o600 });
    certFile = path.join(dir, 'tsa-root.pem');
    await writeFile(certFile, tsa.rootPem);
    const sealDir = path.join(dir, 'seals');
    const failures: string[] = [];
    seal = {
      key: await loadSealKey({ kind: 'ed25519-file', file: keyFile }, sealDir),
      dir: sealDir,
      tsa: timestampAuthority({ url: tsa.url, trusted: parseCertificates(tsa.rootPem), timeoutMs: 5_000 }),
      onTimestampError: (chain, err) => failures.push(`${chain}: ${err.message}`),
    };
    return seal;
  });
  const verify = async () => ok(await archive.gql<{ verifyArchiveChain: Verification }>(auditor, VERIFY)).verifyArchiveChain;
  const fileRecord = async (i: number) =>
    ok(await archive.gql<{ fileArchiveRecord: { archiveNo: string } }>(archivist(), FILE, { i: { kind: 'TAX_RETURN', title: `VAT return ${i}`, fiscalYear: 2025, content: `{"n":${i}}`, mediaType: 'application/json' } })).fileArchiveRecord;
  const stamps = () => readTimestampFile(timestampFileOf(seal.dir, 'archive_records'));

  it('stamps each sealed head without holding up filing, one request in flight, the newest head last', async () => {
    tsa.mode = 'ok';
    const first = await fileRecord(0);
    await archive.services.seals!.timestampsSettled();
    const heads = (await readSealFile(sealFileOf(seal.dir, 'archive_records')))!;
    let lines = await stamps();
    expect(lines.map((t) => [t!.seq, t!.signer])).toEqual([[1, 'CN=Local Test TSA']]);
    // The token's datum is the head's canonical JSON: the head it names, whose digest the next head carries.
    await expect(seal.tsa!.verify(Buffer.from(lines[0]!.token, 'base64'), stampedDatum(heads[0]!))).resolves.toMatchObject({ signer: 'CN=Local Test TSA' });
    expect(await verify()).toMatchObject({ ok: true, checked: 1, timestampedArchiveNo: first.archiveNo });

    // The TSA slow: filings go on; while one request waits, later heads are coalesced into one more request.
    let release!: () => void;
    tsa.hold = new Promise<void>((r) => (release = r));
    const requestsBefore = tsa.requests;
    const filed = [];
    for (let i = 1; i <= 4; i++) filed.push(await fileRecord(i));
    release();
    tsa.hold = null;
    await archive.services.seals!.timestampsSettled();
    lines = await stamps();
    expect(lines.at(-1)!.seq).toBe(5);
    // Four filings sealed four heads of this chain; the TSA saw at most two requests for it (the held one and the newest).
    const recordRequests = lines.filter((t) => t!.seq > 1).length;
    expect(recordRequests).toBeLessThanOrEqual(2);
    expect(tsa.requests - requestsBefore).toBeGreaterThanOrEqual(recordRequests);
    const v = await verify();
    expect(v).toMatchObject({ ok: true, checked: 5, timestampedArchiveNo: filed[3].archiveNo });
    expect(Math.abs(Date.parse(v.timestampedAt!) - Date.now())).toBeLessThan(60_000);
  });

  it('files while the TSA is down and stamps the head once it is back, at the next seal', async () => {
    tsa.mode = 'http-500';
    const down = await fileRecord(10);
    await archive.services.seals!.timestampsSettled();
    expect((await stamps()).at(-1)!.seq).toBe(5);
    expect(await verify()).toMatchObject({ ok: true, checked: 6, timestampedArchiveNo: expect.not.stringMatching(down.archiveNo) });
    tsa.mode = 'ok';
    // The archive's timer seals again; nothing new to seal, the head whose request failed is asked for again.
    await archive.services.seals!.sealAll();
    await archive.services.seals!.timestampsSettled();
    expect((await stamps()).at(-1)!.seq).toBe(6);
    expect(await verify()).toMatchObject({ ok: true, checked: 6, timestampedArchiveNo: down.archiveNo });
  });

  it('finds a token swapped in the seal directory, naming the head it claims to vouch for', async () => {
    const file = timestampFileOf(seal.dir, 'archive_records');
    const original = await readFile(file, 'utf8');
    const lines = original.trim().split('\n').map((l) => JSON.parse(l) as { seq: number; token: string; seal: string });
    const heads = (await readSealFile(sealFileOf(seal.dir, 'archive_records')))!;
    const newest = lines.at(-1)!;
    const label = heads.find((h) => h!.seq === newest.seq)!.label;
    // An older token copied onto the newest line: a real TSA signature, for another head.
    await writeFile(file, `${[...lines.slice(0, -1), { ...newest, token: lines[0].token }].map((l) => JSON.stringify(l)).join('\n')}\n`);
    expect(await verify()).toMatchObject({ ok: false, firstBrokenArchiveNo: label, problem: 'TIMESTAMP_INVALID' });
    // A line that names a head the seal file does not have.
    await writeFile(file, `${[...lines.slice(0, -1), { ...newest, seal: 'f'.repeat(64) }].map((l) => JSON.stringify(l)).join('\n')}\n`);
    expect(await verify()).toMatchObject({ ok: false, firstBrokenArchiveNo: label, problem: 'TIMESTAMP_INVALID' });
    await writeFile(file, original);
    expect(await verify()).toMatchObject({ ok: true });
  });

  it('npm run verify-seals --tsa-cert checks every token with the certificate and the public key alone', async () => {
    const run = (args: string[]) =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/verify-seals.ts', ...args], { cwd: repoRoot }).then(
        (r) => ({ code: 0, ...r }),
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
    const args = ['--public-key', path.join(seal.dir, PUBLIC_KEY_FILE), '--seals', sealFileOf(seal.dir, 'archive_records')];
    const good = await run([...args, '--tsa-cert', certFile]);
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(/OK archive_records: \d+ time-stamp tokens verify; newest: seq 6 archiveNo \S+ existed by 20\d\d-/);

    const stranger = path.join(path.dirname(certFile), 'stranger.pem');
    await writeFile(stranger, tsa.strangerPem);
    const wrong = await run([...args, '--tsa-cert', stranger]);
    expect(wrong.code).toBe(1);
    expect(wrong.stdout + wrong.stderr).toContain('BROKEN archive_records: time-stamp line 1 of');
  });
});

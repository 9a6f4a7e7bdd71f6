// `npm run verify-seals`: an auditor checks a seal file with the public key alone, in a process of its own.
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { type SealedHead, ed25519Key, sealDigest, signHead } from '../../platform/integration/chain-seal.ts';
import { repoRoot } from '../engine/child.ts';

const run = promisify(execFile);
const verifySeals = (args: string[]) =>
  run(process.execPath, ['--import', 'tsx', 'scripts/verify-seals.ts', ...args], { cwd: repoRoot }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );

/** Three heads of archive_records, each naming the one before, signed with a fresh key; its public half beside. */
async function sealFile(): Promise<{ dir: string; file: string; publicKey: string; heads: SealedHead[] }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'verify-seals-'));
  const pair = generateKeyPairSync('ed25519');
  const key = ed25519Key(pair.privateKey);
  const heads: SealedHead[] = [];
  for (const seq of [1, 3, 4]) {
    const previous = heads.at(-1);
    heads.push(signHead(key, { chain: 'archive_records', seq, digest: `${seq}`.repeat(64), label: `Q001-2025-10Y-QT-0000${seq}`, at: '2026-12-06T10:00:00.000Z', previous: previous ? sealDigest(previous) : null }));
  }
  const file = path.join(dir, 'archive_records.seals.jsonl');
  await writeFile(file, heads.map((h) => `${JSON.stringify(h)}\n`).join(''));
  const publicKey = path.join(dir, 'seal-public-key.pem');
  await writeFile(publicKey, key.publicKeyPem!);
  return { dir, file, publicKey, heads };
}

describe('npm run verify-seals', () => {
  it('prints the newest sealed head and exits 0 for an intact file', async () => {
    const { file, publicKey, heads } = await sealFile();
    const r = await verifySeals(['--public-key', publicKey, '--seals', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`OK archive_records: 3 heads`);
    expect(r.stdout).toContain(`seq 4 digest ${heads[2].digest} archiveNo Q001-2025-10Y-QT-00004`);
  });

  it('names the first broken line and exits 1: a head edited, or a key that did not sign the file', async () => {
    const { dir, file, publicKey, heads } = await sealFile();
    // The second head's digest rewritten (its signature no longer holds).
    const edited = heads.map((h, i) => JSON.stringify(i === 1 ? { ...h, digest: 'f'.repeat(64) } : h)).join('\n');
    await writeFile(file, `${edited}\n`);
    const r = await verifySeals(['--public-key', publicKey, '--seals', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('BROKEN archive_records: line 2 of 3 (seq 3)');
    expect(r.stdout).toContain(`newest head vouched for: seq 1 digest ${heads[0].digest}`);

    const other = path.join(dir, 'other.pem');
    await writeFile(other, generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString());
    const wrongKey = await verifySeals(['--public-key', other, '--seals', file]);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stdout).toContain('BROKEN archive_records: line 1 of 3');
  });

  it('exits 2 with its usage when an argument is missing', async () => {
    const r = await verifySeals(['--seals', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('usage: npm run verify-seals');
  });
});

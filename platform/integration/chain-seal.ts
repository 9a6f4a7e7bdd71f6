// Sealed chain heads: what keeps a hash chain (./hash-chain.ts) from being silently recomputed or cut by whoever
// holds the database. A head (the chain's name, the position and digest of its newest entry, when, and the digest of
// the chain's previous sealed head) is signed with a key that is not in the database: Ed25519 by default (an auditor
// verifies with the public key alone), or HMAC-SHA-256 with ARCHIVE_SEAL_KEY. Each head is appended, fsync'd, as one
// JSON line to a file outside the database (one file per chain), and copied into `chain_seals` so that a seal file
// cut short shows against the copy. Verification trusts the file, not the copy: every head must be signed, name its
// predecessor, and match the chain's entry at its position (README.md, "Sealed chain heads").
import { type KeyObject, createHash, createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, sign, timingSafeEqual, verify } from 'node:crypto';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Connection } from 'mongoose';
import type { SealKeySetting } from '../config.ts';
import { canonicalJson } from './canonical-json.ts';
import type { HeadTimestamps, TimestampCheck } from './head-timestamps.ts';

export type SealAlgorithm = 'Ed25519' | 'HMAC-SHA-256';

export interface SealedHead {
  chain: string;
  seq: number;
  /** The digest of the chain's entry at `seq`. */
  digest: string;
  /** What the entry is called where it has a name of its own (a record's archive number), so a seal names it even once it is gone. */
  label: string | null;
  at: string;
  /** The seal digest (sealDigest) of the chain's previous head; null for the first. */
  previous: string | null;
  alg: SealAlgorithm;
  /** Names the key without revealing it: SHA-256 of the public key (Ed25519) or of the secret (HMAC), 16 hex. */
  keyId: string;
  /** Base64 over the canonical JSON of every other field. */
  signature: string;
}

/** Signs and checks heads. Holds the key; never exposes it. */
export interface SealKey {
  readonly alg: SealAlgorithm;
  readonly keyId: string;
  sign(data: Buffer): Buffer;
  verify(data: Buffer, signature: Buffer): boolean;
  /** The public half (SPKI PEM) for auditors; null for HMAC. */
  readonly publicKeyPem: string | null;
}

const keyIdOf = (material: Buffer) => createHash('sha256').update(material).digest('hex').slice(0, 16);

/** Checks Ed25519 seals with the public key alone: what an auditor holds. */
export function ed25519Verifier(publicKeyPem: string): SealKey {
  const publicKey = createPublicKey(publicKeyPem);
  if (publicKey.asymmetricKeyType !== 'ed25519') throw new Error('the seal public key is not an Ed25519 key');
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  return {
    alg: 'Ed25519',
    keyId: keyIdOf(spki),
    sign: () => {
      throw new Error('a public key cannot seal');
    },
    verify: (data, signature) => verify(null, data, publicKey, signature),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

export function ed25519Key(privateKey: KeyObject): SealKey {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error('the seal private key is not an Ed25519 key');
  const verifier = ed25519Verifier(createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString());
  return { ...verifier, sign: (data) => sign(null, data, privateKey) };
}

export function hmacKey(secret: string): SealKey {
  const mac = (data: Buffer) => createHmac('sha256', secret).update(data).digest();
  return {
    alg: 'HMAC-SHA-256',
    keyId: keyIdOf(Buffer.from(`seal:${secret}`)),
    sign: mac,
    verify: (data, signature) => {
      const expected = mac(data);
      return signature.length === expected.length && timingSafeEqual(signature, expected);
    },
    publicKeyPem: null,
  };
}


export const PUBLIC_KEY_FILE = 'seal-public-key.pem';

/**
 * Loads the key; for 'generated' (development only) creates an Ed25519 key pair at `file` (mode 0600) first. The
 * public half is written beside the seals for auditors.
 */
export async function loadSealKey(source: SealKeySetting, sealDir: string): Promise<SealKey> {
  let key: SealKey;
  if (source.kind === 'hmac') key = hmacKey(source.secret);
  else {
    let pem: string;
    try {
      pem = await readFile(source.file, 'utf8');
    } catch (err) {
      if (source.kind !== 'generated' || (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      await mkdir(path.dirname(source.file), { recursive: true });
      // 'wx': two processes starting together do not overwrite each other's key; the loser reads the winner's.
      await writeFile(source.file, pem, { mode: 0o600, flag: 'wx' }).catch(async (e: NodeJS.ErrnoException) => {
        if (e.code !== 'EEXIST') throw e;
        pem = await readFile(source.file, 'utf8');
      });
    }
    key = ed25519Key(createPrivateKey(pem));
  }
  if (key.publicKeyPem) {
    await mkdir(sealDir, { recursive: true });
    await writeFile(path.join(sealDir, PUBLIC_KEY_FILE), key.publicKeyPem);
  }
  return key;
}

const signedPart = (head: Omit<SealedHead, 'signature'>) => {
  const { chain, seq, digest, label, at, previous, alg, keyId } = head;
  return Buffer.from(canonicalJson({ chain, seq, digest, label, at, previous, alg, keyId }));
};

/** What the next head names as its predecessor: SHA-256 over the whole head, signature included. */
export const sealDigest = (head: SealedHead): string => createHash('sha256').update(canonicalJson(head)).digest('hex');

export function signHead(key: SealKey, head: Omit<SealedHead, 'signature' | 'alg' | 'keyId'>): SealedHead {
  const unsigned = { ...head, alg: key.alg, keyId: key.keyId };
  return { ...unsigned, signature: key.sign(signedPart(unsigned)).toString('base64') };
}

export const headVerifies = (key: SealKey, head: SealedHead): boolean =>
  head.alg === key.alg && head.keyId === key.keyId && typeof head.signature === 'string' && key.verify(signedPart(head), Buffer.from(head.signature, 'base64'));

export const sealFileOf = (dir: string, chain: string) => path.join(dir, `${chain}.seals.jsonl`);

/** An append-only file's JSON lines, null where a line is not what `valid` wants; null for no file. */
export async function readJsonLines<T>(file: string, valid: (value: T) => boolean): Promise<Array<T | null> | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      try {
        const v = JSON.parse(l) as T;
        return v && typeof v === 'object' && valid(v) ? v : null;
      } catch {
        return null;
      }
    });
}

/**
 * The last line of an append-only JSON-lines file (null when it is not what `valid` wants, or there is no file),
 * read from the file's end: appending to a file of years of lines costs no more than to a new one.
 */
export async function readLastJsonLine<T>(file: string, valid: (value: T) => boolean): Promise<T | null> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const { size } = await fh.stat();
    for (let window = 16 * 1024; ; window *= 4) {
      const start = Math.max(0, size - window);
      const buf = Buffer.alloc(size - start);
      await fh.read(buf, 0, buf.length, start);
      let end = buf.length;
      while (end > 0 && (buf[end - 1] === 0x0a || buf[end - 1] === 0x0d || buf[end - 1] === 0x20 || buf[end - 1] === 0x09)) end--;
      const nl = buf.lastIndexOf(0x0a, end - 1);
      // A whole line is in the window once a line feed precedes it, or the window starts the file.
      if (nl < 0 && start > 0) continue;
      const line = buf.subarray(nl + 1, end).toString('utf8');
      if (line.trim() === '') return null;
      try {
        const v = JSON.parse(line) as T;
        return v && typeof v === 'object' && valid(v) ? v : null;
      } catch {
        return null;
      }
    }
  } finally {
    await fh.close();
  }
}

const isHead = (h: SealedHead): boolean => Number.isSafeInteger(h.seq);

/** The seal file's lines; a line that is not a head is kept as null (verification reports it). */
export const readSealFile = (file: string): Promise<Array<SealedHead | null> | null> => readJsonLines<SealedHead>(file, isHead);

/** TIMESTAMP_INVALID: the newest RFC 3161 token of the seal directory does not vouch for the head it names. */
export type SealProblem = 'CHANGED' | 'REMOVED' | 'SEAL_BROKEN' | 'TIMESTAMP_INVALID';

/** A chain's entries against its seals. */
export interface SealCheck {
  /** NOT_SEALED_YET: no head was ever sealed (an archive from before seals); not a failure. */
  state: 'SEALED' | 'NOT_SEALED_YET' | 'BROKEN';
  /** The newest head the file vouches for. */
  sealedSeq: number | null;
  /** The first position no longer vouched for, its name where the seal or the chain knows it, and why. */
  firstAffectedSeq: number | null;
  firstAffectedLabel: string | null;
  problem: SealProblem | null;
  /** Where a TSA is configured (./head-timestamps.ts): the newest token against the seal file. */
  timestamp?: TimestampCheck;
}

/** What verification needs of a chain: its entries' digests and names by position. */
export interface ChainView {
  digestAt(seq: number): string | undefined;
  labelAt?(seq: number): string | null | undefined;
}

export interface ChainSealOptions {
  chain: string;
  key: SealKey;
  dir: string;
  connection: Connection;
  /** The chain's newest entry now, or null while it is empty. */
  head(): Promise<{ seq: number; digest: string; label: string | null } | null>;
  clock?: () => Date;
  /** Where ARCHIVE_TSA_URL is set: each head sealed is time-stamped as well, without waiting for it. */
  timestamps?: HeadTimestamps;
}

interface SealCopy {
  _id: string;
  chain: string;
  seq: number;
  head: SealedHead;
}

/** Seals one chain's head and checks the chain against its seals. */
export class ChainSeal {
  private queue: Promise<unknown> = Promise.resolve();
  /** The seal queued behind the running one, not started yet: it reads the head when it starts, so it serves every caller until then. */
  private next: Promise<SealedHead | null> | null = null;
  private dirMade = false;
  private indexed: Promise<unknown> | null = null;
  readonly file: string;

  constructor(private readonly o: ChainSealOptions) {
    this.file = sealFileOf(o.dir, o.chain);
  }

  private get copies() {
    return this.o.connection.collection<SealCopy>('chain_seals');
  }

  /**
   * The copies by chain, newest first: check() reads a chain's newest copy, which without it sorted every copy of
   * every chain (three per filing batch) and held the embedded engine 220 to 260 ms at each alert evaluation.
   */
  private ensureIndex(): Promise<unknown> {
    this.indexed ??= this.copies.createIndex({ chain: 1, seq: -1 }, { name: 'chain_seals_newest' }).catch((err: unknown) => {
      this.indexed = null;
      throw err;
    });
    return this.indexed;
  }

  /**
   * Seals the current head unless it is sealed already. Call after the transaction that appended has committed: a
   * head sealed inside one that then aborts would name an entry that never was. Seals of one process run one at a
   * time, so heads in the file only move forward; one seal directory belongs to one archive instance. Callers that
   * arrive while a seal runs share the one queued after it (a group commit): it reads the head once they have all
   * committed, so under load the chain is sealed once per round instead of once per caller.
   */
  seal(): Promise<SealedHead | null> {
    if (this.next) return this.next;
    const run = this.queue.then(() => {
      this.next = null;
      return this.sealNow();
    });
    this.next = run;
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async sealNow(): Promise<SealedHead | null> {
    const head = await this.o.head();
    if (!head) return null;
    const last = await readLastJsonLine<SealedHead>(this.file, isHead);
    if (last && last.seq >= head.seq) {
      // Nothing new to seal; a head whose time-stamp request failed is asked for again.
      this.o.timestamps?.request(last);
      return null;
    }
    const sealed = signHead(this.o.key, { chain: this.o.chain, seq: head.seq, digest: head.digest, label: head.label, at: (this.o.clock?.() ?? new Date()).toISOString(), previous: last ? sealDigest(last) : null });
    if (!this.dirMade) {
      await mkdir(this.o.dir, { recursive: true });
      this.dirMade = true;
    }
    const fh = await open(this.file, 'a', 0o644).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
      await mkdir(this.o.dir, { recursive: true }); // the directory went away meanwhile
      return open(this.file, 'a', 0o644);
    });
    try {
      await fh.appendFile(`${JSON.stringify(sealed)}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await this.ensureIndex();
    await this.copies.insertOne({ _id: sealDigest(sealed), chain: this.o.chain, seq: sealed.seq, head: sealed });
    this.o.timestamps?.request(sealed);
    return sealed;
  }

  /** Resolves once no time-stamp request of this chain is in flight. */
  async timestampsSettled(): Promise<void> {
    await this.queue;
    await this.o.timestamps?.settled();
  }

  /** Checks the chain (as walked by the caller) against the seal file, and the file against the database's copies. */
  async check(view: ChainView): Promise<SealCheck> {
    const lines = await readSealFile(this.file);
    await this.ensureIndex();
    const newestCopy = await this.copies.find({ chain: this.o.chain }).sort({ seq: -1 }).limit(1).next();
    const copyCounts = newestCopy !== null && headVerifies(this.o.key, newestCopy.head);
    const result = checkSeals(this.o.key, this.o.chain, lines, copyCounts ? newestCopy.head : null, view);
    if (!this.o.timestamps || result.state !== 'SEALED') return result;
    const timestamp = await this.o.timestamps.check(lines ?? []);
    if (timestamp.state !== 'INVALID') return { ...result, timestamp };
    const seq = timestamp.seq ?? 1;
    const label = lines?.find((h) => h?.seq === seq)?.label ?? view.labelAt?.(seq) ?? null;
    return { ...result, state: 'BROKEN', firstAffectedSeq: seq, firstAffectedLabel: label, problem: 'TIMESTAMP_INVALID', timestamp };
  }
}

/**
 * The walk behind ChainSeal.check, without storage (an auditor's script runs it on exported files):
 * the file's heads are signed and chained, it ends no earlier than the newest signed copy, and each head matches the
 * chain's entry at its position. The first position not vouched for is named.
 */
export function checkSeals(key: SealKey, chain: string, lines: Array<SealedHead | null> | null, newestCopy: SealedHead | null, view: ChainView): SealCheck {
  const result = (state: SealCheck['state'], sealedSeq: number | null, affected: number | null = null, problem: SealProblem | null = null, label: string | null = null): SealCheck => ({
    state,
    sealedSeq,
    firstAffectedSeq: affected,
    firstAffectedLabel: affected === null ? null : (label ?? view.labelAt?.(affected) ?? null),
    problem,
  });
  if (!lines || lines.length === 0) {
    // No file, or an empty one: an archive from before seals, unless a signed copy shows the file was there.
    return newestCopy ? result('BROKEN', null, 1, 'SEAL_BROKEN') : result('NOT_SEALED_YET', null);
  }
  let previous: SealedHead | null = null;
  for (const head of lines) {
    const vouched = previous?.seq ?? 0;
    if (!head || head.chain !== chain || !headVerifies(key, head) || head.previous !== (previous ? sealDigest(previous) : null) || head.seq <= vouched) {
      return result('BROKEN', previous?.seq ?? null, vouched + 1, 'SEAL_BROKEN');
    }
    const digest = view.digestAt(head.seq);
    if (digest !== head.digest) {
      // Every position up to the previous head is vouched for; the first after it is the first affected, or, where
      // the chain ends before the head, the first position missing. When that is the head's own position, the seal's
      // label names it (the entry may be gone or replaced).
      let first = vouched + 1;
      if (digest === undefined) for (first = head.seq; first - 1 > vouched && view.digestAt(first - 1) === undefined; first--);
      return result('BROKEN', vouched || null, first, digest === undefined ? 'REMOVED' : 'CHANGED', head.seq === first ? head.label : null);
    }
    previous = head;
  }
  const last = previous!;
  // Heads cut from the end of the file: the database's signed copy of a later head shows it.
  if (newestCopy && newestCopy.seq > last.seq) return result('BROKEN', last.seq, last.seq + 1, 'SEAL_BROKEN');
  return result('SEALED', last.seq);
}

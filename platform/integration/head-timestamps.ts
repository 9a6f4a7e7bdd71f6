// Sealed heads time-stamped by an RFC 3161 authority (./timestamp-authority.ts), where ARCHIVE_TSA_URL is set. The
// datum is a head's canonical JSON (its SHA-256 is the head's seal digest, which the next head names), so one token
// vouches that this head and, through the `previous` links, every head before it existed at the TSA's time. Tokens are
// appended, fsync'd, to `<chain>.timestamps.jsonl` beside the seal file. Filing never waits for the TSA: at most one
// request per chain is in flight, and a head sealed meanwhile is stamped when it returns; a failed request is retried
// at the next seal or the archive's timer (README.md, "Sealed chain heads").
import { mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import { canonicalJson } from './canonical-json.ts';
import type { SealedHead } from './chain-seal.ts';
import { readJsonLines, sealDigest } from './chain-seal.ts';
import type { TimestampAuthority } from './timestamp-authority.ts';

/** One line of a timestamps file. */
export interface HeadTimestamp {
  chain: string;
  seq: number;
  /** The seal digest of the head stamped: SHA-256 of its canonical JSON, the datum's imprint. */
  seal: string;
  genTime: string;
  serial: string;
  signer: string;
  /** The RFC 3161 token, DER in base64: verifiable by any RFC 3161 tool against the TSA's certificate. */
  token: string;
}

/** The newest token against the seal file. */
export interface TimestampCheck {
  /** NONE: no token yet; STAMPED: the newest token verifies; INVALID: it names no sealed head, or does not verify. */
  state: 'NONE' | 'STAMPED' | 'INVALID';
  seq: number | null;
  label: string | null;
  genTime: Date | null;
  /** Why INVALID. */
  reason: string | null;
}

export const timestampFileOf = (dir: string, chain: string) => path.join(dir, `${chain}.timestamps.jsonl`);

/** What is stamped: the head's canonical JSON, whose SHA-256 is sealDigest(head). */
export const stampedDatum = (head: SealedHead) => Buffer.from(canonicalJson(head));

export async function readTimestampFile(file: string): Promise<Array<HeadTimestamp | null>> {
  return (await readJsonLines<HeadTimestamp>(file, (t) => Number.isSafeInteger(t.seq) && typeof t.token === 'string')) ?? [];
}

/**
 * Checks a token against the seal file's head at its position: the head's digest is the token's datum, and the
 * token verifies against the TSA's trusted certificates.
 */
export async function checkTimestamp(tsa: Pick<TimestampAuthority, 'verify'>, stamp: HeadTimestamp | null, heads: Array<SealedHead | null>): Promise<TimestampCheck> {
  const invalid = (reason: string, seq: number | null = null): TimestampCheck => ({ state: 'INVALID', seq, label: null, genTime: null, reason });
  if (!stamp) return invalid('a line of the timestamps file is not a token');
  const head = heads.find((h) => h?.seq === stamp.seq);
  if (!head || sealDigest(head) !== stamp.seal) return invalid(`the token of seq ${stamp.seq} names no head of the seal file`, stamp.seq);
  try {
    const verified = await tsa.verify(Buffer.from(stamp.token, 'base64'), stampedDatum(head));
    return { state: 'STAMPED', seq: head.seq, label: head.label, genTime: verified.genTime, reason: null };
  } catch (err) {
    return invalid(`the token of seq ${stamp.seq}: ${(err as Error).message}`, stamp.seq);
  }
}

export interface HeadTimestampsOptions {
  chain: string;
  dir: string;
  tsa: TimestampAuthority;
  /** A request failed; it is retried at the next request(). Must not throw. */
  onError?: (err: Error) => void;
}

/** Time-stamps one chain's sealed heads. */
export class HeadTimestamps {
  readonly file: string;
  private wanted: SealedHead | null = null;
  private running: Promise<void> | null = null;
  /** The newest position stamped, read from the file once. */
  private stamped: number | null = null;

  constructor(private readonly o: HeadTimestampsOptions) {
    this.file = timestampFileOf(o.dir, o.chain);
  }

  /** Asks for `head` to be stamped, unless a newer one is asked for already; returns at once. */
  request(head: SealedHead): void {
    if (!this.wanted || head.seq > this.wanted.seq) this.wanted = head;
    this.running ??= this.drain().finally(() => {
      this.running = null;
    });
  }

  /** Resolves once no request is in flight (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Checks the newest token against the seal file's heads. */
  async check(heads: Array<SealedHead | null>): Promise<TimestampCheck> {
    const lines = await readTimestampFile(this.file);
    if (lines.length === 0) return { state: 'NONE', seq: null, label: null, genTime: null, reason: null };
    return checkTimestamp(this.o.tsa, lines.at(-1)!, heads);
  }

  private async stampedSeq(): Promise<number> {
    if (this.stamped === null) {
      const last = (await readTimestampFile(this.file)).findLast((t) => t !== null);
      this.stamped = last?.seq ?? 0;
    }
    return this.stamped;
  }

  private async drain(): Promise<void> {
    while (this.wanted) {
      const head = this.wanted;
      try {
        if ((await this.stampedSeq()) < head.seq) await this.stamp(head);
      } catch (err) {
        // Kept as wanted: the next request() tries again.
        this.o.onError?.(err as Error);
        return;
      }
      if (this.wanted === head) this.wanted = null;
    }
  }

  private async stamp(head: SealedHead): Promise<void> {
    const t = await this.o.tsa.stamp(stampedDatum(head));
    const line: HeadTimestamp = { chain: head.chain, seq: head.seq, seal: sealDigest(head), genTime: t.genTime.toISOString(), serial: t.serial, signer: t.signer, token: t.token.toString('base64') };
    await mkdir(this.o.dir, { recursive: true });
    const fh = await open(this.file, 'a', 0o644);
    try {
      await fh.appendFile(`${JSON.stringify(line)}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    this.stamped = head.seq;
  }
}

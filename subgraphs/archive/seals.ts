// The archive's sealed heads (platform/integration/chain-seal.ts): the records' chain, the records' history and the
// access log. Heads are sealed after each filing commits (filing.ts), at start-up (an archive from before seals is
// sealed from its current head on) and on the archive's timer; integrity.ts and the access log's verification compare
// the chains with them. Every head sealed is also handed to `announce` (seal-audit.ts: into the audit trail), in the
// background: the seal file is the anchor a filing waits for; the audit trail's copy is a third place, best effort.
import type { Connection } from 'mongoose';
import { ChainSeal, type SealKey, type SealedHead } from '../../platform/integration/chain-seal.ts';
import { HeadTimestamps } from '../../platform/integration/head-timestamps.ts';
import type { TimestampAuthority } from '../../platform/integration/timestamp-authority.ts';

export interface ArchiveSealOptions {
  key: SealKey;
  /** The directory of the seal files, outside the database. */
  dir: string;
  clock?: () => Date;
  /** Where the heads just sealed are written besides (seal-audit.ts); must not throw for a failed delivery. */
  announce?: (heads: SealedHead[]) => Promise<void>;
  /** Where ARCHIVE_TSA_URL is set: every head sealed is time-stamped too (head-timestamps.ts). */
  tsa?: TimestampAuthority;
  /** A time-stamp request failed (it is retried on the archive's timer). */
  onTimestampError?: (chain: string, err: Error) => void;
}

type Newest = { seq: number; digest: string; label: string | null };

export class ArchiveSeals {
  readonly records: ChainSeal;
  readonly history: ChainSeal;
  readonly accessLog: ChainSeal;
  /** Heads sealed and not yet handed to `announce`; one announcement in flight takes all that wait. */
  private unannounced: SealedHead[] = [];
  private announcing: Promise<void> | null = null;

  constructor(
    connection: Connection,
    private readonly o: ArchiveSealOptions,
  ) {
    const newest = async (collection: string, seqField: string, digest: (d: Record<string, unknown>) => string, label: (d: Record<string, unknown>) => string | null): Promise<Newest | null> => {
      const d = await connection.collection(collection).find({}, { projection: { content: 0 } }).sort({ [seqField]: -1 }).limit(1).next();
      return d ? { seq: d[seqField] as number, digest: digest(d), label: label(d) } : null;
    };
    const stamps = (chain: string) => (o.tsa ? new HeadTimestamps({ chain, dir: o.dir, tsa: o.tsa, onError: (err) => o.onTimestampError?.(chain, err) }) : undefined);
    const seal = (chain: string, head: () => Promise<Newest | null>) => new ChainSeal({ chain, key: o.key, dir: o.dir, connection, head, clock: o.clock, timestamps: stamps(chain) });
    this.records = seal('archive_records', () => newest('archive_records', 'chainSeq', (d) => (d.fixity as { digest: string }).digest, (d) => d.archiveNo as string));
    this.history = seal('archive_record_history', () => newest('archive_record_history', 'seq', (d) => d.digest as string, (d) => d.archiveNo as string));
    this.accessLog = seal('archive_access_log', () => newest('archive_access_log', 'seq', (d) => d.digest as string, () => null));
  }

  /**
   * Seals after a filing committed. The record is filed whatever happens here: a failure (the seal directory not
   * writable) must not make a caller retry and file twice, so the archive's timer seals again and logs the failure.
   */
  async afterFiling(): Promise<void> {
    await this.sealAll().catch(() => undefined);
  }

  /** Resolves once no time-stamp request is in flight. */
  async timestampsSettled(): Promise<void> {
    await Promise.all([this.records, this.history, this.accessLog].map((c) => c.timestampsSettled()));
  }

  /** Resolves once every head sealed so far has been handed to `announce` (on shutdown, and for tests). */
  async announced(): Promise<void> {
    while (this.announcing) await this.announcing;
  }

  /**
   * Seals every chain whose head moved since its last seal: the three chains at once (each its own file and queue),
   * callers that arrive meanwhile sharing the next seal (ChainSeal.seal). Resolves once the seals are in their files.
   */
  async sealAll(): Promise<void> {
    const heads = (await Promise.all([this.records.seal(), this.history.seal(), this.accessLog.seal()])).filter((h) => h !== null);
    if (heads.length && this.o.announce) {
      this.unannounced.push(...heads);
      this.announcing ??= this.announceWaiting();
    }
  }

  /** Hands the waiting heads to `announce` in order, a batch at a time, until none waits. */
  private async announceWaiting(): Promise<void> {
    try {
      while (this.unannounced.length) {
        const heads = this.unannounced.splice(0);
        await this.o.announce!(heads).catch(() => undefined);
      }
    } finally {
      this.announcing = null;
    }
  }
}

// One hash chain for what must show any later change: the archive's records (subgraphs/archive/fixity.ts), the
// archive's access log (subgraphs/archive/lifecycle/access-log.ts) and the operations audit trail
// (subgraphs/operations/audit/trail.ts). Each entry has a position (1, 2, 3 … without gaps), the digest of the entry
// before it and its own digest: SHA-256 over the canonical JSON (./canonical-json.ts) of the fields it covers and
// that previous digest. A chain supplies only what differs: where entries live, the field of their position, which
// fields the digest covers and where the chain's fields sit in an entry.
//
// Appending takes the position from the chain's counter (nextSequence, ./events.ts) and reads the entry before it in
// the same transaction as the insert. Two appends that overlap both increment the counter: under snapshot isolation
// one of them conflicts and is retried after the other committed, so the chain cannot fork.
// Verifying walks the entries in order and names the first break. The chain is unkeyed SHA-256 in the same database
// as what it guards (docs/architecture.md, Habits): it shows changes; a writer who rewrites it all shows only against
// heads sealed outside the database (./chain-seal.ts).
import { createHash } from 'node:crypto';
import { setImmediate } from 'node:timers/promises';
import type { ClientSession, Model } from 'mongoose';
import { type CanonicalOptions, canonicalJson } from './canonical-json.ts';
import { nextSequence } from './events.ts';
import { transaction } from './transactions.ts';

/** SHA-256 (hex) over the canonical JSON of the fields a digest covers. */
export const chainDigest = (covered: object, options?: CanonicalOptions): string =>
  createHash('sha256').update(canonicalJson(covered, options)).digest('hex');

/** An entry's place: its position and the entry before it (null for the first, or where that one was removed). */
export interface ChainLink<E> {
  seq: number;
  previous: Omit<E, '_id'> | null;
  /** What the entry chains to: the previous entry's digest, or the chain's genesis value. */
  previousDigest: string | null;
}

/**
 * What a chain of entries `E` decides for itself; `U` is an entry before it is sealed (without its digest), which is
 * what its digest covers. The checks of a walk need no database, so they stand apart from where entries are stored.
 */
export interface ChainRules<E extends U, U> {
  /** The field holding an entry's position. */
  readonly seqField: string & keyof E;
  /** What the first entry chains to. */
  readonly genesis: string | null;
  /** The digest an entry must carry, over the fields it covers and the previous entry's digest. */
  digest(entry: U, previousDigest: string | null): string;
  /** The entry with its digest and link in their fields. */
  seal(entry: U, digest: string, previousDigest: string | null): Omit<E, '_id'>;
  /** The digest an entry carries, as stored. */
  digestOf(entry: Omit<E, '_id'>): string;
  /** The previous entry's digest as this entry recorded it. */
  previousDigestOf(entry: E): string | null;
  /** Further links to the previous entry, beside its digest (records also name its archive number). */
  linked?(entry: E, previous: E | null): boolean;
  /** Further checks of an entry's own, beside its digest (records: content against its content digest). */
  intact?(entry: E): boolean;
}

/** A chain's rules and where it is stored: its collection and the key of its counter in `counters`. */
export interface ChainSpec<E extends U, U> extends ChainRules<E, U> {
  readonly model: Model<E>;
  readonly counter: string;
}

export type ChainProblem = 'CHANGED' | 'REMOVED' | 'REORDERED';

/** Where a walk found the chain broken. */
export interface ChainBreak<E> {
  /** The position broken: of the entry changed or out of order, or of the first one missing. */
  seq: number;
  /**
   * What showed it: the entry's own digest (or checks), the link its successor recorded (the entry was changed and
   * its digest rewritten), a position out of order, or the counter (entries removed from the end).
   */
  by: 'digest' | 'link' | 'order' | 'counter';
  /** The entry at that position as stored; null where it is missing. */
  entry: E | null;
  /** The entry after it that showed the break, for a link or a gap; else null. */
  successor: E | null;
}

/** One result for every chain; each maps it to its GraphQL type. */
export interface ChainVerification<E> {
  ok: boolean;
  /** Entries read: the walk stops at the first break, and the entry that showed it is counted. */
  checked: number;
  firstBroken: ChainBreak<E> | null;
  problem: ChainProblem | null;
}

const PROBLEM: Record<ChainBreak<unknown>['by'], ChainProblem> = { digest: 'CHANGED', link: 'CHANGED', order: 'REMOVED', counter: 'REMOVED' };

/**
 * Entries a walk checks between two turns of the event loop, and reads per batch from the database: an archive's
 * whole chain walked in one go held the archive's thread for 250-470 ms at a time, and the engine's for a batch of up
 * to 16 MB, at every alert evaluation (the soak's stalls); walked in steps, requests go on between them.
 */
export const WALK_STEP = 256;

/** Walks entries in chain order (as given) and names the first that was changed, removed or put out of order. */
export async function verifyEntries<E extends U, U>(rules: ChainRules<E, U>, entries: AsyncIterable<E> | Iterable<E>): Promise<ChainVerification<E>> {
  const seqOf = (e: E) => e[rules.seqField] as number;
  let checked = 0;
  let previous: E | null = null;
  const broken = (b: ChainBreak<E>, problem = PROBLEM[b.by]): ChainVerification<E> => ({ ok: false, checked, firstBroken: b, problem });
  for await (const e of entries) {
    checked++;
    if (checked % WALK_STEP === 0) await setImmediate();
    const expected = checked;
    if (seqOf(e) !== expected) {
      return seqOf(e) > expected
        ? broken({ seq: expected, by: 'order', entry: null, successor: e })
        : broken({ seq: seqOf(e), by: 'order', entry: e, successor: null }, 'REORDERED');
    }
    const previousDigest = previous ? rules.digestOf(previous) : rules.genesis;
    if (rules.previousDigestOf(e) !== previousDigest || (rules.linked && !rules.linked(e, previous))) {
      // The link disagrees with the predecessor as stored: the predecessor was changed (its digest rewritten).
      return broken(previous ? { seq: seqOf(previous), by: 'link', entry: previous, successor: e } : { seq: seqOf(e), by: 'link', entry: e, successor: null });
    }
    if (rules.digestOf(e) !== rules.digest(e, previousDigest) || (rules.intact && !rules.intact(e))) return broken({ seq: seqOf(e), by: 'digest', entry: e, successor: null });
    previous = e;
  }
  return { ok: true, checked, firstBroken: null, problem: null };
}

export class HashChain<E extends U, U> {
  constructor(readonly spec: ChainSpec<E, U>) {}

  /**
   * Appends entries in order, each chained to the one before, and returns them as stored: in the caller's
   * transaction when a session is given (the one that makes the change the entries record), else in one of its own.
   * `place` builds an entry for its link; `check` may refuse a sealed entry (by throwing) before anything is stored,
   * or return fields to store with it outside its digest (a finding about the entry, such as a filing report).
   */
  async append<I>(
    inputs: readonly I[],
    place: (input: I, link: ChainLink<E>) => U,
    options: { session?: ClientSession; check?: (entry: Omit<E, '_id'>, link: ChainLink<E>) => void | Partial<E> | Promise<void | Partial<E>> } = {},
  ): Promise<E[]> {
    const { model, counter, seqField } = this.spec;
    const run = async (session: ClientSession): Promise<E[]> => {
      // Everything is computed inside: a transaction the driver retries starts again from its fresh snapshot.
      const sealed: Array<Omit<E, '_id'>> = [];
      if (inputs.length === 0) return [];
      // Every position at once: one increment of the counter for the lot.
      const first = await nextSequence(model.db, counter, session, inputs.length);
      let link: ChainLink<E> | null = null;
      for (const [i, input] of inputs.entries()) {
        const seq = first + i;
        if (link === null) {
          // The counter increment succeeded, so no other append committed after this transaction's snapshot: the
          // previous entry is visible here. Should it have been removed, the chain goes on and verify() reports the gap.
          const previous = seq > 1 ? await model.findOne({ [seqField]: seq - 1 } as never, null, { session }).lean<E>() : null;
          link = { seq, previous, previousDigest: previous ? this.spec.digestOf(previous) : this.spec.genesis };
        } else {
          const previous: Omit<E, '_id'> = sealed[sealed.length - 1];
          link = { seq, previous, previousDigest: this.spec.digestOf(previous) };
        }
        const entry = place(input, link);
        const digest = this.spec.digest(entry, link.previousDigest);
        const done = this.spec.seal(entry, digest, link.previousDigest);
        const besides = await options.check?.(done, link);
        sealed.push(besides ? { ...done, ...besides } : done);
      }
      const docs = await model.insertMany(sealed, { session });
      return docs.map((d) => d.toObject() as E);
    };
    if (!options.session) return transaction(model.db, run, { lane: this.lane });
    if (!options.session.inTransaction()) throw new Error(`appending to the ${counter} chain must run inside a transaction`);
    return run(options.session);
  }

  /** The lane of transactions appending to this chain (platform/integration/transactions.ts): its head is one document. */
  get lane(): string {
    return `chain:${this.spec.counter}`;
  }

  /**
   * Walks the whole chain in order. The counter is read first: every position up to it was committed before the walk
   * began, so entries missing from the end show, and appends during the walk do not look like removals.
   * `seen` is handed each entry as it is read (before its checks), for checks a caller makes across chains.
   */
  async verify(seen?: (entry: E) => void | Promise<void>): Promise<ChainVerification<E>> {
    const { model, counter, seqField } = this.spec;
    const last = await model.db.db!.collection<{ _id: string; seq: number }>('counters').findOne({ _id: counter });
    const cursor = model.find().sort({ [seqField]: 1 }).batchSize(WALK_STEP).lean<E[]>().cursor();
    const entries = seen
      ? (async function* () {
          for await (const e of cursor) {
            await seen(e);
            yield e;
          }
        })()
      : cursor;
    const walk = await verifyEntries(this.spec, entries);
    // Entries removed from the end leave no successor to notice; the counter remembers how many were written.
    if (walk.ok && last && last.seq > walk.checked) {
      return { ok: false, checked: walk.checked, firstBroken: { seq: walk.checked + 1, by: 'counter', entry: null, successor: null }, problem: 'REMOVED' };
    }
    return walk;
  }
}

/** An entry that keeps its position, its predecessor's digest and its own in fields of its own. */
export interface FlatEntry {
  seq: number;
  previousDigest: string | null;
  digest: string;
}

/** The rules of a chain of flat entries (the access log, the audit trail): the digest covers every field but itself. */
export function flatChainRules<E extends FlatEntry>(digest: (entry: Omit<E, '_id' | 'digest'>) => string): ChainRules<E, Omit<E, '_id' | 'digest'>> {
  return {
    seqField: 'seq',
    genesis: null,
    // previousDigest is one of the entry's fields, set from its link.
    digest: (entry) => digest(entry),
    seal: (entry, d) => ({ ...entry, digest: d }) as Omit<E, '_id'>,
    digestOf: (entry) => entry.digest,
    previousDigestOf: (entry) => entry.previousDigest,
  };
}

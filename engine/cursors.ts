// Server-side cursors: results are drawn from their source (a lazy scan of the store, or a list) a batch at a
// time, so reading a large collection holds one batch in memory, not the collection.
import { randomInt } from 'node:crypto';
import { BSON, Long } from 'bson';
import { ErrorCodes, MongoServerError } from './errors.ts';
import { RawDoc } from './raw.ts';
import { type Doc, bsonType, toNumber } from './values.ts';

const DEFAULT_FIRST_BATCH = 101;
// MongoDB fills a batch up to 16 MiB; 4 MiB keeps what one batch holds in memory (every document decoded, then
// encoded into the reply) a quarter of that, for one more round trip per 4 MiB read.
const MAX_BATCH_BYTES = 4 * 1024 * 1024;
const IDLE_TIMEOUT_MS = 10 * 60_000;

/** A document of a batch: decoded, or as the store holds it. */
type Item = Doc | RawDoc;

interface Source {
  it: Iterator<Item>;
  /** A document drawn but not yet handed out (it did not fit the previous batch). */
  held?: Item;
  done: boolean;
}

interface Cursor extends Source {
  id: Long;
  ns: string;
  lastUse: number;
  /** False once what the cursor reads from has gone (the transaction it was opened in has ended). */
  alive: () => boolean;
}

export function batchSizeOf(v: unknown, fallback: number | undefined): number | undefined {
  if (v === undefined || v === null) return fallback;
  const n = toNumber(v);
  if (!Number.isInteger(n) || n < 0) throw new MongoServerError(ErrorCodes.BadValue, `batchSize must be a non-negative integer, got ${String(n)}`);
  return n === 0 ? 0 : n;
}

export class Cursors {
  private readonly open = new Map<string, Cursor>();

  get size(): number {
    return this.open.size;
  }

  private next(c: Source): Item | undefined {
    if (c.held) {
      const d = c.held;
      c.held = undefined;
      return d;
    }
    if (c.done) return undefined;
    const r = c.it.next();
    if (r.done) {
      c.done = true;
      return undefined;
    }
    return r.value;
  }

  private take(c: Source, batchSize: number | undefined): Item[] {
    const out: Item[] = [];
    let bytes = 0;
    const limit = batchSize === undefined ? Infinity : batchSize;
    while (out.length < limit) {
      const doc = this.next(c);
      if (doc === undefined) break;
      const size = doc instanceof RawDoc ? doc.bytes.byteLength : BSON.calculateObjectSize(doc);
      if (out.length > 0 && bytes + size > MAX_BATCH_BYTES) {
        c.held = doc;
        break;
      }
      bytes += size;
      out.push(doc);
    }
    // Look ahead, so a cursor whose last document went out closes now rather than at an empty getMore.
    if (!c.held && !c.done) c.held = this.next(c);
    return out;
  }

  private exhausted(c: Source): boolean {
    return c.held === undefined && c.done;
  }

  /** The `cursor` field of a find/aggregate/list reply; keeps a cursor open when documents remain. */
  first(ns: string, docs: Iterable<Item>, batchSize: number | undefined, singleBatch = false, alive: () => boolean = () => true): Doc {
    const state: Source = { it: docs[Symbol.iterator](), done: false };
    const firstBatch = this.take(state, batchSize ?? DEFAULT_FIRST_BATCH);
    let id = Long.ZERO;
    if (!singleBatch && !this.exhausted(state)) {
      // Random in [2^53, 2^63): never a value a driver's promoteLongs would turn into a number, which getMore refuses.
      id = Long.fromBits(randomInt(0, 2 ** 32) | 0, randomInt(2 ** 21, 2 ** 31));
      this.open.set(id.toString(), { ...state, id, ns, lastUse: Date.now(), alive });
    } else state.it.return?.();
    return { id, ns, firstBatch };
  }

  more(idValue: unknown, collection: string, db: string, batchSize: number | undefined): Doc {
    if (bsonType(idValue) !== 'Long') throw new MongoServerError(ErrorCodes.TypeMismatch, "Field 'getMore' must be of type long in: getMore");
    const key = (idValue as Long).toString();
    const c = this.open.get(key);
    if (!c) throw new MongoServerError(ErrorCodes.CursorNotFound, `cursor id ${key} not found`);
    if (c.ns !== `${db}.${collection}`) {
      throw new MongoServerError(ErrorCodes.Unauthorized, `Requested getMore on namespace '${db}.${collection}', but cursor belongs to a different namespace ${c.ns}`);
    }
    if (!c.alive()) {
      this.open.delete(key);
      c.it.return?.();
      throw new MongoServerError(ErrorCodes.CursorNotFound, `cursor id ${key} was killed: the transaction it was opened in has ended`);
    }
    c.lastUse = Date.now();
    let nextBatch: Item[];
    try {
      nextBatch = this.take(c, batchSize);
    } catch (err) {
      // Its source is gone (the transaction it read in has ended) or failed: the cursor ends with the error.
      this.open.delete(key);
      if (err instanceof MongoServerError) throw err;
      throw new MongoServerError(ErrorCodes.CursorNotFound, `cursor id ${key} was killed: ${(err as Error).message}`);
    }
    const done = this.exhausted(c);
    if (done) this.open.delete(key);
    return { id: done ? Long.ZERO : c.id, ns: c.ns, nextBatch };
  }

  kill(ids: unknown[]): { killed: Long[]; notFound: Long[] } {
    const killed: Long[] = [];
    const notFound: Long[] = [];
    for (const id of ids) {
      const key = String(id);
      const c = this.open.get(key);
      if (c && this.open.delete(key)) {
        c.it.return?.();
        killed.push(id as Long);
      }
      else notFound.push(id as Long);
    }
    return { killed, notFound };
  }

  /** Ends every cursor (engine shutdown). */
  closeAll(): void {
    for (const c of this.open.values()) c.it.return?.();
    this.open.clear();
  }

  sweep(now = Date.now()): void {
    for (const [key, c] of this.open) {
      if (now - c.lastUse > IDLE_TIMEOUT_MS) {
        this.open.delete(key);
        c.it.return?.();
      }
    }
  }
}

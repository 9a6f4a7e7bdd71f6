// Server-side cursors: results are materialised when the cursor opens and handed out in batches.
import { randomInt } from 'node:crypto';
import { BSON, Long } from 'bson';
import { ErrorCodes, MongoServerError } from './errors.ts';
import { type Doc, bsonType, toNumber } from './values.ts';

const DEFAULT_FIRST_BATCH = 101;
// Leaves room for the reply envelope inside the 16 MiB document limit.
const MAX_BATCH_BYTES = 16 * 1024 * 1024 - 64 * 1024;
const IDLE_TIMEOUT_MS = 10 * 60_000;

interface Cursor {
  id: Long;
  ns: string;
  docs: Doc[];
  pos: number;
  lastUse: number;
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

  private take(c: Pick<Cursor, 'docs' | 'pos'>, batchSize: number | undefined): Doc[] {
    const out: Doc[] = [];
    let bytes = 0;
    const limit = batchSize === undefined ? Infinity : batchSize;
    while (c.pos < c.docs.length && out.length < limit) {
      const size = BSON.calculateObjectSize(c.docs[c.pos]);
      if (out.length > 0 && bytes + size > MAX_BATCH_BYTES) break;
      bytes += size;
      out.push(c.docs[c.pos++]);
    }
    return out;
  }

  /** The `cursor` field of a find/aggregate/list reply; keeps a cursor open when documents remain. */
  first(ns: string, docs: Doc[], batchSize: number | undefined, singleBatch = false): Doc {
    const state = { docs, pos: 0 };
    const firstBatch = this.take(state, batchSize ?? DEFAULT_FIRST_BATCH);
    let id = Long.ZERO;
    if (!singleBatch && state.pos < docs.length) {
      id = Long.fromNumber(randomInt(1, 2 ** 47) * 1024 + randomInt(0, 1024));
      this.open.set(id.toString(), { id, ns, docs, pos: state.pos, lastUse: Date.now() });
    }
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
    c.lastUse = Date.now();
    const nextBatch = this.take(c, batchSize);
    if (c.pos >= c.docs.length) this.open.delete(key);
    return { id: c.pos >= c.docs.length ? Long.ZERO : c.id, ns: c.ns, nextBatch };
  }

  kill(ids: unknown[]): { killed: Long[]; notFound: Long[] } {
    const killed: Long[] = [];
    const notFound: Long[] = [];
    for (const id of ids) {
      const key = String(id);
      if (this.open.delete(key)) killed.push(id as Long);
      else notFound.push(id as Long);
    }
    return { killed, notFound };
  }

  sweep(now = Date.now()): void {
    for (const [key, c] of this.open) if (now - c.lastUse > IDLE_TIMEOUT_MS) this.open.delete(key);
  }
}

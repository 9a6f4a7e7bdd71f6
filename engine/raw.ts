// Stored documents answered as the bytes they are stored as. A find without a projection hands the rows it read
// to the reply unchanged, rather than decoding every document and encoding it again: most of the CPU of reading,
// and most of the memory a batch holds while it is on its way.
import { BSON } from 'bson';
import { type Doc, EXACT, isPlainObject } from './values.ts';

/** A document as stored BSON, inside a cursor batch. */
export class RawDoc {
  constructor(readonly bytes: Uint8Array) {}
}

const BATCHES = ['firstBatch', 'nextBatch'] as const;

function batchOf(doc: Doc): { cursor: Doc; key: (typeof BATCHES)[number]; items: unknown[] } | undefined {
  const cursor = doc.cursor;
  if (!isPlainObject(cursor)) return undefined;
  for (const key of BATCHES) {
    const items = cursor[key];
    if (Array.isArray(items) && items.some((x) => x instanceof RawDoc)) return { cursor, key, items };
  }
  return undefined;
}

const serialize = (doc: Doc): Uint8Array => BSON.serialize(doc, { ignoreUndefined: true });

/** A BSON array of documents, raw ones copied as they are. */
function arrayOf(items: unknown[]): Buffer {
  const parts: Buffer[] = [];
  let size = 4 + 1;
  items.forEach((item, i) => {
    const bytes = item instanceof RawDoc ? item.bytes : serialize(item as Doc);
    const head = Buffer.from(`\u0003${i}\u0000`, 'latin1');
    parts.push(head, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    size += head.length + bytes.byteLength;
  });
  const out = Buffer.allocUnsafe(size);
  out.writeInt32LE(size, 0);
  let off = 4;
  for (const p of parts) off += p.copy(out, off);
  out[off] = 0;
  return out;
}

/** The BSON of `{ [name]: value, ...rest }` where value is already BSON of the given element type. */
function withFirstField(type: number, name: string, value: Uint8Array, rest: Doc): Buffer {
  const restBytes = serialize(rest);
  const head = Buffer.from(`${String.fromCharCode(type)}${name}\u0000`, 'latin1');
  const size = 4 + head.length + value.byteLength + restBytes.byteLength - 4;
  const out = Buffer.allocUnsafe(size);
  out.writeInt32LE(size, 0);
  let off = 4 + head.copy(out, 4);
  out.set(value, off);
  off += value.byteLength;
  out.set(restBytes.subarray(4), off);
  return out;
}

/** The BSON of a reply; a cursor batch holding raw documents is assembled around their bytes. */
export function serializeReply(doc: Doc): Uint8Array {
  const batch = batchOf(doc);
  if (!batch) return serialize(doc);
  const { [batch.key]: _items, ...cursorRest } = batch.cursor;
  const cursor = withFirstField(0x04, batch.key, arrayOf(batch.items), cursorRest);
  const { cursor: _cursor, ...rest } = doc;
  return withFirstField(0x03, 'cursor', cursor, rest);
}

/** The reply with its raw documents decoded, for callers in this process. */
export function materialize(doc: Doc): Doc {
  const batch = batchOf(doc);
  if (!batch) return doc;
  const items = batch.items.map((x) => (x instanceof RawDoc ? (BSON.deserialize(x.bytes, EXACT) as Doc) : x));
  return { ...doc, cursor: { ...batch.cursor, [batch.key]: items } };
}

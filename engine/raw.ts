// Stored documents answered as the bytes they are stored as. A find without a projection hands the rows it read
// to the reply unchanged, rather than decoding every document and encoding it again: most of the CPU of reading,
// and most of the memory a batch holds while it is on its way.
import { BSON } from 'bson';
import { type Doc, EXACT, isPlainObject } from './values.ts';

/**
 * A document as stored BSON, inside a cursor batch. `owned`: the bytes are a row read for this batch alone, so
 * they are released (`releaseNow`) once copied into the reply.
 */
export class RawDoc {
  constructor(
    readonly bytes: Uint8Array,
    readonly owned = false,
  ) {}
}

/**
 * Frees the memory behind `bytes` now instead of at the collector's next full collection, when `bytes` is all of
 * its ArrayBuffer (not a slice of a pool or of a message), by detaching it: it reads as empty from then on. V8
 * collects ArrayBuffers' memory only after 64 MiB more of it has been allocated, and reading the collection
 * allocates twice a batch per getMore (the rows as SQLite hands them over, then the reply): left to the collector,
 * 40 to 80 MiB of read buffers were resident at any time (engine/README.md "RSS while reading").
 */
export function releaseNow(bytes: Uint8Array): void {
  const buffer = bytes.buffer;
  if (buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === buffer.byteLength && buffer.byteLength > 0) buffer.transfer(0);
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

/** The bytes of an element's type and name: `type name\0`. */
const elementHead = (type: number, name: string): Buffer => Buffer.from(`${String.fromCharCode(type)}${name}\u0000`, 'latin1');

/**
 * The BSON of a reply, after `prefix` bytes left free for the message header. A cursor batch holding raw documents
 * is written around their bytes straight into the one buffer: a batch of 4 MiB costs one 4 MiB allocation, not one
 * per level of nesting (which left several times the batch as garbage for the collector at every getMore).
 */
export function serializeReply(doc: Doc, prefix = 0): Buffer {
  const batch = batchOf(doc);
  if (!batch) {
    const bytes = serialize(doc);
    if (prefix === 0) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const out = Buffer.allocUnsafe(prefix + bytes.byteLength);
    out.set(bytes, prefix);
    return out;
  }
  // Layout: { cursor: { <batch key>: [ items ], ...cursorRest }, ...rest }, the batch first as MongoDB sends it.
  const { [batch.key]: _items, ...cursorRest } = batch.cursor;
  const { cursor: _cursor, ...rest } = doc;
  const items = batch.items.map((item, i) => ({
    head: elementHead(0x03, String(i)),
    bytes: item instanceof RawDoc ? item.bytes : serialize(item as Doc),
  }));
  const restBytes = serialize(rest);
  const cursorRestBytes = serialize(cursorRest);
  const cursorHead = elementHead(0x03, 'cursor');
  const batchHead = elementHead(0x04, batch.key);
  const arraySize = items.reduce((n, it) => n + it.head.length + it.bytes.byteLength, 4 + 1);
  // A document's fields are its bytes less the length prefix (4) and its terminating zero, which it keeps.
  const cursorSize = 4 + batchHead.length + arraySize + cursorRestBytes.byteLength - 4;
  const replySize = 4 + cursorHead.length + cursorSize + restBytes.byteLength - 4;
  const out = Buffer.allocUnsafe(prefix + replySize);
  let off = prefix;
  const put = (bytes: Uint8Array): void => {
    out.set(bytes, off);
    off += bytes.byteLength;
  };
  const size = (n: number): void => {
    out.writeInt32LE(n, off);
    off += 4;
  };
  size(replySize);
  put(cursorHead);
  size(cursorSize);
  put(batchHead);
  size(arraySize);
  for (const it of items) {
    put(it.head);
    put(it.bytes);
  }
  for (const item of batch.items) if (item instanceof RawDoc && item.owned) releaseNow(item.bytes);
  out[off++] = 0;
  put(cursorRestBytes.subarray(4));
  put(restBytes.subarray(4));
  if (off !== out.length) throw new Error(`reply assembled to ${off - prefix} bytes, expected ${replySize}`);
  return out;
}

/** The reply with its raw documents decoded, for callers in this process. */
export function materialize(doc: Doc): Doc {
  const batch = batchOf(doc);
  if (!batch) return doc;
  const items = batch.items.map((x) => (x instanceof RawDoc ? (BSON.deserialize(x.bytes, EXACT) as Doc) : x));
  return { ...doc, cursor: { ...batch.cursor, [batch.key]: items } };
}

// Documents as the bytes the driver sent, read without decoding them.
//
// Decoding a claim-sized document (2 KB, ~80 values) costs more than storing it: in `npm run bench -- engine` it was
// a fifth of an insert's CPU and most of its garbage. An insert needs of a document only its `_id` and the fields
// its indexes read; the rest goes to the store as it arrived, once checked here as a decode would check it.
// bson's own element walk (`onDemand.parseToElements`, experimental) was the first choice: it allocates an array per
// element and leaves UTF-8, booleans and nesting to its caller, and this walk, which allocates nothing, takes a
// third of its time. Anything outside the common types is left to a full decode, so nothing accepted here is a
// document `BSON.deserialize` would refuse (engine/raw-bson.test.ts corrupts documents at random to hold that).
import { BSON } from 'bson';
import { isUtf8 } from 'node:buffer';
import { type Doc, EXACT } from './values.ts';

const T_DOUBLE = 0x01;
const T_STRING = 0x02;
const T_OBJECT = 0x03;
const T_ARRAY = 0x04;
const T_BINARY = 0x05;
const T_OBJECT_ID = 0x07;
const T_BOOL = 0x08;
const T_DATE = 0x09;
const T_NULL = 0x0a;
const T_INT = 0x10;
const T_TIMESTAMP = 0x11;
const T_LONG = 0x12;
const T_DECIMAL = 0x13;
const BINARY_OLD = 0x02;

/** Deeper than MongoDB's own limit (100 levels, BSONDepth::kDefaultMaxAllowableDepth): left to the full decode. */
const MAX_DEPTH = 100;

const int32 = (b: Uint8Array, p: number): number => b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24);

/** Whether bytes[start, end) are UTF-8: a loop for the ASCII most names and many strings are, `isUtf8` otherwise. */
function utf8(bytes: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (bytes[i] > 0x7f) return isUtf8(bytes.subarray(i, end));
  return true;
}

/**
 * The size of the value of `type` at `p`, when it is one of the common types and fits before `last`; -1 otherwise.
 * Lengths are checked, contents are not.
 */
function valueSize(b: Uint8Array, p: number, type: number, last: number): number {
  let n: number;
  switch (type) {
    case T_DOUBLE: case T_DATE: case T_TIMESTAMP: case T_LONG: n = 8; break;
    case T_INT: n = 4; break;
    case T_OBJECT_ID: n = 12; break;
    case T_DECIMAL: n = 16; break;
    case T_NULL: n = 0; break;
    case T_BOOL: n = 1; break;
    case T_STRING: // int32 size (counting the terminator), the UTF-8, a zero byte
      if (p + 4 > last) return -1;
      n = int32(b, p);
      if (n < 1) return -1;
      n += 4;
      break;
    case T_OBJECT: case T_ARRAY:
      if (p + 4 > last) return -1;
      n = int32(b, p);
      if (n < 5) return -1;
      break;
    case T_BINARY: // int32 size, a subtype byte, the bytes
      if (p + 4 > last) return -1;
      n = int32(b, p);
      if (n < 0) return -1;
      n += 5;
      break;
    default:
      return -1;
  }
  return p + n > last ? -1 : n;
}

/**
 * Whether `bytes` is a BSON document made only of common types, each well formed (what `BSON.deserialize` would
 * accept). False means "not known": the caller decodes it in full, which accepts or refuses it.
 */
export function plainlyWellFormed(bytes: Uint8Array): boolean {
  return bytes.length >= 5 && int32(bytes, 0) === bytes.length && walk(bytes, 0, bytes.length, 0);
}

/** Checks the document at [start, end), its length already known to be end - start. */
function walk(b: Uint8Array, start: number, end: number, depth: number): boolean {
  if (depth > MAX_DEPTH || b[end - 1] !== 0) return false;
  const last = end - 1; // the document's terminating zero
  let p = start + 4;
  while (p < last) {
    const type = b[p++];
    const name = p;
    while (p < last && b[p] !== 0) p++;
    if (p >= last || !utf8(b, name, p)) return false;
    p++;
    const n = valueSize(b, p, type, last);
    if (n < 0) return false;
    if (type === T_BOOL && b[p] > 1) return false;
    if (type === T_STRING && (b[p + n - 1] !== 0 || !utf8(b, p + 4, p + n - 1))) return false;
    if ((type === T_OBJECT || type === T_ARRAY) && !walk(b, p, p + n, depth + 1)) return false;
    if (type === T_BINARY && b[p + 4] === BINARY_OLD) return false;
    p += n;
  }
  return p === last;
}

/** Whether the document's first field is `_id` (as drivers send it). */
export function startsWithId(bytes: Uint8Array): boolean {
  // type byte at 4, then the name: "_id\0"
  return bytes.length > 9 && bytes[5] === 0x5f && bytes[6] === 0x69 && bytes[7] === 0x64 && bytes[8] === 0;
}

/** Field names as the bytes they are compared with. */
export class FieldNames {
  private readonly encoded: Buffer[];

  constructor(names: Iterable<string>) {
    this.encoded = [...new Set(['_id', ...names])].map((n) => Buffer.from(n, 'utf8'));
  }

  has(bytes: Uint8Array, offset: number, length: number): boolean {
    outer: for (const name of this.encoded) {
      if (name.length !== length) continue;
      for (let i = 0; i < length; i++) if (name[i] !== bytes[offset + i]) continue outer;
      return true;
    }
    return false;
  }
}

/**
 * The top-level fields of `bytes` named in `names` (`_id` always), decoded exactly; the others are not read. The
 * bytes must be known well formed (plainlyWellFormed).
 */
export function pickFields(bytes: Uint8Array, names: FieldNames): Doc {
  const picked = pickedFields(bytes, names);
  // Only for bytes plainlyWellFormed accepted: anything else would be read as garbage, so it is refused loudly.
  if (!picked) throw new Error('pickFields: the document holds a type the plain walk does not know');
  return picked;
}

/**
 * As pickFields, for stored documents, which may hold any BSON type: undefined when the walk meets a type it does
 * not know (the caller decodes the whole document instead).
 */
export function pickedFields(bytes: Uint8Array, names: FieldNames): Doc | undefined {
  const picked: Array<[number, number]> = []; // [start of the element (its type byte), end]
  let size = 5;
  const last = bytes.length - 1;
  let p = 4;
  while (p < last) {
    const start = p;
    const type = bytes[p++];
    const name = p;
    while (bytes[p] !== 0) p++;
    const wanted = names.has(bytes, name, p - name);
    p++;
    const n = valueSize(bytes, p, type, last);
    if (n < 0) return undefined;
    p += n;
    if (wanted) {
      picked.push([start, p]);
      size += p - start;
    }
  }
  // One small document of the chosen elements, decoded by bson as usual.
  const out = new Uint8Array(size);
  new DataView(out.buffer).setInt32(0, size, true);
  let at = 4;
  for (const [start, end] of picked) {
    out.set(bytes.subarray(start, end), at);
    at += end - start;
  }
  out[at] = 0;
  return BSON.deserialize(out, EXACT) as Doc;
}

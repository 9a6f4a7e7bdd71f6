// The BSON a document is stored as, and MongoDB's limit on it: 16,777,216 bytes, refused with BSONObjectTooLarge
// (10334) before anything is written.
import { BSON } from 'bson';
import type { Entry } from './collection.ts';
import { ErrorCodes, MongoServerError } from './errors.ts';
import type { Doc } from './values.ts';
import { rawBsonOf } from './wire.ts';

export const MAX_BSON_OBJECT_SIZE = 16 * 1024 * 1024;

export function tooLarge(size: number | undefined, update = false): MongoServerError {
  const message = update
    ? `Resulting document after update is larger than ${MAX_BSON_OBJECT_SIZE}`
    : `object to insert too large. size in bytes: ${size === undefined ? 'more than' : `${size},`} max size: ${MAX_BSON_OBJECT_SIZE}`;
  return new MongoServerError(ErrorCodes.BSONObjectTooLarge, message);
}

/** A document as BSON, or BSONObjectTooLarge (10334) when it is over 16 MiB (worded as MongoDB does for an update). */
export function serializeDoc(doc: Doc, update = false): Uint8Array {
  const raw = rawBsonOf(doc);
  if (raw) {
    if (raw.length > MAX_BSON_OBJECT_SIZE) throw tooLarge(raw.length, update);
    return raw;
  }
  let bytes: Uint8Array;
  try {
    bytes = BSON.serialize(doc, { ignoreUndefined: true });
  } catch (err) {
    if (err instanceof RangeError || /size|large|exceed/i.test((err as Error).message)) throw tooLarge(undefined, update);
    throw err;
  }
  if (bytes.length > MAX_BSON_OBJECT_SIZE) throw tooLarge(bytes.length, update);
  return bytes;
}

/** The BSON an entry is stored as: the bytes it came with, or its document serialised; refused over 16 MiB. */
export function bytesOf(entry: Entry, update = false): Uint8Array {
  if (!entry.bytes) return serializeDoc(entry.exact, update);
  if (entry.bytes.length > MAX_BSON_OBJECT_SIZE) throw tooLarge(entry.bytes.length, update);
  return entry.bytes;
}

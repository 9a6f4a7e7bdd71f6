// MongoDB wire protocol framing: OP_QUERY (legacy handshake only), OP_REPLY, OP_MSG.
// https://www.mongodb.com/docs/manual/reference/mongodb-wire-protocol/
import { BSON } from 'bson';
import { serializeReply } from './raw.ts';
import { plainlyWellFormed } from './raw-bson.ts';
import type { Doc } from './values.ts';

export const OP_REPLY = 1;
export const OP_QUERY = 2004;
export const OP_COMPRESSED = 2012;
export const OP_MSG = 2013;

export const MAX_MESSAGE_BYTES = 48_000_000;
export const MAX_BSON_BYTES = 16 * 1024 * 1024;

const FLAG_CHECKSUM = 1 << 0;
const FLAG_MORE_TO_COME = 1 << 1;
const FLAG_EXHAUST_ALLOWED = 1 << 16;
const KNOWN_FLAGS = FLAG_CHECKSUM | FLAG_MORE_TO_COME | FLAG_EXHAUST_ALLOWED;

import { EXACT } from './values.ts';

export { EXACT };

/** A message that cannot be parsed: the connection that sent it is closed, the server keeps serving. */
export class WireError extends Error {}

export interface Header {
  length: number;
  requestId: number;
  responseTo: number;
  opCode: number;
}

export type Request =
  | { kind: 'query'; header: Header; collection: string; skip: number; limit: number; query: Doc }
  | { kind: 'msg'; header: Header; moreToCome: boolean; exhaustAllowed: boolean; body: Doc }
  | { kind: 'unsupported'; header: Header };

/** Where the document at `offset` ends, its length and terminator checked. */
function docEnd(buf: Buffer, offset: number, end: number): number {
  if (offset + 5 > end) throw new WireError('document runs past the end of the message');
  const size = buf.readInt32LE(offset);
  if (size < 5 || offset + size > end) throw new WireError(`invalid document length ${size}`);
  if (buf[offset + size - 1] !== 0) throw new WireError('document is not null-terminated');
  return offset + size;
}

function readDoc(buf: Buffer, offset: number, end: number): [Doc, number] {
  const next = docEnd(buf, offset, end);
  try {
    return [BSON.deserialize(buf.subarray(offset, next), EXACT) as Doc, next];
  } catch (err) {
    throw new WireError(`invalid BSON: ${(err as Error).message}`);
  }
}

function readCString(buf: Buffer, offset: number, end: number): [string, number] {
  const zero = buf.indexOf(0, offset);
  if (zero < 0 || zero >= end) throw new WireError('unterminated string');
  return [buf.toString('utf8', offset, zero), zero + 1];
}

/**
 * The BSON a document of a document sequence arrived as (inserts and updates are sent that way): an insert stores
 * these bytes instead of serialising the document again, as MongoDB stores what the client sent.
 */
const rawBson = new WeakMap<object, Uint8Array>();
export const rawBsonOf = (doc: object): Uint8Array | undefined => rawBson.get(doc);

/**
 * An insert's documents as they arrived (engine/raw-bson.ts): the bytes of each plainly well-formed one, which the
 * insert reads only `_id` and its indexed fields of; the others decoded (their bytes still kept, see rawBsonOf).
 * The body's `documents` is there for every other reader, decoded on first use.
 */
const rawDocuments = new WeakMap<Doc, Array<Uint8Array | Doc>>();
export const rawDocumentsOf = (body: Doc): Array<Uint8Array | Doc> | undefined => rawDocuments.get(body);

/** Sequences left as bytes until read: only an insert's, whose documents the insert itself need not decode. */
const LAZY_SEQUENCE = 'documents';

/** A document of a sequence decoded whole, its bytes kept (rawBsonOf): an insert stores them as they came. */
export function decodeSequenceDoc(bytes: Uint8Array): Doc {
  const doc = BSON.deserialize(bytes, EXACT) as Doc;
  rawBson.set(doc, bytes);
  return doc;
}

/** `body[identifier]` as the documents of `items`, those still bytes decoded when first read. */
function defineLazySequence(body: Doc, identifier: string, items: Array<Uint8Array | Doc>): void {
  const settle = (value: unknown) => Object.defineProperty(body, identifier, { value, writable: true, enumerable: true, configurable: true });
  Object.defineProperty(body, identifier, {
    enumerable: true,
    configurable: true,
    get() {
      const docs = items.map((item) => (item instanceof Uint8Array ? decodeSequenceDoc(item) : item));
      settle(docs);
      return docs;
    },
    set: settle,
  });
  rawDocuments.set(body, items);
}

/** Parses one complete message (the buffer holds exactly `header.length` bytes). */
export function parseMessage(buf: Buffer): Request {
  if (buf.length < 16) throw new WireError('message shorter than its header');
  const header: Header = {
    length: buf.readInt32LE(0),
    requestId: buf.readInt32LE(4),
    responseTo: buf.readInt32LE(8),
    opCode: buf.readInt32LE(12),
  };
  if (header.length !== buf.length) throw new WireError('message length does not match its header');

  if (header.opCode === OP_QUERY) {
    let off = 16 + 4; // flags
    const [collection, afterName] = readCString(buf, off, buf.length);
    off = afterName;
    if (off + 8 > buf.length) throw new WireError('truncated OP_QUERY');
    const skip = buf.readInt32LE(off);
    const limit = buf.readInt32LE(off + 4);
    const [query] = readDoc(buf, off + 8, buf.length);
    return { kind: 'query', header, collection, skip, limit, query };
  }

  if (header.opCode === OP_MSG) {
    if (buf.length < 21) throw new WireError('truncated OP_MSG');
    const flags = buf.readUInt32LE(16);
    if (flags & 0xffff & ~KNOWN_FLAGS) throw new WireError(`unknown required OP_MSG flag bits ${flags.toString(16)}`);
    const end = flags & FLAG_CHECKSUM ? buf.length - 4 : buf.length;
    let off = 20;
    let body: Doc | undefined;
    const sequences: Array<[string, Doc[] | { items: Array<Uint8Array | Doc> }]> = [];
    while (off < end) {
      const kind = buf[off++];
      if (kind === 0) {
        if (body) throw new WireError('OP_MSG with more than one body section');
        [body, off] = readDoc(buf, off, end);
      } else if (kind === 1) {
        if (off + 4 > end) throw new WireError('truncated document sequence');
        const size = buf.readInt32LE(off);
        const seqEnd = off + size;
        if (size < 5 || seqEnd > end) throw new WireError('invalid document sequence length');
        let [identifier, p] = readCString(buf, off + 4, seqEnd);
        if (identifier === LAZY_SEQUENCE) {
          // Checked now as a decode would check it (a bad document still closes the connection); one of the common
          // types only is left as bytes, any other decoded now.
          const items: Array<Uint8Array | Doc> = [];
          while (p < seqEnd) {
            const next = docEnd(buf, p, seqEnd);
            const bytes = buf.subarray(p, next);
            if (plainlyWellFormed(bytes)) items.push(bytes);
            else {
              const [doc] = readDoc(buf, p, seqEnd);
              rawBson.set(doc, bytes);
              items.push(doc);
            }
            p = next;
          }
          sequences.push([identifier, { items }]);
        } else {
          const docs: Doc[] = [];
          while (p < seqEnd) {
            const [doc, next] = readDoc(buf, p, seqEnd);
            rawBson.set(doc, buf.subarray(p, next));
            docs.push(doc);
            p = next;
          }
          sequences.push([identifier, docs]);
        }
        off = seqEnd;
      } else {
        throw new WireError(`unknown OP_MSG section kind ${kind}`);
      }
    }
    if (!body) throw new WireError('OP_MSG without a body section');
    for (const [identifier, docs] of sequences) {
      if (identifier in body) throw new WireError(`document sequence '${identifier}' duplicates a body field`);
      if (Array.isArray(docs)) body[identifier] = docs;
      else defineLazySequence(body, identifier, docs.items);
    }
    return {
      kind: 'msg',
      header,
      moreToCome: (flags & FLAG_MORE_TO_COME) !== 0,
      exhaustAllowed: (flags & FLAG_EXHAUST_ALLOWED) !== 0,
      body,
    };
  }

  return { kind: 'unsupported', header };
}

/** An OP_REPLY (the legacy handshake's answer): its header is written in front of the reply's BSON. */
export function encodeReply(requestId: number, responseTo: number, doc: Doc): Buffer {
  const out = serializeReply(doc, 36);
  out.writeInt32LE(out.length, 0);
  out.writeInt32LE(requestId, 4);
  out.writeInt32LE(responseTo, 8);
  out.writeInt32LE(OP_REPLY, 12);
  out.writeInt32LE(8, 16); // responseFlags: AwaitCapable
  out.writeBigInt64LE(0n, 20); // cursorID
  out.writeInt32LE(0, 28); // startingFrom
  out.writeInt32LE(1, 32); // numberReturned
  return out;
}

/** An OP_MSG with one body section, written in the same buffer as the reply's BSON. */
export function encodeMsg(requestId: number, responseTo: number, doc: Doc): Buffer {
  const out = serializeReply(doc, 21);
  out.writeInt32LE(out.length, 0);
  out.writeInt32LE(requestId, 4);
  out.writeInt32LE(responseTo, 8);
  out.writeInt32LE(OP_MSG, 12);
  out.writeUInt32LE(0, 16);
  out.writeUInt8(0, 20);
  return out;
}

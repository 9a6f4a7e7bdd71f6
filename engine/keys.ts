// Order-preserving binary keys of BSON values, for the on-disk indexes (engine/store.ts).
//
// Two keys compare with memcmp (SQLite's BLOB order) as MongoDB compares the values they encode: first by BSON
// type order, then by value. Equal values give equal keys (1, 1.0, Long(1) and Decimal128('1.0') give one key),
// so unique indexes can compare keys. Every encoding is self-delimiting (prefix-free), which is what lets a
// compound key be the concatenation of its parts and a descending part be its bytes inverted.
//
// Layout: one type byte (0x10 + MongoDB's type rank), then
//   numbers    the double as 8 sortable bytes, then 0x00; or, for a Long or Decimal128 that a double cannot
//              hold exactly, 0x01 + its exact value as text + terminator (ties in the double are rare and
//              are re-checked by the matcher, which compares exactly)
//   strings    UTF-8 with 0x00 escaped as 0x00 0xFF, ended by 0x00 0x00 (memcmp on UTF-8 is code point order)
//   objects    per field: type byte, escaped name, value; then 0x00
//   arrays     per element: type byte, value; then 0x00
//   binary     length (4 bytes), subtype, bytes
//   ObjectId   its 12 bytes; Date: 8 bytes of signed milliseconds, sign flipped; Timestamp: 8 bytes
import type { Binary, BSONRegExp, ObjectId, Timestamp } from 'bson';
import { type Doc, toNumber } from './values.ts';
import { inexactNumberText } from './exact-numbers.ts';
import { typeRank } from './value-order.ts';

/** The type byte of a value: its rank in MongoDB's type order, above 0x00 (terminator) and below 0xDF (inverted). */
export const typeByte = (v: unknown): number => 0x10 + typeRank(v);

class KeyWriter {
  private buf = Buffer.allocUnsafe(64);
  private len = 0;

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  /** Bytes with 0x00 escaped, then the 0x00 0x00 terminator. */
  escaped(b: Uint8Array): void {
    this.ensure(b.length * 2 + 2);
    for (const x of b) {
      this.buf[this.len++] = x;
      if (x === 0) this.buf[this.len++] = 0xff;
    }
    this.buf[this.len++] = 0;
    this.buf[this.len++] = 0;
  }

  text(s: string): void {
    this.escaped(Buffer.from(s, 'utf8'));
  }

  double(n: number): void {
    this.ensure(8);
    if (Number.isNaN(n)) {
      // MongoDB orders NaN below every other number.
      this.buf.fill(0, this.len, this.len + 8);
    } else {
      this.buf.writeDoubleBE(n === 0 ? 0 : n, this.len); // -0 equals 0
      if (n < 0) for (let i = this.len; i < this.len + 8; i++) this.buf[i] = ~this.buf[i] & 0xff;
      else this.buf[this.len] |= 0x80;
    }
    this.len += 8;
  }

  value(v: unknown): void {
    const t = typeByte(v);
    this.byte(t);
    switch (t - 0x10) {
      case 1: // MinKey
      case 2: // null, undefined, missing
      case 14: // MaxKey
        return;
      case 3: {
        this.double(toNumber(v));
        const exact = inexactNumberText(v);
        if (exact === undefined) this.byte(0);
        else {
          this.byte(1);
          this.text(exact);
        }
        return;
      }
      case 4:
        this.text(String(v));
        return;
      case 5:
        for (const [k, x] of Object.entries(v as Doc)) {
          if (x === undefined) continue;
          this.byte(typeByte(x));
          this.text(k);
          this.value(x);
        }
        this.byte(0);
        return;
      case 6:
        for (const x of v as unknown[]) this.value(x);
        this.byte(0);
        return;
      case 7: {
        const bytes = v instanceof Uint8Array ? v : (v as Binary).buffer.subarray(0, (v as Binary).position);
        this.ensure(5);
        this.buf.writeUInt32BE(bytes.length, this.len);
        this.len += 4;
        this.byte(v instanceof Uint8Array ? 0 : (v as Binary).sub_type);
        this.bytes(bytes);
        return;
      }
      case 8:
        this.bytes((v as ObjectId).id);
        return;
      case 9:
        this.byte(v ? 1 : 0);
        return;
      case 10: {
        this.ensure(8);
        const ms = BigInt(Math.trunc((v as Date).getTime() || 0));
        this.buf.writeBigUInt64BE(BigInt.asUintN(64, ms) ^ (1n << 63n), this.len);
        this.len += 8;
        return;
      }
      case 11: {
        this.ensure(8);
        const ts = v as Timestamp;
        this.buf.writeUInt32BE(ts.high >>> 0, this.len);
        this.buf.writeUInt32BE(ts.low >>> 0, this.len + 4);
        this.len += 8;
        return;
      }
      case 12: {
        const [source, flags] = v instanceof RegExp ? [v.source, v.flags] : [(v as BSONRegExp).pattern, (v as BSONRegExp).options];
        this.text(source);
        this.text(flags);
        return;
      }
      default:
        this.text(String(v));
    }
  }

  /** Appends `part` inverted (a descending index field). */
  inverted(part: Buffer): void {
    this.ensure(part.length);
    for (const b of part) this.buf[this.len++] = ~b & 0xff;
  }

  done(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.len));
  }
}

/** The key of one value. */
export function valueKey(v: unknown): Buffer {
  const w = new KeyWriter();
  w.value(v);
  return w.done();
}

/** The key of a tuple of values, one per index field, with -1 directions inverted. */
export function tupleKey(values: unknown[], directions: number[]): Buffer {
  if (values.length === 1 && directions[0] > 0) return valueKey(values[0]);
  const w = new KeyWriter();
  values.forEach((v, i) => {
    if (directions[i] > 0) w.value(v);
    else w.inverted(valueKey(v));
  });
  return w.done();
}

/** Lowest key of a value's type (for ranges open at the bottom, which MongoDB brackets by type). */
export const typeStart = (v: unknown): Buffer => Buffer.from([typeByte(v)]);
/** Above every key of a value's type. */
export const typeEnd = (v: unknown): Buffer => Buffer.from([typeByte(v) + 1]);

/**
 * Above every key that starts with `prefix`: any key that extends a complete encoded part continues with a
 * type byte (0x11..0x1e) or an inverted one (0xe1..0xee), never 0xff.
 */
export const afterPrefix = (prefix: Buffer): Buffer => Buffer.concat([prefix, Buffer.from([0xff])]);

/** Inverts a key part (for bounds on descending fields). */
export function invert(part: Buffer): Buffer {
  const out = Buffer.allocUnsafe(part.length);
  for (let i = 0; i < part.length; i++) out[i] = ~part[i] & 0xff;
  return out;
}

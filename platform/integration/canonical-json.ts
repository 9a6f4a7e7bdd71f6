// Canonical JSON: one spelling of a value, for what a digest covers (the hash chains, platform/integration/hash-chain.ts)
// and for content filed as JSON (vouchers, appraisal opinions, destruction registers). The text is RFC 8785, the JSON
// Canonicalization Scheme, written by the `canonicalize` library: keys sorted by UTF-16 code units at every level,
// strings escaped and numbers spelled as JSON.stringify does.
//
// Digests and content already stored were made by two hand-written functions before this one, so the bytes must
// stay theirs. Before the library sees a value, toJsonValue() reduces it to plain JSON as those functions read it;
// where the library alone would differ:
// - a string with a lone surrogate: the library refuses it; the old functions wrote JSON.stringify's escape (\ud800).
//   Such a string goes to the library as a unique marker, and the marker's text is replaced by that escape after.
// - NaN and ±Infinity: refused by the library; written as null before.
// - undefined as the whole value: the library returns nothing; the old functions wrote null (in an array, both do).
// - Dates: toISOString(), which throws for an invalid date, as before (the library's toJSON would write null).
// - every other object, ObjectIds, Buffers and boxed primitives included: its own enumerable keys, as before; the
//   library would call toJSON (an ObjectId's hex, a Buffer's { type, data }) or unbox.
// - object members that are undefined: left out, as the records' and the access log's form did (and RFC 8785 does);
//   the audit trail's form wrote them as null, which { undefinedMembers: 'null' } keeps.
// Old outputs that were not JSON at all cannot be kept and were never stored: a sparse array's hole (old `[,1]`, now
// null) and a function or symbol (old `undefined`, now treated as undefined). Keys are field names from code; one
// with a lone surrogate is refused by the library (old: escaped).
import { randomUUID } from 'node:crypto';
import canonicalize from 'canonicalize';

export interface CanonicalOptions {
  /** Object members whose value is undefined: left out (the default), or written as null (the audit trail's form). */
  undefinedMembers?: 'omit' | 'null';
}

/** A lone surrogate: with the u flag a pair is one code point, so only an unpaired half matches. */
const LONE_SURROGATE = /\p{Cs}/u;

/** The canonical JSON text of a value, byte for byte what the archive and the audit trail have always stored. */
export function canonicalJson(value: unknown, options: CanonicalOptions = {}): string {
  const omit = options.undefinedMembers !== 'null';
  const lone: string[] = [];
  let marker = '';
  const toJsonValue = (v: unknown): unknown => {
    if (v === undefined || v === null || typeof v === 'function' || typeof v === 'symbol') return null;
    if (typeof v === 'number') return Number.isFinite(v) ? v : null;
    if (typeof v === 'string') {
      if (!LONE_SURROGATE.test(v)) return v;
      marker ||= `\uE000${randomUUID()}:`;
      lone.push(v);
      return `${marker}${lone.length - 1}\uE000`;
    }
    if (typeof v !== 'object') return v; // booleans; a bigint the library refuses, as JSON.stringify did
    if (v instanceof Date) return v.toISOString();
    if (Array.isArray(v)) return Array.from(v, (item: unknown) => toJsonValue(item));
    // No prototype: a member named __proto__ stays a member, and nothing is inherited (no toJSON).
    const plain: Record<string, unknown> = Object.create(null);
    for (const key of Object.keys(v)) {
      const member = (v as Record<string, unknown>)[key];
      if (member === undefined || typeof member === 'function' || typeof member === 'symbol') {
        if (!omit) plain[key] = null;
        continue;
      }
      plain[key] = toJsonValue(member);
    }
    return plain;
  };
  const text = canonicalize(toJsonValue(value)) as string;
  if (lone.length === 0) return text;
  return text.replace(new RegExp(`"${marker}(\\d+)\uE000"`, 'g'), (_, i: string) => JSON.stringify(lone[Number(i)]));
}

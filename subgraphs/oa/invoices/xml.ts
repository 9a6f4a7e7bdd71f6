// Hostile-input-safe XML reading for invoice files (数电票 XML, the XML parts of an OFD).
// fast-xml-parser never fetches anything; on top of that a document type declaration is refused before parsing
// (no DTD, so no entity of ours can expand: XXE and "billion laughs" have nothing to work with), entity processing is
// off (the five predefined entities and character references are decoded here, after parsing, by a fixed table),
// values stay strings (an invoice number must not become a number), nesting is bounded, and the input is bounded in
// bytes and must be well-formed UTF-8.
import { XMLParser, XMLValidator } from 'fast-xml-parser';

/** Largest XML accepted, checked before anything is decoded or parsed. */
export const MAX_XML_BYTES = 5 * 1024 * 1024;
/** Deepest element nesting accepted (a 数电票 is about 5 levels deep). */
export const MAX_XML_DEPTH = 32;
/** Longest text of one element kept as a value. */
export const MAX_TEXT_LENGTH = 4096;

/** A typed failure naming what is missing or malformed; the caller answers BAD_USER_INPUT with its message. */
export class InvoiceParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvoiceParseError';
  }
}

export type XmlNode = { [name: string]: XmlValue };
export type XmlValue = string | XmlNode | XmlValue[];

const DECLARED_ENCODING = /^\uFEFF?<\?xml[^>]*\bencoding\s*=\s*["']([^"']+)["']/;

/** Bytes → text: size bound, UTF-8 only (the encoding 数电票 files are issued in), no DTD. */
export function decodeXml(bytes: Uint8Array, what: string): string {
  if (bytes.byteLength > MAX_XML_BYTES) throw new InvoiceParseError(`${what} is larger than ${MAX_XML_BYTES} bytes`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new InvoiceParseError(`${what} is not UTF-8 text`);
  }
  const declared = DECLARED_ENCODING.exec(text)?.[1];
  if (declared !== undefined && !/^utf-?8$/i.test(declared)) throw new InvoiceParseError(`${what} declares encoding ${declared.slice(0, 20)}; only UTF-8 is accepted`);
  // Checked on the raw text, so a DOCTYPE hidden anywhere (also after comments) is caught before the parser sees it.
  if (/<!DOCTYPE/i.test(text) || /<!ENTITY/i.test(text)) throw new InvoiceParseError(`${what} has a document type declaration (DOCTYPE/ENTITY), which is not accepted`);
  return text.replace(/^\uFEFF/, '');
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  processEntities: false,
  htmlEntities: false,
  trimValues: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  maxNestedTags: MAX_XML_DEPTH,
});

/** Parses bounded, DTD-free UTF-8 XML into plain objects (attributes under "@name", text under "#text"). */
export function parseXml(bytes: Uint8Array, what: string): XmlNode {
  const text = decodeXml(bytes, what);
  const valid = XMLValidator.validate(text, { allowBooleanAttributes: false });
  if (valid !== true) throw new InvoiceParseError(`${what} is not well-formed XML (line ${valid.err.line}: ${valid.err.msg.slice(0, 120)})`);
  try {
    return parser.parse(text) as XmlNode;
  } catch (err) {
    throw new InvoiceParseError(`${what} could not be read: ${(err as Error).message.slice(0, 120)}`);
  }
}

const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Decodes the five predefined XML entities and character references; anything else stays as written. */
export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-z]{2,4});/g, (whole, ref: string) => {
    if (ref.startsWith('#')) {
      const code = ref[1] === 'x' ? Number.parseInt(ref.slice(2), 16) : Number.parseInt(ref.slice(1), 10);
      return code > 0 && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff) ? String.fromCodePoint(code) : whole;
    }
    return PREDEFINED[ref] ?? whole;
  });
}

/** The child element `name` of `node` (the first one when repeated), or undefined. */
export function child(node: XmlValue | undefined, name: string): XmlValue | undefined {
  if (node === undefined || typeof node === 'string' || Array.isArray(node)) return undefined;
  const value = node[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Every child element `name` of `node`, in document order. */
export function children(node: XmlValue | undefined, name: string): XmlValue[] {
  if (node === undefined || typeof node === 'string' || Array.isArray(node)) return [];
  const value = node[name];
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** The text of an element along `path` (decoded, trimmed), or undefined when absent or empty. */
export function textAt(node: XmlValue | undefined, ...path: string[]): string | undefined {
  let current = node;
  for (const name of path) current = child(current, name);
  if (current === undefined) return undefined;
  const raw = typeof current === 'string' ? current : typeof current === 'object' && !Array.isArray(current) ? current['#text'] : undefined;
  if (typeof raw !== 'string') return undefined;
  const text = decodeEntities(raw).trim();
  if (text.length > MAX_TEXT_LENGTH) throw new InvoiceParseError(`${path.join('/')} is longer than ${MAX_TEXT_LENGTH} characters`);
  return text === '' ? undefined : text;
}

/** The value of attribute `name` of `node`, decoded, or undefined. */
export function attribute(node: XmlValue | undefined, name: string): string | undefined {
  if (node === undefined || typeof node === 'string' || Array.isArray(node)) return undefined;
  const value = node[`@${name}`];
  return typeof value === 'string' ? decodeEntities(value).trim() : undefined;
}

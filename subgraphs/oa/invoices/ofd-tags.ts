// The invoice fields an OFD tags on its own pages (GB/T 33190-2016, 自定义标引 CustomTags): the e-invoice OFDs the tax
// system issues print each field as page text and tag it, rather than carry it as data.
//   Document.xml   ofd:CustomTags → Tags/CustomTags.xml
//   CustomTags.xml ofd:CustomTag/ofd:FileLoc → the tag file (relative to CustomTags.xml), root eInvoice
//   tag file       InvoiceNo, IssueDate, Buyer/BuyerName, Buyer/BuyerTaxID, Seller/SellerName, Seller/SellerTaxID,
//                  TaxExclusiveTotalAmount, TaxTotalAmount, TaxInclusiveTotalAmount, each holding ofd:ObjectRef
//                  elements (PageRef: the page's ID) whose text is the ID of a text object
//   page content   ofd:TextObject ID="…" (in a layer or a page block, on the page or its template) whose
//                  ofd:TextCode elements, joined, are the printed value
// Open-source readers of real invoice OFDs resolve the same references (e.g. the OFD engine of the invoice tools
// found by searching "parse_custom_tag", and OfdSharp's invoice reader). Object IDs are unique in a document
// (CommonData/MaxUnitID), so every page and template the document lists is searched for them.
import path from 'node:path/posix';
import { type PartReader, packagePath } from './ofd-package.ts';
import { attribute, child, children, parseXml, textAt, type XmlValue } from './xml.ts';

/** The tagged fields read, by their path in the tag file. */
export const TAGGED_FIELDS = [
  'InvoiceNo',
  'IssueDate',
  'Buyer/BuyerName',
  'Buyer/BuyerTaxID',
  'Seller/SellerName',
  'Seller/SellerTaxID',
  'TaxExclusiveTotalAmount',
  'TaxTotalAmount',
  'TaxInclusiveTotalAmount',
] as const;
export type TaggedField = (typeof TAGGED_FIELDS)[number];

/** Page and template content parts searched for the tagged objects (an invoice has one page). */
const MAX_CONTENT_PARTS = 20;
/** Tag files listed by CustomTags.xml that are opened. */
const MAX_TAG_FILES = 10;

/**
 * The printed text of each tagged invoice field of the document at `docPath`, or null when it tags no invoice
 * (no CustomTags, no eInvoice tag file, or none of its references found).
 */
export async function taggedInvoiceText(document: XmlValue, docPath: string, read: PartReader): Promise<Map<TaggedField, string> | null> {
  const docDir = path.dirname(docPath);
  const tagsRef = textAt(document, 'CustomTags');
  const tagsPath = tagsRef === undefined ? null : packagePath(docDir, tagsRef);
  const tagsXml = tagsPath === null ? null : await read(tagsPath);
  if (tagsPath === null || tagsXml === null) return null;
  let refs: Map<TaggedField, string[]> | null = null;
  for (const tag of children(child(parseXml(tagsXml, tagsPath), 'CustomTags'), 'CustomTag').slice(0, MAX_TAG_FILES)) {
    const loc = textAt(tag, 'FileLoc');
    const tagPath = loc === undefined ? null : packagePath(path.dirname(tagsPath), loc);
    const tagXml = tagPath === null ? null : await read(tagPath);
    if (tagPath === null || tagXml === null) continue;
    const invoice = child(parseXml(tagXml, tagPath), 'eInvoice');
    if (invoice === undefined) continue;
    refs = objectRefs(invoice);
    break;
  }
  if (refs === null || refs.size === 0) return null;
  const wanted = new Set([...refs.values()].flat());
  const texts = await textObjects(document, docDir, read, wanted);
  const out = new Map<TaggedField, string>();
  for (const [field, ids] of refs) {
    const parts = ids.map((id) => texts.get(id)).filter((t): t is string => t !== undefined);
    const text = parts.join('').trim();
    if (text !== '') out.set(field, text);
  }
  return out.size ? out : null;
}

/** Per field, the IDs its ofd:ObjectRef elements name, in order. */
function objectRefs(invoice: XmlValue): Map<TaggedField, string[]> {
  const refs = new Map<TaggedField, string[]>();
  for (const field of TAGGED_FIELDS) {
    let node: XmlValue | undefined = invoice;
    for (const name of field.split('/')) node = child(node, name);
    // Some issuers put BuyerName etc. directly under eInvoice, without the Buyer/Seller element.
    if (node === undefined && field.includes('/')) node = child(invoice, field.split('/')[1]);
    const ids = children(node, 'ObjectRef')
      .map((ref) => textAt({ ref }, 'ref'))
      .filter((id): id is string => id !== undefined && /^\d{1,10}$/.test(id));
    if (ids.length) refs.set(field, ids);
  }
  return refs;
}

/** The text of the wanted text objects, searched on the document's pages and templates. */
async function textObjects(document: XmlValue, docDir: string, read: PartReader, wanted: ReadonlySet<string>): Promise<Map<string, string>> {
  const parts = [
    ...children(child(document, 'Pages'), 'Page').map((p) => attribute(p, 'BaseLoc')),
    ...children(child(document, 'CommonData'), 'TemplatePage').map((t) => attribute(t, 'BaseLoc')),
  ].filter((loc): loc is string => loc !== undefined);
  const found = new Map<string, string>();
  for (const loc of parts.slice(0, MAX_CONTENT_PARTS)) {
    const partPath = packagePath(docDir, loc);
    const xml = partPath === null ? null : await read(partPath);
    if (partPath === null || xml === null) continue;
    collect(parseXml(xml, partPath), wanted, found);
    if (found.size === wanted.size) break;
  }
  return found;
}

/** Walks a content tree (layers, page blocks) for ofd:TextObject elements among `wanted`. */
function collect(node: XmlValue, wanted: ReadonlySet<string>, found: Map<string, string>): void {
  if (typeof node === 'string') return;
  if (Array.isArray(node)) {
    for (const n of node) collect(n, wanted, found);
    return;
  }
  for (const [name, value] of Object.entries(node)) {
    if (name.startsWith('@') || name === '#text') continue;
    if (name !== 'TextObject') {
      collect(value, wanted, found);
      continue;
    }
    for (const object of Array.isArray(value) ? value : [value]) {
      const id = attribute(object, 'ID');
      if (id === undefined || !wanted.has(id) || found.has(id)) continue;
      found.set(id, children(object, 'TextCode').map((code) => textAt({ code }, 'code') ?? '').join(''));
    }
  }
}

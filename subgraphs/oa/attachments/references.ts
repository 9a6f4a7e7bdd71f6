// Claim items referencing uploads (docs/api.md#attachments): the ids' shape is checked with the rest of the items
// (validateItems in ../claims.ts), their ownership and the claim's total size in the claim's transaction, where
// they are also bound to the claim (claimId set, expiresAt cleared), so a claim and its files change together.
// An item's invoice file is checked against the item there too (./invoice-support.ts).
import { ObjectId } from 'mongodb';
import type { ClientSession } from 'mongoose';
import { badInput, conflict } from '../../../platform/graphql.ts';
import { type InvoiceSettings, type ItemFacts, NO_INVOICE_SETTINGS, checkItemInvoices } from './invoice-support.ts';
import { type AttachmentStore, MAX_ATTACHMENTS_PER_ITEM } from './store.ts';

const HEX_ID = /^[0-9a-f]{24}$/i;

/** An item's attachmentIds, shape only: ids, at most MAX_ATTACHMENTS_PER_ITEM, none twice in the claim (`seen`). */
export function attachmentIdsOf(raw: readonly string[] | null | undefined, field: string, seen: Set<string>): string[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw badInput(`${field} must be a list of attachment ids`, field);
  if (raw.length > MAX_ATTACHMENTS_PER_ITEM) throw badInput(`An item carries at most ${MAX_ATTACHMENTS_PER_ITEM} attachments`, field);
  return raw.map((id, j) => {
    const at = `${field}[${j}]`;
    // Same message as an id that is not the caller's: an id says nothing of whether it exists.
    if (typeof id !== 'string' || !HEX_ID.test(id)) throw badInput(`${at}: no such attachment of yours`, at);
    const key = id.toLowerCase();
    if (seen.has(key)) throw badInput(`${at}: attachment ${key} appears twice in this claim`, at);
    seen.add(key);
    return key;
  });
}

export interface ClaimAttachments {
  /** The uploader filing the claim. */
  ownerId: string;
  claimId: string;
  /** Per item, its validated ids (attachmentIdsOf) and what its invoice is checked against. */
  items: readonly ItemFacts[];
  now: Date;
  /** COMPANY_TAX_ID for the invoice check (default: none configured). */
  invoices?: InvoiceSettings;
}

/**
 * In the claim's transaction: every referenced file exists, is the caller's own unexpired upload or already on this
 * claim, and all together fit CLAIM_FILES_MAX_BYTES; then they are bound to the claim. Errors name the item's field.
 */
export async function bindAttachments(store: AttachmentStore, session: ClientSession, c: ClaimAttachments): Promise<void> {
  const refs = c.items.flatMap((item, i) => (item.attachmentIds ?? []).map((id, j) => ({ id, field: `items[${i}].attachmentIds[${j}]` })));
  if (!refs.length) return;
  const files = await store.files.find({ _id: { $in: refs.map((r) => new ObjectId(r.id)) } }, { session }).toArray();
  const byId = new Map(files.map((f) => [f._id.toHexString(), f]));
  let total = 0;
  for (const ref of refs) {
    const f = byId.get(ref.id);
    const m = f?.metadata;
    const mine = m && m.claimId === null && m.ownerId === c.ownerId && m.expiresAt !== null && m.expiresAt > c.now;
    if (!f || !m || !(mine || m.claimId === c.claimId)) throw badInput(`${ref.field}: no such attachment of yours`, ref.field);
    total += f.length;
  }
  const max = store.settings.claimFilesMaxBytes;
  if (total > max) throw badInput(`The claim's attachments total ${total} bytes; at most ${max} are allowed`, refs[refs.length - 1].field);
  const checks = checkItemInvoices(c.items, byId, c.invoices ?? NO_INVOICE_SETTINGS, c.now);
  const ids = refs.map((r) => new ObjectId(r.id));
  const bound = await store.files.updateMany(
    { _id: { $in: ids }, $or: [{ 'metadata.claimId': null, 'metadata.ownerId': c.ownerId }, { 'metadata.claimId': c.claimId }] },
    { $set: { 'metadata.claimId': c.claimId, 'metadata.expiresAt': null } },
    { session },
  );
  // Only if a file changed hands (swept, bound elsewhere) between the read and the write.
  if (bound.matchedCount !== ids.length) throw conflict('An attachment of this claim changed meanwhile; try again');
  for (const [id, itemCheck] of checks) await store.files.updateOne({ _id: new ObjectId(id) }, { $set: { 'metadata.itemCheck': itemCheck } }, { session });
}

/**
 * In the transaction of a claim's update: the files bound to the claim that no item references any more (not in
 * `keep`) go back to their uploader as uploads, expiring `ttlHours` from `now` as a fresh upload does (and counted in the pending
 * quota again); their check against the item that carried them is dropped with the item.
 */
export async function releaseAttachments(store: AttachmentStore, session: ClientSession, c: { ownerId: string; claimId: string; keep: readonly string[]; now: Date }): Promise<number> {
  const released = await store.files.updateMany(
    // The owner first: the index on { ownerId, claimId } serves it (a claim's files are its applicant's uploads).
    { 'metadata.ownerId': c.ownerId, 'metadata.claimId': c.claimId, _id: { $nin: c.keep.map((id) => new ObjectId(id)) } },
    { $set: { 'metadata.claimId': null, 'metadata.expiresAt': new Date(c.now.getTime() + store.settings.ttlHours * 3_600_000) }, $unset: { 'metadata.itemCheck': '' } },
    { session },
  );
  return released.modifiedCount;
}

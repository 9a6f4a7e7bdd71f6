// The archive package of a voucher's record (issue 17 §4): the voucher, the claim's original documents copied into
// the archive's own bucket (./store.ts), and their manifest in the record (models.ts ArchivedFileDoc), which the
// record's fixity digest covers (../fixity.ts). Copies are made here, before the filing transaction; the record and
// its manifest are written in it (../filing.ts).
import type { ClientSession } from 'mongoose';
import type { ArchiveContext, ArchiveServices } from '../context.ts';
import type { ArchiveRecordDoc, ArchivedFileDoc, VoucherDoc } from '../models.ts';
import { ArchiveFiles, OriginalCopyError } from './store.ts';

export type PackagedOriginal = { file: ArchivedFileDoc; bytes: Buffer | null };

/**
 * Copies the originals of each voucher's claim (oa's ids in `source.attachmentIds`) and reads each copy back: the
 * package of each voucher that has any, by voucher id. One that cannot be copied fails the filing, to be retried.
 */
export async function copyOriginals(ctx: ArchiveContext, vouchers: readonly VoucherDoc[]): Promise<Map<string, PackagedOriginal[]>> {
  const out = new Map<string, PackagedOriginal[]>();
  const store = new ArchiveFiles(ctx.connection);
  for (const voucher of vouchers) {
    const ids = voucher.source.attachmentIds ?? [];
    if (!ids.length) continue;
    if (!ctx.originals) throw new OriginalCopyError(`voucher ${voucher.voucherNo}: claim ${voucher.claimNo} has originals, but this archive process has no attachment source`);
    const packaged: PackagedOriginal[] = [];
    for (const id of ids) {
      const file = await store.copy(ctx.originals, id);
      packaged.push({ file, bytes: await store.read(file.fileId) });
    }
    out.set(voucher._id.toHexString(), packaged);
  }
  return out;
}

/** A record's originals as the archive's bucket holds them now (none for a destroyed record). */
export async function filesInCustody(ctx: Pick<ArchiveContext, 'connection'>, record: Pick<ArchiveRecordDoc, 'files' | 'status'>): Promise<PackagedOriginal[]> {
  if (record.status === 'DESTROYED' || !record.files?.length) return [];
  const store = new ArchiveFiles(ctx.connection);
  return Promise.all(record.files.map(async (file) => ({ file, bytes: await store.read(file.fileId) })));
}

/** Whether a record not destroyed lists the copy (its manifest names it): such a copy is never deleted. */
export const heldByLiveRecord =
  (svc: Pick<ArchiveServices, 'models'>) =>
  async (fileId: string, session?: ClientSession): Promise<boolean> =>
    (await svc.models.ArchiveRecord.countDocuments({ 'files.fileId': fileId, status: { $ne: 'DESTROYED' } }, { session, limit: 1 })) > 0;

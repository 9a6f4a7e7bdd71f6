// Generated documents (a period's books, a transfer register) go into the archive's own bucket (originals/store.ts)
// marked as listed, so the orphan sweep leaves them while they wait for the filing that lists them; a document whose
// filing does not happen is deleted here.
import type { Writable } from 'node:stream';
import type { ClientSession } from 'mongoose';
import { ObjectId } from 'mongodb';
import type { ArchiveFiles } from '../originals/store.ts';

/** Removes generated files that no record lists (a filing refused by the database, a close rejected). */
export async function dropFiles(store: ArchiveFiles, fileIds: readonly string[], session?: ClientSession): Promise<void> {
  const ids = fileIds.map((id) => new ObjectId(id));
  if (!ids.length) return;
  await store.chunks.deleteMany({ files_id: { $in: ids } }, { session });
  await store.files.deleteMany({ _id: { $in: ids } }, { session });
}

/** A sink of PDF documents by name into the bucket; `verified` records each one's digest once it is written. */
export function bucketSink(store: ArchiveFiles, now: Date) {
  const uploads = new Map<string, ObjectId>();
  return {
    sink: (name: string): Writable => {
      const upload = store.bucket.openUploadStream(name, { metadata: { sha256: '', mediaType: 'application/pdf', copiedAt: now, verified: false, listedAt: now } });
      uploads.set(name, upload.id as ObjectId);
      return upload;
    },
    /** The file id of the document `name`, marked verified with its SHA-256 (computed as it was written). */
    verified: async (name: string, sha256: string): Promise<string> => {
      const id = uploads.get(name)!;
      await store.files.updateOne({ _id: id }, { $set: { 'metadata.sha256': sha256, 'metadata.verified': true } });
      return id.toHexString();
    },
    /** Deletes everything written through this sink. */
    drop: () => dropFiles(store, [...uploads.values()].map((id) => id.toHexString())),
  };
}

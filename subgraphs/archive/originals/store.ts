// The archive's own copies of filed claims' original documents (issue 17 §4; docs/api.md#original-documents), in the
// GridFS bucket `archive_files` (collections archive_files.files and archive_files.chunks). The archive owns its
// copy: what oa does to its upload afterwards (deleted, altered) changes nothing here.
//
// Copies are made before the filing transaction and are content-addressed: a file whose SHA-256 is already in the
// bucket, complete and verified, is reused, so a retried filing copies nothing twice. A copy whose bytes do not hash
// to what oa recorded is deleted and the filing fails (the sync job is retried), never filed silently. A copy that a
// failed filing leaves behind is the same bytes a retry reuses, and no record points at it (the sweep below).
// Destroying a record deletes its copies in the destruction's transaction, unless another record holds the same
// bytes (releaseUnheld); the manifest stays in the record, so its fixity and the chain still verify.
// A copy no record lists (a filing that failed after copying, a process killed mid-copy) is deleted by the orphan
// sweep once ORPHAN_GRACE_MS old (sweepOrphans). Since a filing may reuse an existing copy by its digest, every
// filing transaction writes each copy it lists (holdListed): a deletion of that copy in another transaction then
// either conflicts with it (one of the two runs again and sees the other) or commits first, and the filing finds the
// copy gone, fails and copies again. No record ever lists a deleted copy.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GridFSBucket, ObjectId, type Collection, type Db } from 'mongodb';
import type { ClientSession, Connection } from 'mongoose';
import type { ArchivedFileDoc } from '../models.ts';

export const ARCHIVE_FILES_BUCKET = 'archive_files';

/** An original as its owner lends it: oa's attachments port (subgraphs/oa/ports.ts), handed in by the assembly. */
export interface OriginalSourceFile {
  id: string;
  filename: string;
  mediaType: string;
  size: number;
  sha256: string;
  stream: Readable;
}

/** Where the originals come from: `open(id)` of oa's attachments port; null for a file that is not there. */
export interface OriginalsSource {
  open(id: string): Promise<OriginalSourceFile | null>;
}

/** A files document of the bucket. */
export interface ArchiveFile {
  _id: ObjectId;
  length: number;
  filename: string;
  metadata: { sha256: string; mediaType: string; copiedAt: Date; verified: boolean; listedAt?: Date };
}

/** How old an unlisted copy must be before the sweep deletes it: well past any filing still using it. */
export const ORPHAN_GRACE_MS = 24 * 3_600_000;

/** The filing cannot take the claim's originals now (missing at the source, or not the bytes recorded): retried. */
export class OriginalCopyError extends Error {}

export class ArchiveFiles {
  constructor(private readonly connection: Connection) {}

  private get db(): Db {
    return this.connection.db as unknown as Db;
  }

  get bucket(): GridFSBucket {
    return new GridFSBucket(this.db, { bucketName: ARCHIVE_FILES_BUCKET });
  }

  get files(): Collection<ArchiveFile> {
    return this.db.collection<ArchiveFile>(`${ARCHIVE_FILES_BUCKET}.files`);
  }

  get chunks(): Collection {
    return this.db.collection(`${ARCHIVE_FILES_BUCKET}.chunks`);
  }

  async init(): Promise<void> {
    await this.files.createIndex({ 'metadata.sha256': 1 });
    // The sweep's candidates: copies no filing marked, by age (a pass reads those, not every copy in the archive).
    await this.files.createIndex({ 'metadata.listedAt': 1, 'metadata.copiedAt': 1 });
    await this.chunks.createIndex({ files_id: 1, n: 1 }, { unique: true });
  }

  async byId(id: string): Promise<ArchiveFile | null> {
    return /^[0-9a-f]{24}$/i.test(id) ? this.files.findOne({ _id: new ObjectId(id) }) : null;
  }

  /**
   * Copies one original into the bucket, or finds the verified copy of the same bytes; its manifest entry.
   * The SHA-256 is recomputed from the bytes as they are copied and compared with the one the source recorded.
   */
  async copy(source: OriginalsSource, attachmentId: string): Promise<ArchivedFileDoc> {
    const original = await source.open(attachmentId);
    if (!original) throw new OriginalCopyError(`original ${attachmentId} is not in the attachment store`);
    const entry = (fileId: ObjectId): ArchivedFileDoc => ({ fileId: fileId.toHexString(), name: original.filename, mediaType: original.mediaType, size: original.size, sha256: original.sha256, sourceAttachmentId: attachmentId });
    const existing = await this.files.findOne({ 'metadata.sha256': original.sha256, 'metadata.verified': true, length: original.size });
    if (existing) {
      original.stream.destroy();
      return entry(existing._id);
    }
    const hash = createHash('sha256');
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        done(null, chunk);
      },
    });
    const upload = this.bucket.openUploadStream(original.filename, { metadata: { sha256: original.sha256, mediaType: original.mediaType, copiedAt: new Date(), verified: false } });
    const id = upload.id as ObjectId;
    try {
      await pipeline(original.stream, meter, upload);
      const digest = hash.digest('hex');
      const stored = await this.files.findOne({ _id: id }, { projection: { length: 1 } });
      if (digest !== original.sha256 || stored?.length !== original.size) {
        throw new OriginalCopyError(`original ${attachmentId} does not hash to the SHA-256 recorded at upload`);
      }
      await this.files.updateOne({ _id: id }, { $set: { 'metadata.verified': true } });
    } catch (err) {
      await this.files.deleteOne({ _id: id });
      await this.chunks.deleteMany({ files_id: id });
      throw err;
    }
    return entry(id);
  }

  /**
   * In a filing's transaction: marks every copy its records list (listedAt), so that a concurrent deletion of one
   * conflicts with the filing. A copy already gone (deleted since it was found) fails the filing, to be retried.
   */
  async holdListed(session: ClientSession, fileIds: readonly string[]): Promise<void> {
    const ids = [...new Set(fileIds)];
    const held = await this.files.updateMany(
      { _id: { $in: ids.map((id) => new ObjectId(id)) }, 'metadata.verified': true },
      { $set: { 'metadata.listedAt': new Date() } },
      { session },
    );
    if (held.matchedCount !== ids.length) throw new OriginalCopyError(`${ids.length - held.matchedCount} of the originals copied for this filing are gone from the archive's bucket`);
  }

  /**
   * One pass of the orphan sweep: deletes at most `limit` copies older than ORPHAN_GRACE_MS that no filing marked
   * (listedAt) and no record holds (`held`: a record not destroyed lists it), verified or not, each in a transaction
   * of its own; the ids deleted. A copy listed before filings marked them is marked here instead, once.
   */
  async sweepOrphans(transaction: (fn: (session: ClientSession) => Promise<void>) => Promise<void>, held: (fileId: string, session?: ClientSession) => Promise<boolean>, now = new Date(), limit = 100): Promise<string[]> {
    const swept: string[] = [];
    const candidates = this.files.find({ 'metadata.listedAt': null, 'metadata.copiedAt': { $lt: new Date(now.getTime() - ORPHAN_GRACE_MS) } }, { projection: { _id: 1 } });
    for await (const { _id } of candidates) {
      if (swept.length >= limit) break;
      const fileId = _id.toHexString();
      if (await held(fileId)) {
        await this.files.updateOne({ _id, 'metadata.listedAt': null }, { $set: { 'metadata.listedAt': now } });
        continue;
      }
      let deleted = false;
      await transaction(async (session) => {
        deleted = false;
        if (await held(fileId, session)) return;
        await this.chunks.deleteMany({ files_id: _id }, { session });
        deleted = (await this.files.deleteOne({ _id }, { session })).deletedCount === 1;
      });
      if (deleted) swept.push(fileId);
    }
    await candidates.close();
    return swept;
  }

  /**
   * Deletes the copies in `fileIds` that no record still holds (a record not destroyed whose manifest names it):
   * copies are shared by digest, so one record's destruction leaves another's copy alone. In the caller's
   * transaction, after its records are marked DESTROYED. The ids of the copies deleted.
   */
  async releaseUnheld(session: ClientSession, fileIds: readonly string[], held: (fileId: string) => Promise<boolean>): Promise<string[]> {
    const released: string[] = [];
    for (const fileId of new Set(fileIds)) {
      if (!/^[0-9a-f]{24}$/i.test(fileId) || (await held(fileId))) continue;
      const _id = new ObjectId(fileId);
      await this.chunks.deleteMany({ files_id: _id }, { session });
      await this.files.deleteOne({ _id }, { session });
      released.push(fileId);
    }
    return released;
  }

  /** The bytes of a copy as stored now (the four-properties check reads them back). */
  async read(id: string): Promise<Buffer | null> {
    const file = await this.byId(id);
    if (!file) return null;
    const parts: Buffer[] = [];
    for await (const chunk of this.bucket.openDownloadStream(file._id)) parts.push(chunk as Buffer);
    return Buffer.concat(parts);
  }

  /** Hex SHA-256 of a copy as stored now, streamed; null when it is gone. */
  async digest(id: string): Promise<string | null> {
    const file = await this.byId(id);
    if (!file) return null;
    const hash = createHash('sha256');
    for await (const chunk of this.bucket.openDownloadStream(file._id)) hash.update(chunk as Buffer);
    return hash.digest('hex');
  }

  /** A stream of bytes [start, end] (inclusive) of a copy. */
  stream(file: ArchiveFile, range?: { start: number; end: number }): Readable {
    return range ? this.bucket.openDownloadStream(file._id, { start: range.start, end: range.end + 1 }) : this.bucket.openDownloadStream(file._id);
  }
}

// Original documents of expense claims (electronic invoices, receipts; docs/api.md#attachments), kept in the GridFS
// bucket `attachments` (collections attachments.files and attachments.chunks). The gateway has sniffed the type and
// hashed the bytes (gateway/files.ts); this module stores them, re-checking the digest as they arrive, and owns
// their life: an upload belongs to its uploader and expires (metadata.expiresAt) until a claim references it
// (metadata.claimId set, expiresAt cleared, in the claim's own transaction: ./references.ts).
import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GridFSBucket, ObjectId, type Collection, type Db } from 'mongodb';
import type { Connection } from 'mongoose';
import type { Inspection, StoredInvoice, StoredStructure, StoredVerification } from '../invoices/inspect.ts';

export const ATTACHMENT_BUCKET = 'attachments';

/** What the gateway accepts (gateway/files.ts sniffs it from the bytes): the only media types stored. */
export const ATTACHMENT_MEDIA_TYPES = ['application/pdf', 'application/ofd', 'application/xml', 'image/jpeg', 'image/png', 'image/tiff', 'image/heic'] as const;
export type AttachmentMediaType = (typeof ATTACHMENT_MEDIA_TYPES)[number];
export const isAttachmentMediaType = (v: unknown): v is AttachmentMediaType => (ATTACHMENT_MEDIA_TYPES as readonly unknown[]).includes(v);

export interface AttachmentSettings {
  /** Largest file, bytes (FILE_MAX_BYTES). */
  fileMaxBytes: number;
  /** Largest total of one claim's files, bytes (CLAIM_FILES_MAX_BYTES). */
  claimFilesMaxBytes: number;
  /** How long an unreferenced upload is kept, hours (ATTACHMENT_TTL_HOURS). */
  ttlHours: number;
  /** Most bytes one employee may hold in uploads no claim references yet (UPLOADS_PENDING_MAX_BYTES). */
  pendingMaxBytes: number;
  /** Most uploads one employee may hold that no claim references yet (UPLOADS_PENDING_MAX_FILES). */
  pendingMaxFiles: number;
}

export const DEFAULT_ATTACHMENT_SETTINGS: AttachmentSettings = {
  fileMaxBytes: 20 * 1024 * 1024,
  claimFilesMaxBytes: 100 * 1024 * 1024,
  ttlHours: 24,
  // Two claims' worth: enough to prepare the next claim while one is being written, bounded for one account.
  pendingMaxBytes: 200 * 1024 * 1024,
  pendingMaxFiles: 100,
};

/** What an employee holds in uploads no claim references yet. */
export interface PendingUploads {
  files: number;
  bytes: number;
  /** When the first of them expires (null when none). */
  firstExpiry: Date | null;
}
/** Files one claim item may carry. */
export const MAX_ATTACHMENTS_PER_ITEM = 10;

export interface AttachmentMetadata {
  ownerId: string;
  /** Lower-case hex SHA-256 of the bytes. */
  sha256: string;
  mediaType: AttachmentMediaType;
  size: number;
  filename: string;
  uploadedAt: Date;
  /** The claim that references the file; null while it is only an upload. */
  claimId: string | null;
  /** When an unreferenced upload is swept; null once a claim references it. */
  expiresAt: Date | null;
  /** What the file says of itself, set right after the upload (../invoices/inspect.ts); absent on older files and images. */
  invoice?: StoredInvoice | null;
  structure?: StoredStructure | null;
  verification?: StoredVerification | null;
  /** The check against the claim item that carries it, set when the claim is filed (./invoice-support.ts). */
  itemCheck?: ItemCheck | null;
}

/** metadata.itemCheck: the invoice was checked against its claim item; `buyerChecked` false when COMPANY_TAX_ID was not configured. */
export interface ItemCheck {
  checkedAt: Date;
  buyerChecked: boolean;
  note: string | null;
}

/** A GridFS files document of the bucket. */
export interface AttachmentFile {
  _id: ObjectId;
  length: number;
  filename: string;
  metadata: AttachmentMetadata;
}

/** What the API shows of a file (type Attachment in schema/oa.graphql). */
export interface AttachmentView {
  id: string;
  filename: string;
  mediaType: string;
  size: number;
  sha256: string;
  uploadedAt: Date;
  invoice?: StoredInvoice | null;
  structure?: StoredStructure | null;
  verification?: StoredVerification | null;
}

export const viewOf = (f: AttachmentFile): AttachmentView => ({
  id: f._id.toHexString(),
  filename: f.metadata.filename,
  mediaType: f.metadata.mediaType,
  size: f.metadata.size,
  sha256: f.metadata.sha256,
  uploadedAt: f.metadata.uploadedAt,
  invoice: f.metadata.invoice ?? null,
  structure: f.metadata.structure ?? null,
  verification: f.metadata.verification ?? null,
});

const MAX_FILENAME = 200;

/**
 * A file name safe to store and show: the last path segment, without control, bidi or separator characters, NFC,
 * at most 200 characters (the extension kept when cutting); "upload" when nothing is left.
 */
export function sanitiseFilename(name: string | null | undefined): string {
  const last = String(name ?? '').normalize('NFC').split(/[\\/]/).pop() ?? '';
  // C0/C1 controls, DEL, bidi overrides and isolates, zero-width and BOM characters.
  const clean = last.replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff:*?"<>|]/g, '').trim().replace(/^\.+/, '');
  if (!clean) return 'upload';
  const chars = [...clean];
  if (chars.length <= MAX_FILENAME) return clean;
  const dot = clean.lastIndexOf('.');
  const ext = dot > 0 ? [...clean.slice(dot)].slice(0, 16).join('') : '';
  return chars.slice(0, MAX_FILENAME - [...ext].length).join('') + ext;
}

export class DigestMismatchError extends Error {}
/** storeFromStream: the bytes exceed the allowed size. */
export class StreamTooLargeError extends Error {
  override readonly name = 'StreamTooLargeError';
}

export interface NewAttachment {
  ownerId: string;
  filename: string;
  mediaType: AttachmentMediaType;
  /** The size and base64url SHA-256 the gateway signed: the bytes must match both. */
  size: number;
  digest: string;
}

export class AttachmentStore {
  readonly settings: AttachmentSettings;
  private readonly clock: () => Date;
  private readonly connection: Connection;

  constructor(connection: Connection, settings: Partial<AttachmentSettings> = {}, clock: () => Date = () => new Date()) {
    this.connection = connection;
    this.settings = { ...DEFAULT_ATTACHMENT_SETTINGS, ...settings };
    this.clock = clock;
  }

  private get db(): Db {
    return this.connection.db as unknown as Db;
  }

  get bucket(): GridFSBucket {
    return new GridFSBucket(this.db, { bucketName: ATTACHMENT_BUCKET });
  }

  get files(): Collection<AttachmentFile> {
    return this.db.collection<AttachmentFile>(`${ATTACHMENT_BUCKET}.files`);
  }

  get chunks(): Collection {
    return this.db.collection(`${ATTACHMENT_BUCKET}.chunks`);
  }

  async init(): Promise<void> {
    await this.files.createIndex({ 'metadata.expiresAt': 1 });
    await this.files.createIndex({ 'metadata.ownerId': 1, 'metadata.claimId': 1 });
    await this.chunks.createIndex({ files_id: 1, n: 1 }, { unique: true });
  }

  /**
   * Streams `body` into the bucket, hashing and counting as it goes; on a size or digest other than signed, the
   * written file is deleted and DigestMismatchError (or TooLargeError past the limit) thrown.
   */
  async save(body: Readable, file: NewAttachment): Promise<AttachmentView> {
    const now = this.clock();
    const hash = createHash('sha256');
    let size = 0;
    const limit = file.size;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (size > limit) return done(new DigestMismatchError('more bytes than signed'));
        hash.update(chunk);
        done(null, chunk);
      },
    });
    const metadata: AttachmentMetadata = {
      ownerId: file.ownerId,
      sha256: '',
      mediaType: file.mediaType,
      size: file.size,
      filename: sanitiseFilename(file.filename),
      uploadedAt: now,
      claimId: null,
      expiresAt: new Date(now.getTime() + this.settings.ttlHours * 3_600_000),
    };
    const upload = this.bucket.openUploadStream(metadata.filename, { metadata });
    const id = upload.id as ObjectId;
    try {
      await pipeline(body, counter, upload);
      const digest = hash.digest();
      if (size !== file.size || digest.toString('base64url') !== file.digest) throw new DigestMismatchError('the bytes received are not the bytes signed');
      metadata.sha256 = digest.toString('hex');
      await this.files.updateOne({ _id: id }, { $set: { 'metadata.sha256': metadata.sha256 } });
    } catch (err) {
      await this.remove(id);
      throw err;
    }
    return viewOf({ _id: id, length: size, filename: metadata.filename, metadata });
  }

  /** An employee's uploads that no claim references and that have not expired (the quota counts these). */
  async pendingOf(ownerId: string): Promise<PendingUploads> {
    const [row] = await this.files
      .aggregate<{ files: number; bytes: number; firstExpiry: Date | null }>([
        { $match: { 'metadata.ownerId': ownerId, 'metadata.claimId': null, 'metadata.expiresAt': { $gt: this.clock() } } },
        { $group: { _id: null, files: { $sum: 1 }, bytes: { $sum: '$length' }, firstExpiry: { $min: '$metadata.expiresAt' } } },
      ])
      .toArray();
    return row ? { files: Number(row.files), bytes: Number(row.bytes), firstExpiry: row.firstExpiry } : { files: 0, bytes: 0, firstExpiry: null };
  }

  /** Deletes a file's document and chunks, whatever state it is in (a failed upload). */
  private async remove(id: ObjectId): Promise<void> {
    await this.files.deleteOne({ _id: id });
    await this.chunks.deleteMany({ files_id: id });
  }

  /**
   * One pass of the expiry sweeper: deletes at most `limit` unreferenced uploads past their expiresAt. The files
   * document goes first, on the same condition (a claim referencing it meanwhile keeps it), then its chunks;
   * GridFSBucket.delete would delete unconditionally.
   */
  async sweep(limit = 20): Promise<number> {
    const now = this.clock();
    const due = await this.files.find({ 'metadata.claimId': null, 'metadata.expiresAt': { $lte: now } }, { projection: { _id: 1 } }).limit(limit).toArray();
    let deleted = 0;
    for (const { _id } of due) {
      const gone = await this.files.deleteOne({ _id, 'metadata.claimId': null, 'metadata.expiresAt': { $lte: now } });
      if (gone.deletedCount !== 1) continue;
      await this.chunks.deleteMany({ files_id: _id });
      deleted++;
    }
    return deleted;
  }

  /** The stored bytes of a file, or null when it holds more than `max` (read back for ../invoices/inspect.ts). */
  async bytesOf(id: string, max: number): Promise<Buffer | null> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of this.bucket.openDownloadStream(new ObjectId(id))) {
      size += (chunk as Buffer).length;
      if (size > max) return null;
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }

  /** Records what inspecting a file found (metadata.invoice, structure, verification). */
  async recordInspection(id: string, found: Inspection): Promise<void> {
    await this.files.updateOne({ _id: new ObjectId(id) }, { $set: { 'metadata.invoice': found.invoice, 'metadata.structure': found.structure, 'metadata.verification': found.verification } });
  }

  /**
   * Stores bytes that arrive without a signed digest (files an OA connector downloads, their type already recognised
   * from the bytes): the SHA-256 and size are computed while writing; past `maxBytes` the partial file is deleted and
   * TooLargeError thrown. The file is an unreferenced upload of `ownerId` until a claim binds it (./references.ts).
   */
  async storeFromStream(ownerId: string, filename: string, mediaType: AttachmentMediaType, body: Readable, maxBytes = this.settings.fileMaxBytes): Promise<AttachmentView> {
    const now = this.clock();
    const hash = createHash('sha256');
    let size = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (size > maxBytes) return done(new StreamTooLargeError(`more than ${maxBytes} bytes`));
        hash.update(chunk);
        done(null, chunk);
      },
    });
    const metadata: AttachmentMetadata = {
      ownerId,
      sha256: '',
      mediaType,
      size: 0,
      filename: sanitiseFilename(filename),
      uploadedAt: now,
      claimId: null,
      expiresAt: new Date(now.getTime() + this.settings.ttlHours * 3_600_000),
    };
    const upload = this.bucket.openUploadStream(metadata.filename, { metadata });
    const id = upload.id as ObjectId;
    try {
      await pipeline(body, counter, upload);
      metadata.sha256 = hash.digest('hex');
      metadata.size = size;
      await this.files.updateOne({ _id: id }, { $set: { 'metadata.sha256': metadata.sha256, 'metadata.size': size } });
    } catch (err) {
      await this.remove(id);
      throw err;
    }
    return viewOf({ _id: id, length: size, filename: metadata.filename, metadata });
  }

  /** Files by id (hex), in any state; unknown ids are left out. */
  async byIds(ids: readonly string[]): Promise<AttachmentFile[]> {
    const oids = ids.filter((id) => ObjectId.isValid(id) && /^[0-9a-f]{24}$/i.test(id)).map((id) => new ObjectId(id));
    if (!oids.length) return [];
    return this.files.find({ _id: { $in: oids } }).toArray();
  }
}

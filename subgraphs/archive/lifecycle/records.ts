// Archive records as the lifecycle reads them: metadata only, since the content leaves the archive only through
// readContent (content.ts).
import type { ClientSession, Types } from 'mongoose';
import { notFound } from '../../../platform/graphql.ts';
import { toObjectId } from '../../../platform/ids.ts';
import type { ArchiveRecordDoc } from '../models.ts';
import type { LifecycleServices } from './services.ts';

/** Every record field except the content: the content leaves the archive only through readContent. */
export const WITHOUT_CONTENT = { content: 0 } as const;

export type RecordMeta = Omit<ArchiveRecordDoc, 'content'>;

/** A record's metadata in the caller's session; NOT_FOUND for an unknown id. */
export async function recordMeta(svc: Pick<LifecycleServices, 'models'>, recordId: string, session?: ClientSession): Promise<RecordMeta> {
  const id = typeof recordId === 'string' ? toObjectId(recordId) : null;
  const doc = id ? await svc.models.ArchiveRecord.findById(id, WITHOUT_CONTENT, { session }).lean<RecordMeta>() : null;
  if (!doc) throw notFound('Archive record');
  return doc;
}

/** The day a record may be destroyed after: an appraisal's extension, else its retention's end; null: none. */
export const effectiveExpiry = (r: Pick<ArchiveRecordDoc, 'extendedUntil' | 'expiresOn'>): string | null => r.extendedUntil ?? r.expiresOn;

export const hexId = (doc: { _id: Types.ObjectId }): string => doc._id.toHexString();

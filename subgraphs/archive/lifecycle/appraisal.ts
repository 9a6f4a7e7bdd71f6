// Appraisal (鉴定): records whose retention has ended are appraised. The opinion either extends the retention
// (EXTEND: a new last day, later than the current one) or finds that the record may be destroyed (DESTROY);
// destruction proposals need the latter. Appraisal opinions are permanent records (鉴定意见书, kept permanently):
// the opinion is stored in `archive_appraisals` with the change it made, and filed as an APPRAISAL_OPINION record.
import { Schema, type ClientSession, type Connection, type Model, type PipelineStage, type Types } from 'mongoose';
import { badInput, conflict, parseDate } from '../../../platform/graphql.ts';
import type { Principal, Role } from '../../../platform/identity.ts';
import { toObjectId } from '../../../platform/ids.ts';
import { canonicalJson } from '../../../platform/integration/canonical-json.ts';
import { rolesFor } from '../../../schema/permissions.ts';
import { extensionDay } from '../../../platform/input-bounds.ts';
import { fileRecord } from '../filing.ts';
import { RecordHistory, recordsTransaction } from '../history.ts';
import { createArchiveLoaders } from '../loaders.ts';
import { TEXT_FIELDS, requiredText } from '../../../platform/text-policy.ts';
import { requireRole } from './guards.ts';
import { type RecordMeta, effectiveExpiry, hexId, recordMeta } from './records.ts';
import { type LifecycleServices, nowOf, todayOf } from './services.ts';

export type AppraisalConclusion = 'EXTEND' | 'DESTROY';

export interface AppraisalDoc {
  _id: Types.ObjectId;
  recordId: string;
  archiveNo: string;
  opinion: string;
  conclusion: AppraisalConclusion;
  /** The record's last day of retention when it was appraised. */
  previousExpiresOn: string;
  /** The new last day (EXTEND), else null. */
  extendedUntil: string | null;
  appraisedBy: string;
  appraisedAt: Date;
  /** The APPRAISAL_OPINION record the opinion was filed as; null while not (yet) filed. */
  opinionRecordId: string | null;
  /** Why filing the opinion failed, if it did (fileAppraisalOpinion retries). */
  filingError: string | null;
}

const appraisalSchema = new Schema<AppraisalDoc>(
  {
    recordId: { type: String, required: true, index: true },
    archiveNo: { type: String, required: true },
    opinion: { type: String, required: true },
    conclusion: { type: String, required: true },
    previousExpiresOn: { type: String, required: true },
    extendedUntil: { type: String, default: null },
    appraisedBy: { type: String, required: true },
    appraisedAt: { type: Date, required: true },
    opinionRecordId: { type: String, default: null },
    filingError: { type: String, default: null },
  },
  { collection: 'archive_appraisals', versionKey: false, minimize: false },
);

export function appraisalModel(connection: Connection): Model<AppraisalDoc> {
  return (connection.models.ArchiveAppraisal as Model<AppraisalDoc> | undefined) ?? connection.model<AppraisalDoc>('ArchiveAppraisal', appraisalSchema);
}

/**
 * Roles that read appraisal lists and opinions. The model has no rule for Query.appraisals or
 * ArchiveRecord.appraisals; its Query.recordsDueForAppraisal allows only ARCHIVIST and AUDITOR.
 */
export const APPRAISAL_READERS: readonly Role[] = ['ARCHIVIST', 'AUDITOR', 'ACCOUNTANT', 'FINANCE_DIRECTOR'];

/** Who appraises and files opinions: the model's rules (schema/permissions.ts). */
const APPRAISERS = rolesFor('Mutation', 'appraiseRecord');
const OPINION_FILERS = rolesFor('Mutation', 'fileAppraisalOpinion');

export type DueRecord = RecordMeta & { effectiveExpiresOn: string };

/**
 * Records whose effective expiry (an extension, else the retention's end) is on or before `before`, not
 * destroyed; oldest expiry first. Computed by an aggregation pipeline in the database; content never loaded.
 */
export async function dueForAppraisal(svc: LifecycleServices, principal: Principal, before: string): Promise<DueRecord[]> {
  requireRole(principal, APPRAISAL_READERS, 'Appraisal lists');
  const day = parseDate(before);
  const pipeline: PipelineStage[] = [
    // The first stage narrows by what an index can answer; permanent records have no expiry at all.
    { $match: { status: { $ne: 'DESTROYED' }, $or: [{ expiresOn: { $lte: day } }, { extendedUntil: { $lte: day } }] } },
    { $project: { content: 0 } },
    { $addFields: { effectiveExpiresOn: { $ifNull: ['$extendedUntil', '$expiresOn'] } } },
    { $match: { effectiveExpiresOn: { $ne: null, $lte: day } } },
    { $sort: { effectiveExpiresOn: 1, archiveNo: 1 } },
  ];
  return svc.models.ArchiveRecord.aggregate<DueRecord>(pipeline);
}

/**
 * An ARCHIVIST appraises an expired record. With `extendUntil` (later than the current last day and than today)
 * the retention is extended (RETENTION_EXTENDED); without it the opinion finds the record may be destroyed
 * (RECORD_APPRAISED). The opinion is then filed as an APPRAISAL_OPINION record.
 */
export async function appraise(svc: LifecycleServices, principal: Principal, recordId: string, opinion: string, extendUntil?: string | null): Promise<AppraisalDoc> {
  requireRole(principal, APPRAISERS, 'Appraisal');
  const words = requiredText(opinion, 'opinion', TEXT_FIELDS.appraisalOpinion);
  const until = extendUntil == null ? null : parseDate(extendUntil);
  const now = nowOf(svc);
  const todayIso = todayOf(svc, now);
  const Appraisal = appraisalModel(svc.connection);
  let result: AppraisalDoc | undefined;
  await recordsTransaction(svc.connection, async (session) => {
    result = undefined;
    const record = await recordMeta(svc, recordId, session);
    if (record.status === 'DESTROYED') throw conflict(`record ${record.archiveNo} was destroyed`);
    const expiry = effectiveExpiry(record);
    if (expiry === null) throw conflict(`record ${record.archiveNo} has no end of retention to appraise (${record.retention === 'PERMANENT' ? 'kept permanently' : 'asset not yet disposed of'})`);
    if (expiry >= todayIso) throw conflict(`record ${record.archiveNo} is kept until ${expiry}: only expired records are appraised`);
    // After the current end and today, at most MAX_EXTENSION_YEARS ahead (platform/input-bounds.ts).
    if (until !== null) extensionDay('extendUntil', until, expiry, { timeZone: svc.settings.timeZone, now });
    const [created] = await Appraisal.create(
      [
        {
          recordId: hexId(record),
          archiveNo: record.archiveNo,
          opinion: words,
          conclusion: until === null ? 'DESTROY' : 'EXTEND',
          previousExpiresOn: expiry,
          extendedUntil: until,
          appraisedBy: principal.sub,
          appraisedAt: now,
          opinionRecordId: null,
          filingError: null,
        },
      ],
      { session },
    );
    const appraisal: AppraisalDoc = created.toObject();
    if (until !== null) {
      const changed = await svc.models.ArchiveRecord.updateOne(
        { _id: record._id, status: record.status, extendedUntil: record.extendedUntil },
        { $set: { extendedUntil: until } },
        { session },
      );
      if (changed.matchedCount !== 1) throw conflict(`record ${record.archiveNo} was changed meanwhile; try again`);
      const ref = { kind: 'APPRAISAL' as const, id: hexId(appraisal), no: null };
      await new RecordHistory(svc.connection).append(session, [{ record: { ...record, extendedUntil: until }, change: { action: 'RETENTION_EXTENDED', actorId: principal.sub, at: now, ref } }]);
    }
    await svc.events.append(session, {
      type: until === null ? 'RECORD_APPRAISED' : 'RETENTION_EXTENDED',
      subject: { type: 'ArchiveRecord', id: hexId(record) },
      actor: principal.sub,
      payload: { recordId: hexId(record), archiveNo: record.archiveNo, appraisalId: hexId(appraisal), conclusion: appraisal.conclusion, previousExpiresOn: expiry, extendedUntil: until },
      occurredAt: now,
    });
    result = appraisal;
  });
  return fileOpinion(svc, principal, result!);
}

/**
 * Files the opinion as an APPRAISAL_OPINION record (permanent) and links it. Filing runs in its own transaction
 * (filing.ts opens one), after the appraisal's: should it fail, the appraisal stands with `filingError` set and
 * fileAppraisalOpinion retries it.
 */
async function fileOpinion(svc: LifecycleServices, principal: Principal, appraisal: AppraisalDoc): Promise<AppraisalDoc> {
  const Appraisal = appraisalModel(svc.connection);
  let set: Partial<AppraisalDoc>;
  try {
    const record = await recordMeta(svc, appraisal.recordId);
    const filed = await fileRecord(
      { ...svc, principal, loaders: createArchiveLoaders(svc, principal) },
      {
        kind: 'APPRAISAL_OPINION',
        title: `会计档案鉴定意见书 ${appraisal.archiveNo}`,
        fiscalYear: Number(todayOf(svc, appraisal.appraisedAt).slice(0, 4)),
        mediaType: 'application/json',
        content: canonicalJson({
          appraisalId: hexId(appraisal),
          record: { id: appraisal.recordId, archiveNo: record.archiveNo, title: record.title, kind: record.kind, fiscalYear: record.fiscalYear, retention: record.retention, retentionStartsOn: record.retentionStartsOn, expiresOn: record.expiresOn },
          opinion: appraisal.opinion,
          conclusion: appraisal.conclusion,
          previousExpiresOn: appraisal.previousExpiresOn,
          extendedUntil: appraisal.extendedUntil,
          appraisedBy: appraisal.appraisedBy,
          appraisedAt: appraisal.appraisedAt,
        }),
      },
    );
    set = { opinionRecordId: hexId(filed), filingError: null };
  } catch (err) {
    set = { filingError: err instanceof Error ? err.message.slice(0, 500) : 'filing failed' };
  }
  return (await Appraisal.findOneAndUpdate({ _id: appraisal._id, opinionRecordId: null }, { $set: set }, { returnDocument: 'after' }).lean<AppraisalDoc>()) ?? appraisal;
}

/** ARCHIVIST: files an opinion whose filing failed before. */
export async function fileAppraisalOpinion(svc: LifecycleServices, principal: Principal, appraisalId: string): Promise<AppraisalDoc> {
  requireRole(principal, OPINION_FILERS, 'Filing an appraisal opinion');
  const id = toObjectId(String(appraisalId));
  const appraisal = id ? await appraisalModel(svc.connection).findById(id).lean<AppraisalDoc>() : null;
  if (!appraisal) throw badInput('no such appraisal', 'id');
  if (appraisal.opinionRecordId) return appraisal;
  return fileOpinion(svc, principal, appraisal);
}

/** A record's appraisals, oldest first. */
export async function appraisalsOf(svc: LifecycleServices, principal: Principal, recordId: string): Promise<AppraisalDoc[]> {
  requireRole(principal, APPRAISAL_READERS, 'Appraisal opinions');
  return appraisalModel(svc.connection).find({ recordId: String(recordId) }).sort({ appraisedAt: 1, _id: 1 }).lean<AppraisalDoc[]>();
}

/** The latest appraisal of each record (one query), for destruction checks. */
export async function latestAppraisals(svc: Pick<LifecycleServices, 'connection'>, recordIds: string[], session?: ClientSession): Promise<Map<string, AppraisalDoc>> {
  const docs = await appraisalModel(svc.connection)
    .find({ recordId: { $in: recordIds } }, null, { session })
    .sort({ appraisedAt: 1, _id: 1 })
    .lean<AppraisalDoc[]>();
  return new Map(docs.map((d) => [d.recordId, d]));
}

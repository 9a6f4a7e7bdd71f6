// The destruction register (销毁清册): what it lists per record, who signed it, and where it is stored.
import { Schema, type ClientSession, type Connection, type Model, type Types } from 'mongoose';
import { notFound } from '../../../../platform/graphql.ts';
import { toObjectId } from '../../../../platform/ids.ts';
import type { Decision } from '../../../../platform/workflow/types.ts';
import { ARCHIVE_NO_RE, type ArchiveKind, type RetentionPeriod } from '../../retention.ts';
import { type RecordMeta, hexId } from '../records.ts';
import type { LifecycleServices } from '../services.ts';

export type SignatoryCapacity = 'UNIT_HEAD' | 'ARCHIVE_HEAD' | 'ACCOUNTING_HEAD' | 'HANDLER' | 'IT_SUPERVISOR';
export type DestructionStatus = 'PENDING' | 'REJECTED' | 'CANCELLED' | 'DESTROYED';

export interface DestructionLineDoc {
  recordId: string;
  /** 名称 */
  title: string;
  /** 卷号: the item number of the archive number. */
  volumeNo: string;
  /** 数量: one per record (page counts are not recorded). */
  count: number;
  /** 所属年度 */
  fiscalYear: number;
  /** 档号 */
  archiveNo: string;
  kind: ArchiveKind;
  /** 保管期限 (retention due): the period, when it started, its original end and any extension. */
  retention: RetentionPeriod;
  retentionYears: number | null;
  retentionStartsOn: string;
  expiresOn: string | null;
  extendedUntil: string | null;
  /** 已保管年限: full years served, at proposal and then at destruction. */
  yearsServed: number;
  /** 销毁时间 */
  destroyedAt: Date | null;
}

export interface DestructionSignatureDoc {
  capacity: SignatoryCapacity;
  employeeId: string;
  /** Set when a delegate signed for an assignee. */
  onBehalfOf: string | null;
  decision: Decision;
  comment: string | null;
  signedAt: Date;
}

export interface DestructionRegisterDoc {
  _id: Types.ObjectId;
  /** XH-YYYY-NNNN, without gaps within a year. */
  registerNo: string;
  reason: string;
  status: DestructionStatus;
  /** Lists electronic records: the IT department supervises. */
  electronic: boolean;
  proposedBy: string;
  proposedAt: Date;
  /** 经办人: the proposer and the second handler. */
  handlerIds: string[];
  approvalId: string | null;
  lines: DestructionLineDoc[];
  signatures: DestructionSignatureDoc[];
  destroyedAt: Date | null;
  closedAt: Date | null;
  closedBy: string | null;
  closedReason: string | null;
  /** The DESTRUCTION_REGISTER record the register was filed as (permanent). */
  registerRecordId: string | null;
  filingError: string | null;
}

const registerSchema = new Schema<DestructionRegisterDoc>(
  {
    registerNo: { type: String, required: true, unique: true },
    reason: { type: String, required: true },
    status: { type: String, required: true, index: true },
    electronic: { type: Boolean, required: true },
    proposedBy: { type: String, required: true },
    proposedAt: { type: Date, required: true },
    handlerIds: { type: [String], required: true },
    approvalId: { type: String, default: null },
    lines: [
      {
        _id: false,
        recordId: String,
        title: String,
        volumeNo: String,
        count: Number,
        fiscalYear: Number,
        archiveNo: String,
        kind: String,
        retention: String,
        retentionYears: { type: Number, default: null },
        retentionStartsOn: String,
        expiresOn: { type: String, default: null },
        extendedUntil: { type: String, default: null },
        yearsServed: Number,
        destroyedAt: { type: Date, default: null },
      },
    ],
    signatures: [
      { _id: false, capacity: String, employeeId: String, onBehalfOf: { type: String, default: null }, decision: String, comment: { type: String, default: null }, signedAt: Date },
    ],
    destroyedAt: { type: Date, default: null },
    closedAt: { type: Date, default: null },
    closedBy: { type: String, default: null },
    closedReason: { type: String, default: null },
    registerRecordId: { type: String, default: null },
    filingError: { type: String, default: null },
  },
  { collection: 'archive_destruction_registers', versionKey: false, minimize: false },
);
registerSchema.index({ 'lines.recordId': 1, status: 1 });

export function registerModel(connection: Connection): Model<DestructionRegisterDoc> {
  return (
    (connection.models.ArchiveDestructionRegister as Model<DestructionRegisterDoc> | undefined) ??
    connection.model<DestructionRegisterDoc>('ArchiveDestructionRegister', registerSchema)
  );
}

const RETENTION_YEARS: Readonly<Record<RetentionPeriod, number | null>> = { Y10: 10, Y30: 30, Y5_AFTER_DISPOSAL: 5, PERMANENT: null };

/** Full years served from the first day of retention through `onDay` (both YYYY-MM-DD). */
export function yearsServed(retentionStartsOn: string, onDay: string): number {
  const next = new Date(Date.UTC(Number(onDay.slice(0, 4)), Number(onDay.slice(5, 7)) - 1, Number(onDay.slice(8, 10)) + 1));
  const [y1, m1, d1] = retentionStartsOn.split('-').map(Number);
  const [y2, m2, d2] = [next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate()];
  const years = y2 - y1 - (m2 < m1 || (m2 === m1 && d2 < d1) ? 1 : 0);
  return Math.max(0, years);
}

/** The register's line for a record, as of `todayIso`. */
export function lineOf(record: RecordMeta, todayIso: string): DestructionLineDoc {
  return {
    recordId: hexId(record),
    title: record.title,
    volumeNo: ARCHIVE_NO_RE.exec(record.archiveNo)?.[5] ?? record.archiveNo,
    count: 1,
    fiscalYear: record.fiscalYear,
    archiveNo: record.archiveNo,
    kind: record.kind,
    retention: record.retention,
    retentionYears: RETENTION_YEARS[record.retention] ?? null,
    retentionStartsOn: record.retentionStartsOn,
    expiresOn: record.expiresOn,
    extendedUntil: record.extendedUntil,
    yearsServed: yearsServed(record.retentionStartsOn, todayIso),
    destroyedAt: null,
  };
}

/** The register as the subject of workflow instances and domain events. */
export const subjectOf = (r: Pick<DestructionRegisterDoc, '_id'>) => ({ type: 'DestructionRegister', id: hexId(r) });

export async function loadRegister(svc: LifecycleServices, registerId: string, session?: ClientSession): Promise<DestructionRegisterDoc> {
  const id = typeof registerId === 'string' ? toObjectId(registerId) : null;
  const doc = id ? await registerModel(svc.connection).findById(id, null, { session }).lean<DestructionRegisterDoc>() : null;
  if (!doc) throw notFound('Destruction register');
  return doc;
}

// The year's handover (issue 19 §4; 会计档案管理办法 §15: the accounting department keeps a year's archives for at most
// one year, then hands them to the archive department with a transfer register, 移交清册). An ARCHIVIST or ACCOUNTANT
// prepares the register of a fiscal year that has ended: every record of the year still in the accounting
// department's custody, with its 档号, title, retention and fixity digest. The ACCOUNTANT signs it as handing over and
// the ARCHIVIST as receiving, two different people; on the second signature custody passes to the archive department
// on each record (checked unchanged against its listed digest) and in the records' history chain, the register is
// filed as a TRANSFER_REGISTER record (QT, 30 years), and HANDOVER_SIGNED is on the event log.
import { type Connection, type Model, Schema, type Types } from 'mongoose';
import { badInput, conflict, forbidden, notFound, today } from '../../../platform/graphql.ts';
import { hasAnyRole } from '../../../platform/identity.ts';
import { toObjectId } from '../../../platform/ids.ts';
import { fiscalYear as boundedFiscalYear } from '../../../platform/input-bounds.ts';
import type { ArchiveContext } from '../context.ts';
import { fileInTransaction } from '../filing.ts';
import { type HistorySubject, RecordHistory, recordsTransaction } from '../history.ts';
import type { ArchiveRecordDoc } from '../models.ts';

export type HandoverSide = 'ACCOUNTING' | 'ARCHIVES';

export interface TransferLine {
  recordId: string;
  archiveNo: string;
  title: string;
  retention: string;
  /** The record's fixity digest when listed: signing checks it is still the same. */
  digest: string;
}

export interface TransferRegisterDoc {
  _id: Types.ObjectId;
  fiscalYear: number;
  status: 'AWAITING_SIGNATURES' | 'SIGNED';
  preparedBy: string;
  preparedAt: Date;
  lines: TransferLine[];
  signatures: Array<{ side: HandoverSide; by: string; at: Date }>;
  /** The TRANSFER_REGISTER record it was filed as, once signed. */
  recordId: string | null;
  archiveNo: string | null;
}

const registerSchema = new Schema<TransferRegisterDoc>(
  {
    fiscalYear: { type: Number, required: true, index: true },
    status: { type: String, required: true },
    preparedBy: { type: String, required: true },
    preparedAt: { type: Date, required: true },
    lines: { type: Schema.Types.Mixed, required: true },
    signatures: { type: Schema.Types.Mixed, default: [] },
    recordId: { type: String, default: null },
    archiveNo: { type: String, default: null },
  },
  { collection: 'archive_transfer_registers', versionKey: false, minimize: false },
);
// One register awaiting signatures per year at a time.
registerSchema.index({ fiscalYear: 1 }, { unique: true, partialFilterExpression: { status: 'AWAITING_SIGNATURES' }, name: 'one_open_register_per_year' });

export const registerModel = (connection: Connection): Model<TransferRegisterDoc> =>
  (connection.models.TransferRegister as Model<TransferRegisterDoc> | undefined) ?? connection.model<TransferRegisterDoc>('TransferRegister', registerSchema);

/** Who signs each side: the accounting department hands over, the archive department receives. */
const SIGNER_ROLE = { ACCOUNTING: 'ACCOUNTANT', ARCHIVES: 'ARCHIVIST' } as const;
const nowOf = (ctx: ArchiveContext) => ctx.clock?.() ?? new Date();

/** The transfer registers of a year, newest first (ARCHIVIST, ACCOUNTANT, FINANCE_DIRECTOR, AUDITOR). */
export async function transferRegisters(ctx: ArchiveContext, fiscalYear: number): Promise<TransferRegisterDoc[]> {
  if (!hasAnyRole(ctx.principal, ['ARCHIVIST', 'ACCOUNTANT', 'FINANCE_DIRECTOR', 'AUDITOR'])) throw forbidden();
  return registerModel(ctx.connection).find({ fiscalYear }).sort({ preparedAt: -1 }).lean<TransferRegisterDoc[]>();
}

/** prepareHandover: the register of a fiscal year that has ended, listing every record of it not yet handed over. */
export async function prepareHandover(ctx: ArchiveContext, fiscalYear: number): Promise<TransferRegisterDoc> {
  const p = ctx.principal;
  if (p.kind !== 'user' || !hasAnyRole(p, ['ARCHIVIST', 'ACCOUNTANT'])) throw forbidden('A transfer register is prepared by an ARCHIVIST or an ACCOUNTANT');
  const now = nowOf(ctx);
  boundedFiscalYear('fiscalYear', fiscalYear, { timeZone: ctx.settings.timeZone, now });
  if (Number(today(ctx.settings.timeZone, now).slice(0, 4)) <= fiscalYear) throw conflict(`${fiscalYear} has not ended: a year is handed over after it`);
  const records = await ctx.models.ArchiveRecord.find({ fiscalYear, status: { $ne: 'DESTROYED' }, custody: { $ne: 'ARCHIVES' } }, { archiveNo: 1, title: 1, retention: 1, 'fixity.digest': 1 })
    .sort({ archiveNo: 1 })
    .lean<Array<Pick<ArchiveRecordDoc, '_id' | 'archiveNo' | 'title' | 'retention' | 'fixity'>>>();
  if (!records.length) throw conflict(`every record of ${fiscalYear} is already in the archive department's custody`);
  const lines = records.map((r) => ({ recordId: r._id.toHexString(), archiveNo: r.archiveNo, title: r.title, retention: r.retention, digest: r.fixity.digest }));
  try {
    const [doc] = await registerModel(ctx.connection).create([{ fiscalYear, status: 'AWAITING_SIGNATURES', preparedBy: p.sub, preparedAt: now, lines, signatures: [], recordId: null, archiveNo: null }]);
    return doc.toObject() as TransferRegisterDoc;
  } catch (err) {
    if ((err as { code?: number }).code === 11000) throw conflict(`a transfer register of ${fiscalYear} already awaits its signatures`);
    throw err;
  }
}

/**
 * signHandover: the caller signs one side. The second side's signature passes custody of every listed record to the
 * archive department, appends HANDED_OVER to each record's history and files the register, in one transaction.
 */
export async function signHandover(ctx: ArchiveContext, registerId: string, side: HandoverSide): Promise<TransferRegisterDoc> {
  const p = ctx.principal;
  if (side !== 'ACCOUNTING' && side !== 'ARCHIVES') throw badInput('side must be ACCOUNTING or ARCHIVES', 'side');
  if (p.kind !== 'user' || !hasAnyRole(p, [SIGNER_ROLE[side]])) throw forbidden(`The ${side === 'ACCOUNTING' ? 'handing-over side is signed by an ACCOUNTANT' : 'receiving side is signed by an ARCHIVIST'}`);
  if (!toObjectId(registerId)) throw notFound('Transfer register');
  const Registers = registerModel(ctx.connection);
  const now = nowOf(ctx);
  let result: TransferRegisterDoc | undefined;
  let filed = false;
  await recordsTransaction(ctx.connection, async (session) => {
    filed = false;
    const reg = await Registers.findById(registerId).session(session).lean<TransferRegisterDoc>();
    if (!reg) throw notFound('Transfer register');
    if (reg.status !== 'AWAITING_SIGNATURES') throw conflict(`the transfer register of ${reg.fiscalYear} is ${reg.status}`);
    if (reg.signatures.some((s) => s.side === side)) throw conflict(`the ${side} side of this register is already signed`);
    if (reg.signatures.some((s) => s.by === p.sub)) throw conflict('the two sides of a handover are signed by two different people');
    const signatures = [...reg.signatures, { side, by: p.sub, at: now }];
    let next: TransferRegisterDoc = { ...reg, signatures };
    if (signatures.length === 2) {
      const ids = reg.lines.map((l) => toObjectId(l.recordId)!);
      const records = await ctx.models.ArchiveRecord.find({ _id: { $in: ids } }, { content: 0 }).session(session).lean<ArchiveRecordDoc[]>();
      const byId = new Map(records.map((r) => [r._id.toHexString(), r]));
      for (const l of reg.lines) {
        const r = byId.get(l.recordId);
        if (!r || r.status === 'DESTROYED' || r.fixity.digest !== l.digest || r.custody === 'ARCHIVES') {
          throw conflict(`record ${l.archiveNo} is no longer as the register lists it (destroyed, changed or already handed over): prepare a new register`);
        }
      }
      const register = await fileInTransaction(ctx, session, {
        kind: 'TRANSFER_REGISTER',
        title: `${reg.fiscalYear} 年度会计档案移交清册`,
        fiscalYear: reg.fiscalYear,
        mediaType: 'application/json',
        content: JSON.stringify({ fiscalYear: reg.fiscalYear, preparedBy: reg.preparedBy, preparedAt: reg.preparedAt, signatures, records: reg.lines }),
      });
      const ref = { kind: 'TRANSFER_REGISTER' as const, id: register._id.toHexString(), no: register.archiveNo };
      const moved = await ctx.models.ArchiveRecord.updateMany({ _id: { $in: ids }, custody: { $ne: 'ARCHIVES' } }, { $set: { custody: 'ARCHIVES' } }, { session });
      if (moved.modifiedCount !== ids.length) throw conflict('records of the register changed meanwhile: prepare a new register');
      // The register itself is the archive department's from its filing: it is handed over with what it lists.
      await ctx.models.ArchiveRecord.updateOne({ _id: register._id }, { $set: { custody: 'ARCHIVES' } }, { session });
      await new RecordHistory(ctx.connection).append(
        session,
        [...records, register].map((r) => ({ record: { ...r, custody: 'ARCHIVES' } as HistorySubject, change: { action: 'HANDED_OVER' as const, actorId: p.sub, at: now, ref } })),
      );
      next = { ...next, status: 'SIGNED', recordId: ref.id, archiveNo: register.archiveNo };
      await ctx.events.append(session, {
        type: 'HANDOVER_SIGNED',
        subject: { type: 'TransferRegister', id: registerId },
        actor: p.sub,
        payload: { fiscalYear: reg.fiscalYear, records: ids.length, archiveRecordId: ref.id, archiveNo: register.archiveNo, detail: `${reg.fiscalYear}: ${ids.length} records handed over to the archive department (${register.archiveNo})` },
        occurredAt: now,
      });
      filed = true;
    }
    const saved = await Registers.updateOne({ _id: reg._id, status: 'AWAITING_SIGNATURES', signatures: { $size: reg.signatures.length } }, { $set: { status: next.status, signatures, recordId: next.recordId, archiveNo: next.archiveNo } }, { session });
    if (!saved.matchedCount) throw conflict('the register was signed meanwhile; read it again');
    result = next;
  });
  if (filed) await ctx.seals?.afterFiling();
  return result!;
}

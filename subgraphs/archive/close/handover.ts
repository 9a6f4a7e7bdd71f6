// The year's handover (issue 19 §4; 会计档案管理办法 §15: the accounting department keeps a year's archives for at most
// one year, then hands them to the archive department with a transfer register, 移交清册). An ARCHIVIST or ACCOUNTANT
// prepares the register of a fiscal year that has ended: every record of the year still in the accounting
// department's custody, with its 档号, title, retention and fixity digest, one stored line each (handover-model.ts).
// The ACCOUNTANT signs it as handing over and the ARCHIVIST as receiving, two different people. After the second
// signature the register is printed (PDF/A, register-pdf.ts) and filed as a TRANSFER_REGISTER record (QT, 30 years,
// in the archive department's custody), and custody passes on the listed records in batches (handover-transfer.ts):
// at once for a register of up to HANDOVER_INLINE_RECORDS records, else in the archive's worker loop (printing 120,000
// lines alone takes most of a minute); the last batch appends HANDOVER_SIGNED.
import { Types } from 'mongoose';
import { badInput, conflict, forbidden, notFound, today } from '../../../platform/graphql.ts';
import { hasAnyRole } from '../../../platform/identity.ts';
import { toObjectId } from '../../../platform/ids.ts';
import { fiscalYear as boundedFiscalYear } from '../../../platform/input-bounds.ts';
import { transaction } from '../../../platform/integration/transactions.ts';
import { TEXT_FIELDS, requiredText } from '../../../platform/text-policy.ts';
import { forwardPageInfo, type PageInfoModel } from '../../../platform/paging.ts';
import type { ArchiveContext } from '../context.ts';
import { decodeCursor, encodeCursor, pageSize } from '../lifecycle/pagination.ts';
import type { ArchiveRecordDoc } from '../models.ts';
import { type HandoverSide, type TransferLineDoc, type TransferRegisterDoc, lineModel, registerModel } from './handover-model.ts';
import { continueHandover } from './handover-transfer.ts';
import { LinesDigest } from './register-pdf.ts';

export type { HandoverSide, TransferLineDoc, TransferRegisterDoc } from './handover-model.ts';

/** A register of up to this many records has custody passed within the second signature; a larger one in the background. */
export const HANDOVER_INLINE_RECORDS = 1000;
const LINE_WRITE_BATCH = 1000;

/** Who signs each side: the accounting department hands over, the archive department receives. */
const SIGNER_ROLE = { ACCOUNTING: 'ACCOUNTANT', ARCHIVES: 'ARCHIVIST' } as const;
const READERS = ['ARCHIVIST', 'ACCOUNTANT', 'FINANCE_DIRECTOR', 'AUDITOR'] as const;
const nowOf = (ctx: ArchiveContext) => ctx.clock?.() ?? new Date();

/** The transfer registers of a year, newest first (ARCHIVIST, ACCOUNTANT, FINANCE_DIRECTOR, AUDITOR). */
export async function transferRegisters(ctx: ArchiveContext, fiscalYear: number): Promise<TransferRegisterDoc[]> {
  if (!hasAnyRole(ctx.principal, READERS)) throw forbidden();
  return registerModel(ctx.connection).find({ fiscalYear }).sort({ preparedAt: -1 }).lean<TransferRegisterDoc[]>();
}

/** A page of a register's lines in order (the caller reached the register through a query that checked its role). */
export async function transferLines(
  ctx: ArchiveContext,
  register: Pick<TransferRegisterDoc, '_id' | 'recordCount'>,
  args: { first?: number | null; after?: string | null },
): Promise<{ edges: Array<{ cursor: string; node: TransferLineDoc }>; pageInfo: PageInfoModel; totalCount: number }> {
  const first = pageSize(args.first);
  let from = 0;
  if (args.after) {
    from = Number(decodeCursor('line', args.after)) + 1;
    if (!Number.isSafeInteger(from)) throw badInput('after is not a cursor returned by this API', 'after');
  }
  const docs = await lineModel(ctx.connection)
    .find({ registerId: register._id, seq: { $gte: from, $lt: from + first + 1 } })
    .sort({ seq: 1 })
    .lean<TransferLineDoc[]>();
  const edges = docs.slice(0, first).map((node) => ({ cursor: encodeCursor('line', node.seq), node }));
  return { edges, pageInfo: forwardPageInfo(edges, docs.length > first, args.after), totalCount: register.recordCount };
}

/**
 * prepareHandover: the register of a fiscal year that has ended, listing every record of it not yet handed over. The
 * lines are written as the records are read (in 档号 order), so a year of any size is listed in bounded memory.
 */
export async function prepareHandover(ctx: ArchiveContext, fiscalYear: number): Promise<TransferRegisterDoc> {
  const p = ctx.principal;
  if (p.kind !== 'user' || !hasAnyRole(p, ['ARCHIVIST', 'ACCOUNTANT'])) throw forbidden('A transfer register is prepared by an ARCHIVIST or an ACCOUNTANT');
  const now = nowOf(ctx);
  boundedFiscalYear('fiscalYear', fiscalYear, { timeZone: ctx.settings.timeZone, now });
  if (Number(today(ctx.settings.timeZone, now).slice(0, 4)) <= fiscalYear) throw conflict(`${fiscalYear} has not ended: a year is handed over after it`);
  const Registers = registerModel(ctx.connection);
  const open = await Registers.findOne({ fiscalYear, status: { $in: ['AWAITING_SIGNATURES', 'TRANSFERRING'] } }, { status: 1 }).lean<Pick<TransferRegisterDoc, 'status'>>();
  if (open?.status === 'AWAITING_SIGNATURES') throw conflict(`a transfer register of ${fiscalYear} already awaits its signatures`);
  if (open) throw conflict(`the handover of ${fiscalYear} is still passing custody: prepare the next register when it is done`);

  const registerId = new Types.ObjectId();
  const lines = lineModel(ctx.connection).collection;
  const digest = new LinesDigest();
  let pending: TransferLineDoc[] = [];
  const flush = async () => {
    if (pending.length) await lines.insertMany(pending, { ordered: true });
    pending = [];
  };
  try {
    const records = ctx.models.ArchiveRecord.find({ fiscalYear, status: { $ne: 'DESTROYED' }, custody: { $ne: 'ARCHIVES' } }, { archiveNo: 1, title: 1, retention: 1, 'fixity.digest': 1 })
      .sort({ archiveNo: 1 })
      .lean<Array<Pick<ArchiveRecordDoc, '_id' | 'archiveNo' | 'title' | 'retention' | 'fixity'>>>()
      .cursor({ batchSize: LINE_WRITE_BATCH });
    for await (const r of records as AsyncIterable<Pick<ArchiveRecordDoc, '_id' | 'archiveNo' | 'title' | 'retention' | 'fixity'>>) {
      const line: TransferLineDoc = {
        _id: new Types.ObjectId(),
        registerId,
        seq: digest.count,
        recordId: r._id.toHexString(),
        archiveNo: r.archiveNo,
        title: r.title,
        retention: r.retention,
        digest: r.fixity.digest,
        outcome: 'LISTED',
        exclusion: null,
      };
      digest.add(line);
      pending.push(line);
      if (pending.length >= LINE_WRITE_BATCH) await flush();
    }
    await flush();
    if (!digest.count) throw conflict(`every record of ${fiscalYear} is already in the archive department's custody`);
    const [doc] = await Registers.create([
      {
        _id: registerId,
        fiscalYear,
        status: 'AWAITING_SIGNATURES',
        preparedBy: p.sub,
        preparedAt: now,
        recordCount: digest.count,
        linesDigest: digest.digest(),
        signatures: [],
        nextSeq: 0,
        handedOver: 0,
        excluded: 0,
        recordId: null,
        archiveNo: null,
        completedAt: null,
      },
    ]);
    return doc.toObject() as TransferRegisterDoc;
  } catch (err) {
    // The lines of a register that was not stored go (a process killed here leaves lines no register lists: inert).
    await lines.deleteMany({ registerId });
    if ((err as { code?: number }).code === 11000) throw conflict(`a transfer register of ${fiscalYear} already awaits its signatures`);
    throw err;
  }
}

/**
 * withdrawHandover: an ARCHIVIST or ACCOUNTANT withdraws a register still awaiting its signatures (a list prepared
 * too early, a signer gone): it is VOID with who and why, nothing was handed over, and the year may be listed again.
 */
export async function withdrawHandover(ctx: ArchiveContext, registerId: string, reason: string): Promise<TransferRegisterDoc> {
  const p = ctx.principal;
  if (p.kind !== 'user' || !hasAnyRole(p, ['ARCHIVIST', 'ACCOUNTANT'])) throw forbidden('A transfer register is withdrawn by an ARCHIVIST or an ACCOUNTANT');
  const why = requiredText(reason, 'reason', TEXT_FIELDS.archiveComment);
  const id = toObjectId(registerId);
  if (!id) throw notFound('Transfer register');
  const Registers = registerModel(ctx.connection);
  const withdrawn = await Registers.findOneAndUpdate(
    { _id: id, status: 'AWAITING_SIGNATURES' },
    { $set: { status: 'VOID', voidReason: `withdrawn by ${p.sub}: ${why}`, completedAt: nowOf(ctx) } },
    { returnDocument: 'after' },
  ).lean<TransferRegisterDoc>();
  if (withdrawn) return withdrawn;
  const reg = await Registers.findById(id).lean<TransferRegisterDoc>();
  if (!reg) throw notFound('Transfer register');
  throw conflict(`the transfer register of ${reg.fiscalYear} is ${reg.status}: only a register awaiting its signatures is withdrawn`);
}

/** The checks of a signature, before and again inside its transaction. */
function checkSignable(reg: TransferRegisterDoc | null, side: HandoverSide, by: string): TransferRegisterDoc {
  if (!reg) throw notFound('Transfer register');
  if (reg.status !== 'AWAITING_SIGNATURES') throw conflict(`the transfer register of ${reg.fiscalYear} is ${reg.status}`);
  if (reg.signatures.some((s) => s.side === side)) throw conflict(`the ${side} side of this register is already signed`);
  if (reg.signatures.some((s) => s.by === by)) throw conflict('the two sides of a handover are signed by two different people');
  return reg;
}

/**
 * signHandover: the caller signs one side. The second signature makes the register TRANSFERRING: it is then printed
 * and filed and custody passes on every listed record (handover-transfer.ts), within this call for a register of up
 * to HANDOVER_INLINE_RECORDS records, else in the archive's worker loop; the register reads SIGNED when done.
 */
export async function signHandover(ctx: ArchiveContext, registerId: string, side: HandoverSide): Promise<TransferRegisterDoc> {
  const p = ctx.principal;
  if (side !== 'ACCOUNTING' && side !== 'ARCHIVES') throw badInput('side must be ACCOUNTING or ARCHIVES', 'side');
  if (p.kind !== 'user' || !hasAnyRole(p, [SIGNER_ROLE[side]])) throw forbidden(`The ${side === 'ACCOUNTING' ? 'handing-over side is signed by an ACCOUNTANT' : 'receiving side is signed by an ARCHIVIST'}`);
  const id = toObjectId(registerId);
  if (!id) throw notFound('Transfer register');
  const Registers = registerModel(ctx.connection);
  const before = checkSignable(await Registers.findById(id).lean<TransferRegisterDoc>(), side, p.sub);
  const signatures = [...before.signatures, { side, by: p.sub, at: nowOf(ctx) }];
  const status = signatures.length === 2 ? 'TRANSFERRING' : 'AWAITING_SIGNATURES';
  // A signature writes the register alone (no record yet): not in the records' lane, where a transfer's batches run.
  await transaction(ctx.connection, async (session) => {
    const reg = checkSignable(await Registers.findById(id).session(session).lean<TransferRegisterDoc>(), side, p.sub);
    if (reg.signatures.length !== before.signatures.length) throw conflict('the register was signed meanwhile; read it again');
    const saved = await Registers.updateOne({ _id: reg._id, status: 'AWAITING_SIGNATURES', signatures: { $size: before.signatures.length } }, { $set: { signatures, status, nextSeq: 0 } }, { session });
    if (!saved.matchedCount) throw conflict('the register was signed meanwhile; read it again');
  });
  if (status === 'TRANSFERRING') {
    if (before.recordCount <= (ctx.settings.handover?.inlineRecords ?? HANDOVER_INLINE_RECORDS)) {
      // Signed is signed: what fails here (a deadline, a conflict) is the worker loop's to finish, not the signer's to retry.
      await continueHandover(ctx, id).catch(() => ctx.background?.wake());
    } else {
      ctx.background?.wake();
    }
  }
  const after = (await Registers.findById(id).lean<TransferRegisterDoc>())!;
  if (after.status === 'VOID') throw conflict(`${after.voidReason}: the register is void, nothing was handed over; prepare a new register`);
  return after;
}

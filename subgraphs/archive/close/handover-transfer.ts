// After a transfer register's second signature (handover.ts): the register is printed (register-pdf.ts, its stored
// lines checked against their digest on the way: altered, the register is VOID and nothing passes) and filed as a
// TRANSFER_REGISTER record in the archive department's custody; then the listed records are handed to the
// archive department in batches, each one transaction that sets `custody: ARCHIVES` on the batch's records, appends
// their HANDED_OVER history entries (the chain) and moves the register's progress, so a year of 100,000s of records
// is never one transaction and a transfer cut short by a restart goes on from its last batch (resumeHandovers runs in
// the archive's worker loop). A listed record that changed since it was listed (destroyed, its fixity not the listed
// one, already handed over) is excluded, named on its line, and stays with the accounting department for the next
// register. The last batch marks the register SIGNED and appends HANDOVER_SIGNED.
import type { Types } from 'mongoose';
import type { Principal } from '../../../platform/identity.ts';
import type { ArchiveContext, ArchiveServices } from '../context.ts';
import { fileInTransaction } from '../filing.ts';
import { type HistorySubject, RecordHistory, recordsTransaction } from '../history.ts';
import { createArchiveLoaders } from '../loaders.ts';
import type { ArchiveRecordDoc } from '../models.ts';
import { heldByLiveRecord } from '../originals/package.ts';
import { ArchiveFiles } from '../originals/store.ts';
import { bucketSink } from './bucket.ts';
import { companyOf } from './generate.ts';
import { type ExclusionReason, type TransferLineDoc, type TransferRegisterDoc, lineModel, registerModel } from './handover-model.ts';
import { InFlight } from './in-flight.ts';
import { RegisterLinesAltered, printTransferRegister } from './register-pdf.ts';

/** Records per transaction: large enough that the chain's lane is taken a few hundred times for a big year, small enough to keep each one short. */
export const HANDOVER_BATCH = 500;

/** Registers being transferred by this process. */
const running = new InFlight();

/** The receiving side's signer (the ARCHIVIST): who files the register and takes custody of what it lists. */
const receiverOf = (reg: TransferRegisterDoc): string => (reg.signatures.find((s) => s.side === 'ARCHIVES') ?? reg.signatures.at(-1)!).by;

function exclusionOf(line: TransferLineDoc, record: ArchiveRecordDoc | undefined): ExclusionReason | null {
  if (!record) return 'MISSING';
  if (record.status === 'DESTROYED') return 'DESTROYED';
  if (record.custody === 'ARCHIVES') return 'ALREADY_HANDED_OVER';
  if (record.fixity.digest !== line.digest) return 'CHANGED';
  return null;
}

/**
 * Prints the register and files it as a TRANSFER_REGISTER record, filed by the receiving signer and in the archive
 * department's custody from its filing (handed over with what it lists); a register whose lines were altered is VOID.
 */
async function fileRegister(svc: ArchiveServices, reg: TransferRegisterDoc): Promise<void> {
  const Registers = registerModel(svc.connection);
  const now = svc.clock?.() ?? new Date();
  const receiver = receiverOf(reg);
  const principal: Principal = { sub: receiver, roles: ['EMPLOYEE', 'ARCHIVIST'], departmentId: null, kind: 'user' };
  const ctx: ArchiveContext = { ...svc, principal, loaders: createArchiveLoaders(svc, principal) };
  const store = new ArchiveFiles(svc.connection);
  const bucket = bucketSink(store, now);
  let printed: Awaited<ReturnType<typeof printTransferRegister>>;
  let fileId: string;
  try {
    printed = await printTransferRegister(svc.connection, reg, reg.signatures, { company: companyOf(svc.settings), sink: bucket.sink, now });
    fileId = await bucket.verified(printed.name, printed.sha256);
  } catch (err) {
    await bucket.drop();
    if (!(err instanceof RegisterLinesAltered)) throw err;
    await Registers.updateOne({ _id: reg._id, status: 'TRANSFERRING', recordId: null }, { $set: { status: 'VOID', voidReason: err.message, completedAt: now } });
    return;
  }
  let filed = false;
  try {
    const bytes = await store.read(fileId);
    await recordsTransaction(svc.connection, async (session) => {
      filed = false;
      const current = await Registers.findById(reg._id).session(session).lean<TransferRegisterDoc>();
      // Another instance filed it meanwhile: this copy is not needed.
      if (current?.status !== 'TRANSFERRING' || current.recordId) return;
      const record = await fileInTransaction(ctx, session, {
        kind: 'TRANSFER_REGISTER',
        title: printed.title,
        fiscalYear: reg.fiscalYear,
        mediaType: 'application/json',
        content: JSON.stringify({ fiscalYear: reg.fiscalYear, preparedBy: reg.preparedBy, preparedAt: reg.preparedAt, signatures: reg.signatures, records: reg.recordCount, linesDigest: reg.linesDigest, file: printed.name, pages: printed.pages }),
        originals: [{ file: { fileId, name: printed.name, mediaType: 'application/pdf', size: printed.size, sha256: printed.sha256, sourceAttachmentId: '' }, bytes }],
      });
      const ref = { kind: 'TRANSFER_REGISTER' as const, id: record._id.toHexString(), no: record.archiveNo };
      await svc.models.ArchiveRecord.updateOne({ _id: record._id }, { $set: { custody: 'ARCHIVES' } }, { session });
      await new RecordHistory(svc.connection).append(session, [{ record: { ...record, custody: 'ARCHIVES' } as HistorySubject, change: { action: 'HANDED_OVER', actorId: receiver, at: now, ref } }]);
      const saved = await Registers.updateOne({ _id: reg._id, status: 'TRANSFERRING', recordId: null }, { $set: { recordId: ref.id, archiveNo: record.archiveNo } }, { session });
      if (!saved.matchedCount) throw new Error(`transfer register ${reg._id.toHexString()} moved meanwhile`);
      filed = true;
    });
  } finally {
    // The printed register goes unless a record lists it (a commit whose answer was lost).
    if (!filed && !(await heldByLiveRecord(svc)(fileId).catch(() => true))) await bucket.drop();
  }
}

/** One batch of the register's transfer; false when there is nothing left to do. */
async function transferBatch(svc: ArchiveServices, registerId: Types.ObjectId): Promise<boolean> {
  const Registers = registerModel(svc.connection);
  const Lines = lineModel(svc.connection);
  return recordsTransaction(svc.connection, async (session) => {
    const reg = await Registers.findById(registerId).session(session).lean<TransferRegisterDoc>();
    if (!reg || reg.status !== 'TRANSFERRING' || !reg.recordId) return false;
    const now = svc.clock?.() ?? new Date();
    const batch = svc.settings.handover?.batch ?? HANDOVER_BATCH;
    const lines = await Lines.find({ registerId, seq: { $gte: reg.nextSeq, $lt: reg.nextSeq + batch } })
      .sort({ seq: 1 })
      .session(session)
      .lean<TransferLineDoc[]>();
    const expected = Math.min(batch, reg.recordCount - reg.nextSeq);
    if (lines.length !== expected || lines.some((l, i) => l.seq !== reg.nextSeq + i)) {
      throw new Error(`transfer register ${registerId.toHexString()}: lines ${reg.nextSeq} to ${reg.nextSeq + expected - 1} are not all stored`);
    }
    const records = await svc.models.ArchiveRecord.find({ _id: { $in: lines.map((l) => l.recordId) } }, { content: 0 })
      .session(session)
      .lean<ArchiveRecordDoc[]>();
    const byId = new Map(records.map((r) => [r._id.toHexString(), r]));
    const passing: ArchiveRecordDoc[] = [];
    const excluded = new Map<ExclusionReason, number[]>();
    for (const line of lines) {
      const record = byId.get(line.recordId);
      const reason = exclusionOf(line, record);
      if (reason) excluded.set(reason, [...(excluded.get(reason) ?? []), line.seq]);
      else passing.push(record!);
    }
    if (passing.length) {
      const ids = passing.map((r) => r._id);
      const moved = await svc.models.ArchiveRecord.updateMany({ _id: { $in: ids }, custody: { $ne: 'ARCHIVES' } }, { $set: { custody: 'ARCHIVES' } }, { session });
      if (moved.modifiedCount !== ids.length) throw new Error(`transfer register ${registerId.toHexString()}: records changed during the batch`);
      const receiver = receiverOf(reg);
      const ref = { kind: 'TRANSFER_REGISTER' as const, id: reg.recordId!, no: reg.archiveNo! };
      await new RecordHistory(svc.connection).append(
        session,
        passing.map((r) => ({ record: { ...r, custody: 'ARCHIVES' } as HistorySubject, change: { action: 'HANDED_OVER' as const, actorId: receiver, at: now, ref } })),
      );
      const handed = new Set(ids.map((id) => id.toHexString()));
      await Lines.updateMany({ registerId, seq: { $in: lines.filter((l) => handed.has(l.recordId)).map((l) => l.seq) } }, { $set: { outcome: 'HANDED_OVER' } }, { session });
    }
    for (const [reason, seqs] of excluded) await Lines.updateMany({ registerId, seq: { $in: seqs } }, { $set: { outcome: 'EXCLUDED', exclusion: reason } }, { session });
    const nextSeq = reg.nextSeq + lines.length;
    const handedOver = reg.handedOver + passing.length;
    const excludedCount = reg.excluded + lines.length - passing.length;
    const last = nextSeq >= reg.recordCount;
    const saved = await Registers.updateOne(
      { _id: registerId, status: 'TRANSFERRING', nextSeq: reg.nextSeq },
      { $set: { nextSeq, handedOver, excluded: excludedCount, ...(last ? { status: 'SIGNED', completedAt: now } : {}) } },
      { session },
    );
    if (!saved.matchedCount) throw new Error(`transfer register ${registerId.toHexString()} moved meanwhile`);
    if (last) {
      const excludedText = excludedCount ? `, ${excludedCount} excluded (changed since listed: they stay with the accounting department)` : '';
      await svc.events.append(session, {
        type: 'HANDOVER_SIGNED',
        subject: { type: 'TransferRegister', id: registerId.toHexString() },
        actor: receiverOf(reg),
        payload: {
          fiscalYear: reg.fiscalYear,
          records: handedOver,
          excluded: excludedCount,
          archiveRecordId: reg.recordId,
          archiveNo: reg.archiveNo,
          detail: `${reg.fiscalYear}: ${handedOver} records handed over to the archive department (${reg.archiveNo})${excludedText}`,
        },
        occurredAt: now,
      });
    }
    return !last;
  });
}

/**
 * Passes custody on the register's remaining lines, batch after batch (at most `maxBatches`); nothing when this
 * process is already doing it. Returns whether the register is finished.
 */
export async function continueHandover(svc: ArchiveServices, registerId: Types.ObjectId, opts: { maxBatches?: number; stopped?: () => boolean } = {}): Promise<boolean> {
  return running.run(svc.connection, registerId.toHexString(), false, async () => {
    const reg = await registerModel(svc.connection).findById(registerId).lean<TransferRegisterDoc>();
    if (reg?.status !== 'TRANSFERRING') return true;
    if (!reg.recordId) {
      await fileRegister(svc, reg);
      await svc.seals?.afterFiling();
    }
    let batches = 0;
    let more = true;
    while (more && batches < (opts.maxBatches ?? Infinity) && !opts.stopped?.()) {
      more = await transferBatch(svc, registerId);
      batches++;
    }
    // The heads the batches moved are sealed outside the database too (seals.ts), as after a filing; a transfer cut
    // short leaves them to the archive's timer.
    await svc.seals?.afterFiling();
    return !more;
  });
}

/** Goes on with every register in transfer (after a restart, or a signature that left a large register to the worker loop). */
export async function resumeHandovers(svc: ArchiveServices, opts: { stopped?: () => boolean } = {}): Promise<number> {
  const open = await registerModel(svc.connection).find({ status: 'TRANSFERRING' }, { _id: 1 }).lean<Array<Pick<TransferRegisterDoc, '_id'>>>();
  for (const r of open) await continueHandover(svc, r._id, opts);
  return open.length;
}

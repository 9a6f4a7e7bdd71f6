// Carrying out an approved register: every record is checked again and its content removed, all or nothing.
import type { ClientSession } from 'mongoose';
import { conflict } from '../../../../platform/graphql.ts';
import type { Principal } from '../../../../platform/identity.ts';
import { toObjectId, toObjectIds } from '../../../../platform/ids.ts';
import { RecordHistory } from '../../history.ts';
import { ArchiveFiles } from '../../originals/store.ts';
import { heldByLiveRecord } from '../../originals/package.ts';
import { AccessLog } from '../access-log.ts';
import { latestAppraisals } from '../appraisal.ts';
import { type RecordMeta, WITHOUT_CONTENT, hexId } from '../records.ts';
import { type LifecycleServices, todayOf } from '../services.ts';
import { type Refusal, destructionRefusals, refuse } from './eligibility.ts';
import { type DestructionRegisterDoc, registerModel, subjectOf, yearsServed } from './register.ts';

/** Destroys every record of an approved register inside the caller's transaction, or aborts it (CONFLICT). */
export async function destroy(svc: LifecycleServices, session: ClientSession, register: DestructionRegisterDoc, principal: Principal, now: Date): Promise<DestructionRegisterDoc> {
  const todayIso = todayOf(svc, now);
  const ids = register.lines.map((l) => l.recordId);
  const records = await svc.models.ArchiveRecord.find({ _id: { $in: toObjectIds(ids) } }, WITHOUT_CONTENT, { session }).lean<RecordMeta[]>();
  const byId = new Map(records.map((r) => [hexId(r), r]));
  const latest = await latestAppraisals(svc, ids, session);
  const refused: Refusal[] = [];
  for (const line of register.lines) {
    const record = byId.get(line.recordId);
    const reasons = record ? destructionRefusals(record, latest.get(line.recordId), todayIso) : ['the record is missing'];
    if (reasons.length) refused.push({ recordId: line.recordId, archiveNo: line.archiveNo, reasons });
  }
  if (refused.length) refuse(`destruction of register ${register.registerNo} aborted, nothing was destroyed`, refused);

  const log = new AccessLog(svc.connection);
  const history = new RecordHistory(svc.connection);
  const underRegister = { kind: 'DESTRUCTION_REGISTER' as const, id: hexId(register), no: register.registerNo };
  const purpose = `销毁清册 ${register.registerNo}: ${register.reason}`.slice(0, 500);
  for (const line of register.lines) {
    // Content goes; metadata, content digest and fixity stay, so the chain still verifies.
    const done = await svc.models.ArchiveRecord.updateOne(
      { _id: toObjectId(line.recordId), status: 'FILED', destroyedAt: null },
      { $set: { content: null, status: 'DESTROYED', destroyedAt: now } },
      { session },
    );
    if (done.matchedCount !== 1) throw conflict(`record ${line.archiveNo} was changed meanwhile; destruction aborted, try again`);
    // The history names the register: a record DESTROYED without it does not verify (subgraphs/archive/integrity.ts).
    const destroyed = { ...byId.get(line.recordId)!, status: 'DESTROYED' as const, destroyedAt: now };
    await history.append(session, [{ record: destroyed, change: { action: 'DESTROYED', actorId: principal.sub, at: now, ref: underRegister } }]);
    await log.append(session, { actorId: principal.sub, actorRoles: principal.roles, action: 'DESTROYED', recordId: line.recordId, archiveNo: line.archiveNo, purpose, at: now });
  }
  // The originals' copies go with the content (the manifest stays), except those another record still holds.
  const fileIds = records.flatMap((r) => (r.files ?? []).map((f) => f.fileId));
  if (fileIds.length) {
    const held = heldByLiveRecord(svc);
    await new ArchiveFiles(svc.connection).releaseUnheld(session, fileIds, (fileId) => held(fileId, session));
  }
  const lines = register.lines.map((l) => ({ ...l, yearsServed: yearsServed(l.retentionStartsOn, todayIso), destroyedAt: now }));
  const updated = await registerModel(svc.connection)
    .findOneAndUpdate({ _id: register._id, status: 'PENDING' }, { $set: { status: 'DESTROYED', lines, destroyedAt: now, closedAt: now, closedBy: principal.sub } }, { returnDocument: 'after', session })
    .lean<DestructionRegisterDoc>();
  if (!updated) throw conflict(`register ${register.registerNo} was changed meanwhile; try again`);
  await svc.events.append(session, {
    type: 'RECORDS_DESTROYED',
    subject: subjectOf(updated),
    actor: principal.sub,
    payload: { registerId: hexId(updated), registerNo: updated.registerNo, recordIds: ids, archiveNos: lines.map((l) => l.archiveNo), destroyedAt: now.toISOString() },
    occurredAt: now,
  });
  return updated;
}

// Proposing a destruction register, and withdrawing it while it waits for signatures.
import { nextSequence } from '../../../../platform/integration/events.ts';
import { badInput, conflict } from '../../../../platform/graphql.ts';
import type { Principal } from '../../../../platform/identity.ts';
import { toObjectId, toObjectIds } from '../../../../platform/ids.ts';
import { rolesFor } from '../../../../schema/permissions.ts';
import { latestAppraisals } from '../appraisal.ts';
import { directoryOf } from '../directory.ts';
import { TEXT_FIELDS, requiredText } from '../../../../platform/text-policy.ts';
import { requireRole, requireUser, text } from '../guards.ts';
import { type RecordMeta, WITHOUT_CONTENT, hexId } from '../records.ts';
import { type LifecycleServices, fromWorkflow, nowOf, todayOf } from '../services.ts';
import { type Refusal, destructionRefusals, refuse } from './eligibility.ts';
import { type DestructionRegisterDoc, lineOf, loadRegister, registerModel, subjectOf } from './register.ts';
import { DESTRUCTION_WORKFLOW, ensureDestructionRoute } from './route.ts';
import { recordsTransaction } from '../../history.ts';

/** The most records one register lists. */
export const MAX_REGISTER_LINES = 500;

/** Who proposes and withdraws registers: the model's rules (schema/permissions.ts). */
const PROPOSERS = rolesFor('Mutation', 'proposeDestruction');
const WITHDRAWERS = rolesFor('Mutation', 'cancelDestruction');

export interface DestructionProposal {
  recordIds: string[];
  reason: string;
  /** The second handler (经办人) besides the proposing archivist. */
  secondHandlerId: string;
}

/**
 * An ARCHIVIST proposes a register. Refuses (CONFLICT, naming each record and why) any record that is not
 * expired, on hold, on loan, permanent, destroyed, not appraised for destruction, or listed in another open register.
 */
export async function proposeDestruction(svc: LifecycleServices, principal: Principal, input: DestructionProposal): Promise<DestructionRegisterDoc> {
  requireRole(principal, PROPOSERS, 'Proposing a destruction');
  requireUser(principal, 'Proposing a destruction');
  const reason = requiredText(input.reason, 'reason', TEXT_FIELDS.destructionReason);
  const ids = Array.isArray(input.recordIds) ? input.recordIds.map(String) : [];
  if (ids.length === 0 || ids.length > MAX_REGISTER_LINES) throw badInput(`a register lists 1 to ${MAX_REGISTER_LINES} records`, 'recordIds');
  if (new Set(ids).size !== ids.length) throw badInput('a record is listed twice', 'recordIds');
  const bad = ids.filter((id) => !toObjectId(id));
  if (bad.length) throw badInput(`no archive record ${bad.join(', ')}`, 'recordIds');
  const secondHandlerId = text(input.secondHandlerId, 'secondHandlerId', 100);
  if (secondHandlerId === principal.sub) throw badInput('the second handler must be another person than the proposer', 'secondHandlerId');

  const { unitHeadId, financeDepartmentId } = svc.settings;
  if (!unitHeadId || !financeDepartmentId) throw conflict('destruction needs the unit head and the finance department to be configured (unitHeadId, financeDepartmentId)');
  const directory = directoryOf(svc);
  if ((await directory.departmentOf(secondHandlerId)) === null) throw badInput(`no employee ${secondHandlerId}`, 'secondHandlerId');
  const route = (await ensureDestructionRoute(svc))!;
  const accountingHead = await directory.managerOf(financeDepartmentId);
  // Each signatory signs once, in one capacity: the handlers cannot also be the named heads.
  const named = new Map<string, string>([[unitHeadId, 'unit head']]);
  if (accountingHead) named.set(accountingHead, 'head of the accounting department');
  if (route.itManagerId) named.set(route.itManagerId, 'head of the IT department');
  const proposerIs = named.get(principal.sub);
  if (proposerIs) throw conflict(`you are the ${proposerIs}, who signs in that capacity: another archivist proposes and handles`);
  const secondIs = named.get(secondHandlerId);
  if (secondIs) throw badInput(`the second handler is the ${secondIs}, who signs in that capacity`, 'secondHandlerId');

  const now = nowOf(svc);
  const todayIso = todayOf(svc, now);
  const Register = registerModel(svc.connection);
  let result: DestructionRegisterDoc | undefined;
  await recordsTransaction(svc.connection, async (session) => {
    result = undefined;
    const records = await svc.models.ArchiveRecord.find({ _id: { $in: toObjectIds(ids) } }, WITHOUT_CONTENT, { session }).lean<RecordMeta[]>();
    const byId = new Map(records.map((r) => [hexId(r), r]));
    const missing = ids.filter((id) => !byId.has(id));
    if (missing.length) throw badInput(`no archive record ${missing.join(', ')}`, 'recordIds');
    const latest = await latestAppraisals(svc, ids, session);
    const open = await Register.find({ status: 'PENDING', 'lines.recordId': { $in: ids } }, { registerNo: 1, lines: 1 }, { session }).lean<DestructionRegisterDoc[]>();
    const listedIn = new Map<string, string>();
    for (const reg of open) for (const line of reg.lines) listedIn.set(line.recordId, reg.registerNo);
    const refused: Refusal[] = [];
    for (const id of ids) {
      const record = byId.get(id)!;
      const reasons = destructionRefusals(record, latest.get(id), todayIso);
      const other = listedIn.get(id);
      if (other) reasons.push(`already listed in destruction register ${other}`);
      if (reasons.length) refused.push({ recordId: id, archiveNo: record.archiveNo, reasons });
    }
    if (refused.length) refuse('these records may not be destroyed', refused);

    // Every record of this archive keeps electronic content; a register of such records is electronic.
    const electronic = (await svc.models.ArchiveRecord.countDocuments({ _id: { $in: toObjectIds(ids) }, content: { $ne: null } }, { session })) > 0;
    if (electronic && !route.itManagerId) throw conflict('electronic archives are destroyed under the IT department’s supervision: configure itDepartmentId and give it a manager');

    const year = todayIso.slice(0, 4);
    const seq = await nextSequence(svc.connection, `destructionRegisterNo:${year}`, session);
    const [created] = await Register.create(
      [
        {
          registerNo: `XH-${year}-${String(seq).padStart(4, '0')}`,
          reason,
          status: 'PENDING',
          electronic,
          proposedBy: principal.sub,
          proposedAt: now,
          handlerIds: [principal.sub, secondHandlerId],
          approvalId: null,
          lines: ids.map((id) => lineOf(byId.get(id)!, todayIso)),
          signatures: [],
          destroyedAt: null,
          closedAt: null,
          closedBy: null,
          closedReason: null,
          registerRecordId: null,
          filingError: null,
        },
      ],
      { session },
    );
    const instance = await svc.workflow
      .start(session, DESTRUCTION_WORKFLOW, subjectOf(created), {
        initiatorId: principal.sub,
        departmentId: financeDepartmentId,
        category: electronic ? 'ELECTRONIC' : 'PAPER',
      })
      .catch(fromWorkflow);
    const register = await Register.findOneAndUpdate({ _id: created._id }, { $set: { approvalId: instance.id } }, { returnDocument: 'after', session }).lean<DestructionRegisterDoc>();
    await svc.events.append(session, {
      type: 'DESTRUCTION_REQUESTED',
      subject: subjectOf(created),
      actor: principal.sub,
      payload: { registerId: hexId(created), registerNo: register!.registerNo, recordIds: ids, archiveNos: register!.lines.map((l) => l.archiveNo), handlerIds: register!.handlerIds, approvalId: instance.id, electronic },
      occurredAt: now,
    });
    result = register!;
  });
  return result!;
}

/** ARCHIVIST (any): withdraws a register that is still waiting for signatures. */
export async function cancelDestruction(svc: LifecycleServices, principal: Principal, registerId: string, reason: string): Promise<DestructionRegisterDoc> {
  requireRole(principal, WITHDRAWERS, 'Withdrawing a destruction register');
  const why = requiredText(reason, 'reason', TEXT_FIELDS.destructionReason);
  const now = nowOf(svc);
  let result: DestructionRegisterDoc | undefined;
  await recordsTransaction(svc.connection, async (session) => {
    result = undefined;
    const register = await loadRegister(svc, registerId, session);
    if (register.status !== 'PENDING') throw conflict(`register ${register.registerNo} is ${register.status}`);
    const instance = register.approvalId ? await svc.workflow.get(register.approvalId, session) : null;
    if (instance?.status === 'RUNNING') await svc.workflow.cancel(session, instance.id, principal.sub).catch(fromWorkflow);
    const updated = await registerModel(svc.connection)
      .findOneAndUpdate({ _id: register._id, status: 'PENDING' }, { $set: { status: 'CANCELLED', closedAt: now, closedBy: principal.sub, closedReason: why } }, { returnDocument: 'after', session })
      .lean<DestructionRegisterDoc>();
    if (!updated) throw conflict(`register ${register.registerNo} was changed meanwhile; try again`);
    await svc.events.append(session, { type: 'DESTRUCTION_CANCELLED', subject: subjectOf(updated), actor: principal.sub, payload: { registerId: hexId(updated), registerNo: updated.registerNo, reason: why }, occurredAt: now });
    result = updated;
  });
  return result!;
}

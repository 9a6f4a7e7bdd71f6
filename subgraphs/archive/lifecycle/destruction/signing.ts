// Signing a register: the handlers on the register itself, the other signatories through the workflow.
import { badInput, conflict } from '../../../../platform/graphql.ts';
import { type Principal, hasAnyRole } from '../../../../platform/identity.ts';
import type { Decision, WorkflowInstance } from '../../../../platform/workflow/types.ts';
import { rolesFor } from '../../../../schema/permissions.ts';
import { TEXT_FIELDS, optionalText } from '../../../../platform/text-policy.ts';
import { requireUser } from '../guards.ts';
import { hexId } from '../records.ts';
import { type LifecycleServices, fromWorkflow, nowOf } from '../services.ts';
import { destroy } from './execution.ts';
import { ARCHIVE_SYSTEM, fileRegister } from './register-filing.ts';
import { type DestructionRegisterDoc, type DestructionSignatureDoc, loadRegister, registerModel, subjectOf } from './register.ts';
import { STEP_CAPACITY } from './route.ts';
import { recordsTransaction } from '../../history.ts';

/** Who files archive records (the model's Mutation.fileArchiveRecord): such a last signer files the register. */
const RECORD_FILERS = rolesFor('Mutation', 'fileArchiveRecord');

/**
 * A signatory signs (APPROVE) or refuses (REJECT). Handlers sign on the register, the other signatories through
 * the workflow (which checks that they are asked to). A refusal closes the register as REJECTED. The last
 * signature destroys the records in the same transaction (execution.ts).
 */
export async function signDestruction(svc: LifecycleServices, principal: Principal, registerId: string, decision: Decision, comment?: string | null): Promise<DestructionRegisterDoc> {
  requireUser(principal, 'Signing a destruction register');
  if (decision !== 'APPROVE' && decision !== 'REJECT') throw badInput('decision must be APPROVE or REJECT', 'decision');
  comment = optionalText(comment, 'comment', TEXT_FIELDS.archiveComment);
  const now = nowOf(svc);
  const Register = registerModel(svc.connection);
  let result: DestructionRegisterDoc | undefined;
  await recordsTransaction(svc.connection, async (session) => {
    result = undefined;
    const register = await loadRegister(svc, registerId, session);
    if (register.status !== 'PENDING' || !register.approvalId) throw conflict(`register ${register.registerNo} is ${register.status} and takes no signatures`);
    const earlier = register.signatures.find((s) => s.employeeId === principal.sub);
    if (earlier) throw conflict(`you signed register ${register.registerNo} already, as ${earlier.capacity}`);

    let signature: DestructionSignatureDoc;
    let instance: WorkflowInstance;
    if (register.handlerIds.includes(principal.sub)) {
      signature = { capacity: 'HANDLER', employeeId: principal.sub, onBehalfOf: null, decision, comment: comment ?? null, signedAt: now };
      const current = await svc.workflow.get(register.approvalId, session);
      if (!current) throw new Error(`approval ${register.approvalId} of register ${register.registerNo} is missing`);
      instance = decision === 'REJECT' && current.status === 'RUNNING' ? await svc.workflow.cancel(session, register.approvalId, principal.sub).catch(fromWorkflow) : current;
    } else {
      const decided = await svc.workflow.decide(session, register.approvalId, principal.sub, decision, comment ?? undefined).catch(fromWorkflow);
      const last = decided.step.decisions.at(-1);
      signature = {
        capacity: STEP_CAPACITY[decided.step.key] ?? 'ARCHIVE_HEAD',
        employeeId: principal.sub,
        onBehalfOf: last?.onBehalfOf ?? null,
        decision,
        comment: comment ?? null,
        signedAt: now,
      };
      instance = decided.instance;
    }

    const signatures = [...register.signatures, signature];
    const rejected = decision === 'REJECT';
    const set: Partial<DestructionRegisterDoc> = { signatures };
    if (rejected) Object.assign(set, { status: 'REJECTED', closedAt: now, closedBy: principal.sub, closedReason: comment ?? 'refused' });
    let updated = await Register.findOneAndUpdate({ _id: register._id, status: 'PENDING' }, { $set: set }, { returnDocument: 'after', session }).lean<DestructionRegisterDoc>();
    if (!updated) throw conflict(`register ${register.registerNo} was changed meanwhile; try again`);
    await svc.events.append(session, {
      type: 'DESTRUCTION_SIGNED',
      subject: subjectOf(updated),
      actor: principal.sub,
      payload: { registerId: hexId(updated), registerNo: updated.registerNo, capacity: signature.capacity, decision, onBehalfOf: signature.onBehalfOf, comment: comment ?? null },
      occurredAt: now,
    });
    if (rejected) {
      await svc.events.append(session, {
        type: 'DESTRUCTION_REJECTED',
        subject: subjectOf(updated),
        actor: principal.sub,
        payload: { registerId: hexId(updated), registerNo: updated.registerNo, capacity: signature.capacity, comment: comment ?? null },
        occurredAt: now,
      });
    } else if (instance.status === 'APPROVED' && updated.handlerIds.every((h) => signatures.some((s) => s.employeeId === h && s.capacity === 'HANDLER' && s.decision === 'APPROVE'))) {
      updated = await destroy(svc, session, updated, principal, now);
    }
    result = updated;
  });
  const done = result!;
  // Filing the register runs in its own transaction (fileRecord opens one) and needs an ARCHIVIST.
  // Filed at once, by the signer when an archivist, else by the archive itself (a system identity).
  if (done.status === 'DESTROYED') return fileRegister(svc, hasAnyRole(principal, RECORD_FILERS) ? principal : ARCHIVE_SYSTEM, done);
  return done;
}

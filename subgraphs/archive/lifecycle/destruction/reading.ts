// Reading registers: one, a page, those waiting for the caller, and who still has to sign.
import { type PageInfoModel, forwardPageInfo } from '../../../../platform/paging.ts';
import { badInput } from '../../../../platform/graphql.ts';
import { type Principal, type Role, hasAnyRole } from '../../../../platform/identity.ts';
import { toObjectId, toObjectIds } from '../../../../platform/ids.ts';
import { requireRole } from '../guards.ts';
import { decodeCursor, encodeCursor, pageSize } from '../pagination.ts';
import { hexId } from '../records.ts';
import type { LifecycleServices } from '../services.ts';
import { type DestructionRegisterDoc, type DestructionStatus, type SignatoryCapacity, registerModel } from './register.ts';
import { STEP_CAPACITY } from './route.ts';

/** Roles that read every register. The model has no rule for it: registers are row-scoped here. */
export const REGISTER_READERS: readonly Role[] = ['ARCHIVIST', 'AUDITOR', 'ACCOUNTANT', 'FINANCE_DIRECTOR'];

/** A register the caller may see (readers, its handlers, its signatories); null otherwise. */
export async function getRegister(svc: LifecycleServices, principal: Principal, registerId: string): Promise<DestructionRegisterDoc | null> {
  const id = typeof registerId === 'string' ? toObjectId(registerId) : null;
  const register = id ? await registerModel(svc.connection).findById(id).lean<DestructionRegisterDoc>() : null;
  if (!register) return null;
  if (hasAnyRole(principal, REGISTER_READERS) || register.handlerIds.includes(principal.sub)) return register;
  const assigned = await svc.workflow.subjectsAssignedTo('DestructionRegister', principal.sub);
  return assigned.includes(hexId(register)) ? register : null;
}

export async function listRegisters(
  svc: LifecycleServices,
  principal: Principal,
  args: { status?: DestructionStatus | null; first?: number | null; after?: string | null },
): Promise<{ edges: Array<{ cursor: string; node: DestructionRegisterDoc }>; pageInfo: PageInfoModel; totalCount: number }> {
  requireRole(principal, REGISTER_READERS, 'Destruction registers');
  const first = pageSize(args.first);
  const filter: Record<string, unknown> = args.status ? { status: args.status } : {};
  let page = filter;
  if (args.after) {
    const after = toObjectId(decodeCursor('register', args.after));
    if (!after) throw badInput('after is not a cursor returned by this API', 'after');
    page = { ...filter, _id: { $lt: after } };
  }
  const Register = registerModel(svc.connection);
  const [docs, totalCount] = await Promise.all([Register.find(page).sort({ _id: -1 }).limit(first + 1).lean<DestructionRegisterDoc[]>(), Register.countDocuments(filter)]);
  const edges = docs.slice(0, first).map((node) => ({ cursor: encodeCursor('register', hexId(node)), node }));
  return { edges, pageInfo: forwardPageInfo(edges, docs.length > first, args.after), totalCount };
}

/** Open registers waiting for the caller's signature (as a handler or a workflow signatory), oldest first. */
export async function registersAwaiting(svc: LifecycleServices, principal: Principal): Promise<DestructionRegisterDoc[]> {
  const Register = registerModel(svc.connection);
  const pending = (await svc.workflow.pendingFor(principal.sub)).filter((i) => i.subject.type === 'DestructionRegister').map((i) => i.subject.id);
  const docs = await Register.find({
    status: 'PENDING',
    $or: [{ _id: { $in: toObjectIds(pending) } }, { handlerIds: principal.sub }],
  })
    .sort({ proposedAt: 1, _id: 1 })
    .lean<DestructionRegisterDoc[]>();
  return docs.filter((d) => !d.signatures.some((s) => s.employeeId === principal.sub));
}

/** Who still has to sign, by capacity. */
export async function pendingSignatories(svc: LifecycleServices, register: DestructionRegisterDoc): Promise<Array<{ capacity: SignatoryCapacity; employeeIds: string[] }>> {
  if (register.status !== 'PENDING') return [];
  const out: Array<{ capacity: SignatoryCapacity; employeeIds: string[] }> = [];
  const handlers = register.handlerIds.filter((h) => !register.signatures.some((s) => s.employeeId === h));
  if (handlers.length) out.push({ capacity: 'HANDLER', employeeIds: handlers });
  const instance = register.approvalId ? await svc.workflow.get(register.approvalId) : null;
  for (const step of instance?.steps ?? []) {
    if (step.status !== 'ACTIVE' && step.status !== 'WAITING') continue;
    const decided = new Set(step.decisions.map((d) => d.onBehalfOf ?? d.approverId));
    out.push({ capacity: STEP_CAPACITY[step.key] ?? 'ARCHIVE_HEAD', employeeIds: step.assigneeIds.filter((id) => !decided.has(id)) });
  }
  return out;
}

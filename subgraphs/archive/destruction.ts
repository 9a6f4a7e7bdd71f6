// Destruction (销毁): an ARCHIVIST proposes a destruction register (销毁清册) of expired records that an appraisal
// found may be destroyed. DOMAIN.md: the register lists each record (name, volume no., count, years, archive no.,
// retention due and served, destruction time) and is signed by the unit head, the archive department head, the
// accounting department head and the handlers; for electronic archives the IT department also supervises.
//
// The organisational signatures run as the `archive-destruction` workflow (one stage, its steps in parallel, every
// step required): unit head (configured employee), archive department head (an ARCHIVIST other than the
// proposer), accounting department head (manager of the configured finance department; a FINANCE_DIRECTOR when the
// post is vacant) and, for electronic records, the manager of the configured IT department. The handlers (经办人:
// the proposing archivist and a second handler named in the proposal) sign on the register itself: a stored
// definition is the same for every register, and the handlers differ per register. A person signs once, in one
// capacity. The last signature destroys the records in the same transaction: every record is checked again, and
// one that may no longer be destroyed (a hold placed meanwhile, a loan) aborts the whole destruction (CONFLICT),
// the signature included. Metadata, fixity digests and the register stay; the content is removed.
import { Schema, type ClientSession, type Connection, type Model, type Types } from 'mongoose';
import { nextSequence } from '../../platform/events.ts';
import { badInput, conflict, gqlError, notFound } from '../../platform/graphql.ts';
import type { Principal, Role } from '../../platform/identity.ts';
import { toObjectId, toObjectIds } from '../../platform/ids.ts';
import type { Decision, StageDefinition, WorkflowDefinition, WorkflowInstance } from '../../platform/workflow/types.ts';
import {
  AccessLog,
  type LifecycleServices,
  type RecordMeta,
  WITHOUT_CONTENT,
  decodeCursor,
  directoryOf,
  effectiveExpiry,
  encodeCursor,
  fromWorkflow,
  hasAnyRole,
  hexId,
  nowOf,
  pageSize,
  requireRole,
  requireUser,
  text,
  todayOf,
} from './access-log.ts';
import { type AppraisalDoc, latestAppraisals } from './appraisal.ts';
import { fileRecord } from './filing.ts';
import { canonical } from './fixity.ts';
import { createArchiveLoaders } from './loaders.ts';
import { ARCHIVE_NO_RE, type ArchiveKind, type RetentionPeriod } from './retention.ts';
import { transaction } from '../../platform/transactions.ts';

export const DESTRUCTION_WORKFLOW = 'archive-destruction';
/** The most records one register lists. */
export const MAX_REGISTER_LINES = 500;

export type SignatoryCapacity = 'UNIT_HEAD' | 'ARCHIVE_HEAD' | 'ACCOUNTING_HEAD' | 'HANDLER' | 'IT_SUPERVISOR';
export type DestructionStatus = 'PENDING' | 'REJECTED' | 'CANCELLED' | 'DESTROYED';

/** Workflow step key → the capacity its signer signs in. */
export const STEP_CAPACITY: Readonly<Record<string, SignatoryCapacity>> = Object.freeze({
  'unit-head': 'UNIT_HEAD',
  'archive-head': 'ARCHIVE_HEAD',
  'accounting-head': 'ACCOUNTING_HEAD',
  'it-supervisor': 'IT_SUPERVISOR',
});

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

// ── The route ───────────────────────────────────────────────────────────────────────────────────────

/**
 * The organisational signatures of a register. Facts: { initiatorId: the proposer, departmentId: the finance
 * department, category: ELECTRONIC | PAPER }. The engine leaves the initiator out of every step, so the archive
 * department head is another archivist than the proposing handler.
 */
export function destructionRoute(unitHeadId: string, itManagerId: string | null): { key: string; name: string; stages: StageDefinition[] } {
  return {
    key: DESTRUCTION_WORKFLOW,
    name: '会计档案销毁清册签署 Destruction register sign-off',
    stages: [
      {
        steps: [
          { key: 'unit-head', name: '单位负责人 Unit head', mode: 'ALL', assignees: [{ kind: 'employees', ids: [unitHeadId] }] },
          {
            key: 'archive-head',
            name: '档案管理机构负责人 Head of the archive department',
            mode: 'ANY',
            assignees: [{ kind: 'role', role: 'ARCHIVIST' }],
            escalation: { kind: 'role', role: 'ARCHIVIST' },
          },
          {
            key: 'accounting-head',
            name: '会计管理机构负责人 Head of the accounting department',
            mode: 'ALL',
            assignees: [{ kind: 'departmentManager' }],
            escalation: { kind: 'role', role: 'FINANCE_DIRECTOR' },
          },
          ...(itManagerId
            ? [
                {
                  key: 'it-supervisor',
                  name: '信息系统管理机构 IT department (electronic archives)',
                  mode: 'ALL' as const,
                  assignees: [{ kind: 'employees' as const, ids: [itManagerId] }],
                  when: { kind: 'categoryIn' as const, categories: ['ELECTRONIC'] },
                },
              ]
            : []),
        ],
      },
    ],
  };
}

/**
 * Saves the route for the current configuration and IT manager (no new version when nothing changed); null when
 * no unit head is configured. Called at start-up and before each proposal, so a new IT manager is picked up.
 */
export async function ensureDestructionRoute(svc: LifecycleServices): Promise<{ definition: WorkflowDefinition; itManagerId: string | null } | null> {
  const { unitHeadId, itDepartmentId } = svc.settings;
  if (!unitHeadId) return null;
  const itManagerId = itDepartmentId ? await directoryOf(svc).managerOf(itDepartmentId) : null;
  return { definition: await svc.workflow.saveDefinition(destructionRoute(unitHeadId, itManagerId)), itManagerId };
}

// ── Checks ──────────────────────────────────────────────────────────────────────────────────────────

const RETENTION_YEARS: Readonly<Record<RetentionPeriod, number | null>> = { Y10: 10, Y30: 30, Y5_AFTER_DISPOSAL: 5, PERMANENT: null };

/** Full years served from the first day of retention through `onDay` (both YYYY-MM-DD). */
export function yearsServed(retentionStartsOn: string, onDay: string): number {
  const next = new Date(Date.UTC(Number(onDay.slice(0, 4)), Number(onDay.slice(5, 7)) - 1, Number(onDay.slice(8, 10)) + 1));
  const [y1, m1, d1] = retentionStartsOn.split('-').map(Number);
  const [y2, m2, d2] = [next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate()];
  const years = y2 - y1 - (m2 < m1 || (m2 === m1 && d2 < d1) ? 1 : 0);
  return Math.max(0, years);
}

/**
 * Why a record may not be destroyed today (empty: it may). A record's last day of retention is still a day it
 * is kept (a 2026 voucher "expires at the end of 2056-12-31"), so it is expired from the day after.
 */
export function destructionRefusals(record: RecordMeta, latest: AppraisalDoc | undefined, todayIso: string): string[] {
  if (record.status === 'DESTROYED') return ['already destroyed'];
  const reasons: string[] = [];
  const expiry = effectiveExpiry(record);
  if (record.retention === 'PERMANENT') reasons.push('kept permanently');
  else if (expiry === null) reasons.push('retention has not started to run out (asset not yet disposed of)');
  else if (expiry >= todayIso) reasons.push(`not expired: kept until ${expiry}`);
  else if (latest?.conclusion !== 'DESTROY') reasons.push('no appraisal opinion finds that it may be destroyed');
  if (record.holds.length > 0 || record.status === 'ON_HOLD') reasons.push(`on hold (${record.holds.map((h) => h.reason).join('; ') || 'kept apart'})`);
  if (record.status === 'BORROWED') reasons.push('on loan');
  return reasons;
}

interface Refusal {
  recordId: string;
  archiveNo: string;
  reasons: string[];
}

function refuse(prefix: string, refused: Refusal[]): never {
  throw gqlError('CONFLICT', `${prefix}: ${refused.map((r) => `${r.archiveNo}: ${r.reasons.join(', ')}`).join('; ')}`, { refused });
}

function lineOf(record: RecordMeta, todayIso: string): DestructionLineDoc {
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

const subjectOf = (r: Pick<DestructionRegisterDoc, '_id'>) => ({ type: 'DestructionRegister', id: hexId(r) });

async function loadRegister(svc: LifecycleServices, registerId: string, session?: ClientSession): Promise<DestructionRegisterDoc> {
  const id = typeof registerId === 'string' ? toObjectId(registerId) : null;
  const doc = id ? await registerModel(svc.connection).findById(id, null, { session }).lean<DestructionRegisterDoc>() : null;
  if (!doc) throw notFound('Destruction register');
  return doc;
}

// ── Proposal ────────────────────────────────────────────────────────────────────────────────────────

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
  requireRole(principal, ['ARCHIVIST'], 'Proposing a destruction');
  requireUser(principal, 'Proposing a destruction');
  const reason = text(input.reason, 'reason', 1000);
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
  await transaction(svc.connection, async (session) => {
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

// ── Signing and destroying ──────────────────────────────────────────────────────────────────────────

/**
 * A signatory signs (APPROVE) or refuses (REJECT). Handlers sign on the register, the other signatories through
 * the workflow (which checks that they are asked to). A refusal closes the register as REJECTED. The last
 * signature destroys the records in the same transaction (see the top of this file).
 */
export async function signDestruction(svc: LifecycleServices, principal: Principal, registerId: string, decision: Decision, comment?: string | null): Promise<DestructionRegisterDoc> {
  requireUser(principal, 'Signing a destruction register');
  if (decision !== 'APPROVE' && decision !== 'REJECT') throw badInput('decision must be APPROVE or REJECT', 'decision');
  if (comment != null && comment.length > 1000) throw badInput('comment must be at most 1000 characters', 'comment');
  const now = nowOf(svc);
  const Register = registerModel(svc.connection);
  let result: DestructionRegisterDoc | undefined;
  await transaction(svc.connection, async (session) => {
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
  // Filing the register runs in its own transaction (filing.ts opens one) and needs an ARCHIVIST.
  // Filed at once, by the signer when an archivist, else by the archive itself (a system identity).
  if (done.status === 'DESTROYED') return fileRegister(svc, hasAnyRole(principal, ['ARCHIVIST']) ? principal : ARCHIVE_SYSTEM, done);
  return done;
}

/** Destroys every record of an approved register inside the caller's transaction, or aborts it (CONFLICT). */
async function destroy(svc: LifecycleServices, session: ClientSession, register: DestructionRegisterDoc, principal: Principal, now: Date): Promise<DestructionRegisterDoc> {
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
  const purpose = `销毁清册 ${register.registerNo}: ${register.reason}`.slice(0, 500);
  for (const line of register.lines) {
    // Content goes; metadata, content digest and fixity stay, so the chain still verifies.
    const done = await svc.models.ArchiveRecord.updateOne(
      { _id: toObjectId(line.recordId), status: 'FILED', destroyedAt: null },
      { $set: { content: null, status: 'DESTROYED', destroyedAt: now } },
      { session },
    );
    if (done.matchedCount !== 1) throw conflict(`record ${line.archiveNo} was changed meanwhile; destruction aborted, try again`);
    await log.append(session, { actorId: principal.sub, actorRoles: principal.roles, action: 'DESTROYED', recordId: line.recordId, archiveNo: line.archiveNo, purpose, at: now });
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

/** ARCHIVIST (any): withdraws a register that is still waiting for signatures. */
export async function cancelDestruction(svc: LifecycleServices, principal: Principal, registerId: string, reason: string): Promise<DestructionRegisterDoc> {
  requireRole(principal, ['ARCHIVIST'], 'Withdrawing a destruction register');
  const why = text(reason, 'reason', 1000);
  const now = nowOf(svc);
  let result: DestructionRegisterDoc | undefined;
  await transaction(svc.connection, async (session) => {
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

/** The identity the archive files its own registers under when the last signer is not an archivist. */
const ARCHIVE_SYSTEM: Principal = { sub: 'archive-system', roles: [], departmentId: null, kind: 'service' };

/** The register as filed: what DOMAIN.md asks it to list, and who signed. */
export function registerContent(r: DestructionRegisterDoc): string {
  return canonical({
    registerNo: r.registerNo,
    reason: r.reason,
    proposedBy: r.proposedBy,
    proposedAt: r.proposedAt,
    handlerIds: r.handlerIds,
    electronic: r.electronic,
    lines: r.lines,
    signatures: r.signatures,
    destroyedAt: r.destroyedAt,
  });
}

async function fileRegister(svc: LifecycleServices, principal: Principal, register: DestructionRegisterDoc): Promise<DestructionRegisterDoc> {
  let set: Partial<DestructionRegisterDoc>;
  try {
    const filed = await fileRecord(
      { ...svc, principal, loaders: createArchiveLoaders(svc, principal) },
      {
        kind: 'DESTRUCTION_REGISTER',
        title: `会计档案销毁清册 ${register.registerNo}`,
        fiscalYear: Number(todayOf(svc, register.destroyedAt ?? nowOf(svc)).slice(0, 4)),
        mediaType: 'application/json',
        content: registerContent(register),
      },
    );
    set = { registerRecordId: hexId(filed), filingError: null };
  } catch (err) {
    set = { filingError: err instanceof Error ? err.message.slice(0, 500) : 'filing failed' };
  }
  return (
    (await registerModel(svc.connection).findOneAndUpdate({ _id: register._id, registerRecordId: null }, { $set: set }, { returnDocument: 'after' }).lean<DestructionRegisterDoc>()) ??
    register
  );
}

/**
 * ARCHIVIST: files a destroyed register as a DESTRUCTION_REGISTER record (kept permanently). Done automatically
 * when an archivist gave the last signature; otherwise, or after a failed filing, an archivist calls this.
 */
export async function fileDestructionRegister(svc: LifecycleServices, principal: Principal, registerId: string): Promise<DestructionRegisterDoc> {
  requireRole(principal, ['ARCHIVIST'], 'Filing a destruction register');
  const register = await loadRegister(svc, registerId);
  if (register.status !== 'DESTROYED') throw conflict(`register ${register.registerNo} is ${register.status}; only a register carried out is filed`);
  if (register.registerRecordId) return register;
  return fileRegister(svc, principal, register);
}

// ── Reading ─────────────────────────────────────────────────────────────────────────────────────────

/** Roles that read every register. */
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
): Promise<{ edges: Array<{ cursor: string; node: DestructionRegisterDoc }>; pageInfo: { hasNextPage: boolean; endCursor: string | null }; totalCount: number }> {
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
  return { edges, pageInfo: { hasNextPage: docs.length > first, endCursor: edges.at(-1)?.cursor ?? null }, totalCount };
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

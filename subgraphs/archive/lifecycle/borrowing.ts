// Borrowing (借阅): any employee asks for a record, for a purpose and a period of at most 90 days; an ARCHIVIST
// approves, and when the borrower is outside the finance department the head of the finance department also
// approves (archives are normally not lent outside the accounting function). An ARCHIVIST hands the record out
// and takes it back; loans past their period are marked OVERDUE once. Every step is a domain event in the same
// transaction as the change, and request, approval, hand-out and return are entries of the access log.
import { type PageInfoModel, forwardPageInfo } from '../../../platform/paging.ts';
import { Schema, Types, type ClientSession, type Connection, type Model } from 'mongoose';
import { badInput, conflict, forbidden, notFound, parseDate } from '../../../platform/graphql.ts';
import { type Principal, type Role, hasAnyRole } from '../../../platform/identity.ts';
import { toObjectId } from '../../../platform/ids.ts';
import type { Decision, StageDefinition, WorkflowInstance } from '../../../platform/workflow/types.ts';
import { rolesFor } from '../../../schema/permissions.ts';
import { loanStartDay } from '../../../platform/input-bounds.ts';
import { RecordHistory, recordsTransaction } from '../history.ts';
import { AccessLog } from './access-log.ts';
import { directoryOf } from './directory.ts';
import { TEXT_FIELDS, optionalText, requiredText } from '../../../platform/text-policy.ts';
import { requireRole, requireUser } from './guards.ts';
import { decodeCursor, encodeCursor, pageSize } from './pagination.ts';
import { hexId, recordMeta } from './records.ts';
import { type LifecycleServices, fromWorkflow, nowOf, todayOf } from './services.ts';

export const BORROWING_WORKFLOW = 'archive-borrowing';
/** The longest loan, in days from `from` to `until`. */
export const MAX_LOAN_DAYS = 90;

export type LoanStatus = 'REQUESTED' | 'APPROVED' | 'REJECTED' | 'ON_LOAN' | 'OVERDUE' | 'RETURNED';

export interface LoanDoc {
  _id: Types.ObjectId;
  recordId: string;
  archiveNo: string;
  borrowerId: string;
  borrowerDepartmentId: string;
  /** The borrower works in the finance department (then the archivist's approval suffices). */
  insideFinance: boolean;
  purpose: string;
  /** First and last day of the loan (YYYY-MM-DD, business time zone). */
  from: string;
  until: string;
  status: LoanStatus;
  approvalId: string | null;
  requestedAt: Date;
  decidedAt: Date | null;
  startedAt: Date | null;
  handedOutBy: string | null;
  returnedAt: Date | null;
  receivedBy: string | null;
  overdueAt: Date | null;
}

const loanSchema = new Schema<LoanDoc>(
  {
    recordId: { type: String, required: true, index: true },
    archiveNo: { type: String, required: true },
    borrowerId: { type: String, required: true, index: true },
    borrowerDepartmentId: { type: String, required: true },
    insideFinance: { type: Boolean, required: true },
    purpose: { type: String, required: true },
    from: { type: String, required: true },
    until: { type: String, required: true },
    status: { type: String, required: true, index: true },
    approvalId: { type: String, default: null },
    requestedAt: { type: Date, required: true },
    decidedAt: { type: Date, default: null },
    startedAt: { type: Date, default: null },
    handedOutBy: { type: String, default: null },
    returnedAt: { type: Date, default: null },
    receivedBy: { type: String, default: null },
    overdueAt: { type: Date, default: null },
  },
  { collection: 'archive_loans', versionKey: false, minimize: false },
);

export function loanModel(connection: Connection): Model<LoanDoc> {
  return (connection.models.ArchiveLoan as Model<LoanDoc> | undefined) ?? connection.model<LoanDoc>('ArchiveLoan', loanSchema);
}

/** Who hands loans out, takes them back and marks them overdue: the model's rules (schema/permissions.ts). */
const HANDERS_OUT = rolesFor('Mutation', 'startLoan');
const RECEIVERS = rolesFor('Mutation', 'returnLoan');
const OVERDUE_MARKERS = rolesFor('Mutation', 'markOverdueLoans');

/** Loans that still hold (or will hold) the record: a new request for the same record by the same borrower waits. */
const OPEN: LoanStatus[] = ['REQUESTED', 'APPROVED', 'ON_LOAN', 'OVERDUE'];

/**
 * The approval route of a loan. Facts: { initiatorId: borrower, departmentId: the finance department,
 * category: FINANCE | OUTSIDE_FINANCE }, so `departmentManager` is the head of the finance department.
 */
export function borrowingRoute(): { key: string; name: string; stages: StageDefinition[] } {
  return {
    key: BORROWING_WORKFLOW,
    name: '会计档案借阅审批 Archive borrowing',
    stages: [
      { steps: [{ key: 'archivist', name: 'Archivist', mode: 'ANY', assignees: [{ kind: 'role', role: 'ARCHIVIST' }] }] },
      {
        steps: [
          {
            key: 'accounting-head',
            name: 'Head of the finance department (borrower outside finance)',
            mode: 'ANY',
            assignees: [{ kind: 'departmentManager' }],
            when: { kind: 'categoryIn', categories: ['OUTSIDE_FINANCE'] },
          },
        ],
      },
    ],
  };
}

const DAY_MS = 86_400_000;
const dayNumber = (iso: string): number => Date.UTC(Number(iso.slice(0, 4)), Number(iso.slice(5, 7)) - 1, Number(iso.slice(8, 10))) / DAY_MS;

const subjectOf = (loan: Pick<LoanDoc, '_id'>) => ({ type: 'Loan', id: hexId(loan) });

const payloadOf = (loan: LoanDoc): Record<string, unknown> => ({
  loanId: hexId(loan),
  recordId: loan.recordId,
  archiveNo: loan.archiveNo,
  borrowerId: loan.borrowerId,
  from: loan.from,
  until: loan.until,
  status: loan.status,
});

async function loadLoan(svc: LifecycleServices, loanId: string, session?: ClientSession): Promise<LoanDoc> {
  const id = typeof loanId === 'string' ? toObjectId(loanId) : null;
  const loan = id ? await loanModel(svc.connection).findById(id, null, { session }).lean<LoanDoc>() : null;
  if (!loan) throw notFound('Loan');
  return loan;
}

async function saveLoan(svc: LifecycleServices, session: ClientSession, loan: LoanDoc, expected: LoanStatus[], set: Partial<LoanDoc>): Promise<LoanDoc> {
  const updated = await loanModel(svc.connection)
    .findOneAndUpdate({ _id: loan._id, status: { $in: expected } }, { $set: set }, { returnDocument: 'after', session })
    .lean<LoanDoc>();
  if (!updated) throw conflict('the loan was changed meanwhile; try again');
  return updated;
}

async function logLoan(svc: LifecycleServices, session: ClientSession, principal: Principal, loan: LoanDoc, action: 'LOAN_REQUESTED' | 'LOAN_APPROVED' | 'LOAN_REJECTED' | 'LOAN_STARTED' | 'LOAN_RETURNED', at: Date): Promise<void> {
  await new AccessLog(svc.connection).append(session, {
    actorId: principal.sub,
    actorRoles: principal.roles,
    action,
    recordId: loan.recordId,
    archiveNo: loan.archiveNo,
    purpose: loan.purpose,
    loanId: hexId(loan),
    at,
  });
}

export interface LoanRequest {
  recordId: string;
  purpose: string;
  from: string;
  until: string;
}

/** Any employee asks to borrow a record; starts the `archive-borrowing` approval. */
export async function requestLoan(svc: LifecycleServices, principal: Principal, input: LoanRequest): Promise<LoanDoc> {
  requireUser(principal, 'Borrowing');
  const purpose = requiredText(input.purpose, 'purpose', TEXT_FIELDS.purpose);
  const from = parseDate(input.from);
  const until = parseDate(input.until);
  const now = nowOf(svc);
  // From today to MAX_LOAN_LEAD_DAYS ahead (platform/input-bounds.ts); the last day at most MAX_LOAN_DAYS later.
  loanStartDay('from', from, { timeZone: svc.settings.timeZone, now });
  if (until <= from) throw badInput('until must be after from', 'until');
  if (dayNumber(until) - dayNumber(from) > MAX_LOAN_DAYS) throw badInput(`a loan lasts at most ${MAX_LOAN_DAYS} days`, 'until');
  const financeDepartmentId = svc.settings.financeDepartmentId;
  if (!financeDepartmentId) throw conflict('borrowing needs the finance department to be configured (financeDepartmentId)');
  const departmentId = (await directoryOf(svc).departmentOf(principal.sub)) ?? principal.departmentId;
  if (!departmentId) throw forbidden('Only employees of a department borrow archives');
  const insideFinance = departmentId === financeDepartmentId;
  const Loan = loanModel(svc.connection);

  let result: LoanDoc | undefined;
  await recordsTransaction(svc.connection, async (session) => {
    result = undefined;
    const record = await recordMeta(svc, input.recordId, session);
    if (record.status === 'DESTROYED') throw conflict(`record ${record.archiveNo} was destroyed and cannot be borrowed`);
    const open = await Loan.findOne({ recordId: hexId(record), borrowerId: principal.sub, status: { $in: OPEN } }, { status: 1 }, { session }).lean<Pick<LoanDoc, 'status'>>();
    if (open) throw conflict(`you already have a ${open.status} loan of record ${record.archiveNo}`);
    const [created] = await Loan.create(
      [
        {
          recordId: hexId(record),
          archiveNo: record.archiveNo,
          borrowerId: principal.sub,
          borrowerDepartmentId: departmentId,
          insideFinance,
          purpose,
          from,
          until,
          status: 'REQUESTED',
          approvalId: null,
          requestedAt: now,
        },
      ],
      { session },
    );
    let loan: LoanDoc = created.toObject();
    const instance = await svc.workflow
      .start(session, BORROWING_WORKFLOW, subjectOf(loan), {
        initiatorId: principal.sub,
        departmentId: financeDepartmentId,
        category: insideFinance ? 'FINANCE' : 'OUTSIDE_FINANCE',
      })
      .catch(fromWorkflow);
    const approved = instance.status === 'APPROVED';
    loan = await saveLoan(svc, session, loan, ['REQUESTED'], { approvalId: instance.id, ...(approved ? { status: 'APPROVED', decidedAt: now } : {}) });
    await svc.events.append(session, { type: 'LOAN_REQUESTED', subject: subjectOf(loan), actor: principal.sub, payload: { ...payloadOf(loan), approvalId: instance.id, purpose }, occurredAt: now });
    await logLoan(svc, session, principal, loan, 'LOAN_REQUESTED', now);
    if (approved) {
      await svc.events.append(session, { type: 'LOAN_APPROVED', subject: subjectOf(loan), actor: principal.sub, payload: payloadOf(loan), occurredAt: now });
      await logLoan(svc, session, principal, loan, 'LOAN_APPROVED', now);
    }
    result = loan;
  });
  return result!;
}

/** An approver of the current step decides; the last approval makes the loan APPROVED, a rejection REJECTED. */
export async function decideLoan(svc: LifecycleServices, principal: Principal, loanId: string, decision: Decision, comment?: string | null): Promise<LoanDoc> {
  requireUser(principal, 'Deciding a loan');
  if (decision !== 'APPROVE' && decision !== 'REJECT') throw badInput('decision must be APPROVE or REJECT', 'decision');
  comment = optionalText(comment, 'comment', TEXT_FIELDS.archiveComment);
  const now = nowOf(svc);
  let result: LoanDoc | undefined;
  await recordsTransaction(svc.connection, async (session) => {
    result = undefined;
    const loan = await loadLoan(svc, loanId, session);
    if (loan.status !== 'REQUESTED' || !loan.approvalId) throw conflict(`the loan is ${loan.status} and takes no decisions`);
    const { outcome, step } = await svc.workflow.decide(session, loan.approvalId, principal.sub, decision, comment ?? undefined).catch(fromWorkflow);
    let updated = loan;
    if (outcome === 'APPROVED' || outcome === 'REJECTED') {
      updated = await saveLoan(svc, session, loan, ['REQUESTED'], { status: outcome, decidedAt: now });
      const type = outcome === 'APPROVED' ? 'LOAN_APPROVED' : 'LOAN_REJECTED';
      await svc.events.append(session, { type, subject: subjectOf(updated), actor: principal.sub, payload: { ...payloadOf(updated), step: step.key, comment: comment ?? null }, occurredAt: now });
      await logLoan(svc, session, principal, updated, type, now);
    } else {
      // An intermediate approval: the loan waits for the next stage.
      await svc.events.append(session, { type: 'LOAN_STEP_APPROVED', subject: subjectOf(loan), actor: principal.sub, payload: { ...payloadOf(loan), step: step.key, comment: comment ?? null }, occurredAt: now });
    }
    result = updated;
  });
  return result!;
}

/** An ARCHIVIST hands an approved loan out, within its period: the record is BORROWED. */
export async function startLoan(svc: LifecycleServices, principal: Principal, loanId: string): Promise<LoanDoc> {
  requireRole(principal, HANDERS_OUT, 'Handing out a loan');
  const now = nowOf(svc);
  const todayIso = todayOf(svc, now);
  let result: LoanDoc | undefined;
  await recordsTransaction(svc.connection, async (session) => {
    result = undefined;
    const loan = await loadLoan(svc, loanId, session);
    if (loan.status !== 'APPROVED') throw conflict(`the loan is ${loan.status}; only an APPROVED loan is handed out`);
    if (loan.borrowerId === principal.sub) throw forbidden('An archivist does not hand a loan out to themselves');
    if (todayIso < loan.from) throw conflict(`the loan starts on ${loan.from}`);
    if (todayIso > loan.until) throw conflict(`the loan period ended on ${loan.until}`);
    const record = await recordMeta(svc, loan.recordId, session);
    if (record.status === 'DESTROYED') throw conflict(`record ${record.archiveNo} was destroyed`);
    if (record.status === 'BORROWED') throw conflict(`record ${record.archiveNo} is already on loan`);
    // A hold only blocks destruction: a record kept apart may still be consulted.
    const moved = await svc.models.ArchiveRecord.updateOne({ _id: record._id, status: { $in: ['FILED', 'ON_HOLD'] } }, { $set: { status: 'BORROWED' } }, { session });
    if (moved.matchedCount !== 1) throw conflict(`record ${record.archiveNo} was changed meanwhile; try again`);
    const onLoan = { kind: 'LOAN' as const, id: hexId(loan), no: null };
    await new RecordHistory(svc.connection).append(session, [{ record: { ...record, status: 'BORROWED' }, change: { action: 'LOAN_STARTED', actorId: principal.sub, at: now, ref: onLoan } }]);
    const updated = await saveLoan(svc, session, loan, ['APPROVED'], { status: 'ON_LOAN', startedAt: now, handedOutBy: principal.sub });
    await svc.events.append(session, { type: 'LOAN_STARTED', subject: subjectOf(updated), actor: principal.sub, payload: payloadOf(updated), occurredAt: now });
    await logLoan(svc, session, principal, updated, 'LOAN_STARTED', now);
    result = updated;
  });
  return result!;
}

/** An ARCHIVIST takes the record back: FILED again, or ON_HOLD while it has holds. */
export async function returnLoan(svc: LifecycleServices, principal: Principal, loanId: string): Promise<LoanDoc> {
  requireRole(principal, RECEIVERS, 'Taking a loan back');
  const now = nowOf(svc);
  let result: LoanDoc | undefined;
  await recordsTransaction(svc.connection, async (session) => {
    result = undefined;
    const loan = await loadLoan(svc, loanId, session);
    if (loan.status !== 'ON_LOAN' && loan.status !== 'OVERDUE') throw conflict(`the loan is ${loan.status}; only a loan handed out is returned`);
    const record = await recordMeta(svc, loan.recordId, session);
    if (record.status === 'BORROWED') {
      const status = record.holds.length ? 'ON_HOLD' : 'FILED';
      await svc.models.ArchiveRecord.updateOne({ _id: record._id, status: 'BORROWED' }, { $set: { status } }, { session });
      const back = { kind: 'LOAN' as const, id: hexId(loan), no: null };
      await new RecordHistory(svc.connection).append(session, [{ record: { ...record, status }, change: { action: 'LOAN_RETURNED', actorId: principal.sub, at: now, ref: back } }]);
    }
    const updated = await saveLoan(svc, session, loan, ['ON_LOAN', 'OVERDUE'], { status: 'RETURNED', returnedAt: now, receivedBy: principal.sub });
    await svc.events.append(session, { type: 'LOAN_RETURNED', subject: subjectOf(updated), actor: principal.sub, payload: { ...payloadOf(updated), wasOverdue: loan.status === 'OVERDUE' }, occurredAt: now });
    await logLoan(svc, session, principal, updated, 'LOAN_RETURNED', now);
    result = updated;
  });
  return result!;
}

/**
 * Marks loans still out after their last day OVERDUE, each in its own transaction with its LOAN_OVERDUE event;
 * a loan is marked once (it is no longer ON_LOAN afterwards). For a timer (service identity) or an ARCHIVIST.
 */
export async function markOverdue(svc: LifecycleServices, principal: Principal, now: Date = nowOf(svc)): Promise<number> {
  if (principal.kind !== 'service') requireRole(principal, OVERDUE_MARKERS, 'Marking overdue loans');
  const todayIso = todayOf(svc, now);
  const Loan = loanModel(svc.connection);
  const due = await Loan.find({ status: 'ON_LOAN', until: { $lt: todayIso } }, { _id: 1 }).sort({ until: 1, _id: 1 }).lean<Array<Pick<LoanDoc, '_id'>>>();
  let marked = 0;
  for (const { _id } of due) {
    const done = await recordsTransaction(svc.connection, async (session) => {
      const loan = await Loan.findOneAndUpdate({ _id, status: 'ON_LOAN', until: { $lt: todayIso } }, { $set: { status: 'OVERDUE', overdueAt: now } }, { returnDocument: 'after', session }).lean<LoanDoc>();
      if (!loan) return false;
      await svc.events.append(session, { type: 'LOAN_OVERDUE', subject: subjectOf(loan), actor: principal.kind === 'service' ? principal.sub || 'system' : principal.sub, payload: payloadOf(loan), occurredAt: now });
      return true;
    });
    if (done) marked++;
  }
  return marked;
}

/** The borrower's loan of the record that allows reading it today: handed out and within its period. */
export async function activeLoanOf(
  svc: Pick<LifecycleServices, 'connection'>,
  borrowerId: string,
  recordId: string,
  todayIso: string,
  session?: ClientSession,
): Promise<LoanDoc | null> {
  if (typeof recordId !== 'string' || !toObjectId(recordId)) return null;
  return loanModel(svc.connection)
    .findOne({ recordId, borrowerId, status: 'ON_LOAN', from: { $lte: todayIso }, until: { $gte: todayIso } }, null, { session })
    .lean<LoanDoc>();
}

// ── Reading ─────────────────────────────────────────────────────────────────────────────────────────

/** Roles that see every loan. The model has no rule for it (Query.loan and Query.loans are row-scoped here). */
export const LOAN_READERS: readonly Role[] = ['ARCHIVIST', 'AUDITOR'];

/** A loan the caller may see (borrower, archivist, auditor, or asked to approve it); null otherwise. */
export async function getLoan(svc: LifecycleServices, principal: Principal, loanId: string): Promise<LoanDoc | null> {
  const id = typeof loanId === 'string' ? toObjectId(loanId) : null;
  const loan = id ? await loanModel(svc.connection).findById(id).lean<LoanDoc>() : null;
  if (!loan) return null;
  if (hasAnyRole(principal, LOAN_READERS) || loan.borrowerId === principal.sub) return loan;
  const assigned = await svc.workflow.subjectsAssignedTo('Loan', principal.sub);
  return assigned.includes(hexId(loan)) ? loan : null;
}

export interface LoanPage {
  edges: Array<{ cursor: string; node: LoanDoc }>;
  pageInfo: PageInfoModel;
  totalCount: number;
}

/** Loans, newest first: all of them for ARCHIVIST and AUDITOR, one's own for everyone else. */
export async function listLoans(
  svc: LifecycleServices,
  principal: Principal,
  args: { recordId?: string | null; borrowerId?: string | null; status?: LoanStatus | null; first?: number | null; after?: string | null },
): Promise<LoanPage> {
  const first = pageSize(args.first);
  const filter: Record<string, unknown> = {};
  if (!hasAnyRole(principal, LOAN_READERS)) filter.borrowerId = principal.sub;
  if (args.borrowerId && !filter.borrowerId) filter.borrowerId = args.borrowerId;
  if (args.borrowerId && filter.borrowerId !== args.borrowerId) return { edges: [], pageInfo: forwardPageInfo([], false, null), totalCount: 0 };
  if (args.recordId) filter.recordId = args.recordId;
  if (args.status) filter.status = args.status;
  let page = filter;
  if (args.after) {
    const after = toObjectId(decodeCursor('loan', args.after));
    if (!after) throw badInput('after is not a cursor returned by this API', 'after');
    page = { ...filter, _id: { $lt: after } };
  }
  const Loan = loanModel(svc.connection);
  const [docs, totalCount] = await Promise.all([Loan.find(page).sort({ _id: -1 }).limit(first + 1).lean<LoanDoc[]>(), Loan.countDocuments(filter)]);
  const edges = docs.slice(0, first).map((node) => ({ cursor: encodeCursor('loan', hexId(node)), node }));
  return { edges, pageInfo: forwardPageInfo(edges, docs.length > first, args.after), totalCount };
}

/** Loans waiting for the caller's decision, oldest first. */
export async function loansAwaiting(svc: LifecycleServices, principal: Principal): Promise<LoanDoc[]> {
  const pending = (await svc.workflow.pendingFor(principal.sub)).filter((i) => i.subject.type === 'Loan');
  const ids = pending.map((i) => toObjectId(i.subject.id)).filter((x): x is Types.ObjectId => x !== null);
  if (ids.length === 0) return [];
  const docs = await loanModel(svc.connection).find({ _id: { $in: ids } }).lean<LoanDoc[]>();
  const byId = new Map(docs.map((d) => [hexId(d), d]));
  return pending.flatMap((i) => byId.get(i.subject.id) ?? []);
}

/** The loan's approval, for showing its steps. */
export async function loanApproval(svc: LifecycleServices, loan: LoanDoc): Promise<WorkflowInstance | null> {
  return loan.approvalId ? svc.workflow.get(loan.approvalId) : null;
}

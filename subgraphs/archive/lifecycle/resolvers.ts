// Resolvers of the archive lifecycle (schema/archive-lifecycle.graphql): access log, borrowing, holds, appraisal
// and destruction. Thin: every rule, role check and transaction lives in the service modules; related objects are
// batched per request (loaders.ts).
import type { Resolvers } from '../generated/graphql.ts';
import { forbidden } from '../../../platform/graphql.ts';
import { hasAnyRole } from '../../../platform/identity.ts';
import { toObjectId } from '../../../platform/ids.ts';
import type { Decision, StepState } from '../../../platform/workflow/types.ts';
import { stepsAsShown } from '../../../platform/workflow/progress.ts';
import type { ArchiveContext } from '../context.ts';
import type { ArchiveRecordDoc } from '../models.ts';
import { type AccessLogEntryDoc, listAccessLog, verifyAccessLog } from './access-log.ts';
import { APPRAISAL_READERS, type AppraisalDoc, appraisalsOf, appraise, fileAppraisalOpinion } from './appraisal.ts';
import { type LoanDoc, type LoanStatus, decideLoan, getLoan, listLoans, loansAwaiting, markOverdue, requestLoan, returnLoan, startLoan } from './borrowing.ts';
import { type RecordContent, readContent } from './content.ts';
import {
  type DestructionLineDoc,
  type DestructionRegisterDoc,
  type DestructionStatus,
  cancelDestruction,
  fileDestructionRegister,
  getRegister,
  listRegisters,
  pendingSignatories,
  proposeDestruction,
  registersAwaiting,
  signDestruction,
} from './destruction/index.ts';
import { placeHold, releaseHold } from './holds.ts';
import { lifecycleLoadersOf } from './loaders.ts';
import type { RecordMeta } from './records.ts';

const hex = (doc: { _id: { toHexString(): string } }) => doc._id.toHexString();
const record = (ctx: ArchiveContext, id: string | null) => (id && toObjectId(id) ? ctx.loaders.record.load(id) : null);
/** A mutation changed the record: later fields of this request must not see the cached version. */
const fresh = (ctx: ArchiveContext, doc: RecordMeta): RecordMeta => {
  ctx.loaders.record.clear(hex(doc));
  return doc;
};

export const stepView = (s: StepState) => ({
  key: s.key,
  name: s.name,
  status: s.status,
  assigneeIds: s.assigneeIds,
  decidedBy: s.decisions.map((d) => d.approverId),
});

type Page = { first?: number | null; after?: string | null };

export const lifecycleResolvers: Resolvers = {
  Query: {
    loan: (_: unknown, { id }: { id: string }, ctx: ArchiveContext) => getLoan(ctx, ctx.principal, id),
    loans: (_: unknown, args: Page & { recordId?: string | null; borrowerId?: string | null; status?: LoanStatus | null }, ctx: ArchiveContext) =>
      listLoans(ctx, ctx.principal, args),
    loansAwaitingMyDecision: (_: unknown, __: unknown, ctx: ArchiveContext) => loansAwaiting(ctx, ctx.principal),
    accessLog: (_: unknown, args: Page & { recordId?: string | null; actorId?: string | null }, ctx: ArchiveContext) => listAccessLog(ctx, ctx.principal, args),
    verifyAccessLog: (_: unknown, __: unknown, ctx: ArchiveContext) => verifyAccessLog(ctx, ctx.principal),
    appraisals: (_: unknown, { recordId }: { recordId: string }, ctx: ArchiveContext) => appraisalsOf(ctx, ctx.principal, recordId),
    destructionRegister: (_: unknown, { id }: { id: string }, ctx: ArchiveContext) => getRegister(ctx, ctx.principal, id),
    destructionRegisters: (_: unknown, args: Page & { status?: DestructionStatus | null }, ctx: ArchiveContext) => listRegisters(ctx, ctx.principal, args),
    destructionRegistersAwaitingMySignature: (_: unknown, __: unknown, ctx: ArchiveContext) => registersAwaiting(ctx, ctx.principal),
  },

  Mutation: {
    readArchiveContent: (_: unknown, { recordId, purpose }: { recordId: string; purpose: string }, ctx: ArchiveContext) => readContent(ctx, ctx.principal, recordId, purpose),
    requestLoan: (_: unknown, { input }: { input: { recordId: string; purpose: string; from: string; until: string } }, ctx: ArchiveContext) => requestLoan(ctx, ctx.principal, input),
    decideLoan: (_: unknown, a: { id: string; decision: Decision; comment?: string | null }, ctx: ArchiveContext) => decideLoan(ctx, ctx.principal, a.id, a.decision, a.comment),
    startLoan: async (_: unknown, { id }: { id: string }, ctx: ArchiveContext) => {
      const loan = await startLoan(ctx, ctx.principal, id);
      ctx.loaders.record.clear(loan.recordId);
      return loan;
    },
    returnLoan: async (_: unknown, { id }: { id: string }, ctx: ArchiveContext) => {
      const loan = await returnLoan(ctx, ctx.principal, id);
      ctx.loaders.record.clear(loan.recordId);
      return loan;
    },
    markOverdueLoans: (_: unknown, __: unknown, ctx: ArchiveContext) => markOverdue(ctx, ctx.principal),
    placeHold: async (_: unknown, a: { recordId: string; reason: string }, ctx: ArchiveContext) => fresh(ctx, await placeHold(ctx, ctx.principal, a.recordId, a.reason)),
    releaseHold: async (_: unknown, a: { recordId: string; index: number }, ctx: ArchiveContext) => fresh(ctx, await releaseHold(ctx, ctx.principal, a.recordId, a.index)),
    appraiseRecord: async (_: unknown, a: { recordId: string; opinion: string; extendUntil?: string | null }, ctx: ArchiveContext) => {
      const appraisal = await appraise(ctx, ctx.principal, a.recordId, a.opinion, a.extendUntil);
      ctx.loaders.record.clear(appraisal.recordId);
      return appraisal;
    },
    fileAppraisalOpinion: (_: unknown, { id }: { id: string }, ctx: ArchiveContext) => fileAppraisalOpinion(ctx, ctx.principal, id),
    proposeDestruction: (_: unknown, { input }: { input: { recordIds: string[]; reason: string; secondHandlerId: string } }, ctx: ArchiveContext) =>
      proposeDestruction(ctx, ctx.principal, input),
    signDestruction: async (_: unknown, a: { id: string; decision: Decision; comment?: string | null }, ctx: ArchiveContext) => {
      const register = await signDestruction(ctx, ctx.principal, a.id, a.decision, a.comment);
      for (const line of register.lines) ctx.loaders.record.clear(line.recordId);
      return register;
    },
    cancelDestruction: (_: unknown, a: { id: string; reason: string }, ctx: ArchiveContext) => cancelDestruction(ctx, ctx.principal, a.id, a.reason),
    fileDestructionRegister: (_: unknown, { id }: { id: string }, ctx: ArchiveContext) => fileDestructionRegister(ctx, ctx.principal, id),
  },

  ArchiveRecord: {
    holds: (r: ArchiveRecordDoc | RecordMeta) => (r.holds ?? []).map((h, index) => ({ index, ...h })),
    extendedUntil: (r: ArchiveRecordDoc | RecordMeta) => r.extendedUntil ?? null,
    destroyedAt: (r: ArchiveRecordDoc | RecordMeta) => r.destroyedAt ?? null,
    appraisals: (r: ArchiveRecordDoc | RecordMeta, _: unknown, ctx: ArchiveContext) => {
      if (!hasAnyRole(ctx.principal, APPRAISAL_READERS)) throw forbidden(`Appraisal opinions are for ${APPRAISAL_READERS.join(', ')}`);
      return lifecycleLoadersOf(ctx).appraisals.load(hex(r));
    },
  },

  RecordContent: {
    accessLogSeq: (c: RecordContent) => c.entry.seq,
  },

  Loan: {
    id: hex,
    record: (l: LoanDoc, _: unknown, ctx: ArchiveContext) => record(ctx, l.recordId),
    approvalSteps: async (l: LoanDoc, _: unknown, ctx: ArchiveContext) => {
      const instance = l.approvalId ? await lifecycleLoadersOf(ctx).approval.load(l.approvalId) : null;
      return (instance ? stepsAsShown(instance) : []).map(stepView);
    },
  },

  AccessLogEntry: {
    at: (e: AccessLogEntryDoc) => e.at,
  },

  Appraisal: {
    id: hex,
    record: (a: AppraisalDoc, _: unknown, ctx: ArchiveContext) => record(ctx, a.recordId),
    opinionRecord: (a: AppraisalDoc, _: unknown, ctx: ArchiveContext) => record(ctx, a.opinionRecordId),
  },

  DestructionLine: {
    record: (l: DestructionLineDoc, _: unknown, ctx: ArchiveContext) => record(ctx, l.recordId),
  },

  DestructionRegister: {
    id: hex,
    pendingSignatories: (r: DestructionRegisterDoc, _: unknown, ctx: ArchiveContext) => pendingSignatories(ctx, r),
    filedRecord: (r: DestructionRegisterDoc, _: unknown, ctx: ArchiveContext) => record(ctx, r.registerRecordId),
  },
};

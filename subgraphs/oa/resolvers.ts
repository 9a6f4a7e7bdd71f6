// Resolvers of the `oa` subgraph: thin, they call the services and load related objects through DataLoaders.
import { forwardPageInfo } from '../../platform/paging.ts';
import { DateScalar, DateTimeScalar, MoneyScalar, badInput, forbidden, inScope } from '../../platform/graphql.ts';
import { InboundListError, type InboundEventRecord, type InboundStatus } from './connectors/inbound.ts';
import type { Platform } from './connectors/types.ts';
import { type Role, hasAnyRole } from '../../platform/identity.ts';
import { rolesFor } from '../../schema/permissions.ts';
import { WorkflowError } from '../../platform/workflow/engine.ts';
import type { StepDecision, StepState, WorkflowInstance } from '../../platform/workflow/types.ts';
import { stepsAsShown } from '../../platform/workflow/progress.ts';
import { type ClaimListArgs, applicantOnly, claimConnection } from './queries.ts';
import { type ClaimChanges, createClaim, decideClaim, submitClaim, updateClaim, withdrawClaim, type ItemInput } from './claims.ts';
import type { OaContext } from './context.ts';
import type { Resolvers } from './generated/graphql.ts';
import { toObjectId } from './loaders.ts';
import type { AttachmentView } from './attachments/store.ts';
import type { StoredInvoice } from './invoices/inspect.ts';
import type { InvoiceLine } from './invoices/fully-digital.ts';
import type { DepartmentDoc, EmployeeDoc, ExpenseCategory, ExpenseClaimDoc, ExpenseItemDoc } from './models.ts';
import { createDepartment, createEmployee, setDepartmentManager, updateDepartment, updateEmployee } from './organisation.ts';
import { type SummaryGroup, claimCycleTimes, expenseSummary } from './reports.ts';
import { type ExpenseReportArgs, expenseReport } from './expense-report.ts';
import { type ApprovalWaitArgs, approvalWaitTimes } from './approval-waits.ts';
import { sensitiveEmployeeFields } from './sensitive.ts';

const INBOUND_READERS = rolesFor('Query', 'inboundEvents');

const idOf = (doc: { _id: { toHexString(): string } }) => doc._id.toHexString();
const employee = (ctx: OaContext, id: string | null) => (id ? ctx.loaders.employee.load(id) : null);

/** A reference the schema declares non-null; a dangling one is a data fault, reported as an internal error. */
async function must<T>(value: Promise<T | null>, what: string): Promise<T> {
  const v = await value;
  if (v === null) throw new Error(`dangling reference to ${what}`);
  return v;
}

export const resolvers: Resolvers = {
  Money: MoneyScalar,
  Date: DateScalar,
  DateTime: DateTimeScalar,

  Query: {
    me: (_: unknown, __: unknown, ctx: OaContext) => (toObjectId(ctx.principal.sub) ? ctx.loaders.employee.load(ctx.principal.sub) : null),
    employee: (_: unknown, { id }: { id: string }, ctx: OaContext) => (toObjectId(id) ? ctx.loaders.employee.load(id) : null),
    departments: (_: unknown, __: unknown, ctx: OaContext) => ctx.models.Department.find().sort({ code: 1 }).lean<DepartmentDoc[]>().exec(),
    expenseClaim: (_: unknown, { id }: { id: string }, ctx: OaContext) => (toObjectId(id) ? ctx.loaders.claim.load(id) : null),
    expenseClaims: (_: unknown, args: ClaimListArgs, ctx: OaContext) => claimConnection(ctx, args),
    inboundEvents: async (_: unknown, args: { status?: InboundStatus | null; platform?: string | null; first?: number | null; after?: string | null }, ctx: OaContext) => {
      if (!hasAnyRole(ctx.principal, INBOUND_READERS)) throw forbidden('Only ADMIN reads inbound platform events');
      if (!ctx.connectors) return { edges: [], pageInfo: forwardPageInfo([], false, null), totalCount: 0 };
      try {
        return await ctx.connectors.store.list({
          status: args.status ?? undefined,
          platform: (args.platform ?? undefined) as Platform | undefined,
          first: args.first ?? undefined,
          after: args.after ?? undefined,
        });
      } catch (err) {
        if (err instanceof InboundListError) throw badInput(err.message);
        throw err;
      }
    },
    expenseSummary: (_: unknown, a: { groupBy: SummaryGroup; from: string; to: string }, ctx: OaContext) => expenseSummary(ctx, a.groupBy, a.from, a.to),
    claimCycleTimes: (_: unknown, a: { groupBy?: SummaryGroup | null; from: string; to: string }, ctx: OaContext) => claimCycleTimes(ctx, a.groupBy ?? null, a.from, a.to),
    expenseReport: (_: unknown, a: ExpenseReportArgs, ctx: OaContext) => expenseReport(ctx, a),
    approvalWaitTimes: (_: unknown, a: ApprovalWaitArgs, ctx: OaContext) => approvalWaitTimes(ctx, a),
    myApprovalTasks: async (_: unknown, __: unknown, ctx: OaContext) => {
      const pending = await ctx.workflow.pendingFor(ctx.principal.sub);
      const claims = await ctx.loaders.claim.loadMany(pending.filter((i) => i.subject.type === 'ExpenseClaim').map((i) => i.subject.id));
      return claims.filter((c): c is ExpenseClaimDoc => c !== null && !(c instanceof Error));
    },
  },

  Mutation: {
    createDepartment: (_: unknown, { input }: { input: { code: string; name: string; managerId?: string | null; parentId?: string | null } }, ctx: OaContext) =>
      createDepartment(ctx, input),
    createEmployee: (_: unknown, { input }: { input: Parameters<typeof createEmployee>[1] }, ctx: OaContext) => createEmployee(ctx, input),
    setDepartmentManager: (_: unknown, a: { departmentId: string; employeeId: string }, ctx: OaContext) => setDepartmentManager(ctx, a.departmentId, a.employeeId),
    updateEmployee: (_: unknown, a: { id: string; input: Parameters<typeof updateEmployee>[2] }, ctx: OaContext) => updateEmployee(ctx, a.id, a.input),
    updateDepartment: (_: unknown, a: { id: string; input: Parameters<typeof updateDepartment>[2] }, ctx: OaContext) => updateDepartment(ctx, a.id, a.input),
    createExpenseClaim: (_: unknown, { input }: { input: { title: string; category: ExpenseCategory; items: ItemInput[] } }, ctx: OaContext) => createClaim(ctx, input),
    updateExpenseClaim: (_: unknown, { id, input }: { id: string; input: ClaimChanges }, ctx: OaContext) => updateClaim(ctx, id, input),
    submitExpenseClaim: (_: unknown, { id }: { id: string }, ctx: OaContext) => submitClaim(ctx, id),
    decideApproval: (_: unknown, a: { claimId: string; decision: 'APPROVE' | 'REJECT'; comment?: string | null }, ctx: OaContext) =>
      decideClaim(ctx, a.claimId, a.decision, a.comment),
    withdrawExpenseClaim: (_: unknown, { id }: { id: string }, ctx: OaContext) => withdrawClaim(ctx, id),
    delegateApprovals: async (_: unknown, a: { toEmployeeId: string; startsAt: Date; endsAt: Date }, ctx: OaContext) => {
      await applicantOnly(ctx);
      if (!toObjectId(a.toEmployeeId) || !(await ctx.loaders.employee.load(a.toEmployeeId))) throw badInput('toEmployeeId: no such employee', 'toEmployeeId');
      try {
        return await ctx.workflow.delegate(ctx.principal.sub, a.toEmployeeId, a.startsAt, a.endsAt);
      } catch (err) {
        if (err instanceof WorkflowError) throw badInput(err.message, err.field);
        throw err;
      }
    },
  },

  Department: {
    __resolveReference: (ref: { id: string }, ctx: OaContext) => (toObjectId(ref.id) ? ctx.loaders.department.load(ref.id) : null),
    id: idOf,
    manager: (d: DepartmentDoc, _: unknown, ctx: OaContext) => employee(ctx, d.managerId),
    parent: (d: DepartmentDoc, _: unknown, ctx: OaContext) => (d.parentId ? ctx.loaders.department.load(d.parentId) : null),
  },

  Employee: {
    __resolveReference: (ref: { id: string }, ctx: OaContext) => (toObjectId(ref.id) ? ctx.loaders.employee.load(ref.id) : null),
    id: idOf,
    department: (e: EmployeeDoc, _: unknown, ctx: OaContext) => must(ctx.loaders.department.load(e.departmentId), `department ${e.departmentId}`),
    roles: (e: EmployeeDoc): Role[] => e.roles,
    // phone, idNumber, bankAccount: masked or refused for user identities as at the gateway (./sensitive.ts).
    ...sensitiveEmployeeFields(),
  },

  ExpenseClaimConnection: {
    totalCount: (connection) => connection.countTotal(),
  },

  ExpenseClaim: {
    __resolveReference: async (ref: { id: string }, ctx: OaContext) => inScope(toObjectId(ref.id) ? await ctx.loaders.claim.load(ref.id) : null, 'expense claim'),
    id: idOf,
    applicant: (c: ExpenseClaimDoc, _: unknown, ctx: OaContext) => must(ctx.loaders.employee.load(c.applicantId), `employee ${c.applicantId}`),
    department: (c: ExpenseClaimDoc, _: unknown, ctx: OaContext) => must(ctx.loaders.department.load(c.departmentId), `department ${c.departmentId}`),
    total: (c: ExpenseClaimDoc) => c.totalFen,
    approval: (c: ExpenseClaimDoc, _: unknown, ctx: OaContext) => (c.approvalId ? ctx.loaders.approval.load(c.approvalId) : null),
  },

  ExpenseItem: {
    amount: (i: ExpenseItemDoc) => i.amountFen,
    // Ids on an item were checked and bound when the claim was filed (./attachments/references.ts).
    attachments: async (i: ExpenseItemDoc, _: unknown, ctx: OaContext) =>
      i.attachmentIds?.length ? (await ctx.loaders.attachment.loadMany(i.attachmentIds)).filter((a): a is AttachmentView => a !== null && !(a instanceof Error)) : [],
  },

  // Invoice data as stored at upload (./invoices/inspect.ts): amounts in fen.
  ElectronicInvoice: {
    number: (i: StoredInvoice) => i.invoiceNumber,
    amount: (i: StoredInvoice) => i.amountFen,
    tax: (i: StoredInvoice) => i.taxFen,
    total: (i: StoredInvoice) => i.totalFen,
  },
  InvoiceLine: {
    amount: (l: InvoiceLine) => l.amountFen,
    tax: (l: InvoiceLine) => l.taxFen,
  },

  ApprovalInstance: {
    definitionVersion: (i: WorkflowInstance) => i.definitionVersion,
    steps: (i: WorkflowInstance) => stepsAsShown(i),
  },

  ApprovalStep: {
    assignees: async (s: StepState, _: unknown, ctx: OaContext) =>
      (await ctx.loaders.employee.loadMany(s.assigneeIds)).filter((e): e is EmployeeDoc => e !== null && !(e instanceof Error)),
  },

  ApprovalDecision: {
    approver: (d: StepDecision, _: unknown, ctx: OaContext) => must(ctx.loaders.employee.load(d.approverId), `employee ${d.approverId}`),
    onBehalfOf: (d: StepDecision, _: unknown, ctx: OaContext) => employee(ctx, d.onBehalfOf ?? null),
  },

  InboundEvent: {
    claim: (e: InboundEventRecord, _: unknown, ctx: OaContext) => (e.claimId && toObjectId(e.claimId) ? ctx.loaders.claim.load(e.claimId) : null),
  },

  Delegation: {
    from: (d: { fromId: string }, _: unknown, ctx: OaContext) => must(ctx.loaders.employee.load(d.fromId), `employee ${d.fromId}`),
    to: (d: { toId: string }, _: unknown, ctx: OaContext) => must(ctx.loaders.employee.load(d.toId), `employee ${d.toId}`),
  },
};


// Expense claims: filing, submitting, withdrawing and deciding. Every state change runs in one transaction with
// the domain event it emits (both are stored, or neither), and claim numbers come from a counter in that same
// transaction, so they run per year without gaps.
import type { ClientSession } from 'mongoose';
import { nextSequence } from '../../platform/integration/events.ts';
import { badInput, conflict, forbidden, gqlError, notFound, today } from '../../platform/graphql.ts';
import { type BusinessClock, expenseDay, moneyTotal } from '../../platform/input-bounds.ts';
import { formatMoney } from '../../platform/money.ts';
import { TEXT_FIELDS, optionalText, requiredText } from '../../platform/text-policy.ts';
import { WorkflowError } from '../../platform/workflow/engine.ts';
import type { ClaimSinkResult } from './connectors/types.ts';
import type { Decision } from '../../platform/workflow/types.ts';
import { EXPENSE_ROUTE_KEY, type OaContext, type OaServices } from './context.ts';
import { toObjectId } from './loaders.ts';
import { CATEGORIES, type ClaimStatus, type EmployeeDoc, type ExpenseCategory, type ExpenseClaimDoc, type ExpenseItemDoc } from './models.ts';
import { transaction } from '../../platform/integration/transactions.ts';
import { attachmentIdsOf, bindAttachments, releaseAttachments } from './attachments/references.ts';

export interface ItemInput {
  description: string;
  /** Integer fen (the Money scalar has parsed it). */
  amount: number;
  occurredOn: string;
  invoiceNo?: string | null;
  /** Uploads (POST /files) this item carries: ./attachments/references.ts. */
  attachmentIds?: string[] | null;
}

const MAX_ITEMS = 100;
const INVOICE_RE = /^[A-Za-z0-9-]{1,64}$/;

/** Maps errors of the workflow engine to the public error codes. */
function fromWorkflow(err: unknown): never {
  if (err instanceof WorkflowError) throw gqlError(err.code, err.message);
  throw err;
}

/** Validated items and their exact total; `clock` bounds occurredOn (platform/input-bounds.ts). */
export function validateItems(items: ItemInput[], clock: BusinessClock): { items: ExpenseItemDoc[]; totalFen: number } {
  if (!Array.isArray(items) || items.length === 0) throw badInput('A claim needs at least one item', 'items');
  if (items.length > MAX_ITEMS) throw badInput(`A claim holds at most ${MAX_ITEMS} items`, 'items');
  const seen = new Set<string>();
  const seenAttachments = new Set<string>();
  const out = items.map((item, i): ExpenseItemDoc => {
    const field = `items[${i}]`;
    const description = requiredText(item.description, `${field}.description`, TEXT_FIELDS.itemDescription);
    if (!Number.isSafeInteger(item.amount) || item.amount <= 0) throw badInput(`${field}.amount must be positive`, `${field}.amount`);
    expenseDay(`${field}.occurredOn`, item.occurredOn, clock);
    let invoiceNo: string | null = null;
    if (item.invoiceNo !== undefined && item.invoiceNo !== null && item.invoiceNo.trim() !== '') {
      invoiceNo = item.invoiceNo.trim().toUpperCase();
      if (!INVOICE_RE.test(invoiceNo)) throw badInput(`${field}.invoiceNo must be 1 to 64 letters, digits or '-'`, `${field}.invoiceNo`);
      if (seen.has(invoiceNo)) throw badInput(`invoice ${invoiceNo} appears twice in this claim`, `${field}.invoiceNo`);
      seen.add(invoiceNo);
    }
    const attachmentIds = attachmentIdsOf(item.attachmentIds, `${field}.attachmentIds`, seenAttachments);
    return { description, amountFen: item.amount, occurredOn: item.occurredOn, invoiceNo, ...(attachmentIds.length ? { attachmentIds } : {}) };
  });
  return { items: out, totalFen: moneyTotal('items', out.map((i) => i.amountFen)) };
}

/** Books the claim's invoice numbers; a number booked by another live claim is CONFLICT (no double reimbursement). */
async function bookInvoices(services: OaServices, session: ClientSession, claim: Pick<ExpenseClaimDoc, '_id' | 'claimNo' | 'items'>): Promise<void> {
  const numbers = claim.items.map((i) => i.invoiceNo).filter((n): n is string => n !== null);
  if (numbers.length === 0) return;
  const taken = await services.models.InvoiceBooking.find({ _id: { $in: numbers } }, null, { session }).lean();
  if (taken.length) throw conflict(`invoice ${taken[0]._id} is already booked on claim ${taken[0].claimNo}`);
  try {
    await services.models.InvoiceBooking.insertMany(
      numbers.map((n) => ({ _id: n, claimId: claim._id.toHexString(), claimNo: claim.claimNo })),
      { session },
    );
  } catch (err) {
    if ((err as { code?: number }).code === 11000) throw conflict('an invoice of this claim was booked by another claim at the same moment');
    throw err;
  }
}

async function releaseInvoices(services: OaServices, session: ClientSession, claimId: string): Promise<void> {
  await services.models.InvoiceBooking.deleteMany({ claimId }, { session });
}

const subjectOf = (claim: ExpenseClaimDoc) => ({ type: 'ExpenseClaim', id: claim._id.toHexString() });

const eventPayload = (claim: ExpenseClaimDoc) => ({
  claimId: claim._id.toHexString(),
  claimNo: claim.claimNo,
  applicantId: claim.applicantId,
  departmentId: claim.departmentId,
  category: claim.category,
  total: formatMoney(claim.totalFen),
  totalFen: claim.totalFen,
  status: claim.status,
  approvedAt: claim.approvedAt?.toISOString() ?? null,
});

async function emit(services: OaServices, session: ClientSession, type: string, claim: ExpenseClaimDoc, actor: string, extra: Record<string, unknown> = {}): Promise<void> {
  await services.events.append(session, { type, subject: subjectOf(claim), actor, payload: { ...eventPayload(claim), ...extra } });
}

/**
 * CLAIM_APPROVED's `claim`: the claim as the archive books it, i.e. the fields of generateVoucher's
 * ApprovedClaimInput (schema/archive.graphql), amounts in integer fen. An approved claim is final, so the sync
 * pipeline books it from this snapshot instead of asking oa again. Read in the approving transaction.
 */
async function approvedSnapshot(services: OaServices, session: ClientSession, claim: ExpenseClaimDoc, applicant?: Pick<EmployeeDoc, 'name'>): Promise<{ claim: Record<string, unknown> }> {
  const who =
    applicant ?? (toObjectId(claim.applicantId) ? await services.models.Employee.findById(claim.applicantId, { name: 1 }, { session }).lean<Pick<EmployeeDoc, 'name'>>() : null);
  return {
    claim: {
      claimId: claim._id.toHexString(),
      claimNo: claim.claimNo,
      title: claim.title,
      category: claim.category,
      applicantId: claim.applicantId,
      applicantName: who?.name ?? null,
      departmentId: claim.departmentId,
      approvedAt: claim.approvedAt!.toISOString(),
      totalFen: claim.totalFen,
      // The originals travel with it: the archive copies them when it files the voucher (docs/api.md#original-documents).
      items: claim.items.map((i) => ({ description: i.description, amountFen: i.amountFen, occurredOn: i.occurredOn, invoiceNo: i.invoiceNo ?? null, ...(i.attachmentIds?.length ? { attachmentIds: i.attachmentIds } : {}) })),
    },
  };
}

async function newClaimNo(services: OaServices, session: ClientSession, now: Date): Promise<string> {
  const year = today(services.settings.timeZone, now).slice(0, 4);
  const seq = await nextSequence(services.connection, `claimNo:${year}`, session);
  return `BX-${year}-${String(seq).padStart(6, '0')}`;
}

async function applicant(ctx: OaContext): Promise<EmployeeDoc> {
  const me = toObjectId(ctx.principal.sub) ? await ctx.loaders.employee.load(ctx.principal.sub) : null;
  if (!me) throw forbidden('Only employees file expense claims');
  return me;
}

export async function createClaim(ctx: OaContext, input: { title: string; category: ExpenseCategory; items: ItemInput[] }): Promise<ExpenseClaimDoc> {
  const me = await applicant(ctx);
  const title = requiredText(input.title, 'title', TEXT_FIELDS.claimTitle);
  if (!CATEGORIES.includes(input.category)) throw badInput(`unknown category ${input.category}`, 'category');
  const now = new Date();
  const { items, totalFen } = validateItems(input.items, { timeZone: ctx.settings.timeZone, now });
  let created: ExpenseClaimDoc | undefined;
  await transaction(ctx.connection, async (session) => {
    const claimNo = await newClaimNo(ctx, session, now);
    const [doc] = await ctx.models.ExpenseClaim.create(
      [{ claimNo, applicantId: ctx.principal.sub, departmentId: me.departmentId, title, category: input.category, items, totalFen, status: 'DRAFT', createdAt: now }],
      { session },
    );
    created = doc.toObject();
    // Files first: an item whose invoice file does not support it is BAD_USER_INPUT before its number is booked.
    await bindAttachments(ctx.attachments, session, { ownerId: ctx.principal.sub, claimId: created._id.toHexString(), items, now, invoices: ctx.invoices });
    await bookInvoices(ctx, session, created);
    // Every creation writes the year's claim-number counter: one lane (platform/integration/transactions.ts).
  }, { lane: 'claim-numbers' });
  return created!;
}

export interface ClaimChanges {
  title?: string | null;
  category?: ExpenseCategory | null;
  items?: ItemInput[] | null;
}

/**
 * Changes a DRAFT claim of the caller's own, in one transaction: the items validated as on creation, the claim's
 * invoice numbers booked again (its own old bookings released first, so an item may keep its invoice), the files
 * bound and checked against their items, and those no item references any more handed back as uploads.
 */
export async function updateClaim(ctx: OaContext, id: string, changes: ClaimChanges): Promise<ExpenseClaimDoc> {
  const seen = await claimInScope(ctx, id);
  if (seen.applicantId !== ctx.principal.sub) throw forbidden('Only the applicant changes a claim');
  const set: Partial<ExpenseClaimDoc> = {};
  if (changes.title !== undefined && changes.title !== null) set.title = requiredText(changes.title, 'title', TEXT_FIELDS.claimTitle);
  if (changes.category !== undefined && changes.category !== null) {
    if (!CATEGORIES.includes(changes.category)) throw badInput(`unknown category ${changes.category}`, 'category');
    set.category = changes.category;
  }
  const now = new Date();
  if (changes.items !== undefined && changes.items !== null) {
    const { items, totalFen } = validateItems(changes.items, { timeZone: ctx.settings.timeZone, now });
    set.items = items;
    set.totalFen = totalFen;
  }
  if (Object.keys(set).length === 0) throw badInput('Nothing to change: give a title, a category or the items', 'input');
  let result: ExpenseClaimDoc | undefined;
  await transaction(ctx.connection, async (session) => {
    const claim = await reload(ctx, session, id);
    if (claim.status !== 'DRAFT') throw conflict(`claim ${claim.claimNo} is ${claim.status}, only a DRAFT can be changed`);
    if (set.items) {
      const claimId = claim._id.toHexString();
      const keep = set.items.flatMap((i) => i.attachmentIds ?? []);
      await releaseAttachments(ctx.attachments, session, { ownerId: claim.applicantId, claimId, keep, now });
      await bindAttachments(ctx.attachments, session, { ownerId: ctx.principal.sub, claimId, items: set.items, now, invoices: ctx.invoices });
      await releaseInvoices(ctx, session, claimId);
      await bookInvoices(ctx, session, { _id: claim._id, claimNo: claim.claimNo, items: set.items });
    }
    result = await save(ctx, session, claim, set);
  });
  return result!;
}

/** A claim the caller may act on; NOT_FOUND when it does not exist or lies outside the caller's scope. */
async function claimInScope(ctx: OaContext, id: string): Promise<ExpenseClaimDoc> {
  const claim = toObjectId(id) ? await ctx.loaders.claim.load(id) : null;
  if (!claim) throw notFound('Expense claim');
  return claim;
}

async function reload(ctx: OaContext, session: ClientSession, id: string): Promise<ExpenseClaimDoc> {
  const claim = await ctx.models.ExpenseClaim.findById(id, null, { session }).lean<ExpenseClaimDoc>();
  if (!claim) throw notFound('Expense claim');
  return claim;
}

async function save(ctx: OaContext, session: ClientSession, claim: ExpenseClaimDoc, set: Partial<ExpenseClaimDoc>): Promise<ExpenseClaimDoc> {
  const updated = await ctx.models.ExpenseClaim.findOneAndUpdate({ _id: claim._id }, { $set: set }, { returnDocument: 'after', session }).lean<ExpenseClaimDoc>();
  ctx.loaders.claim.clear(claim._id.toHexString());
  return updated!;
}

export async function submitClaim(ctx: OaContext, id: string): Promise<ExpenseClaimDoc> {
  const seen = await claimInScope(ctx, id);
  if (seen.applicantId !== ctx.principal.sub) throw forbidden('Only the applicant submits a claim');
  let result: ExpenseClaimDoc | undefined;
  await transaction(ctx.connection, async (session) => {
    const claim = await reload(ctx, session, id);
    if (claim.status !== 'DRAFT') throw conflict(`claim ${claim.claimNo} is ${claim.status}, only a DRAFT can be submitted`);
    const now = new Date();
    const instance = await ctx.workflow
      .start(session, EXPENSE_ROUTE_KEY, subjectOf(claim), {
        initiatorId: claim.applicantId,
        departmentId: claim.departmentId,
        amountFen: claim.totalFen,
        category: claim.category,
      })
      .catch(fromWorkflow);
    let updated = await save(ctx, session, claim, { status: 'SUBMITTED', submittedAt: now, approvalId: instance.id });
    await emit(ctx, session, 'CLAIM_SUBMITTED', updated, ctx.principal.sub, { approvalId: instance.id });
    if (instance.status === 'APPROVED') {
      updated = await save(ctx, session, updated, { status: 'APPROVED', approvedAt: now, decidedAt: now });
      await emit(ctx, session, 'CLAIM_APPROVED', updated, ctx.principal.sub, await approvedSnapshot(ctx, session, updated));
    }
    result = updated;
  });
  return result!;
}

export async function decideClaim(ctx: OaContext, id: string, decision: Decision, comment?: string | null): Promise<ExpenseClaimDoc> {
  if (!toObjectId(id)) throw notFound('Expense claim');
  const text = optionalText(comment, 'comment', TEXT_FIELDS.approvalComment);
  let result: ExpenseClaimDoc | undefined;
  await transaction(ctx.connection, async (session) => {
    const claim = await reload(ctx, session, id);
    if (claim.status !== 'SUBMITTED' || !claim.approvalId) {
      // Whether the caller may know more is decided by the approval below; a closed claim is closed for everyone.
      throw conflict(`claim ${claim.claimNo} is ${claim.status} and takes no decisions`);
    }
    const { outcome } = await ctx.workflow.decide(session, claim.approvalId, ctx.principal.sub, decision, text ?? undefined).catch(fromWorkflow);
    const now = new Date();
    let updated = claim;
    if (outcome === 'APPROVED') {
      updated = await save(ctx, session, claim, { status: 'APPROVED', approvedAt: now, decidedAt: now });
      await emit(ctx, session, 'CLAIM_APPROVED', updated, ctx.principal.sub, await approvedSnapshot(ctx, session, updated));
    } else if (outcome === 'REJECTED') {
      updated = await save(ctx, session, claim, { status: 'REJECTED', decidedAt: now });
      await releaseInvoices(ctx, session, id);
      await emit(ctx, session, 'CLAIM_REJECTED', updated, ctx.principal.sub, { comment: text });
    }
    ctx.loaders.approval.clear(claim.approvalId);
    result = updated;
  });
  return result!;
}

export async function withdrawClaim(ctx: OaContext, id: string): Promise<ExpenseClaimDoc> {
  const seen = await claimInScope(ctx, id);
  if (seen.applicantId !== ctx.principal.sub) throw forbidden('Only the applicant withdraws a claim');
  let result: ExpenseClaimDoc | undefined;
  await transaction(ctx.connection, async (session) => {
    const claim = await reload(ctx, session, id);
    if (claim.status !== 'DRAFT' && claim.status !== 'SUBMITTED') throw conflict(`claim ${claim.claimNo} is ${claim.status} and cannot be withdrawn`);
    if (claim.approvalId) {
      const instance = await ctx.workflow.get(claim.approvalId, session);
      if (instance && ctx.workflow.hasDecisions(instance)) throw conflict(`claim ${claim.claimNo} already has a decision and cannot be withdrawn`);
      if (instance?.status === 'RUNNING') await ctx.workflow.cancel(session, claim.approvalId, ctx.principal.sub).catch(fromWorkflow);
      ctx.loaders.approval.clear(claim.approvalId);
    }
    const updated = await save(ctx, session, claim, { status: 'WITHDRAWN', decidedAt: new Date() });
    await releaseInvoices(ctx, session, id);
    await emit(ctx, session, 'CLAIM_WITHDRAWN', updated, ctx.principal.sub);
    result = updated;
  });
  return result!;
}

// ---------------------------------------------------------------------------------------------------------
// Claims arriving from outside OA platforms (subgraphs/oa/connectors): approved there, recorded here.

export interface ExternalClaim {
  source: { platform: string; instanceCode: string; approvalCode: string };
  applicantId: string;
  category: ExpenseCategory;
  title: string;
  /** attachmentIds: files the connector downloaded, owned by the applicant (connectors/files.ts). */
  items: Array<{ description: string; amountFen: number; occurredOn: string; invoiceNo?: string; attachmentIds?: string[] }>;
  status: 'SUBMITTED' | 'APPROVED' | 'REJECTED' | 'WITHDRAWN';
  eventTime: Date;
}

const EXTERNAL_EVENT: Record<ExternalClaim['status'], string> = {
  SUBMITTED: 'CLAIM_SUBMITTED',
  APPROVED: 'CLAIM_APPROVED',
  REJECTED: 'CLAIM_REJECTED',
  WITHDRAWN: 'CLAIM_WITHDRAWN',
};

/**
 * Idempotent on (platform, instanceCode); an event older than the last one applied for that instance changes
 * nothing. An approved claim is final: later events for it are refused, since its voucher may exist already.
 */
export async function applyExternalClaim(services: OaServices, ext: ExternalClaim): Promise<ClaimSinkResult> {
  const actor = `connector:${ext.source.platform}`;
  let outcome: ClaimSinkResult = { claimId: '', applied: false };
  const employee = toObjectId(ext.applicantId) ? await services.models.Employee.findById(ext.applicantId).lean<EmployeeDoc>() : null;
  if (!employee) return { claimId: '', applied: false, refused: true, reason: `no employee with id ${ext.applicantId}` };
  await transaction(services.connection, async (session) => {
    const existing = await services.models.ExpenseClaim.findOne(
      { 'external.platform': ext.source.platform, 'external.instanceCode': ext.source.instanceCode },
      null,
      { session },
    ).lean<ExpenseClaimDoc>();
    const now = new Date();
    if (existing) {
      const claimId = existing._id.toHexString();
      if (existing.external && existing.external.lastEventTime >= ext.eventTime) {
        outcome = { claimId, applied: false, reason: 'stale' };
        return;
      }
      if (existing.status === ext.status) {
        outcome = { claimId, applied: false, reason: 'unchanged' };
        return;
      }
      if (existing.status === 'APPROVED') {
        outcome = { claimId, applied: false, refused: true, reason: `claim ${existing.claimNo} is already APPROVED and final` };
        return;
      }
      const set: Partial<ExpenseClaimDoc> = { status: ext.status, external: { ...existing.external!, lastEventTime: ext.eventTime } };
      if (ext.status === 'APPROVED') Object.assign(set, { approvedAt: ext.eventTime, decidedAt: now });
      if (ext.status === 'REJECTED' || ext.status === 'WITHDRAWN') set.decidedAt = now;
      const updated = await services.models.ExpenseClaim.findOneAndUpdate({ _id: existing._id }, { $set: set }, { returnDocument: 'after', session }).lean<ExpenseClaimDoc>();
      if (ext.status === 'REJECTED' || ext.status === 'WITHDRAWN') await releaseInvoices(services, session, claimId);
      const snapshot = ext.status === 'APPROVED' ? await approvedSnapshot(services, session, updated!) : {};
      await emit(services, session, EXTERNAL_EVENT[ext.status], updated!, actor, { source: ext.source, ...snapshot });
      outcome = { claimId, applied: true };
      return;
    }
    // The connector applied the text policy already; the sink applies it again, so no caller stores what it refuses.
    const title = requiredText(ext.title, 'title', TEXT_FIELDS.claimTitle);
    const { items, totalFen } = validateItems(
      ext.items.map((i) => ({ description: i.description, amount: i.amountFen, occurredOn: i.occurredOn, invoiceNo: i.invoiceNo ?? null, attachmentIds: i.attachmentIds ?? null })),
      { timeZone: services.settings.timeZone, now },
    );
    const status: ClaimStatus = ext.status;
    const [doc] = await services.models.ExpenseClaim.create(
      [
        {
          claimNo: await newClaimNo(services, session, now),
          applicantId: ext.applicantId,
          departmentId: employee.departmentId,
          title,
          category: ext.category,
          items,
          totalFen,
          status,
          createdAt: now,
          submittedAt: ext.eventTime,
          approvedAt: status === 'APPROVED' ? ext.eventTime : null,
          decidedAt: status === 'SUBMITTED' ? null : now,
          external: { ...ext.source, lastEventTime: ext.eventTime },
        },
      ],
      { session },
    );
    const claim = doc.toObject();
    // The connector stored the form's files as the applicant's uploads: bound as createExpenseClaim binds them, first.
    await bindAttachments(services.attachments, session, { ownerId: ext.applicantId, claimId: claim._id.toHexString(), items, now, invoices: services.invoices });
    if (status === 'SUBMITTED' || status === 'APPROVED') await bookInvoices(services, session, claim);
    await emit(services, session, 'CLAIM_SUBMITTED', claim, actor, { source: ext.source });
    const snapshot = status === 'APPROVED' ? await approvedSnapshot(services, session, claim, employee) : {};
    if (status !== 'SUBMITTED') await emit(services, session, EXTERNAL_EVENT[status], claim, actor, { source: ext.source, ...snapshot });
    outcome = { claimId: claim._id.toHexString(), applied: true };
  }).catch((err: unknown) => {
    // Input the platform sent that our rules refuse is reported, not thrown: the connector records it as rejected.
    const code = (err as { extensions?: { code?: string } }).extensions?.code;
    if (code === 'BAD_USER_INPUT' || code === 'CONFLICT') {
      outcome = { claimId: '', applied: false, refused: true, reason: (err as Error).message };
      return;
    }
    throw err;
  });
  return outcome;
}

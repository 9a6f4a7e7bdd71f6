// Closing a period (issue 19 §1, §2): an ACCOUNTANT asks to close a month; it is refused, naming every cause, while the
// sync module says the month is not ready (claims without voucher, failing sync jobs, no clean reconciliation:
// subgraphs/sync/ports.ts, handed in). Otherwise its books and reports are generated (generate.ts) into the archive's
// bucket and the close goes to approval on the shared workflow engine (the head of accounting, then the finance
// director; a stored definition like every route). The last approval files each document as its archive kind, with
// its retention and 档号, in one transaction with the period's CLOSED state; a rejection reopens the period with its
// reason and deletes the generated files. Every step is an event on the log (PERIOD_CLOSE_REQUESTED, PERIOD_CLOSED,
// PERIOD_REOPENED), which subscribers and webhooks see.
import { GraphQLError } from 'graphql';
import { badInput, conflict, forbidden, notFound, today } from '../../../platform/graphql.ts';
import { type Principal, hasAnyRole } from '../../../platform/identity.ts';
import { fiscalYear as boundedFiscalYear } from '../../../platform/input-bounds.ts';
import { transaction } from '../../../platform/integration/transactions.ts';
import { TEXT_FIELDS, optionalText } from '../../../platform/text-policy.ts';
import type { Decision, StageDefinition } from '../../../platform/workflow/types.ts';
import { rolesFor } from '../../../schema/permissions.ts';
import type { ArchiveContext, ArchiveServices } from '../context.ts';
import { type RecordDraft, fileManyInTransaction } from '../filing.ts';
import { recordsTransaction } from '../history.ts';
import { fromWorkflow } from '../lifecycle/services.ts';
import { ArchiveFiles } from '../originals/store.ts';
import { bucketSink, dropFiles } from './bucket.ts';
import { InFlight } from './in-flight.ts';
import { companyOf, generatePeriodDocuments } from './generate.ts';
import { type PeriodDoc, type PeriodDocumentDoc, periodModel } from './period-model.ts';

export const PERIOD_CLOSE_WORKFLOW = 'period-close';

/** The default route: the head of accounting (the finance department's manager), then a finance director. */
export function periodCloseRoute(): { key: string; name: string; stages: StageDefinition[] } {
  return {
    key: PERIOD_CLOSE_WORKFLOW,
    name: '结账审批 Period close',
    stages: [
      { steps: [{ key: 'accounting-head', name: 'Head of accounting', mode: 'ANY', assignees: [{ kind: 'departmentManager' }] }] },
      { steps: [{ key: 'finance-director', name: 'Finance director', mode: 'ANY', assignees: [{ kind: 'role', role: 'FINANCE_DIRECTOR' }] }] },
    ],
  };
}

/** Why a period cannot be closed now (the sync module's answer, subgraphs/sync/ports.ts). */
export interface CloseBlocker {
  code: string;
  count: number;
  detail: string;
}

/** What the archive asks before closing: handed in by the assembly (scripts/archive-options.ts). */
export interface CloseReadiness {
  closeBlockers(fiscalYear: number, period: number): Promise<CloseBlocker[]>;
}

export type { PeriodDoc, PeriodDocumentDoc, PeriodStatus } from './period-model.ts';

const CLOSERS = rolesFor('Mutation', 'closePeriod');
const READERS = rolesFor('Query', 'accountingPeriods');

const periodId = (fiscalYear: number, period: number) => `${fiscalYear}-${String(period).padStart(2, '0')}`;
const subjectOf = (id: string) => ({ type: 'AccountingPeriod', id });
const nowOf = (ctx: ArchiveServices) => ctx.clock?.() ?? new Date();

function checkPeriod(ctx: ArchiveContext, fiscalYear: number, period: number): string {
  boundedFiscalYear('fiscalYear', fiscalYear, { timeZone: ctx.settings.timeZone, now: nowOf(ctx) });
  if (!Number.isInteger(period) || period < 1 || period > 12) throw badInput('period must be a month, 1 to 12', 'period');
  return periodId(fiscalYear, period);
}

/** A period as stored, or OPEN when nothing was done to it yet. */
const openPeriod = (fiscalYear: number, period: number): PeriodDoc => ({
  _id: periodId(fiscalYear, period),
  fiscalYear,
  period,
  status: 'OPEN',
  approvalId: null,
  requestedBy: null,
  requestedAt: null,
  closedAt: null,
  vouchers: 0,
  documents: [],
  lastRejection: null,
});

/** The twelve months of a year as the books stand (ACCOUNTANT, FINANCE_DIRECTOR, ARCHIVIST, AUDITOR). */
export async function accountingPeriods(ctx: ArchiveContext, fiscalYear: number): Promise<PeriodDoc[]> {
  if (!hasAnyRole(ctx.principal, READERS)) throw forbidden();
  checkPeriod(ctx, fiscalYear, 1);
  const stored = new Map((await periodModel(ctx.connection).find({ fiscalYear }).lean<PeriodDoc[]>()).map((p) => [p.period, p]));
  return Array.from({ length: 12 }, (_, i) => stored.get(i + 1) ?? openPeriod(fiscalYear, i + 1));
}

/** Generates the month's documents into the archive's bucket, marked as listed so the orphan sweep leaves them while the close awaits approval. */
async function generateIntoBucket(ctx: ArchiveServices, fiscalYear: number, period: number, now: Date): Promise<{ documents: PeriodDocumentDoc[]; vouchers: number }> {
  const bucket = bucketSink(new ArchiveFiles(ctx.connection), now);
  try {
    const { books, documents } = await generatePeriodDocuments(ctx.models.Voucher, { fiscalYear, period }, { company: companyOf(ctx.settings), now, sink: bucket.sink });
    const out: PeriodDocumentDoc[] = [];
    for (const d of documents) out.push({ ...d, fileId: await bucket.verified(d.name, d.sha256), recordId: null, archiveNo: null });
    return { documents: out, vouchers: books.vouchers };
  } catch (err) {
    await bucket.drop();
    throw err;
  }
}

/** A month of up to this many vouchers has its documents generated within closePeriod; a larger one in the background. */
export const CLOSE_INLINE_VOUCHERS = 5000;

/**
 * closePeriod: refused with every cause while the month is not ready. Otherwise the month is GENERATING at once (a
 * voucher dated in it is booked elsewhere from then on), its documents are generated and the close goes to approval
 * (CLOSING): within this call for a month of up to CLOSE_INLINE_VOUCHERS vouchers, else in the archive's worker loop
 * (50,000 vouchers take half a minute, longer than a caller waits).
 */
export async function closePeriod(ctx: ArchiveContext, fiscalYear: number, period: number): Promise<PeriodDoc> {
  const principal = ctx.principal;
  if (principal.kind !== 'user' || !hasAnyRole(principal, CLOSERS)) throw forbidden('Periods are closed by an ACCOUNTANT');
  const id = checkPeriod(ctx, fiscalYear, period);
  const now = nowOf(ctx);
  const nextMonth = period === 12 ? `${fiscalYear + 1}-01-01` : `${periodId(fiscalYear, period + 1)}-01`;
  if (today(ctx.settings.timeZone, now) < nextMonth) throw conflict(`${id} has not ended yet: a period is closed after its last day`);
  const Periods = periodModel(ctx.connection);
  const current = (await Periods.findById(id).lean<PeriodDoc>()) ?? openPeriod(fiscalYear, period);
  if (current.status !== 'OPEN') throw conflict(`${id} is ${current.status}`);
  if (!ctx.settings.financeDepartmentId) throw conflict('No finance department is configured (FINANCE_DEPARTMENT_ID): the close has no head of accounting to approve it');
  if (!ctx.closeReadiness) throw conflict('This archive process cannot check whether the period is ready to close');
  const blockers = await ctx.closeReadiness.closeBlockers(fiscalYear, period);
  if (blockers.length) {
    throw new GraphQLError(`${id} cannot be closed: ${blockers.map((b) => b.detail).join('; ')}`, { extensions: { code: 'CONFLICT', causes: blockers } });
  }
  await transaction(ctx.connection, async (session) => {
    const doc: PeriodDoc = { ...current, status: 'GENERATING', approvalId: null, requestedBy: principal.sub, requestedAt: now, closedAt: null, vouchers: 0, documents: [] };
    // Only from OPEN: a concurrent close of the same month, or a booking into it, conflicts here and applies nothing.
    const { _id: _, ...fields } = doc;
    const moved = await Periods.updateOne({ _id: id, status: 'OPEN' }, { $set: fields }, { session });
    if (!moved.matchedCount) {
      try {
        await Periods.create([doc], { session });
      } catch (err) {
        if ((err as { code?: number }).code === 11000) throw conflict(`${id} is being closed by someone else`);
        throw err;
      }
    }
  });
  const vouchers = await ctx.models.Voucher.countDocuments({ fiscalYear, period });
  if (vouchers <= (ctx.settings.close?.inlineVouchers ?? CLOSE_INLINE_VOUCHERS)) {
    // Requested is requested: what fails here (a deadline, a conflict) is the worker loop's to finish.
    await generateClose(ctx, id).catch(() => ctx.background?.wake());
  } else {
    ctx.background?.wake();
  }
  return (await Periods.findById(id).lean<PeriodDoc>())!;
}

/** Closes being generated by this process. */
const generating = new InFlight();

/**
 * Generates the documents of a GENERATING month into the archive's bucket and starts the approval (CLOSING), with
 * PERIOD_CLOSE_REQUESTED, in one transaction that also checks the month's voucher count is the one the books were read
 * from; otherwise the files go and the next pass generates again.
 */
export async function generateClose(svc: ArchiveServices, id: string): Promise<void> {
  await generating.run(svc.connection, id, undefined, async () => {
    const Periods = periodModel(svc.connection);
    const requested = await Periods.findById(id).lean<PeriodDoc>();
    if (requested?.status !== 'GENERATING') return;
    const { fiscalYear, period } = requested;
    const { documents, vouchers } = await generateIntoBucket(svc, fiscalYear, period, requested.requestedAt ?? nowOf(svc));
    try {
      await transaction(svc.connection, async (session) => {
        const p = await Periods.findById(id).session(session).lean<PeriodDoc>();
        if (p?.status !== 'GENERATING' || p.requestedAt?.getTime() !== requested.requestedAt?.getTime()) throw conflict(`${id} changed meanwhile`);
        // A voucher booked into the month after its books were read would be missing from them: booking writes this
        // document too (booking.ts), and books nothing into a month that is not OPEN; this is the proof.
        const booked = await svc.models.Voucher.countDocuments({ fiscalYear, period }).session(session);
        if (booked !== vouchers) throw conflict(`${booked - vouchers} voucher(s) were booked into ${id} while its books were generated`);
        const instance = await svc.workflow.start(session, PERIOD_CLOSE_WORKFLOW, subjectOf(id), { initiatorId: p.requestedBy!, departmentId: svc.settings.financeDepartmentId!, category: 'PERIOD_CLOSE' }).catch(fromWorkflow);
        await Periods.updateOne({ _id: id, status: 'GENERATING' }, { $set: { status: 'CLOSING', approvalId: instance.id, vouchers, documents } }, { session });
        await svc.events.append(session, {
          type: 'PERIOD_CLOSE_REQUESTED',
          subject: subjectOf(id),
          actor: p.requestedBy!,
          payload: { fiscalYear, period, approvalId: instance.id, documents: documents.length, vouchers, detail: `${id}: ${documents.length} documents from ${vouchers} vouchers await approval` },
          occurredAt: nowOf(svc),
        });
      });
    } catch (err) {
      // Nothing of the close was stored: its files go too.
      await dropFiles(new ArchiveFiles(svc.connection), documents.map((d) => d.fileId));
      throw err;
    }
  });
}

/** Goes on with every month being generated (after a restart, or a close left to the worker loop). */
export async function resumeCloses(svc: ArchiveServices, opts: { stopped?: () => boolean } = {}): Promise<number> {
  const open = await periodModel(svc.connection).find({ status: 'GENERATING' }, { _id: 1 }).lean<Array<Pick<PeriodDoc, '_id'>>>();
  for (const p of open) if (!opts.stopped?.()) await generateClose(svc, p._id);
  return open.length;
}

/** The drafts of the records filing a period's documents: a JSON description as content, the PDF as its file. */
async function draftsOf(ctx: ArchiveContext, p: PeriodDoc): Promise<RecordDraft[]> {
  const store = new ArchiveFiles(ctx.connection);
  return Promise.all(
    p.documents.map(async (d) => ({
      kind: d.kind,
      title: `${p._id} ${d.title}`,
      fiscalYear: p.fiscalYear,
      mediaType: 'application/json',
      content: JSON.stringify({ period: p._id, document: d.title, kind: d.kind, file: d.name, pages: d.pages, vouchers: p.vouchers, ...(d.accountCode ? { accountCode: d.accountCode } : {}), generatedAt: p.requestedAt?.toISOString() ?? null }),
      originals: [{ file: { fileId: d.fileId, name: d.name, mediaType: d.mediaType, size: d.size, sha256: d.sha256, sourceAttachmentId: '' }, bytes: await store.read(d.fileId) }],
      // After a reopening, the document of the same name filed by the earlier close is corrected, never altered.
      correctsId: p.superseded?.find((s) => s.name === d.name)?.recordId ?? null,
    })),
  );
}

/**
 * decidePeriodClose: an approver of the current step decides. The last approval files every document and closes the
 * period in one transaction; a rejection (its reason required) reopens the period and deletes the generated files.
 */
export async function decidePeriodClose(ctx: ArchiveContext, fiscalYear: number, period: number, decision: Decision, comment?: string | null): Promise<PeriodDoc> {
  const principal: Principal = ctx.principal;
  if (principal.kind !== 'user') throw forbidden('A period close is decided by a person');
  if (decision !== 'APPROVE' && decision !== 'REJECT') throw badInput('decision must be APPROVE or REJECT', 'decision');
  const reason = optionalText(comment, 'comment', TEXT_FIELDS.archiveComment);
  if (decision === 'REJECT' && !reason) throw badInput('a rejection says why (comment)', 'comment');
  const id = checkPeriod(ctx, fiscalYear, period);
  const Periods = periodModel(ctx.connection);
  const before = await Periods.findById(id).lean<PeriodDoc>();
  if (!before) throw notFound(`Period ${id}`);
  if (before.status !== 'CLOSING' || !before.approvalId) throw conflict(`${id} is ${before.status} and awaits no decision`);
  // Read before the transaction: the four-properties check of each file reads its bytes (filing.ts).
  const drafts = decision === 'APPROVE' ? await draftsOf(ctx, before) : [];
  const now = nowOf(ctx);
  let result: PeriodDoc | undefined;
  let filed = false;
  await recordsTransaction(ctx.connection, async (session) => {
    filed = false;
    const p = await Periods.findById(id).session(session).lean<PeriodDoc>();
    if (!p || p.status !== 'CLOSING' || p.approvalId !== before.approvalId) throw conflict(`${id} changed meanwhile; read it again`);
    const { outcome } = await ctx.workflow.decide(session, p.approvalId!, principal.sub, decision, reason ?? undefined).catch(fromWorkflow);
    let next: PeriodDoc = p;
    if (outcome === 'APPROVED') {
      const records = await fileManyInTransaction(ctx, session, drafts);
      next = { ...p, status: 'CLOSED', closedAt: now, superseded: [], documents: p.documents.map((d, i) => ({ ...d, recordId: records[i]._id.toHexString(), archiveNo: records[i].archiveNo })) };
      await ctx.events.append(session, {
        type: 'PERIOD_CLOSED',
        subject: subjectOf(id),
        actor: principal.sub,
        payload: { fiscalYear, period, approvalId: p.approvalId, archiveNos: records.map((r) => r.archiveNo), detail: `${id} closed: ${records.length} documents filed (${records[0]?.archiveNo ?? ''} …)` },
        occurredAt: now,
      });
      filed = true;
    } else if (outcome === 'REJECTED') {
      await dropFiles(new ArchiveFiles(ctx.connection), p.documents.map((d) => d.fileId), session);
      next = { ...p, status: 'OPEN', approvalId: null, documents: [], lastRejection: { by: principal.sub, at: now, reason: reason! } };
      await ctx.events.append(session, {
        type: 'PERIOD_REOPENED',
        subject: subjectOf(id),
        actor: principal.sub,
        payload: { fiscalYear, period, approvalId: p.approvalId, reason, detail: `${id} reopened: the close was rejected: ${reason}` },
        occurredAt: now,
      });
    }
    if (next !== p) {
      const { _id: _, ...fields } = next;
      const saved = await Periods.updateOne({ _id: id, status: 'CLOSING', approvalId: p.approvalId }, { $set: fields }, { session });
      if (!saved.matchedCount) throw conflict(`${id} changed meanwhile; read it again`);
    }
    result = next;
  });
  if (filed) await ctx.seals?.afterFiling();
  return result!;
}

const REOPENERS = rolesFor('Mutation', 'reopenPeriod');

/**
 * reopenPeriod: a FINANCE_DIRECTOR reopens a CLOSED month, with a reason, recorded on it and on the event log. Its
 * filed documents stay as they are; the next close files new ones as their corrections.
 */
export async function reopenPeriod(ctx: ArchiveContext, fiscalYear: number, period: number, reason: string): Promise<PeriodDoc> {
  const principal = ctx.principal;
  if (principal.kind !== 'user' || !hasAnyRole(principal, REOPENERS)) throw forbidden('A closed period is reopened by a FINANCE_DIRECTOR');
  const why = optionalText(reason, 'reason', TEXT_FIELDS.archiveComment);
  if (!why) throw badInput('reopening a closed period says why (reason)', 'reason');
  const id = checkPeriod(ctx, fiscalYear, period);
  const Periods = periodModel(ctx.connection);
  const now = nowOf(ctx);
  let result: PeriodDoc | undefined;
  await transaction(ctx.connection, async (session) => {
    const p = await Periods.findById(id).session(session).lean<PeriodDoc>();
    if (!p || p.status !== 'CLOSED') throw conflict(`${id} is ${p?.status ?? 'OPEN'}; only a CLOSED period is reopened`);
    const reopenings = [...(p.reopenings ?? []), { by: principal.sub, at: now, reason: why }];
    const next: PeriodDoc = { ...p, status: 'OPEN', approvalId: null, closedAt: null, documents: [], superseded: p.documents, reopenings };
    const { _id: _, ...fields } = next;
    const saved = await Periods.updateOne({ _id: id, status: 'CLOSED' }, { $set: fields }, { session });
    if (!saved.matchedCount) throw conflict(`${id} changed meanwhile; read it again`);
    await ctx.events.append(session, {
      type: 'PERIOD_REOPENED',
      subject: subjectOf(id),
      actor: principal.sub,
      payload: { fiscalYear, period, reason: why, closed: true, detail: `${id} reopened by ${principal.sub}: ${why}` },
      occurredAt: now,
    });
    result = next;
  });
  return result!;
}

// Vouchers for approved expense claims: double entry, balanced to the fen, numbered per period without gaps,
// generated exactly once per claim.
import { nextSequence } from '../../platform/integration/events.ts';
import { badInput, conflict, forbidden, today } from '../../platform/graphql.ts';
import { formatMoney, sumFen } from '../../platform/money.ts';
import { type BusinessClock, approvedItemDay, moneyTotal, pastInstant } from '../../platform/input-bounds.ts';
import { TEXT_FIELDS, type TextField, TextPolicyError, checkText, clip } from '../../platform/text-policy.ts';
import type { ArchiveContext, ArchiveServices } from './context.ts';
import type { VoucherDoc, VoucherEntryDoc } from './models.ts';
import { transaction } from '../../platform/integration/transactions.ts';
import { bookInto } from './close/booking.ts';

export interface ApprovedClaim {
  claimId: string;
  claimNo: string;
  title: string;
  category: string;
  applicantId: string;
  applicantName?: string | null;
  departmentId: string;
  approvedAt: Date;
  /** Integer fen (the Money scalar parsed it). */
  total: number;
  items: Array<{ description: string; amount: number; occurredOn: string; invoiceNo?: string | null; attachmentIds?: string[] | null }>;
}

/** Originals one claim may bring (oa allows 10 per item; a claim has at most 100 items). */
const MAX_CLAIM_ORIGINALS = 1000;

const isDuplicateKey = (err: unknown) => (err as { code?: number })?.code === 11000;

/** The double entry of a claim: one debit line per expense category, one credit line on the payable account. */
export function voucherEntries(services: Pick<ArchiveServices, 'settings'>, claim: ApprovedClaim): VoucherEntryDoc[] {
  const account = services.settings.expenseAccounts[claim.category];
  if (!account) throw badInput(`no expense account is configured for category ${claim.category}`, 'category');
  // A claim has one category today; grouping keeps the rule ("one debit line per category") if items gain their own.
  const byCategory = new Map<string, number>([[claim.category, sumFen(claim.items.map((i) => i.amount))]]);
  const debits = [...byCategory].map(([category, fen]): VoucherEntryDoc => {
    const a = services.settings.expenseAccounts[category] ?? account;
    return { summary: clip(`${claim.claimNo} ${claim.title}`, 200), accountCode: a.code, accountName: a.name, debitFen: fen, creditFen: 0 };
  });
  const total = sumFen(debits.map((d) => d.debitFen));
  const credit: VoucherEntryDoc = {
    summary: `${claim.claimNo} 应付报销款`,
    accountCode: services.settings.creditAccount.code,
    accountName: services.settings.creditAccount.name,
    debitFen: 0,
    creditFen: total,
  };
  return [...debits, credit];
}

/**
 * A text of the approved claim in the form the text policy stores (platform/text-policy.ts); where the policy refuses
 * it (a claim stored before the policy, or that bypassed it), the text as received, with the refusal noted in
 * `problems`. An approved claim is final and is always filed: its presentation is reported, never a reason to
 * refuse (docs/api.md#approved-claims-are-always-filed).
 */
function claimText(value: string | null | undefined, field: string, spec: TextField, problems: string[], required = true): string | null {
  if (!required && (value === undefined || value === null)) return null;
  try {
    const text = checkText(value, field, spec, required);
    return text === '' && !required ? null : text;
  } catch (err) {
    if (!(err instanceof TextPolicyError)) throw err;
    problems.push(err.message);
    return typeof value === 'string' ? value : '';
  }
}

function validate(claim: ApprovedClaim, clock: BusinessClock): void {
  if (!claim.items.length) throw badInput('an approved claim has at least one item', 'items');
  for (const [i, item] of claim.items.entries()) {
    if (!Number.isSafeInteger(item.amount) || item.amount <= 0) throw badInput(`items[${i}].amount must be positive`, `items[${i}].amount`);
  }
  const sum = moneyTotal('items', claim.items.map((i) => i.amount));
  if (sum !== claim.total) throw badInput(`total ${formatMoney(claim.total)} is not the sum of the items (${formatMoney(sum)})`, 'total');
  // Dates within reason (platform/input-bounds.ts): approved in the past, items not in the future.
  pastInstant('approvedAt', claim.approvedAt, clock.now);
  for (const [i, item] of claim.items.entries()) approvedItemDay(`items[${i}].occurredOn`, item.occurredOn, clock);
  // The originals the archive copies when it files the voucher (originals/copy.ts): oa's file ids.
  let originals = 0;
  for (const [i, item] of claim.items.entries()) {
    for (const id of item.attachmentIds ?? []) {
      if (!/^[0-9a-f]{24}$/i.test(id)) throw badInput(`items[${i}].attachmentIds: ${JSON.stringify(id.slice(0, 40))} is not a file id`, `items[${i}].attachmentIds`);
      if (++originals > MAX_CLAIM_ORIGINALS) throw badInput(`a claim brings at most ${MAX_CLAIM_ORIGINALS} original documents`, `items[${i}].attachmentIds`);
    }
  }
}

/** A voucher about to be numbered: everything but its number, and the period whose counter numbers it. */
interface Prepared {
  claim: ApprovedClaim;
  month: string;
  doc: Omit<VoucherDoc, '_id' | 'voucherNo'>;
}

/** The claim's original documents, in item order, each once; absent when it has none (older vouchers have none). */
function originalsOf(claim: ApprovedClaim): { attachmentIds?: string[] } {
  const ids = [...new Set(claim.items.flatMap((i) => (i.attachmentIds ?? []).map((id) => id.toLowerCase())))];
  return ids.length ? { attachmentIds: ids } : {};
}

/** Checks an approved claim and builds its voucher (still without its number). */
function prepare(ctx: ArchiveContext, claim: ApprovedClaim): Prepared {
  validate(claim, { timeZone: ctx.settings.timeZone, now: ctx.clock?.() ?? new Date() });
  // The texts pass the policy of oa's edge again (platform/text-policy.ts), stored as normalised; those it refuses are
  // kept as received and their problems go with the voucher to its record's four-properties report (filing.ts).
  const textProblems: string[] = [];
  claim = {
    ...claim,
    title: claimText(claim.title, 'title', TEXT_FIELDS.claimTitle, textProblems)!,
    applicantName: claimText(claim.applicantName, 'applicantName', TEXT_FIELDS.name, textProblems, false),
    items: claim.items.map((item, i) => ({ ...item, description: claimText(item.description, `items[${i}].description`, TEXT_FIELDS.itemDescription, textProblems)! })),
  };
  const entries = voucherEntries(ctx, claim);
  const debitTotalFen = sumFen(entries.map((e) => e.debitFen));
  const creditTotalFen = sumFen(entries.map((e) => e.creditFen));
  if (debitTotalFen !== creditTotalFen || debitTotalFen !== claim.total) {
    throw conflict(`voucher refused: debits ${formatMoney(debitTotalFen)} and credits ${formatMoney(creditTotalFen)} do not balance`);
  }
  // Fiscal year and period come from the approval date, in the business time zone.
  const date = today(ctx.settings.timeZone, claim.approvedAt);
  const invoiceNumbers = claim.items.map((i) => i.invoiceNo?.trim().toUpperCase()).filter((n): n is string => !!n);
  return {
    claim,
    month: date.slice(0, 7),
    doc: {
      claimId: claim.claimId,
      claimNo: claim.claimNo,
      fiscalYear: Number(date.slice(0, 4)),
      period: Number(date.slice(5, 7)),
      date,
      entries,
      debitTotalFen,
      creditTotalFen,
      source: {
        title: claim.title,
        category: claim.category,
        applicantId: claim.applicantId,
        applicantName: claim.applicantName ?? null,
        departmentId: claim.departmentId,
        approvedAt: claim.approvedAt,
        invoiceNumbers,
        totalFen: claim.total,
        textProblems,
        ...originalsOf(claim),
      },
      createdAt: new Date(),
    },
  };
}

/**
 * Generates the voucher of an approved claim, or returns the one it already has. Only service identities (the
 * sync pipeline) call it. Concurrent calls for the same claim meet at the unique claimId: the loser's transaction,
 * counter increment included, is rolled back and it returns the winner's voucher.
 */
export async function generateVoucher(ctx: ArchiveContext, claim: ApprovedClaim): Promise<VoucherDoc> {
  return (await generateVouchers(ctx, [claim]))[0];
}

/**
 * generateVoucher for many approved claims at once (the sync pipeline's batches), in the order given: the new
 * vouchers are numbered, stored and announced in one transaction, so a batch holds the period counters' lane once
 * (and costs a few database commands) instead of once per claim. All or nothing: a claim it refuses refuses the
 * batch, and the caller sends its claims one by one to learn which.
 */
export async function generateVouchers(ctx: ArchiveContext, claims: readonly ApprovedClaim[]): Promise<VoucherDoc[]> {
  if (ctx.principal.kind !== 'service') throw forbidden('Vouchers are generated by the sync service only');
  if (claims.length > MAX_VOUCHER_BATCH) throw badInput(`at most ${MAX_VOUCHER_BATCH} claims at once`, 'claims');
  const ids = [...new Set(claims.map((c) => c.claimId))];
  const byClaim = async () => new Map((await ctx.models.Voucher.find({ claimId: { $in: ids } }).lean<VoucherDoc[]>()).map((v) => [v.claimId, v]));
  let found = await byClaim();
  // Checked before anything is stored: a claim refused refuses the batch.
  const prepared = new Map<string, Prepared>();
  for (const claim of claims) if (!found.has(claim.claimId) && !prepared.has(claim.claimId)) prepared.set(claim.claimId, prepare(ctx, claim));
  for (let attempt = 1; ; attempt++) {
    const fresh = new Map([...prepared].filter(([claimId]) => !found.has(claimId)));
    if (!fresh.size) break;
    try {
      await transaction(ctx.connection, async (session) => {
        // Closed means closed (close/booking.ts): a month closed or being closed books nothing more; its vouchers go to
        // the next open month, their own date kept, or are refused, as configured.
        const counts = new Map<string, number>();
        for (const p of fresh.values()) counts.set(p.month, (counts.get(p.month) ?? 0) + 1);
        const bookings = await bookInto(ctx.connection, session, counts, ctx.settings.closedPeriodBooking);
        const booked = [...fresh.values()].map((p) => {
          const b = bookings.get(p.month)!;
          if (!b.moved) return { p, month: p.month, doc: p.doc };
          return { p, month: b.month, doc: { ...p.doc, fiscalYear: b.fiscalYear, period: b.period, date: `${b.month}-01`, originalDate: p.doc.date, bookingNote: b.moved.reason } };
        });
        // Numbers per period, in the order the claims came: one counter increment per period.
        const months = new Map<string, typeof booked>();
        for (const v of booked) months.set(v.month, [...(months.get(v.month) ?? []), v]);
        const numbers = new Map<Prepared, number>();
        for (const [month, group] of months) {
          const first = await nextSequence(ctx.connection, `voucherNo:${month}`, session, group.length);
          group.forEach((v, i) => numbers.set(v.p, first + i));
        }
        const docs = booked.map(({ p, doc }) => ({ ...doc, voucherNo: `记-${doc.fiscalYear}-${String(doc.period).padStart(2, '0')}-${String(numbers.get(p)).padStart(4, '0')}` }));
        const created = (await ctx.models.Voucher.insertMany(docs, { session })).map((d) => d.toObject() as VoucherDoc);
        await ctx.events.appendMany(
          session,
          created.map((v) => ({
            type: 'VOUCHER_CREATED',
            subject: { type: 'ExpenseClaim', id: v.claimId },
            actor: ctx.principal.sub,
            payload: {
              voucherId: v._id.toHexString(),
              voucherNo: v.voucherNo,
              claimId: v.claimId,
              claimNo: v.claimNo,
              applicantId: v.source.applicantId,
              departmentId: v.source.departmentId,
              total: formatMoney(v.source.totalFen),
            },
          })),
        );
        for (const v of created) found.set(v.claimId, v);
        // Every voucher writes its period's number counter: one lane (platform/integration/transactions.ts).
      }, { lane: 'voucher-numbers' });
      break;
    } catch (err) {
      // A concurrent call for one of the claims won the unique claimId: nothing of this batch was stored. Those
      // vouchers are theirs; the rest of the batch is booked again (a few times at most, then the error stands).
      if (!isDuplicateKey(err) || attempt >= 3) throw err;
      found = await byClaim();
    }
  }
  return claims.map((c) => found.get(c.claimId)!);
}

/** The most claims one generateVouchers call takes (and fileVouchers vouchers). */
export const MAX_VOUCHER_BATCH = 100;

// Resolvers of the `archive` subgraph's core: vouchers, records, chain verification, reports, federation.
import { DateScalar, DateTimeScalar, MoneyScalar, badInput, forbidden, inScope, parseDate } from '../../platform/graphql.ts';
import { type Role, hasAnyRole } from '../../platform/identity.ts';
import { toObjectId } from '../../platform/ids.ts';
import { fiscalYear as boundedFiscalYear } from '../../platform/input-bounds.ts';
import { callerMayUse, rolesFor } from '../../schema/permissions.ts';
import type { ArchiveContext } from './context.ts';
import type { Resolvers } from './generated/graphql.ts';
import { checkRecordInCustody, fileRecord, fileVoucher, fileVouchers } from './filing.ts';
import { verifyArchive } from './integrity.ts';
import type { ArchiveRecordView, ArchiveStatus, VoucherDoc, VoucherEntryDoc } from './models.ts';
import { appraisalCandidates, archiveStatistics, recordConnection } from './reports.ts';
import { type ApprovedClaim, generateVoucher, generateVouchers } from './vouchers.ts';

const idOf = (doc: { _id: { toHexString(): string } }) => doc._id.toHexString();

// The roles of each role-gated query, from the model (schema/permissions.ts). Service identities pass here even
// where the model has no `services` (checkArchiveRecord, recordsDueForAppraisal): the gateway applies the model.
const CHAIN_VERIFIERS = rolesFor('Query', 'verifyArchiveChain');
const STATISTICS_READERS = rolesFor('Query', 'archiveStatistics');
const RECORD_CHECKERS = rolesFor('Query', 'checkArchiveRecord');
const APPRAISAL_LISTERS = rolesFor('Query', 'recordsDueForAppraisal');

const requireArchiveReader = (ctx: ArchiveContext, what: string, roles: readonly Role[]) => {
  if (ctx.principal.kind !== 'service' && !hasAnyRole(ctx.principal, roles)) throw forbidden(`${what} is for ${roles.join(', ')}`);
};

/** A fiscal-year filter, bounded as fiscal-year inputs are (platform/input-bounds.ts); null when absent. */
const yearFilter = (ctx: ArchiveContext, year: number | null | undefined): number | null =>
  year == null ? null : boundedFiscalYear('fiscalYear', year, { timeZone: ctx.settings.timeZone, now: ctx.clock?.() ?? new Date() });

export const archiveResolvers: Resolvers = {
  Money: MoneyScalar,
  Date: DateScalar,
  DateTime: DateTimeScalar,

  Query: {
    voucher: (_: unknown, { id }: { id: string }, ctx: ArchiveContext) => (toObjectId(id) ? ctx.loaders.voucher.load(id) : null),
    archiveRecord: (_: unknown, { id }: { id: string }, ctx: ArchiveContext) => (toObjectId(id) ? ctx.loaders.record.load(id) : null),
    archiveRecords: (_: unknown, args: { fiscalYear?: number | null; status?: ArchiveStatus | null; first?: number | null; after?: string | null }, ctx: ArchiveContext) =>
      recordConnection(ctx, { ...args, fiscalYear: yearFilter(ctx, args.fiscalYear) }),
    verifyArchiveChain: async (_: unknown, __: unknown, ctx: ArchiveContext) => {
      requireArchiveReader(ctx, 'Chain verification', CHAIN_VERIFIERS);
      return verifyArchive(ctx.connection, ctx.models, ctx.seals);
    },
    archiveStatistics: (_: unknown, { fiscalYear }: { fiscalYear?: number | null }, ctx: ArchiveContext) => {
      // Reporting tools may read it with an API key of scope reports:read (schema/permissions.ts, INTEGRATION).
      if (!callerMayUse(ctx.principal, 'Query', 'archiveStatistics')) requireArchiveReader(ctx, 'Archive statistics', STATISTICS_READERS);
      return archiveStatistics(ctx, yearFilter(ctx, fiscalYear));
    },
    checkArchiveRecord: (_: unknown, { id }: { id: string }, ctx: ArchiveContext) => {
      requireArchiveReader(ctx, 'The four-properties check', RECORD_CHECKERS);
      return checkRecordInCustody(ctx, id);
    },
    recordsDueForAppraisal: (_: unknown, { before }: { before: string }, ctx: ArchiveContext) => {
      requireArchiveReader(ctx, 'Appraisal lists', APPRAISAL_LISTERS);
      return appraisalCandidates(ctx, parseDate(before));
    },
  },

  Mutation: {
    generateVoucher: (_: unknown, { claim }: { claim: Omit<ApprovedClaim, 'approvedAt'> & { approvedAt: Date } }, ctx: ArchiveContext) => generateVoucher(ctx, claim),
    fileVoucher: (_: unknown, { voucherId }: { voucherId: string }, ctx: ArchiveContext) => fileVoucher(ctx, voucherId),
    generateVouchers: (_: unknown, { claims }: { claims: Array<Omit<ApprovedClaim, 'approvedAt'> & { approvedAt: Date }> }, ctx: ArchiveContext) => generateVouchers(ctx, claims),
    fileVouchers: (_: unknown, { voucherIds }: { voucherIds: string[] }, ctx: ArchiveContext) => {
      if (ctx.principal.kind !== 'service') throw forbidden('Vouchers are filed in batches by the sync service only');
      return fileVouchers(ctx, voucherIds);
    },
    fileArchiveRecord: (_: unknown, { input }: { input: Parameters<typeof fileRecord>[1] }, ctx: ArchiveContext) => {
      if (input.content.length > 10 * 1024 * 1024) throw badInput('content is limited to 10 MiB', 'content');
      return fileRecord(ctx, input);
    },
  },

  Voucher: {
    __resolveReference: async (ref: { id: string }, ctx: ArchiveContext) => inScope(toObjectId(ref.id) ? await ctx.loaders.voucher.load(ref.id) : null, 'voucher'),
    id: idOf,
    debitTotal: (v: VoucherDoc) => v.debitTotalFen,
    creditTotal: (v: VoucherDoc) => v.creditTotalFen,
    claim: (v: VoucherDoc) => ({ __typename: 'ExpenseClaim', id: v.claimId }),
    archiveRecord: (v: VoucherDoc, _: unknown, ctx: ArchiveContext) => ctx.loaders.recordByVoucher.load(idOf(v)),
  },

  VoucherEntry: {
    debit: (e: VoucherEntryDoc) => e.debitFen,
    credit: (e: VoucherEntryDoc) => e.creditFen,
  },

  ArchiveRecord: {
    __resolveReference: async (ref: { id: string }, ctx: ArchiveContext) => inScope(toObjectId(ref.id) ? await ctx.loaders.record.load(ref.id) : null, 'archive record'),
    id: idOf,
    expiresOn: (r: ArchiveRecordView) => r.extendedUntil ?? r.expiresOn,
    voucher: (r: ArchiveRecordView, _: unknown, ctx: ArchiveContext) => (r.voucherId ? ctx.loaders.voucher.load(r.voucherId) : null),
    corrects: (r: ArchiveRecordView, _: unknown, ctx: ArchiveContext) => (r.correctsId ? ctx.loaders.record.load(r.correctsId) : null),
    correctedBy: (r: ArchiveRecordView, _: unknown, ctx: ArchiveContext) => (r.correctedById ? ctx.loaders.record.load(r.correctedById) : null),
    filingReport: (r: ArchiveRecordView) => (r.filingReport ? { archiveNo: r.archiveNo, ...r.filingReport } : null),
    // The manifest, for whoever reads the record; the bytes are downloaded from GET /archive/files/<id> (logged).
    files: (r: ArchiveRecordView) => (r.files ?? []).map((f) => ({ id: f.fileId, name: f.name, mediaType: f.mediaType, size: f.size, sha256: f.sha256 })),
  },

  ExpenseClaim: {
    __resolveReference: (ref: { id: string }) => ({ id: ref.id }),
    voucher: (c: { id: string }, _: unknown, ctx: ArchiveContext) => ctx.loaders.voucherByClaim.load(c.id),
    archiveRecord: async (c: { id: string }, _: unknown, ctx: ArchiveContext) => {
      const v = await ctx.loaders.voucherByClaim.load(c.id);
      return v ? ctx.loaders.recordByVoucher.load(idOf(v)) : null;
    },
  },
};

// Resolvers of the year's handover (schema/archive-lifecycle.graphql, "Year handover"): handover.ts does the work.
import type { ArchiveContext } from '../context.ts';
import type { ArchiveRecordDoc } from '../models.ts';
import { type HandoverSide, type TransferLineDoc, type TransferRegisterDoc, prepareHandover, signHandover, transferLines, transferRegisters, withdrawHandover } from './handover.ts';

export const handoverResolvers = {
  Query: {
    transferRegisters: (_: unknown, { fiscalYear }: { fiscalYear: number }, ctx: ArchiveContext) => transferRegisters(ctx, fiscalYear),
  },
  Mutation: {
    prepareHandover: (_: unknown, { fiscalYear }: { fiscalYear: number }, ctx: ArchiveContext) => prepareHandover(ctx, fiscalYear),
    signHandover: (_: unknown, a: { id: string; side: HandoverSide }, ctx: ArchiveContext) => signHandover(ctx, a.id, a.side),
    withdrawHandover: (_: unknown, a: { id: string; reason: string }, ctx: ArchiveContext) => withdrawHandover(ctx, a.id, a.reason),
  },
  TransferRegister: {
    id: (r: TransferRegisterDoc) => r._id.toHexString(),
    lines: (r: TransferRegisterDoc, args: { first?: number | null; after?: string | null }, ctx: ArchiveContext) => transferLines(ctx, r, args),
    archiveRecord: (r: TransferRegisterDoc, _: unknown, ctx: ArchiveContext) => (r.recordId ? ctx.loaders.record.load(r.recordId) : null),
  },
  TransferLine: {
    record: (l: TransferLineDoc, _: unknown, ctx: ArchiveContext) => ctx.loaders.record.load(l.recordId),
  },
  ArchiveRecord: {
    custody: (r: Pick<ArchiveRecordDoc, 'custody'>) => r.custody ?? 'ACCOUNTING',
  },
};

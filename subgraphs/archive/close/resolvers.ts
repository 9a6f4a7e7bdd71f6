// Resolvers of the period close (schema/archive-lifecycle.graphql, "Period close"): periods.ts does the work.
import { stepsAsShown } from '../../../platform/workflow/progress.ts';
import type { Decision } from '../../../platform/workflow/types.ts';
import type { ArchiveContext } from '../context.ts';
import { lifecycleLoadersOf } from '../lifecycle/loaders.ts';
import { stepView } from '../lifecycle/resolvers.ts';
import { type PeriodDoc, type PeriodDocumentDoc, accountingPeriods, closePeriod, decidePeriodClose, reopenPeriod } from './periods.ts';

export const closeResolvers = {
  Query: {
    accountingPeriods: (_: unknown, { fiscalYear }: { fiscalYear: number }, ctx: ArchiveContext) => accountingPeriods(ctx, fiscalYear),
  },
  Mutation: {
    closePeriod: (_: unknown, a: { fiscalYear: number; period: number }, ctx: ArchiveContext) => closePeriod(ctx, a.fiscalYear, a.period),
    decidePeriodClose: (_: unknown, a: { fiscalYear: number; period: number; decision: Decision; comment?: string | null }, ctx: ArchiveContext) =>
      decidePeriodClose(ctx, a.fiscalYear, a.period, a.decision, a.comment),
    reopenPeriod: (_: unknown, a: { fiscalYear: number; period: number; reason: string }, ctx: ArchiveContext) => reopenPeriod(ctx, a.fiscalYear, a.period, a.reason),
  },
  AccountingPeriod: {
    id: (p: PeriodDoc) => p._id,
    reopenings: (p: PeriodDoc) => p.reopenings ?? [],
    superseded: (p: PeriodDoc) => p.superseded ?? [],
    approvalSteps: async (p: PeriodDoc, _: unknown, ctx: ArchiveContext) => {
      const instance = p.approvalId ? await lifecycleLoadersOf(ctx).approval.load(p.approvalId) : null;
      return (instance ? stepsAsShown(instance) : []).map(stepView);
    },
  },
  PeriodDocument: {
    // Through the archive's own loader: the record as the caller may see it (row scope), or null.
    archiveRecord: (d: PeriodDocumentDoc, _: unknown, ctx: ArchiveContext) => (d.recordId ? ctx.loaders.record.load(d.recordId) : null),
  },
};

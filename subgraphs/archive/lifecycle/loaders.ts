// Per-request batching of what lifecycle objects refer to: the appraisals of records, the approvals of loans.
import DataLoader from 'dataloader';
import type { WorkflowInstance } from '../../../platform/workflow/types.ts';
import type { ArchiveContext } from '../context.ts';
import { type AppraisalDoc, appraisalModel } from './appraisal.ts';

interface LifecycleLoaders {
  appraisals: DataLoader<string, AppraisalDoc[]>;
  approval: DataLoader<string, WorkflowInstance | null>;
}

/** One set per request: keyed by the request's own loaders object, which lives exactly as long. */
const perRequest = new WeakMap<object, LifecycleLoaders>();

export function lifecycleLoadersOf(ctx: ArchiveContext): LifecycleLoaders {
  let l = perRequest.get(ctx.loaders);
  if (!l) {
    l = {
      appraisals: new DataLoader(async (recordIds) => {
        const docs = await appraisalModel(ctx.connection)
          .find({ recordId: { $in: [...recordIds] } })
          .sort({ appraisedAt: 1, _id: 1 })
          .batchSize(Math.max(recordIds.length, 1))
          .lean<AppraisalDoc[]>();
        return recordIds.map((id) => docs.filter((d) => d.recordId === id));
      }),
      approval: new DataLoader(async (ids) => {
        const found = await ctx.workflow.getMany([...ids]);
        const byId = new Map(found.map((i) => [i.id, i]));
        return ids.map((id) => byId.get(id) ?? null);
      }),
    };
    perRequest.set(ctx.loaders, l);
  }
  return l;
}

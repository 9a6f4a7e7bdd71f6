// Per-request DataLoaders: every load by key in a request is batched into one query per kind, so the number of
// database commands does not grow with the length of a list.
import DataLoader from 'dataloader';
import type { Types } from 'mongoose';
import { toObjectIds } from '../../platform/ids.ts';
import type { Principal } from '../../platform/identity.ts';
import type { WorkflowInstance } from '../../platform/workflow/types.ts';
import type { OaServices } from './context.ts';
import type { DepartmentDoc, EmployeeDoc, ExpenseClaimDoc } from './models.ts';
import { type ClaimFilter, claimScope } from './scope.ts';
import { type AttachmentView, viewOf } from './attachments/store.ts';

export interface OaLoaders {
  employee: DataLoader<string, EmployeeDoc | null>;
  department: DataLoader<string, DepartmentDoc | null>;
  /** Claims within the caller's scope; null for unknown ids and for claims the caller may not read. */
  claim: DataLoader<string, ExpenseClaimDoc | null>;
  approval: DataLoader<string, WorkflowInstance | null>;
  /** Attachments' metadata by id, for claim items the caller already read (./attachments/store.ts). */
  attachment: DataLoader<string, AttachmentView | null>;
  /** The caller's claim scope, computed once. */
  scope(): Promise<ClaimFilter>;
}

export { toObjectId } from '../../platform/ids.ts';

function byId<T extends { _id: Types.ObjectId }>(ids: readonly string[], docs: T[]): (T | null)[] {
  const map = new Map(docs.map((d) => [d._id.toHexString(), d]));
  return ids.map((id) => map.get(id) ?? null);
}

const objectIds = toObjectIds;
/** One reply for the whole batch: without it the driver fetches results past the 101st with extra getMores. */
const oneBatch = (ids: readonly string[]) => Math.max(ids.length, 1);

export function createLoaders(services: OaServices, principal: Principal): OaLoaders {
  const { models, workflow } = services;
  let scope: Promise<ClaimFilter> | undefined;
  const loaders: OaLoaders = {
    scope: () => (scope ??= claimScope({ principal, workflow })),
    employee: new DataLoader(async (ids) => byId(ids, await models.Employee.find({ _id: { $in: objectIds(ids) } }).batchSize(oneBatch(ids)).lean<EmployeeDoc[]>())),
    department: new DataLoader(async (ids) => byId(ids, await models.Department.find({ _id: { $in: objectIds(ids) } }).batchSize(oneBatch(ids)).lean<DepartmentDoc[]>())),
    claim: new DataLoader(async (ids) => {
      const filter = { $and: [{ _id: { $in: objectIds(ids) } }, await loaders.scope()] };
      return byId(ids, await models.ExpenseClaim.find(filter).batchSize(oneBatch(ids)).lean<ExpenseClaimDoc[]>());
    }),
    approval: new DataLoader(async (ids) => {
      const found = await workflow.getMany([...ids]);
      const map = new Map(found.map((i) => [i.id, i]));
      return ids.map((id) => map.get(id) ?? null);
    }),
    attachment: new DataLoader(async (ids) => {
      const map = new Map((await services.attachments.byIds(ids)).map((f) => [f._id.toHexString(), viewOf(f)]));
      return ids.map((id) => map.get(id) ?? null);
    }),
  };
  return loaders;
}

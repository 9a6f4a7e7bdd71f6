// Per-request DataLoaders of the archive subgraph, each scoped by the caller's identity.
import DataLoader from 'dataloader';
import { toObjectIds } from '../../platform/ids.ts';
import type { Principal } from '../../platform/identity.ts';
import type { ArchiveModels, ArchiveRecordDoc, VoucherDoc } from './models.ts';
import { readsAllArchives, recordScope, voucherScope } from './scope.ts';

export interface ArchiveLoaders {
  voucher: DataLoader<string, VoucherDoc | null>;
  voucherByClaim: DataLoader<string, VoucherDoc | null>;
  record: DataLoader<string, ArchiveRecordDoc | null>;
  recordByVoucher: DataLoader<string, ArchiveRecordDoc | null>;
  /** Ids of the vouchers the caller may see, or null when they see all. */
  voucherIdsInScope(): Promise<string[] | null>;
}

const oneBatch = (keys: readonly string[]) => Math.max(keys.length, 1);

function index<T>(keys: readonly string[], docs: T[], keyOf: (d: T) => string): (T | null)[] {
  const map = new Map(docs.map((d) => [keyOf(d), d]));
  return keys.map((k) => map.get(k) ?? null);
}

export function createArchiveLoaders(services: { models: ArchiveModels }, principal: Principal): ArchiveLoaders {
  const { Voucher, ArchiveRecord } = services.models;
  const vScope = voucherScope(principal);
  let inScope: Promise<string[] | null> | undefined;
  const loaders: ArchiveLoaders = {
    voucherIdsInScope: () =>
      (inScope ??= readsAllArchives(principal)
        ? Promise.resolve(null)
        : Voucher.find(vScope, { _id: 1 }).lean<Array<{ _id: { toHexString(): string } }>>().then((docs) => docs.map((d) => d._id.toHexString()))),
    voucher: new DataLoader(async (ids) =>
      index(ids, await Voucher.find({ $and: [{ _id: { $in: toObjectIds(ids) } }, vScope] }).batchSize(oneBatch(ids)).lean<VoucherDoc[]>(), (v) => v._id.toHexString()),
    ),
    voucherByClaim: new DataLoader(async (claimIds) =>
      index(claimIds, await Voucher.find({ $and: [{ claimId: { $in: [...claimIds] } }, vScope] }).batchSize(oneBatch(claimIds)).lean<VoucherDoc[]>(), (v) => v.claimId),
    ),
    record: new DataLoader(async (ids) => {
      const scope = recordScope(principal, await loaders.voucherIdsInScope());
      return index(ids, await ArchiveRecord.find({ $and: [{ _id: { $in: toObjectIds(ids) } }, scope] }).batchSize(oneBatch(ids)).lean<ArchiveRecordDoc[]>(), (r) => r._id.toHexString());
    }),
    recordByVoucher: new DataLoader(async (voucherIds) => {
      const scope = recordScope(principal, await loaders.voucherIdsInScope());
      return index(voucherIds, await ArchiveRecord.find({ $and: [{ voucherId: { $in: [...voucherIds] } }, scope] }).batchSize(oneBatch(voucherIds)).lean<ArchiveRecordDoc[]>(), (r) => r.voucherId ?? '');
    }),
  };
  return loaders;
}

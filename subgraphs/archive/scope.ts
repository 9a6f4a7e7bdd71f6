// Row-level scope of vouchers and archive records, applied in the database query: finance, archive and audit
// roles see all; an employee sees the vouchers and voucher records of their own claims, a manager those of their
// department; other records only the finance, archive and audit roles.
import type { QueryFilter } from 'mongoose';
import { type Principal, hasAnyRole } from '../../platform/identity.ts';
import { ROW_SCOPES, readsAllRows } from '../../schema/permissions.ts';
import type { ArchiveRecordDoc, VoucherDoc } from './models.ts';

/** Who reads every voucher and record's metadata, from the unified model (schema/permissions.ts); integrations by scope. */
export const readsAllArchives = (p: Principal): boolean => readsAllRows(p, 'Voucher');
/** Roles that read the vouchers of their own department's claims. */
export const readsDepartmentArchives = (p: Principal): boolean => hasAnyRole(p, ROW_SCOPES.Voucher.department);

export function voucherScope(p: Principal): QueryFilter<VoucherDoc> {
  if (readsAllArchives(p)) return {};
  const or: QueryFilter<VoucherDoc>[] = [{ 'source.applicantId': p.sub }];
  if (readsDepartmentArchives(p) && p.departmentId) or.push({ 'source.departmentId': p.departmentId });
  return or.length === 1 ? or[0] : { $or: or };
}

/** Record scope needs the ids of the vouchers in scope when the caller does not read everything. */
export function recordScope(p: Principal, voucherIdsInScope: string[] | null): QueryFilter<ArchiveRecordDoc> {
  if (readsAllArchives(p) || voucherIdsInScope === null) return {};
  return { voucherId: { $in: voucherIdsInScope } };
}

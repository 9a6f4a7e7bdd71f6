// Whether a record may be destroyed: checked when a register is proposed, and again when it is carried out.
import { gqlError } from '../../../../platform/graphql.ts';
import type { AppraisalDoc } from '../appraisal.ts';
import { type RecordMeta, effectiveExpiry } from '../records.ts';

/**
 * Why a record may not be destroyed today (empty: it may). A record's last day of retention is still a day it
 * is kept (a 2026 voucher "expires at the end of 2056-12-31"), so it is expired from the day after.
 */
export function destructionRefusals(record: RecordMeta, latest: AppraisalDoc | undefined, todayIso: string): string[] {
  if (record.status === 'DESTROYED') return ['already destroyed'];
  const reasons: string[] = [];
  const expiry = effectiveExpiry(record);
  if (record.retention === 'PERMANENT') reasons.push('kept permanently');
  else if (expiry === null) reasons.push('retention has not started to run out (asset not yet disposed of)');
  else if (expiry >= todayIso) reasons.push(`not expired: kept until ${expiry}`);
  else if (latest?.conclusion !== 'DESTROY') reasons.push('no appraisal opinion finds that it may be destroyed');
  if (record.holds.length > 0 || record.status === 'ON_HOLD') reasons.push(`on hold (${record.holds.map((h) => h.reason).join('; ') || 'kept apart'})`);
  if (record.status === 'BORROWED') reasons.push('on loan');
  return reasons;
}

/** A record that may not be destroyed, and why. */
export interface Refusal {
  recordId: string;
  archiveNo: string;
  reasons: string[];
}

/** CONFLICT naming each refused record and why; `refused` travels in the extensions. */
export function refuse(prefix: string, refused: Refusal[]): never {
  throw gqlError('CONFLICT', `${prefix}: ${refused.map((r) => `${r.archiveNo}: ${r.reasons.join(', ')}`).join('; ')}`, { refused });
}

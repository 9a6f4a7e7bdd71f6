// Holds: originals of unsettled claims or debts (未结清的债权债务) and records of unresolved matters (未了事项) are
// never destroyable while the matter is open; they are kept apart (status ON_HOLD) until every hold is released.
// A hold does not stop a loan: a record on loan keeps BORROWED and returns to ON_HOLD.
import { badInput, conflict } from '../../../platform/graphql.ts';
import type { Principal } from '../../../platform/identity.ts';
import { rolesFor } from '../../../schema/permissions.ts';
import { RecordHistory, recordsTransaction } from '../history.ts';
import { TEXT_FIELDS, requiredText } from '../../../platform/text-policy.ts';
import { requireRole } from './guards.ts';
import { type RecordMeta, WITHOUT_CONTENT, hexId, recordMeta } from './records.ts';
import { type LifecycleServices, nowOf } from './services.ts';

/** Roles that place and release holds: the model's rules (schema/permissions.ts). */
const HOLD_PLACERS = rolesFor('Mutation', 'placeHold');
const HOLD_RELEASERS = rolesFor('Mutation', 'releaseHold');

const subjectOf = (r: RecordMeta) => ({ type: 'ArchiveRecord', id: hexId(r) });

/** Places a hold with its reason: the record is ON_HOLD (or stays BORROWED until it comes back). */
export async function placeHold(svc: LifecycleServices, principal: Principal, recordId: string, reason: string): Promise<RecordMeta> {
  requireRole(principal, HOLD_PLACERS, 'Placing a hold');
  const why = requiredText(reason, 'reason', TEXT_FIELDS.holdReason);
  const now = nowOf(svc);
  let result: RecordMeta | undefined;
  await recordsTransaction(svc.connection, async (session) => {
    result = undefined;
    const record = await recordMeta(svc, recordId, session);
    if (record.status === 'DESTROYED') throw conflict(`record ${record.archiveNo} was destroyed`);
    const hold = { reason: why, placedBy: principal.sub, placedAt: now };
    const status = record.status === 'FILED' ? 'ON_HOLD' : record.status;
    const updated = await svc.models.ArchiveRecord.findOneAndUpdate(
      { _id: record._id, status: record.status },
      { $push: { holds: hold }, $set: { status } },
      { returnDocument: 'after', session, projection: WITHOUT_CONTENT },
    ).lean<RecordMeta>();
    if (!updated) throw conflict(`record ${record.archiveNo} was changed meanwhile; try again`);
    await new RecordHistory(svc.connection).append(session, [{ record: updated, change: { action: 'HOLD_PLACED', actorId: principal.sub, at: now } }]);
    await svc.events.append(session, {
      type: 'RECORD_HOLD_PLACED',
      subject: subjectOf(updated),
      actor: principal.sub,
      payload: { recordId: hexId(updated), archiveNo: updated.archiveNo, reason: why, holds: updated.holds.length, status: updated.status },
      occurredAt: now,
    });
    result = updated;
  });
  return result!;
}

/** Releases the hold at `index` (0-based, as listed); the record is FILED again when none remains. */
export async function releaseHold(svc: LifecycleServices, principal: Principal, recordId: string, index: number): Promise<RecordMeta> {
  requireRole(principal, HOLD_RELEASERS, 'Releasing a hold');
  if (!Number.isInteger(index) || index < 0) throw badInput('index must be a non-negative integer', 'index');
  const now = nowOf(svc);
  let result: RecordMeta | undefined;
  await recordsTransaction(svc.connection, async (session) => {
    result = undefined;
    const record = await recordMeta(svc, recordId, session);
    if (index >= record.holds.length) throw badInput(`record ${record.archiveNo} has ${record.holds.length} hold(s); there is none at index ${index}`, 'index');
    const released = record.holds[index];
    const holds = record.holds.filter((_, i) => i !== index);
    const status = record.status === 'ON_HOLD' && holds.length === 0 ? 'FILED' : record.status;
    // Read and write in one transaction: a concurrent change to the holds conflicts and is retried.
    const updated = await svc.models.ArchiveRecord.findOneAndUpdate(
      { _id: record._id, status: record.status },
      { $set: { holds, status } },
      { returnDocument: 'after', session, projection: WITHOUT_CONTENT },
    ).lean<RecordMeta>();
    if (!updated) throw conflict(`record ${record.archiveNo} was changed meanwhile; try again`);
    await new RecordHistory(svc.connection).append(session, [{ record: updated, change: { action: 'HOLD_RELEASED', actorId: principal.sub, at: now } }]);
    await svc.events.append(session, {
      type: 'RECORD_HOLD_RELEASED',
      subject: subjectOf(updated),
      actor: principal.sub,
      payload: { recordId: hexId(updated), archiveNo: updated.archiveNo, reason: released.reason, placedBy: released.placedBy, placedAt: released.placedAt.toISOString(), holds: holds.length, status },
      occurredAt: now,
    });
    result = updated;
  });
  return result!;
}

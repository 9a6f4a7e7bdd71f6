// Reading a record's content: the only way it leaves the archive, and never without its access-log entry.
import { conflict, forbidden, notFound } from '../../../platform/graphql.ts';
import { type Principal, type Role, hasAnyRole } from '../../../platform/identity.ts';
import { toObjectId } from '../../../platform/ids.ts';
import type { ArchiveRecordDoc } from '../models.ts';
import { AccessLog, type AccessLogEntryDoc } from './access-log.ts';
import { activeLoanOf } from './borrowing.ts';
import { TEXT_FIELDS, requiredText } from '../../../platform/text-policy.ts';
import { type RecordMeta, hexId } from './records.ts';
import { type LifecycleServices, nowOf, todayOf } from './services.ts';
import { recordsTransaction } from '../history.ts';

/**
 * Roles that read any record's content (docs/domain.md: finance, archive and audit roles). The permission model
 * has no rule for it: Mutation.readArchiveContent is open to any caller, since a borrower reads too.
 */
export const CONTENT_READERS: readonly Role[] = ['ARCHIVIST', 'AUDITOR', 'ACCOUNTANT', 'FINANCE_DIRECTOR'];

export interface RecordContent {
  record: RecordMeta;
  content: string;
  mediaType: string;
  contentDigest: string;
  entry: AccessLogEntryDoc;
}

/**
 * The only way to obtain a record's content. Allowed for the finance, archive and audit roles, and for the
 * borrower of an active loan of the record (on loan, within its period). Every read is logged with its purpose,
 * in the same transaction that reads the content: no content leaves without its log entry.
 */
export async function readContent(svc: LifecycleServices, principal: Principal, recordId: string, purpose: string): Promise<RecordContent> {
  const why = requiredText(purpose, 'purpose', TEXT_FIELDS.purpose);
  const now = nowOf(svc);
  const byRole = hasAnyRole(principal, CONTENT_READERS);
  // Authorisation first, so an unrelated caller learns nothing about the record.
  let loanId: string | null = null;
  if (!byRole) {
    const loan = principal.kind === 'user' ? await activeLoanOf(svc, principal.sub, recordId, todayOf(svc, now)) : null;
    if (!loan) throw forbidden('Record content is for ARCHIVIST, AUDITOR, ACCOUNTANT, FINANCE_DIRECTOR, or the borrower during an active loan');
    loanId = hexId(loan);
  }
  const log = new AccessLog(svc.connection);
  let result: RecordContent | undefined;
  await recordsTransaction(svc.connection, async (session) => {
    result = undefined;
    const id = toObjectId(recordId);
    const record = id ? await svc.models.ArchiveRecord.findById(id, null, { session }).lean<ArchiveRecordDoc>() : null;
    if (!record) throw notFound('Archive record');
    if (record.status === 'DESTROYED' || record.content === null) throw conflict(`record ${record.archiveNo} was destroyed: it has no content`);
    // The loan is checked again in the transaction: returned meanwhile, it no longer opens the content.
    if (loanId !== null && (record.status !== 'BORROWED' || !(await activeLoanOf(svc, principal.sub, recordId, todayOf(svc, now), session)))) {
      throw forbidden(`record ${record.archiveNo} is not on loan to you`);
    }
    const entry = await log.append(session, {
      actorId: principal.sub,
      actorRoles: principal.roles,
      action: 'READ_CONTENT',
      recordId: hexId(record),
      archiveNo: record.archiveNo,
      purpose: why,
      loanId,
      at: now,
    });
    const { content, ...meta } = record;
    result = { record: meta, content, mediaType: record.mediaType, contentDigest: record.contentDigest, entry };
  });
  return result!;
}

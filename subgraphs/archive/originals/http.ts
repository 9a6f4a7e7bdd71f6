// GET /internal/archive-files/<id> in the archive process: where the gateway (gateway/archive-files.ts) fetches an
// original document for a caller it has authenticated. Signed like every internal call (platform/identity.ts), for
// the audience `archive-files` (a token minted for a download never passes for a GraphQL request), with the caller
// as principal. Authorised here, as record content is (../lifecycle/content.ts): ARCHIVIST and AUDITOR, and the
// borrower of an active loan of a record the file belongs to. Every download (200 or 206) is an entry of the access
// log (READ_CONTENT, the file named in its purpose), written before the first byte leaves.
//
// Existence does not leak: a caller who may not read originals at all gets the same 403 whether or not the file
// exists; ARCHIVIST and AUDITOR get 404 for a file that does not exist (or whose records are all destroyed).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { errorBody, json } from '../../../platform/apollo-http.ts';
import { CLOCK_SKEW_SECONDS, INTERNAL_IDENTITY_HEADER, IdentityError, type Principal, type ReplayCache, type Role, UNAUTHENTICATED_BODY, hasAnyRole, verifyToken } from '../../../platform/identity.ts';
import type { Logger } from '../../../platform/logger.ts';
import type { ArchiveServices } from '../context.ts';
import { recordsTransaction } from '../history.ts';
import type { ArchiveRecordDoc } from '../models.ts';
import { AccessLog } from '../lifecycle/access-log.ts';
import { activeLoanOf } from '../lifecycle/borrowing.ts';
import { nowOf, todayOf } from '../lifecycle/services.ts';
import { ArchiveFiles } from './store.ts';
import { contentDisposition, parseRange } from './range.ts';

export const ARCHIVE_FILES_PATH = '/internal/archive-files/';
/** The identity audience of downloads (never `archive`: see above). */
export const ARCHIVE_FILES_AUDIENCE = 'archive-files';
/** Who downloads any original (issue 17 §5); others only as borrowers. */
export const FILE_READERS: readonly Role[] = ['ARCHIVIST', 'AUDITOR'];

const FORBIDDEN_MESSAGE = 'Original documents are for ARCHIVIST, AUDITOR, or the borrower during an active loan of their record';

export interface ArchiveFilesRouteOptions {
  services: ArchiveServices;
  secret: string;
  logger: Logger;
  replay: ReplayCache;
  clock?: () => number;
}

type Holder = Pick<ArchiveRecordDoc, '_id' | 'archiveNo' | 'status' | 'files'>;

/** The record through which the caller may read the file, and the loan that opens it (null by role); null: refused. */
async function openingRecord(svc: ArchiveServices, principal: Principal, holders: readonly Holder[]): Promise<{ record: Holder; loanId: string | null } | null> {
  if (hasAnyRole(principal, FILE_READERS)) return holders[0] ? { record: holders[0], loanId: null } : null;
  if (principal.kind !== 'user') return null;
  const day = todayOf(svc, nowOf(svc));
  for (const record of holders) {
    if (record.status !== 'BORROWED') continue;
    const loan = await activeLoanOf(svc, principal.sub, record._id.toHexString(), day);
    if (loan) return { record, loanId: String(loan._id) };
  }
  return null;
}

export function archiveFilesRoute(opts: ArchiveFilesRouteOptions): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const clock = opts.clock ?? Date.now;
  const store = new ArchiveFiles(opts.services.connection);
  const log = new AccessLog(opts.services.connection);
  return async (req, res) => {
    const path = (req.url ?? '').split('?', 1)[0];
    if (!path.startsWith(ARCHIVE_FILES_PATH)) return false;
    if (req.method !== 'GET') {
      res.setHeader('allow', 'GET');
      json(res, 405, errorBody('Original documents are read with GET', 'METHOD_NOT_ALLOWED'));
      return true;
    }
    let principal: Principal;
    try {
      const token = req.headers[INTERNAL_IDENTITY_HEADER];
      if (typeof token !== 'string' || token === '') throw new IdentityError('missing');
      const identity = await verifyToken(token, opts.secret, { audience: ARCHIVE_FILES_AUDIENCE, method: 'GET' }, clock());
      const outcome = opts.replay.consume(identity.jti, identity.exp + CLOCK_SKEW_SECONDS, Math.floor(clock() / 1000));
      if (outcome !== 'ok') throw new IdentityError(outcome === 'replayed' ? 'replayed' : 'replay cache full');
      principal = identity.principal;
    } catch (err) {
      if (!(err instanceof IdentityError)) throw err;
      opts.logger.debug({ reason: err.reason, audience: ARCHIVE_FILES_AUDIENCE }, 'internal identity refused');
      res.writeHead(401, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
      res.end(UNAUTHENTICATED_BODY);
      return true;
    }
    const id = path.slice(ARCHIVE_FILES_PATH.length).toLowerCase();
    const privileged = hasAnyRole(principal, FILE_READERS);
    const notThere = () => (privileged ? json(res, 404, errorBody('No such archived file', 'NOT_FOUND')) : json(res, 403, errorBody(FORBIDDEN_MESSAGE, 'FORBIDDEN')));
    if (!/^[0-9a-f]{24}$/.test(id)) return notThere(), true;
    const svc = opts.services;
    // The records whose manifests list the copy (one, unless two claims brought the same bytes); destroyed ones open nothing.
    const holders = await svc.models.ArchiveRecord.find({ 'files.fileId': id, status: { $ne: 'DESTROYED' } }, { archiveNo: 1, status: 1, files: 1 }).sort({ chainSeq: 1 }).lean<Holder[]>();
    const opening = await openingRecord(svc, principal, holders);
    if (!opening) return notThere(), true;
    const file = await store.byId(id);
    const entry = opening.record.files?.find((f) => f.fileId === id);
    if (!file || !entry) {
      opts.logger.error({ fileId: id, archiveNo: opening.record.archiveNo }, 'an archived original listed in a manifest is missing from archive_files');
      json(res, 404, errorBody('No such archived file', 'NOT_FOUND'));
      return true;
    }
    const size = file.length;
    const range = parseRange(req.headers.range, size);
    if (range === 'unsatisfiable') {
      res.writeHead(416, { 'content-range': `bytes */${size}`, 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
      res.end(JSON.stringify(errorBody(`The range is outside the file's ${size} bytes`, 'RANGE_NOT_SATISFIABLE')));
      return true;
    }
    const url = new URL(req.url ?? '/', 'http://archive');
    const stated = (url.searchParams.get('purpose') ?? '').replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, 200);
    const part = range ? ` bytes ${range.start}-${range.end}` : '';
    // The log entry is committed before any byte is sent: no original leaves without it.
    await recordsTransaction(svc.connection, async (session) => {
      await log.append(session, {
        actorId: principal.sub,
        actorRoles: principal.roles,
        action: 'READ_CONTENT',
        recordId: opening.record._id.toHexString(),
        archiveNo: opening.record.archiveNo,
        purpose: `download of original ${entry.name} (${id})${part}${stated ? `: ${stated}` : ''}`,
        loanId: opening.loanId,
        at: nowOf(svc),
      });
    });
    const headers: Record<string, string> = {
      'content-type': entry.mediaType,
      'content-disposition': contentDisposition(entry.name),
      etag: `"${entry.sha256}"`,
      'accept-ranges': 'bytes',
      'cache-control': 'private, no-store',
      'x-content-type-options': 'nosniff',
    };
    if (range) {
      res.writeHead(206, { ...headers, 'content-range': `bytes ${range.start}-${range.end}/${size}`, 'content-length': String(range.end - range.start + 1) });
    } else {
      res.writeHead(200, { ...headers, 'content-length': String(size) });
    }
    await pipeline(store.stream(file, range ?? undefined), res).catch((err) => opts.logger.warn({ err: { message: (err as Error).message }, fileId: id }, 'an archived original download ended early'));
    return true;
  };
}

// POST /internal/files in the oa process: where the gateway (gateway/files.ts) streams an upload it has
// authenticated, size-checked and sniffed. Signed like every internal call (platform/identity.ts), but for the
// audience `oa-files`, so that a token minted for a file can never pass for a GraphQL request, and streamed: the
// token carries the file's digest, checked against the bytes as they are stored (./store.ts), not before.
//
// Headers: x-internal-identity; content-length (required); x-file-type (one of ATTACHMENT_MEDIA_TYPES);
// x-file-name (percent-encoded UTF-8). Answers 201 { id, filename, mediaType, size, sha256, uploadedAt, invoice,
// structure, verification }; 401 for any identity failure; 403 when the uploader is not an employee; 400/411/413/415
// for a malformed request; 429 (Retry-After) past the uploader's quota of uploads no claim references yet. An XML, OFD or PDF is inspected once stored (../invoices/inspect.ts) and a parsed invoice
// verified before the answer; a file that fails its check is stored all the same, marked (docs/api.md#electronic-invoices).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorBody, json } from '../../../platform/apollo-http.ts';
import { CLOCK_SKEW_SECONDS, INTERNAL_IDENTITY_HEADER, IdentityError, ReplayCache, UNAUTHENTICATED_BODY, verifyToken } from '../../../platform/identity.ts';
import { toObjectId } from '../../../platform/ids.ts';
import type { Logger } from '../../../platform/logger.ts';
import { formatMoney } from '../../../platform/money.ts';
import type { OaModels } from '../models.ts';
import type { Inspection } from '../invoices/inspect.ts';
import { inspectStored } from './inspection.ts';
import type { InvoiceVerifier } from '../invoices/verifier.ts';
import { ATTACHMENT_MEDIA_TYPES, type AttachmentStore, DigestMismatchError, isAttachmentMediaType } from './store.ts';

export const FILES_PATH = '/internal/files';
/** The identity audience of file uploads (never `oa`: see above). */
export const FILES_AUDIENCE = 'oa-files';

export interface FilesRouteOptions {
  store: AttachmentStore;
  models: Pick<OaModels, 'Employee'>;
  secret: string;
  logger: Logger;
  /** Shared with the subgraph's GraphQL guard: one memory of used token ids per process. */
  replay: ReplayCache;
  /** Asks the verification interface about a parsed invoice (INVOICE_VERIFIER_URL). */
  verifier: InvoiceVerifier;
  clock?: () => number;
}

/** What the upload answer shows of an inspection: the invoice's key facts, not its parties or lines (GraphQL has those). */
function inspectionAnswer(found: Inspection): Record<string, unknown> {
  const { invoice, structure, verification } = found;
  return {
    invoice: invoice && { number: invoice.invoiceNumber, issueDate: invoice.issueDate, total: formatMoney(invoice.totalFen) },
    structure,
    verification: verification && { status: verification.status, reason: verification.reason, checkedAt: verification.checkedAt.toISOString() },
  };
}

function refuse(req: IncomingMessage, res: ServerResponse, status: number, message: string, code: string): true {
  // The rest of the body is not read: the connection closes after the answer.
  res.setHeader('connection', 'close');
  json(res, status, errorBody(message, code));
  req.resume();
  return true;
}

function decodeName(header: string | string[] | undefined): string {
  if (typeof header !== 'string') return '';
  try {
    return decodeURIComponent(header);
  } catch {
    return '';
  }
}

export function filesRoute(opts: FilesRouteOptions): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const clock = opts.clock ?? Date.now;
  return async (req, res) => {
    if ((req.url ?? '').split('?', 1)[0] !== FILES_PATH) return false;
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return refuse(req, res, 405, 'Files are uploaded with POST', 'METHOD_NOT_ALLOWED');
    }
    const token = req.headers[INTERNAL_IDENTITY_HEADER];
    let identity;
    try {
      if (typeof token !== 'string' || token === '') throw new IdentityError('missing');
      identity = await verifyToken(token, opts.secret, { audience: FILES_AUDIENCE, method: 'POST' }, clock());
      // Used once, like every internal token; the body's digest is checked while it is stored.
      const outcome = opts.replay.consume(identity.jti, identity.exp + CLOCK_SKEW_SECONDS, Math.floor(clock() / 1000));
      if (outcome !== 'ok') throw new IdentityError(outcome === 'replayed' ? 'replayed' : 'replay cache full');
    } catch (err) {
      if (!(err instanceof IdentityError)) throw err;
      opts.logger.debug({ reason: err.reason, audience: FILES_AUDIENCE }, 'internal identity refused');
      res.writeHead(401, { 'content-type': 'application/json; charset=utf-8', connection: 'close', 'cache-control': 'no-store' });
      res.end(UNAUTHENTICATED_BODY);
      req.resume();
      return true;
    }
    const { principal } = identity;
    const employee = principal.kind === 'user' && toObjectId(principal.sub) ? await opts.models.Employee.exists({ _id: principal.sub }) : null;
    if (!employee) return refuse(req, res, 403, 'Only employees upload attachments', 'FORBIDDEN');
    const size = Number(req.headers['content-length']);
    if (!Number.isSafeInteger(size) || size < 1) return refuse(req, res, 411, 'Content-Length is required and must be positive', 'BAD_REQUEST');
    if (size > opts.store.settings.fileMaxBytes) return refuse(req, res, 413, `A file holds at most ${opts.store.settings.fileMaxBytes} bytes`, 'PAYLOAD_TOO_LARGE');
    const mediaType = req.headers['x-file-type'];
    if (!isAttachmentMediaType(mediaType)) return refuse(req, res, 415, `Accepted types: ${ATTACHMENT_MEDIA_TYPES.join(', ')}`, 'UNSUPPORTED_MEDIA_TYPE');
    // One account cannot fill the disk with uploads it never attaches: they count until a claim takes them or they
    // expire. Two uploads at once may both pass the check; the excess is bounded by a file each.
    const pending = await opts.store.pendingOf(principal.sub);
    const { pendingMaxFiles, pendingMaxBytes } = opts.store.settings;
    if (pending.files + 1 > pendingMaxFiles || pending.bytes + size > pendingMaxBytes) {
      const retryAfter = pending.firstExpiry ? Math.max(1, Math.ceil((pending.firstExpiry.getTime() - clock()) / 1000)) : 60;
      res.setHeader('retry-after', String(retryAfter));
      const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
      return refuse(
        req,
        res,
        429,
        `You hold ${pending.files} uploads (${mib(pending.bytes)}) that no claim references; at most ${pendingMaxFiles} files and ${mib(pendingMaxBytes)}. Attach them to a claim, or wait until they expire (the first in ${retryAfter} s)`,
        'UPLOAD_QUOTA_EXCEEDED',
      );
    }
    try {
      const saved = await opts.store.save(req, { ownerId: principal.sub, filename: decodeName(req.headers['x-file-name']), mediaType, size, digest: identity.bodyHash });
      const found = await inspectStored(opts.store, saved.id, mediaType, opts.verifier);
      opts.logger.info(
        { attachment: saved.id, mediaType, size, owner: principal.sub, structureOk: found.structure?.ok, invoice: found.invoice?.invoiceNumber, verification: found.verification?.status },
        'attachment uploaded',
      );
      const { id, filename, sha256, uploadedAt } = saved;
      json(res, 201, { id, filename, mediaType: saved.mediaType, size: saved.size, sha256, uploadedAt: uploadedAt.toISOString(), ...inspectionAnswer(found) });
    } catch (err) {
      if (!(err instanceof DigestMismatchError)) throw err;
      opts.logger.warn({ owner: principal.sub, size }, 'upload refused: its bytes are not the bytes signed');
      res.writeHead(401, { 'content-type': 'application/json; charset=utf-8', connection: 'close', 'cache-control': 'no-store' });
      res.end(UNAUTHENTICATED_BODY);
    }
    return true;
  };
}

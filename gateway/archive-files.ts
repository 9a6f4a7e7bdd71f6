// GET /archive/files/<id>: downloads of archived original documents (issue 17 §5; docs/api.md#original-documents).
// Authenticated as POST /graphql is (gateway/auth.ts, Bearer JWT or API key), then forwarded to the archive
// subgraph's GET /internal/archive-files/<id> (subgraphs/archive/originals/http.ts) under an internal identity of
// audience `archive-files` carrying the caller: the archive authorises (ARCHIVIST, AUDITOR, a borrower during an
// active loan), logs the download in its access log and streams the bytes, which pass through here unbuffered. A
// single Range is passed on (206, or 416); the optional `purpose` query parameter goes into the log entry.
import { type IncomingMessage, type ServerResponse, request as httpRequest } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { errorBody, json } from '../platform/apollo-http.ts';
import { type Principal, identityHeaders } from '../platform/identity.ts';
import type { Logger } from '../platform/logger.ts';
import type { AuditRecorder } from './audit.ts';
import { identityOf } from './auth.ts';
import { refuseAuthentication } from './auth-http.ts';

const ROUTE = /^\/archive\/files\/([^/]+)$/;
/** The archive's answer headers passed on to the client. */
const PASSED = ['content-type', 'content-length', 'content-disposition', 'content-range', 'etag', 'accept-ranges', 'cache-control', 'x-content-type-options'];

export interface ArchiveFilesRouteOptions {
  /** The archive subgraph's GraphQL URL; downloads come from /internal/archive-files/ on the same origin. */
  archiveUrl: string;
  internalSecret: string;
  authenticate: (authorization: string | undefined) => Promise<Principal>;
  logger: Logger;
  audit?: AuditRecorder;
  timeoutMs: number;
}

export function archiveFilesRoute(opts: ArchiveFilesRouteOptions): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  return async (req, res) => {
    const [path, query = ''] = (req.url ?? '').split('?', 2);
    const match = ROUTE.exec(path);
    if (!match) return false;
    if (req.method !== 'GET') {
      res.setHeader('allow', 'GET');
      json(res, 405, errorBody(`Archived files are downloaded with GET, not ${req.method ?? '?'}`, 'METHOD_NOT_ALLOWED'));
      return true;
    }
    const startedAt = Date.now();
    let principal: Principal;
    try {
      principal = identityOf(await opts.authenticate(typeof req.headers.authorization === 'string' ? req.headers.authorization : undefined));
    } catch (err) {
      refuseAuthentication(req, res, err, startedAt, opts);
      return true;
    }
    const purpose = new URLSearchParams(query).get('purpose');
    const url = new URL(`/internal/archive-files/${encodeURIComponent(match[1])}`, opts.archiveUrl);
    if (purpose) url.searchParams.set('purpose', purpose);
    const headers = await identityHeaders(principal, opts.internalSecret, { audience: 'archive-files', method: 'GET' });
    const range = typeof req.headers.range === 'string' ? { range: req.headers.range } : {};
    await new Promise<void>((resolve) => {
      const out = httpRequest(url, { method: 'GET', timeout: opts.timeoutMs, headers: { ...headers, ...range } });
      out.on('timeout', () => out.destroy(new Error('the archive did not answer in time')));
      out.on('error', (err) => {
        opts.logger.error({ err: { message: err.message } }, 'the archive could not be reached for a download');
        if (!res.headersSent) json(res, 502, errorBody('The file could not be read; try again', 'INTERNAL_SERVER_ERROR'));
        else res.destroy();
        resolve();
      });
      out.on('response', (answer) => {
        // Past the answer's headers, a timeout only guards a stalled transfer, not a long one.
        out.setTimeout(0);
        const passed: Record<string, string> = {};
        for (const name of PASSED) {
          const value = answer.headers[name];
          if (typeof value === 'string') passed[name] = value;
        }
        res.writeHead(answer.statusCode ?? 502, passed);
        pipeline(answer, res).then(resolve, (err: Error) => {
          opts.logger.warn({ err: { message: err.message } }, 'an archived file download ended early');
          resolve();
        });
      });
      out.end();
    });
    return true;
  };
}

// A GET the gateway authenticates and the archive answers as a stream (GET /archive/files/<id>, archive-files.ts;
// GET /archive/packages/<year>.zip, archive-packages.ts): authenticated as POST /graphql is (gateway/auth.ts), then
// forwarded to one of the archive subgraph's internal routes under an internal identity of that route's own audience
// carrying the caller. The archive authorises and logs; its answer passes through here unbuffered.
import { type IncomingMessage, type ServerResponse, request as httpRequest } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { errorBody, json } from '../platform/apollo-http.ts';
import { type Principal, identityHeaders } from '../platform/identity.ts';
import type { Logger } from '../platform/logger.ts';
import type { AuditRecorder } from './audit.ts';
import { authenticatedCaller } from './auth-http.ts';

export interface ArchiveDownloadOptions {
  /** The archive subgraph's GraphQL URL; the internal route is on the same origin. */
  archiveUrl: string;
  internalSecret: string;
  authenticate: (authorization: string | undefined) => Promise<Principal>;
  logger: Logger;
  audit?: AuditRecorder;
  timeoutMs: number;
}

export interface ArchiveDownload {
  /** The public path; its first group is the part passed on. */
  route: RegExp;
  /** The archive's internal path for that part. */
  internalPath(part: string): string;
  /** The identity's audience: the internal route accepts only its own. */
  audience: string;
  /** Query parameters passed on, by name. */
  params: readonly string[];
  /** Request headers passed on (e.g. range). */
  requestHeaders?: readonly string[];
  /** Answer headers passed on to the client. */
  answerHeaders: readonly string[];
  /** For messages: "Archived files are downloaded", "the archive could not be reached for a download"… */
  words: { method: string; unreachable: string; refusal: string; endedEarly: string };
  /** Called once the answer is sent (its status), or ended early (499). */
  done?(principal: Principal, req: IncomingMessage, status: number, startedAt: number): void;
}

export function archiveDownloadRoute(opts: ArchiveDownloadOptions, route: ArchiveDownload): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  return async (req, res) => {
    const [path, query = ''] = (req.url ?? '').split('?', 2);
    const match = route.route.exec(path);
    if (!match) return false;
    if (req.method !== 'GET') {
      res.setHeader('allow', 'GET');
      json(res, 405, errorBody(`${route.words.method} with GET, not ${req.method ?? '?'}`, 'METHOD_NOT_ALLOWED'));
      return true;
    }
    const startedAt = Date.now();
    const principal = await authenticatedCaller(req, res, startedAt, opts);
    if (!principal) return true;
    const url = new URL(route.internalPath(encodeURIComponent(match[1]!)), opts.archiveUrl);
    const search = new URLSearchParams(query);
    for (const name of route.params) {
      const value = search.get(name);
      if (value !== null) url.searchParams.set(name, value);
    }
    const headers: Record<string, string> = await identityHeaders(principal, opts.internalSecret, { audience: route.audience, method: 'GET' });
    for (const name of route.requestHeaders ?? []) {
      const value = req.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    await new Promise<void>((resolve) => {
      const out = httpRequest(url, { method: 'GET', timeout: opts.timeoutMs, headers });
      out.on('timeout', () => out.destroy(new Error('the archive did not answer in time')));
      out.on('error', (err) => {
        opts.logger.error({ err: { message: err.message } }, route.words.unreachable);
        if (!res.headersSent) json(res, 502, errorBody(route.words.refusal, 'INTERNAL_SERVER_ERROR'));
        else res.destroy();
        resolve();
      });
      out.on('response', (answer) => {
        // Past the answer's headers, a timeout only guards a stalled transfer, not a long one.
        out.setTimeout(0);
        const passed: Record<string, string> = {};
        for (const name of route.answerHeaders) {
          const value = answer.headers[name];
          if (typeof value === 'string') passed[name] = value;
        }
        const status = answer.statusCode ?? 502;
        res.writeHead(status, passed);
        pipeline(answer, res).then(
          () => {
            route.done?.(principal, req, status, startedAt);
            resolve();
          },
          (err: Error) => {
            opts.logger.warn({ err: { message: err.message } }, route.words.endedEarly);
            route.done?.(principal, req, 499, startedAt);
            resolve();
          },
        );
      });
      out.end();
    });
    return true;
  };
}

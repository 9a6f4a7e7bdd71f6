// GET /archive/packages/<fiscalYear>.zip[?category=PZ|ZB|BG|QT]: handover packages of the archive (issue 17 §6;
// docs/api.md#handover-packages). Authenticated as POST /graphql is (gateway/auth.ts), then forwarded to the
// archive subgraph's GET /internal/archive-packages/<fiscalYear>.zip (subgraphs/archive/handover/http.ts) under an
// internal identity of audience `archive-packages` carrying the caller: the archive authorises (ARCHIVIST), logs
// every record in its access log and streams the ZIP, which passes through here unbuffered. Each export is an entry
// of the audit trail (`export archivePackage`, its outcome the archive's status).
import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type ServerResponse, request as httpRequest } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { errorBody, json } from '../platform/apollo-http.ts';
import { type Principal, identityHeaders } from '../platform/identity.ts';
import type { Logger } from '../platform/logger.ts';
import type { AuditRecorder } from './audit.ts';
import { identityOf } from './auth.ts';
import { refuseAuthentication } from './auth-http.ts';

const ROUTE = /^\/archive\/packages\/([^/]+)$/;
const PASSED = ['content-type', 'content-disposition', 'cache-control', 'x-content-type-options'];
const OUTCOME: Readonly<Record<number, string>> = { 200: 'OK', 400: 'BAD_USER_INPUT', 401: 'UNAUTHENTICATED', 403: 'FORBIDDEN' };

export interface ArchivePackagesRouteOptions {
  /** The archive subgraph's GraphQL URL; packages come from /internal/archive-packages/ on the same origin. */
  archiveUrl: string;
  internalSecret: string;
  authenticate: (authorization: string | undefined) => Promise<Principal>;
  logger: Logger;
  audit?: AuditRecorder;
  timeoutMs: number;
}

export function archivePackagesRoute(opts: ArchivePackagesRouteOptions): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  return async (req, res) => {
    const [path, query = ''] = (req.url ?? '').split('?', 2);
    const match = ROUTE.exec(path);
    if (!match) return false;
    if (req.method !== 'GET') {
      res.setHeader('allow', 'GET');
      json(res, 405, errorBody(`Handover packages are exported with GET, not ${req.method ?? '?'}`, 'METHOD_NOT_ALLOWED'));
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
    const url = new URL(`/internal/archive-packages/${encodeURIComponent(match[1])}`, opts.archiveUrl);
    const category = new URLSearchParams(query).get('category');
    if (category !== null) url.searchParams.set('category', category);
    const headers = await identityHeaders(principal, opts.internalSecret, { audience: 'archive-packages', method: 'GET' });
    const audited = (status: number) =>
      opts.audit?.record({ at: new Date(startedAt).toISOString(), actor: principal.sub, roles: [...principal.roles], address: opts.audit.addressOf(req), action: 'export archivePackage', operationName: null, outcome: OUTCOME[status] ?? `HTTP_${status}`, durationMs: Date.now() - startedAt, requestId: randomUUID() });
    await new Promise<void>((resolve) => {
      const out = httpRequest(url, { method: 'GET', timeout: opts.timeoutMs, headers });
      out.on('timeout', () => out.destroy(new Error('the archive did not answer in time')));
      out.on('error', (err) => {
        opts.logger.error({ err: { message: err.message } }, 'the archive could not be reached for a handover package');
        if (!res.headersSent) json(res, 502, errorBody('The package could not be exported; try again', 'INTERNAL_SERVER_ERROR'));
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
        const status = answer.statusCode ?? 502;
        res.writeHead(status, passed);
        pipeline(answer, res).then(
          () => {
            audited(status);
            resolve();
          },
          (err: Error) => {
            opts.logger.warn({ err: { message: err.message } }, 'a handover package download ended early');
            audited(499);
            resolve();
          },
        );
      });
      out.end();
    });
    return true;
  };
}

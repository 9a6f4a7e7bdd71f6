// GET /internal/archive-packages/<fiscalYear>.zip[?category=PZ|ZB|BG|QT] in the archive process: the handover
// package of a fiscal year (./package.ts), for the gateway's GET /archive/packages/<fiscalYear>.zip
// (gateway/archive-packages.ts). Signed like every internal call (platform/identity.ts), for its own audience
// `archive-packages`, with the caller as principal. ARCHIVIST only: handing records over (移交) is the archives
// department's act (会计档案管理办法 §24: the handing-over unit draws up the list and hands over); AUDITOR reads records
// and originals but does not hand them over. A year without records gives an empty, valid package.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { errorBody, json } from '../../../platform/apollo-http.ts';
import { CLOCK_SKEW_SECONDS, INTERNAL_IDENTITY_HEADER, IdentityError, type Principal, type ReplayCache, type Role, UNAUTHENTICATED_BODY, hasAnyRole, verifyToken } from '../../../platform/identity.ts';
import type { Logger } from '../../../platform/logger.ts';
import type { ArchiveServices } from '../context.ts';
import type { CategoryCode } from '../retention.ts';
import { writePackage } from './package.ts';

export const ARCHIVE_PACKAGES_PATH = '/internal/archive-packages/';
export const ARCHIVE_PACKAGES_AUDIENCE = 'archive-packages';
export const PACKAGE_EXPORTERS: readonly Role[] = ['ARCHIVIST'];
const CATEGORIES: readonly CategoryCode[] = ['PZ', 'ZB', 'BG', 'QT'];

export interface ArchivePackagesRouteOptions {
  services: ArchiveServices;
  secret: string;
  logger: Logger;
  replay: ReplayCache;
  clock?: () => number;
}

export function archivePackagesRoute(opts: ArchivePackagesRouteOptions): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const clock = opts.clock ?? Date.now;
  return async (req, res) => {
    const [path, query = ''] = (req.url ?? '').split('?', 2);
    if (!path.startsWith(ARCHIVE_PACKAGES_PATH)) return false;
    if (req.method !== 'GET') {
      res.setHeader('allow', 'GET');
      json(res, 405, errorBody('Handover packages are exported with GET', 'METHOD_NOT_ALLOWED'));
      return true;
    }
    let principal: Principal;
    try {
      const token = req.headers[INTERNAL_IDENTITY_HEADER];
      if (typeof token !== 'string' || token === '') throw new IdentityError('missing');
      const identity = await verifyToken(token, opts.secret, { audience: ARCHIVE_PACKAGES_AUDIENCE, method: 'GET' }, clock());
      const outcome = opts.replay.consume(identity.jti, identity.exp + CLOCK_SKEW_SECONDS, Math.floor(clock() / 1000));
      if (outcome !== 'ok') throw new IdentityError(outcome === 'replayed' ? 'replayed' : 'replay cache full');
      principal = identity.principal;
    } catch (err) {
      if (!(err instanceof IdentityError)) throw err;
      opts.logger.debug({ reason: err.reason, audience: ARCHIVE_PACKAGES_AUDIENCE }, 'internal identity refused');
      res.writeHead(401, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
      res.end(UNAUTHENTICATED_BODY);
      return true;
    }
    if (!hasAnyRole(principal, PACKAGE_EXPORTERS)) {
      json(res, 403, errorBody('Handover packages are exported by ARCHIVIST', 'FORBIDDEN'));
      return true;
    }
    const year = /^(\d{4})\.zip$/.exec(path.slice(ARCHIVE_PACKAGES_PATH.length));
    if (!year || Number(year[1]) < 1900) {
      json(res, 400, errorBody('fiscalYear: the path is /archive/packages/<fiscalYear>.zip with a four-digit year from 1900', 'BAD_USER_INPUT'));
      return true;
    }
    const params = new URLSearchParams(query);
    const category = params.get('category');
    if (category !== null && !CATEGORIES.includes(category as CategoryCode)) {
      json(res, 400, errorBody(`category: one of ${CATEGORIES.join(', ')}`, 'BAD_USER_INPUT'));
      return true;
    }
    const fiscalYear = Number(year[1]);
    const { stream, done } = writePackage(opts.services, { fiscalYear, category: (category as CategoryCode | null) ?? null, principal });
    res.writeHead(200, {
      'content-type': 'application/zip',
      'content-disposition': `attachment; filename="archive-${fiscalYear}${category ? `-${category}` : ''}.zip"`,
      'cache-control': 'private, no-store',
      'x-content-type-options': 'nosniff',
    });
    // A failure midway cuts the answer (no end of central directory): the ZIP is unreadable, never silently short.
    done.then(
      (summary) => opts.logger.info({ fiscalYear, category, actor: principal.sub, ...summary }, 'handover package exported'),
      (err: Error) => opts.logger.error({ err: { message: err.message }, fiscalYear, category }, 'a handover package export failed'),
    );
    await pipeline(stream, res).catch((err: Error) => {
      opts.logger.warn({ err: { message: err.message }, fiscalYear }, 'a handover package download ended early');
      res.destroy();
    });
    return true;
  };
}

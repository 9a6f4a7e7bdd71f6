// GET /archive/packages/<fiscalYear>.zip[?category=PZ|ZB|BG|QT]: handover packages of the archive (issue 17 §6;
// docs/api.md#handover-packages). Authenticated as POST /graphql is (gateway/auth.ts), then forwarded to the
// archive subgraph's GET /internal/archive-packages/<fiscalYear>.zip (subgraphs/archive/handover/http.ts) under an
// internal identity of audience `archive-packages` carrying the caller (archive-download.ts): the archive
// authorises (ARCHIVIST), logs every record in its access log and streams the ZIP, which passes through here
// unbuffered. Each export is an entry of the audit trail (`export archivePackage`, its outcome the archive's status).
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type ArchiveDownloadOptions, archiveDownloadRoute } from './archive-download.ts';
import { outcomeOfStatus } from './audit.ts';


export type ArchivePackagesRouteOptions = ArchiveDownloadOptions;

export function archivePackagesRoute(opts: ArchivePackagesRouteOptions): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  return archiveDownloadRoute(opts, {
    route: /^\/archive\/packages\/([^/]+)$/,
    internalPath: (file) => `/internal/archive-packages/${file}`,
    audience: 'archive-packages',
    params: ['category'],
    answerHeaders: ['content-type', 'content-disposition', 'cache-control', 'x-content-type-options'],
    words: {
      method: 'Handover packages are exported',
      unreachable: 'the archive could not be reached for a handover package',
      refusal: 'The package could not be exported; try again',
      endedEarly: 'a handover package download ended early',
    },
    done: (principal, req, status, startedAt) =>
      opts.audit?.record({
        at: new Date(startedAt).toISOString(),
        actor: principal.sub,
        roles: [...principal.roles],
        address: opts.audit.addressOf(req),
        action: 'export archivePackage',
        operationName: null,
        outcome: status === 400 ? 'BAD_USER_INPUT' : outcomeOfStatus(status),
        durationMs: Date.now() - startedAt,
        requestId: randomUUID(),
      }),
  });
}

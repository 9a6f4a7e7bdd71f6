// GET /archive/files/<id>: downloads of archived original documents (issue 17 §5; docs/api.md#original-documents).
// Authenticated as POST /graphql is (gateway/auth.ts, Bearer JWT or API key), then forwarded to the archive
// subgraph's GET /internal/archive-files/<id> (subgraphs/archive/originals/http.ts) under an internal identity of
// audience `archive-files` carrying the caller (archive-download.ts): the archive authorises (ARCHIVIST, AUDITOR, a
// borrower during an active loan), logs the download in its access log and streams the bytes, which pass through
// here unbuffered. A single Range is passed on (206, or 416); the optional `purpose` query parameter goes into the
// log entry.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type ArchiveDownloadOptions, archiveDownloadRoute } from './archive-download.ts';

export type ArchiveFilesRouteOptions = ArchiveDownloadOptions;

export function archiveFilesRoute(opts: ArchiveFilesRouteOptions): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  return archiveDownloadRoute(opts, {
    route: /^\/archive\/files\/([^/]+)$/,
    internalPath: (id) => `/internal/archive-files/${id}`,
    audience: 'archive-files',
    params: ['purpose'],
    requestHeaders: ['range'],
    answerHeaders: ['content-type', 'content-length', 'content-disposition', 'content-range', 'etag', 'accept-ranges', 'cache-control', 'x-content-type-options'],
    words: {
      method: 'Archived files are downloaded',
      unreachable: 'the archive could not be reached for a download',
      refusal: 'The file could not be read; try again',
      endedEarly: 'an archived file download ended early',
    },
  });
}

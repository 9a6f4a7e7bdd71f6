// One answer to a failed authentication for the HTTP transports (POST/GET /graphql, SSE, stream tickets): 401, 429
// with Retry-After, or 503 when the check itself failed (logged without the credential, never audited as a refusal).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorBody, json } from '../platform/apollo-http.ts';
import type { Logger } from '../platform/logger.ts';
import type { Principal } from '../platform/identity.ts';
import type { AuditRecorder } from './audit.ts';
import { authFailure, authRefusal, identityOf } from './auth.ts';

export function refuseAuthentication(req: IncomingMessage, res: ServerResponse, err: unknown, startedAt: number, opts: { logger: Logger; audit?: AuditRecorder }): void {
  const r = authRefusal(err);
  if (r.unexpected) opts.logger.error(authFailure(err), 'authentication failed unexpectedly');
  else opts.audit?.refused(req, startedAt);
  if (r.retryAfterSeconds !== undefined) res.setHeader('retry-after', String(r.retryAfterSeconds));
  json(res, r.status, errorBody(r.message, r.code));
}

/**
 * The caller of an HTTP route other than /graphql (CSV reports, uploads, archive downloads), authenticated as
 * POST /graphql is; null once refused (the answer is sent).
 */
export async function authenticatedCaller(
  req: IncomingMessage,
  res: ServerResponse,
  startedAt: number,
  opts: { authenticate: (authorization: string | undefined) => Promise<Principal>; logger: Logger; audit?: AuditRecorder },
): Promise<Principal | null> {
  try {
    return identityOf(await opts.authenticate(typeof req.headers.authorization === 'string' ? req.headers.authorization : undefined));
  } catch (err) {
    refuseAuthentication(req, res, err, startedAt, opts);
    return null;
  }
}

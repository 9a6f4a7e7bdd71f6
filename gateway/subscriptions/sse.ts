// graphql-sse (distinct connections mode) on /graphql/stream: the token in the Authorization header, 401 without
// a valid one. Each event is written only once the previous one has left the response's buffer, so a slow
// reader holds at most one page of events in the gateway. When the token expires the stream sends an
// UNAUTHENTICATED error and completes. The body goes through the intake (../intake.ts) before graphql-sse sees it:
// graphql-sse's own node:http adapter would read a body of any size. Each syncEvents event carries its seq as the
// SSE `id:`, and a request with `Last-Event-ID` (a browser's EventSource reconnecting) resumes after it: the
// header becomes the operation's `$after`. At shutdown streams are cut, not completed: a client reads `complete`
// as "finished" and would not reconnect.
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { OperationTypeNode, getOperationAST } from 'graphql';
import { type Request as SseRequest, createHandler } from 'graphql-sse';
import type { Principal } from '../../platform/identity.ts';
import type { Logger } from '../../platform/logger.ts';
import { errorBody, json } from '../../platform/apollo-http.ts';
import type { AuditRecorder } from '../audit.ts';
import { readWithinLimit } from '../intake.ts';
import { requestDeadline } from '../server.ts';
import { type AuthenticatedPrincipal, type DirectoryLookup, identityOf } from '../auth.ts';
import { refuseAuthentication } from '../auth-http.ts';
import type { OperationRunner } from './operation.ts';
import type { StreamTickets } from './stream-ticket.ts';
import type { SubscriberContext } from './stream.ts';

export interface SseOptions {
  runner: OperationRunner;
  authenticate: (authorization: string | undefined) => Promise<Principal & Partial<Omit<AuthenticatedPrincipal, keyof Principal>>>;
  directory: DirectoryLookup;
  logger: Logger;
  path?: string;
  /** Records refused requests (401), subscription starts and mutations in the audit trail. */
  audit?: AuditRecorder;
  /** Issues and opens stream tickets (POST {path}/ticket; `?ticket=` on the stream), for browsers' EventSource. */
  tickets?: StreamTickets;
}

export type SseRoute = ((req: IncomingMessage, res: ServerResponse) => Promise<boolean>) & {
  /** From now on, streams that end are cut (the gateway is stopping): their clients reconnect elsewhere. */
  shutdown(): void;
};

/** A seq as Last-Event-ID carries it back: the 12 digits this route sent as `id:` (or fewer). */
const LAST_EVENT_ID = /^\d{1,12}$/;

/** `id: <seq>` before a syncEvents result, so EventSource remembers where it was. */
function withEventId(message: string): string {
  const next = /^event: next\ndata: (.*)\n\n$/s.exec(message);
  if (!next) return message;
  let seq: unknown;
  try {
    seq = (JSON.parse(next[1]) as { data?: { syncEvents?: { seq?: unknown } } }).data?.syncEvents?.seq;
  } catch {
    return message;
  }
  return typeof seq === 'string' && LAST_EVENT_ID.test(seq) ? `id: ${seq}\n${message}` : message;
}

export function sseRoute(opts: SseOptions): SseRoute {
  const path = opts.path ?? '/graphql/stream';
  const contexts = new WeakMap<IncomingMessage, SubscriberContext>();
  let stopping = false;
  const handler = createHandler<IncomingMessage, { res: ServerResponse }>({
    // Authentication already happened (below); an empty token means "no reservation": distinct connections.
    authenticate: () => '',
    onSubscribe: async (req, params) => {
      const context = contexts.get(req.raw)!;
      const res = req.context.res;
      const lastEventId = req.raw.headers['last-event-id'];
      const resumeAt = typeof lastEventId === 'string' && LAST_EVENT_ID.test(lastEventId) ? lastEventId.padStart(12, '0') : null;
      const prepared = opts.runner.prepare(resumeAt ? { ...params, variables: { ...(params.variables ?? {}), after: resumeAt } } : params);
      if (!prepared.ok) return [JSON.stringify({ errors: prepared.errors }), { status: 400, statusText: 'Bad Request', headers: { 'content-type': 'application/json; charset=utf-8' } }];
      // GET never changes anything (a link or an image tag can make a browser send one): mutations only over POST.
      if (req.raw.method === 'GET' && getOperationAST(prepared.document, prepared.operationName)?.operation === OperationTypeNode.MUTATION) {
        const body = errorBody('Mutations are not run over GET; send them with POST', 'BAD_REQUEST');
        return [JSON.stringify(body), { status: 405, statusText: 'Method Not Allowed', headers: { allow: 'POST', 'content-type': 'application/json; charset=utf-8' } }];
      }
      const audited = { principal: context.principal, from: req.raw, document: prepared.document, operationName: prepared.operationName, startedAt: Date.now() };
      if (!prepared.subscription) {
        // One request id, as over HTTP: signed into its subgraph calls, and what its audit entry is stored under.
        const origin = { requestId: randomUUID(), clientAddress: opts.audit?.addressOf(req.raw) ?? req.raw.socket.remoteAddress ?? null, operationName: prepared.operationName, deadline: requestDeadline(Date.now()) };
        const result = await opts.runner.executeOnce(prepared, { ...context, origin });
        opts.audit?.operation({ ...audited, errors: result.errors, requestId: origin.requestId });
        // graphql-sse takes an object without `data` for execution arguments, not a result.
        return { data: null, ...result } as never;
      }
      opts.audit?.subscribed(audited);
      const drained = async () => {
        if (res.writableNeedDrain) await Promise.race([once(res, 'drain'), once(res, 'close')]);
      };
      return opts.runner.stream(prepared, context, drained) as never;
    },
  });

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const [urlPath, search] = (req.url ?? '').split('?', 2);
    if (urlPath === `${path}/ticket` && opts.tickets) return issueTicket(req, res, opts.tickets);
    if (urlPath !== path) return false;
    if (req.method !== 'GET' && req.method !== 'POST') {
      // Single-connection mode (PUT reservations) is not offered: every stream is its own authenticated request.
      res.setHeader('allow', 'GET, POST');
      json(res, 405, errorBody('Use GET or POST with Accept: text/event-stream', 'BAD_USER_INPUT'));
      return true;
    }
    const startedAt = Date.now();
    let principal: Principal & Partial<Omit<AuthenticatedPrincipal, keyof Principal>>;
    // A browser's EventSource presents a ticket instead of the header; an unknown or expired one counts as no token.
    const ticket = opts.tickets && typeof req.headers.authorization !== 'string' ? new URLSearchParams(search ?? '').get('ticket') : null;
    const authorization = ticket !== null ? (opts.tickets!.open(ticket) ?? undefined) : typeof req.headers.authorization === 'string' ? req.headers.authorization : undefined;
    try {
      principal = await opts.authenticate(authorization);
    } catch (err) {
      refuseAuthentication(req, res, err, startedAt, opts);
      return true;
    }
    // The intake: a body over the limit is refused (413) before graphql-sse reads anything.
    let body: string | null = null;
    if (req.method === 'POST') {
      const raw = await readWithinLimit(req, res);
      if (!raw) return true;
      body = raw.toString('utf8');
    }
    contexts.set(req, { principal: identityOf(principal), directory: opts.directory, expiresAt: principal.expiresAt, revoked: principal.revoked });
    // An API key stays under watch (revocation ends the stream) while the response is open.
    const release = principal.hold?.();
    if (release) res.once('close', release);
    await respond(req, res, body);
    return true;
  };
  /** POST {path}/ticket with the caller's token: a ticket for one EventSource, valid for a minute. */
  async function issueTicket(req: IncomingMessage, res: ServerResponse, tickets: StreamTickets): Promise<boolean> {
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      json(res, 405, errorBody('Ask for a stream ticket with POST and your token', 'BAD_USER_INPUT'));
      return true;
    }
    const authorization = typeof req.headers.authorization === 'string' ? req.headers.authorization : undefined;
    try {
      await opts.authenticate(authorization);
    } catch (err) {
      refuseAuthentication(req, res, err, Date.now(), opts);
      return true;
    }
    res.setHeader('cache-control', 'no-store');
    json(res, 200, tickets.issue(authorization!));
    return true;
  }

  return Object.assign(route, { shutdown: () => void (stopping = true) });

  /** graphql-sse's node:http adapter (graphql-sse/lib/use/http), with the body already read. */
  async function respond(req: IncomingMessage, res: ServerResponse, body: string | null): Promise<void> {
    const request: SseRequest<IncomingMessage, { res: ServerResponse }> = {
      method: req.method!,
      url: req.url!,
      headers: { get: (key) => (Array.isArray(req.headers[key]) ? (req.headers[key] as string[]).join('\n') : (req.headers[key] as string | undefined)) },
      body,
      raw: req,
      context: { res },
    };
    const [payload, init] = await handler(request);
    res.writeHead(init.status, init.statusText, init.headers as Record<string, string>);
    if (!payload || typeof payload === 'string') {
      await new Promise<void>((resolve) => res.end(payload ?? undefined, () => resolve()));
      return;
    }
    const stop = () => void payload.return?.(undefined);
    res.once('close', stop);
    for await (const value of payload) {
      if (stopping && value.startsWith('event: complete')) {
        // Cut, not completed: the client reconnects (to this gateway's successor) with its Last-Event-ID.
        res.off('close', stop);
        res.destroy();
        return;
      }
      const closed = await new Promise<boolean>((resolve, reject) => {
        if (!res.writable) resolve(true);
        else res.write(withEventId(value), (err) => (err ? reject(err) : resolve(false)));
      });
      if (closed) break;
    }
    res.off('close', stop);
    await new Promise<void>((resolve) => res.end(resolve));
  }
}

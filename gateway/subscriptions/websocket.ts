// graphql-ws on /graphql. The client's token comes in connection_init ({ "authorization": "Bearer …" }, or
// { "token": "…" }); without a valid one the socket closes with 4401. When the token expires the socket closes
// with 4401 "Token expired"; the client reconnects with a fresh token and its cursor set to the last seq it got.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { type FormattedExecutionResult, GraphQLError } from 'graphql';
import { CloseCode } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Principal } from '../../platform/identity.ts';
import type { Logger } from '../../platform/logger.ts';
import type { AuditRecorder } from '../audit.ts';
import { type AuthenticatedPrincipal, type DirectoryLookup, authFailure, authRefusal, identityOf } from '../auth.ts';
import { MAX_BODY_BYTES } from '../intake.ts';
import { requestDeadline } from '../server.ts';
import type { OperationRunner } from './operation.ts';
import type { SubscriberContext } from './stream.ts';

export const TOKEN_EXPIRED = 4401;
/** Close code of a connection refused because its API key is over its rate (as HTTP 429). */
export const RATE_LIMITED = 4429;

const ended = (connection: Connection | undefined): void => {
  clearTimeout(connection?.expiry);
  connection?.release?.();
  connection?.unwatch?.();
};
/** Operations one connection may have open at once. */
export const MAX_OPERATIONS_PER_CONNECTION = 100;

export interface WebSocketOptions {
  runner: OperationRunner;
  authenticate: (authorization: string | undefined) => Promise<Principal & Partial<Omit<AuthenticatedPrincipal, keyof Principal>>>;
  directory: DirectoryLookup;
  logger: Logger;
  path?: string;
  /** Records refused connections (4401), subscription starts and mutations in the audit trail. */
  audit?: AuditRecorder;
}

interface Connection {
  context: SubscriberContext;
  expiry?: NodeJS.Timeout;
  /** Ends the API key's watch (gateway/api-keys.ts) when the connection closes. */
  release?: () => void;
  /** Removes this connection's listener from the key's revocation signal. */
  unwatch?: () => void;
  spend?: () => Promise<void>;
  operations: number;
  /** The client's address, for the audit trail. */
  address: string | null;
}

export interface WebSocketEndpoint {
  /** Connections open now. */
  readonly connections: number;
  close(): Promise<void>;
}

export function attachWebSocket(server: Server, opts: WebSocketOptions): WebSocketEndpoint {
  const path = opts.path ?? '/graphql';
  // The intake's body limit (../intake.ts) for each message: ws closes the socket with 1009 above it.
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_BODY_BYTES });
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if ((req.url ?? '').split('?', 1)[0] !== path) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      // A socket error (a message over the limit, a broken frame) is the client's doing, and ws closes the socket
      // itself: logged here as one line, not by graphql-ws's console.error with a stack.
      const emit = ws.emit.bind(ws);
      ws.emit = ((event: string, ...args: unknown[]) => {
        if (event !== 'error') return emit(event, ...args);
        const err = args[0] as NodeJS.ErrnoException | undefined;
        opts.logger.info({ code: err?.code ?? null }, 'WebSocket closed for a protocol error');
        return true;
      }) as typeof ws.emit;
      wss.emit('connection', ws, req);
    });
  };
  server.on('upgrade', onUpgrade);
  const connections = new WeakMap<WebSocket, Connection>();

  const closeWith = (socket: WebSocket, code: number, reason: string) => {
    if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING) socket.close(code, reason);
  };

  const disposable = useServer(
    {
      connectionInitWaitTimeout: 10_000,
      onConnect: async (ctx) => {
        const startedAt = Date.now();
        const params = (ctx.connectionParams ?? {}) as Record<string, unknown>;
        const authorization =
          typeof params.authorization === 'string' ? params.authorization : typeof params.Authorization === 'string' ? params.Authorization : typeof params.token === 'string' ? `Bearer ${params.token}` : undefined;
        let principal: Principal & Partial<Omit<AuthenticatedPrincipal, keyof Principal>>;
        try {
          principal = await opts.authenticate(authorization);
        } catch (err) {
          const r = authRefusal(err);
          if (r.unexpected) opts.logger.error(authFailure(err), 'authentication failed unexpectedly');
          else opts.audit?.refused(ctx.extra.request, startedAt);
          closeWith(ctx.extra.socket, r.status === 429 ? RATE_LIMITED : CloseCode.Unauthorized, r.status === 503 ? 'Authentication is unavailable' : r.message);
          return false;
        }
        const { expiresAt, revoked, spend } = principal;
        const connection: Connection = {
          context: { principal: identityOf(principal), directory: opts.directory, expiresAt, revoked },
          operations: 0,
          address: opts.audit?.addressOf(ctx.extra.request) ?? null,
          release: principal.hold?.(),
          spend,
        };
        // A revoked API key ends its connections (and so their subscriptions), as an expired token does. The signal is
        // shared by the key's connections: the listener goes when this one closes.
        if (revoked) {
          const onRevoked = () => closeWith(ctx.extra.socket, TOKEN_EXPIRED, 'API key revoked');
          revoked.addEventListener('abort', onRevoked, { once: true });
          connection.unwatch = () => revoked.removeEventListener('abort', onRevoked);
        }
        if (expiresAt !== undefined) {
          connection.expiry = setTimeout(() => closeWith(ctx.extra.socket, TOKEN_EXPIRED, 'Token expired'), Math.max(0, Math.min(expiresAt - Date.now(), 2 ** 31 - 1)));
        }
        connections.set(ctx.extra.socket, connection);
        return true;
      },
      onDisconnect: (ctx) => ended(connections.get(ctx.extra.socket)),
      onClose: (ctx) => ended(connections.get(ctx.extra.socket)),
      onSubscribe: async (ctx, _id, payload) => {
        const connection = connections.get(ctx.extra.socket)!;
        // An API key's rate counts every operation sent over its connections, not only the connection.
        if (connection.spend) {
          try {
            await connection.spend();
          } catch (err) {
            const r = authRefusal(err);
            return [new GraphQLError(r.status === 503 ? 'Authentication is unavailable' : r.message, { extensions: { code: r.code } })];
          }
        }
        const prepared = opts.runner.prepare(payload);
        // graphql-ws sends these as the operation's `error` message.
        if (!prepared.ok) return prepared.errors.map((e) => new GraphQLError(e.message, { extensions: e.extensions }));
        if (connection.operations >= MAX_OPERATIONS_PER_CONNECTION) {
          return [new GraphQLError(`At most ${MAX_OPERATIONS_PER_CONNECTION} operations per connection`, { extensions: { code: 'BAD_USER_INPUT' } })];
        }
        connection.operations++;
        if (prepared.subscription) opts.audit?.subscribed({ principal: connection.context.principal, from: connection.address, document: prepared.document, operationName: prepared.operationName, startedAt: Date.now() });
        // Passed through graphql-ws to execute/subscribe below.
        return { schema: undefined as never, document: prepared.document, variableValues: prepared.variables, operationName: prepared.operationName, contextValue: { connection, prepared } };
      },
      // Results are already formatted (errors without internals); passing them on stops graphql-ws re-serialising.
      onNext: (_ctx, _id, _payload, _args, result) => result as unknown as FormattedExecutionResult,
      execute: (args) => {
        const { connection, prepared } = args.contextValue as { connection: Connection; prepared: Parameters<OperationRunner['executeOnce']>[0] };
        const startedAt = Date.now();
        // One request id, as over HTTP: signed into its subgraph calls, and what its audit entry is stored under.
        const origin = { requestId: randomUUID(), clientAddress: connection.address, operationName: prepared.operationName, deadline: requestDeadline(startedAt) };
        return opts.runner
          .executeOnce(prepared, { ...connection.context, origin })
          .then((result) => {
            opts.audit?.operation({ principal: connection.context.principal, from: connection.address, document: prepared.document, operationName: prepared.operationName, startedAt, errors: result.errors, requestId: origin.requestId });
            return result;
          })
          .finally(() => connection.operations--) as never;
      },
      subscribe: (args) => {
        const { connection, prepared } = args.contextValue as { connection: Connection; prepared: Parameters<OperationRunner['stream']>[0] };
        return countDown(opts.runner.stream(prepared, connection.context), () => connection.operations--) as never;
      },
    },
    wss,
  );

  return {
    get connections() {
      return wss.clients.size;
    },
    close: async () => {
      server.off('upgrade', onUpgrade);
      await disposable.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/**
 * Calls `done` once when the stream ends, however it ends. A plain wrapper rather than a generator: a generator's
 * return() would wait for a pending next(), and a waiting subscriber must end at once.
 */
function countDown(stream: AsyncGenerator<FormattedExecutionResult>, done: () => void): AsyncGenerator<FormattedExecutionResult> {
  let finished = false;
  const finish = () => {
    if (!finished) {
      finished = true;
      done();
    }
  };
  const wrapper: AsyncGenerator<FormattedExecutionResult> = {
    async next() {
      const r = await stream.next();
      if (r.done) finish();
      return r;
    },
    async return(value) {
      try {
        return await stream.return(value);
      } finally {
        finish();
      }
    },
    async throw(err) {
      try {
        return await stream.throw(err);
      } finally {
        finish();
      }
    },
    [Symbol.asyncIterator]: () => wrapper,
    [Symbol.asyncDispose]: async () => {
      await wrapper.return(undefined);
    },
  };
  return wrapper;
}

// The gateway's HTTP front, one for every process that serves it (`npm start`'s gateway process, `npm run
// start:single`): health routes, the IDE in development, the operator console, then GraphQL (HTTP, SSE, graphql-ws),
// the CSV reports (/reports/<name>.csv, gateway/report-csv.ts), uploads (POST /files, gateway/files.ts), archived originals (GET /archive/files/<id>, gateway/archive-files.ts), handover packages (GET /archive/packages/<fiscalYear>.zip, gateway/archive-packages.ts) and /metrics, else a JSON 404; a request that fails unexpectedly answers 500 without details.
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { errorBody, json } from '../platform/apollo-http.ts';
import type { Logger } from '../platform/logger.ts';
import { consoleRoutes } from './console.ts';
import { ideRoutes } from './ide.ts';
import { type Gateway, gatewayRoute } from './index.ts';
import { serveTraced } from '../platform/tracing.ts';

export function gatewayHttpServer(gateway: Gateway, o: { health: (req: IncomingMessage, res: ServerResponse) => boolean; logger: Logger; production: boolean }): Server {
  // The IDE only in development; production has neither it nor introspection.
  const ide = o.production ? null : ideRoutes();
  const operatorConsole = consoleRoutes({ logger: o.logger }); // /console, in production too (it holds no data; needs a token)
  const server = createServer((req, res) => {
    if (o.health(req, res)) return;
    if (ide?.(req, res)) return;
    if (operatorConsole(req, res)) return;
    // The rest in the request's span (platform/tracing.ts): its JSON errors and log lines name the trace id.
    serveTraced('gateway', req, res, gatewayRoute(req.url), () =>
      gateway
        .handle(req, res)
        .then(async (handled) => handled || (await gateway.metrics.handle(req, res)) || json(res, 404, errorBody(`Not found: ${req.method ?? ''} ${(req.url ?? '').split('?', 1)[0]}`, 'NOT_FOUND')))
        .catch((err: unknown) => {
          o.logger.error({ err }, 'request failed');
          if (!res.headersSent) json(res, 500, errorBody('Internal server error', 'INTERNAL_SERVER_ERROR'));
          else res.end();
        }),
    );
  });
  gateway.attach(server);
  return server;
}

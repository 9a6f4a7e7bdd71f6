// Who may read /metrics (issue 14): with METRICS_TOKEN, only a scraper sending `Authorization: Bearer <token>`
// (compared in constant time, 401 otherwise); with METRICS_PORT, only on a listener of its own bound to 127.0.0.1
// (the main port then answers 404 for /metrics); with both, the token on that listener. Production with neither
// serves /metrics nowhere (404) and says once at start which variable to set; development and test serve it open on
// the main port, and say so.
import { createHash, timingSafeEqual } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';

export type MetricsAccess =
  | { readonly kind: 'open' }
  | { readonly kind: 'closed' }
  | { readonly kind: 'token'; readonly token: string; readonly port?: undefined }
  | { readonly kind: 'port'; readonly port: number; readonly token?: string };

/** The access rule configuration asks for. */
export function metricsAccess(config: Pick<Config, 'nodeEnv' | 'metricsToken' | 'metricsPort'>): MetricsAccess {
  if (config.metricsPort !== undefined) return { kind: 'port', port: config.metricsPort, ...(config.metricsToken ? { token: config.metricsToken } : {}) };
  if (config.metricsToken !== undefined) return { kind: 'token', token: config.metricsToken };
  return config.nodeEnv === 'production' ? { kind: 'closed' } : { kind: 'open' };
}

/** Logs, once at start, where /metrics is served and how to protect it. */
export function logMetricsAccess(logger: Logger, access: MetricsAccess, served?: { port: number }): void {
  if (access.kind === 'closed') logger.warn('/metrics is not served: set METRICS_TOKEN (scrapers send Authorization: Bearer <token>) or METRICS_PORT (a listener on 127.0.0.1)');
  else if (access.kind === 'open') logger.warn('/metrics is open to anyone on the main port (development); production needs METRICS_TOKEN or METRICS_PORT');
  else if (access.kind === 'token') logger.info('/metrics requires METRICS_TOKEN as a Bearer token');
  else logger.info({ metricsPort: served?.port ?? access.port, token: access.token !== undefined }, `/metrics served on 127.0.0.1:${served?.port ?? access.port} only`);
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Whether the Authorization header carries the token; constant time in the token's content. */
export function bearerMatches(authorization: string | undefined, token: string): boolean {
  const m = /^Bearer +(\S+) *$/i.exec(authorization ?? '');
  // Both sides hashed: equal lengths for timingSafeEqual, and nothing learnt from how long the guess was.
  return timingSafeEqual(digest(m?.[1] ?? ''), digest(token)) && m !== null;
}

type Registries = () => Registry | readonly Registry[];

async function serve(req: IncomingMessage, res: ServerResponse, registries: Registries, token: string | undefined): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  if (token !== undefined && !bearerMatches(typeof req.headers.authorization === 'string' ? req.headers.authorization : undefined, token)) {
    res.writeHead(401, { 'www-authenticate': 'Bearer realm="metrics"', 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }).end('Unauthorized\n');
    return;
  }
  const list = registries();
  const registry = list instanceof Registry ? list : list.length === 1 ? list[0] : Registry.merge([...list]);
  const body = await registry.metrics();
  res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : body);
}

const isMetricsPath = (req: IncomingMessage): boolean => (req.url ?? '').split('?', 1)[0] === '/metrics';

/**
 * The /metrics route of the main port: answers false (so the caller answers 404) when the access rule serves it
 * elsewhere or nowhere.
 */
export function metricsRoute(access: MetricsAccess, registries: Registries): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  return async (req, res) => {
    if (!isMetricsPath(req) || access.kind === 'closed' || access.kind === 'port') return false;
    await serve(req, res, registries, access.kind === 'token' ? access.token : undefined);
    return true;
  };
}

export interface MetricsListener {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

/** With METRICS_PORT: /metrics on a listener of its own, on 127.0.0.1 only; null for the other access rules. */
export async function startMetricsListener(access: MetricsAccess, registries: Registries, logger: Logger): Promise<MetricsListener | null> {
  if (access.kind !== 'port') return null;
  const server: Server = createServer((req, res) => {
    if (!isMetricsPath(req)) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found\n');
      return;
    }
    serve(req, res, registries, access.token).catch((err: unknown) => {
      logger.error({ err }, 'metrics scrape failed');
      if (!res.headersSent) res.writeHead(500).end();
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE' ? new Error(`METRICS_PORT ${access.port} is already in use`) : err));
    server.listen(access.port, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `http://127.0.0.1:${port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

// The operator console at /console: a small browser app (console/) that uses only the public GraphQL API. Its
// TypeScript and CSS are bundled with esbuild's JS API once per process, at the first request (or at start with
// `warm()`), and kept in memory; a failed build is logged and answered with a bare 500 (the next request builds
// again). Served in production too: it holds no data, and does nothing without a token. Strict headers: the page
// loads only its own script and stylesheet (no inline code or style), talks only to its own origin over HTTP and
// WebSocket, and may not be framed.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../platform/logger.ts';

/** Where the console's sources live (console/ at the repository root). */
export const CONSOLE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'console');

export const CONSOLE_SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
});

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

export interface ConsoleOptions {
  logger: Logger;
  /** The console's sources (default: console/ in this repository). */
  root?: string;
}

export type ConsoleRoutes = ((req: IncomingMessage, res: ServerResponse) => boolean) & {
  /** Builds now (at start) instead of at the first request; resolves false when the build failed (logged). */
  warm(): Promise<boolean>;
};

const asset = (body: Buffer | string, type: string): Asset => {
  const buf = typeof body === 'string' ? Buffer.from(body) : body;
  return { body: buf, type, etag: `"${createHash('sha256').update(buf).digest('base64url').slice(0, 27)}"` };
};

/** Bundles console/src/main.ts and console/styles.css (minified, for browsers) and reads console/index.html. */
export async function buildConsole(root: string = CONSOLE_ROOT): Promise<Map<string, Asset>> {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: [
      { in: path.join(root, 'src', 'main.ts'), out: 'app' },
      { in: path.join(root, 'styles.css'), out: 'app' },
    ],
    outdir: path.join(root, 'dist'),
    write: false,
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
    charset: 'utf8',
  });
  const files = new Map<string, Asset>();
  for (const out of result.outputFiles) {
    const name = path.basename(out.path);
    if (name === 'app.js') files.set('/console/app.js', asset(Buffer.from(out.contents), 'text/javascript; charset=utf-8'));
    if (name === 'app.css') files.set('/console/app.css', asset(Buffer.from(out.contents), 'text/css; charset=utf-8'));
  }
  if (!files.has('/console/app.js') || !files.has('/console/app.css')) throw new Error('the console build produced no app.js or app.css');
  const page = asset(await readFile(path.join(root, 'index.html')), 'text/html; charset=utf-8');
  files.set('/console', page);
  files.set('/console/', page);
  return files;
}

/** GET/HEAD /console, /console/, /console/app.js and /console/app.css; anything else is not handled (false). */
export function consoleRoutes(opts: ConsoleOptions): ConsoleRoutes {
  const log = opts.logger.child({ component: 'console' });
  let built: Promise<Map<string, Asset>> | null = null;
  const load = (): Promise<Map<string, Asset>> => {
    if (!built) {
      const started = Date.now();
      built = buildConsole(opts.root).then(
        (files) => {
          log.info({ ms: Date.now() - started, bytes: [...new Set(files.values())].reduce((n, f) => n + f.body.length, 0) }, 'console built');
          return files;
        },
        (err: unknown) => {
          built = null; // the next request tries again
          log.error({ err }, 'console build failed');
          throw err;
        },
      );
    }
    return built;
  };

  const routes = ((req: IncomingMessage, res: ServerResponse): boolean => {
    const route = (req.url ?? '').split('?', 1)[0];
    if (route !== '/console' && !route.startsWith('/console/')) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...CONSOLE_SECURITY_HEADERS, allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('Method not allowed');
      return true;
    }
    load().then(
      (files) => {
        const file = files.get(route);
        if (!file) {
          res.writeHead(404, { ...CONSOLE_SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8' }).end('Not found');
          return;
        }
        const headers = { ...CONSOLE_SECURITY_HEADERS, 'content-type': file.type, 'cache-control': 'no-cache', etag: file.etag };
        if (req.headers['if-none-match'] === file.etag) {
          res.writeHead(304, headers).end();
          return;
        }
        res.writeHead(200, { ...headers, 'content-length': file.body.length });
        res.end(req.method === 'HEAD' ? undefined : file.body);
      },
      () => {
        if (!res.headersSent) res.writeHead(500, { ...CONSOLE_SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8' });
        res.end('The console is unavailable (see the server log).');
      },
    );
    return true;
  }) as ConsoleRoutes;
  routes.warm = () => load().then(() => true, () => false);
  return routes;
}

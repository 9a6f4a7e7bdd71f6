// Liveness (/healthz) and readiness (/readyz) for node:http, mountable in front of any other routes.
// Readiness names the dependency that failed but never why: reasons go to the log, not to the caller.
import type { IncomingMessage, ServerResponse } from 'node:http';

export type HealthCheck = () => Promise<void>;
export type CheckOutcome = 'ok' | 'failed' | 'timeout';

export interface HealthLogger {
  warn(obj: object, msg?: string): void;
}

export interface HealthRoutesOptions {
  /** Readiness checks by dependency name, e.g. `{ database: () => ping() }`; run in parallel. */
  checks: Record<string, HealthCheck>;
  /** Per-check deadline (default 2000 ms). */
  timeoutMs?: number;
  /** While true, /readyz answers 503 `draining` so load balancers stop routing before shutdown. */
  draining?: () => boolean;
  logger?: HealthLogger;
}

export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

export function healthRoutes(options: HealthRoutesOptions): RouteHandler {
  const timeoutMs = options.timeoutMs ?? 2000;

  async function runCheck(name: string, check: HealthCheck): Promise<CheckOutcome> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<CheckOutcome>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const attempt = Promise.resolve()
      .then(check)
      .then(
        (): CheckOutcome => 'ok',
        (err: unknown): CheckOutcome => {
          options.logger?.warn({ check: name, err }, 'readiness check failed');
          return 'failed';
        },
      );
    const outcome = await Promise.race([attempt, deadline]);
    clearTimeout(timer);
    if (outcome === 'timeout') options.logger?.warn({ check: name, timeoutMs }, 'readiness check timed out');
    return outcome;
  }

  async function readiness(res: ServerResponse, head: boolean): Promise<void> {
    if (options.draining?.()) {
      send(res, 503, { status: 'draining' }, head);
      return;
    }
    const names = Object.keys(options.checks);
    const outcomes = await Promise.all(names.map((n) => runCheck(n, options.checks[n]!)));
    const checks: Record<string, CheckOutcome> = {};
    names.forEach((n, i) => (checks[n] = outcomes[i]!));
    const ok = outcomes.every((o) => o === 'ok');
    send(res, ok ? 200 : 503, { status: ok ? 'ok' : 'unavailable', checks }, head);
  }

  return (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path !== '/healthz' && path !== '/readyz') return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      send(res, 405, { errors: [{ message: `Method ${req.method ?? ''} not allowed on ${path}` }] }, false);
      return true;
    }
    const head = req.method === 'HEAD';
    if (path === '/healthz') {
      send(res, 200, { status: 'ok' }, head);
    } else {
      readiness(res, head).catch(() => {
        if (!res.headersSent) send(res, 503, { status: 'unavailable' }, head);
      });
    }
    return true;
  };
}

function send(res: ServerResponse, status: number, body: object, head: boolean): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(head ? undefined : text);
}

// The public GraphQL API, and nothing else: POST /graphql with the operator's token for queries and mutations,
// graphql-ws on ws(s)://<this host>/graphql for subscriptions (the token in connection_init).
import { type Client, createClient } from 'graphql-ws';

export interface GqlError {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; [key: string]: unknown };
}

export interface GqlResult<T> {
  data: T | null;
  errors: GqlError[];
  /** HTTP status (0 when the request did not reach the gateway). */
  status: number;
}

const TOKEN_KEY = 'oa-console.token';

/** The token lives in sessionStorage only: it goes with the tab. */
export const session = {
  get token(): string | null {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set(token: string): void {
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  clear(): void {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

/** Called when the gateway answers UNAUTHENTICATED (an expired or revoked token). */
let onUnauthenticated: () => void = () => {};
export function whenUnauthenticated(fn: () => void): void {
  onUnauthenticated = fn;
}

export async function gql<T>(query: string, variables: Record<string, unknown> = {}, token = session.token): Promise<GqlResult<T>> {
  let res: Response;
  try {
    res = await fetch('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch (err) {
    return { data: null, errors: [{ message: `The gateway did not answer (${err instanceof Error ? err.message : String(err)})`, extensions: { code: 'NETWORK_ERROR' } }], status: 0 };
  }
  let body: { data?: T | null; errors?: GqlError[] };
  try {
    body = (await res.json()) as typeof body;
  } catch {
    return { data: null, errors: [{ message: `The gateway answered HTTP ${res.status} without GraphQL`, extensions: { code: `HTTP_${res.status}` } }], status: res.status };
  }
  const result: GqlResult<T> = { data: body.data ?? null, errors: Array.isArray(body.errors) ? body.errors : [], status: res.status };
  if (token && result.errors.some((e) => e.extensions?.code === 'UNAUTHENTICATED')) onUnauthenticated();
  return result;
}

/** One error as a line: "FORBIDDEN at alerts: Only ADMIN …". */
export function describeError(e: GqlError): string {
  const code = e.extensions?.code;
  const where = e.path?.length ? ` at ${e.path.join('.')}` : '';
  return `${code ? `${code}${where}: ` : where ? `${where.slice(4)}: ` : ''}${e.message}`;
}

export function describeErrors(errors: readonly GqlError[]): string {
  return errors.map(describeError).join('\n');
}

export const codes = (errors: readonly GqlError[]): string[] => errors.map((e) => e.extensions?.code ?? '').filter(Boolean);

/** The WebSocket URL of the gateway this page came from. */
export const wsUrl = (): string => `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/graphql`;

/** A graphql-ws client with the current token, connecting on demand; reconnection is up to each subscription. */
export function liveClient(token: string, on: { connected?: () => void; closed?: (code: number, reason: string) => void } = {}): Client {
  return createClient({
    url: wsUrl(),
    connectionParams: { authorization: `Bearer ${token}` },
    lazy: true,
    retryAttempts: 0,
    keepAlive: 15_000,
    on: {
      connected: () => on.connected?.(),
      closed: (event) => {
        const e = event as { code?: number; reason?: string } | undefined;
        on.closed?.(e?.code ?? 0, String(e?.reason ?? ''));
      },
    },
  });
}

/** What a subscription's error sink received, as a message, and whether it means the token is no good. */
export function subscriptionError(err: unknown): { message: string; unauthenticated: boolean } {
  if (Array.isArray(err)) {
    const errors = err as GqlError[];
    return { message: describeErrors(errors), unauthenticated: codes(errors).includes('UNAUTHENTICATED') };
  }
  const close = err as { code?: unknown; reason?: unknown } | null;
  if (close && typeof close.code === 'number') {
    const unauthenticated = close.code === 4401 || close.code === 4403;
    return { message: `connection closed (${close.code}${close.reason ? `: ${String(close.reason)}` : ''})`, unauthenticated };
  }
  return { message: err instanceof Error ? err.message : 'connection lost', unauthenticated: false };
}

// The seed's way to the system: POST /graphql on the gateway, as anyone, with development tokens signed with
// JWT_SECRET (scripts/dev-token.ts). The gateway adds the directory's roles to the token's (gateway/auth.ts), so an
// employee's token names only the role it is printed for.
import type { Role } from '../../platform/identity.ts';
import { signDevToken } from '../dev-token.ts';

/** What stops the seed: one line for stderr, no stack. */
export class SeedError extends Error {}

export interface Caller {
  sub: string;
  roles: readonly Role[];
}

export interface GqlError {
  message: string;
  extensions?: { code?: string };
}

export interface Answer<T> {
  status: number;
  data?: T;
  errors?: GqlError[];
}

export interface Api {
  readonly url: string;
  /** Signs a token of `ttlSeconds` for the caller. */
  token(who: Caller, ttlSeconds: number): Promise<string>;
  /** The gateway's answer as it is (errors included); SeedError when it cannot be reached or refuses the token. */
  raw<T>(who: Caller, query: string, variables?: Record<string, unknown>): Promise<Answer<T>>;
  /** The data; SeedError naming `what` on any error. */
  call<T>(who: Caller, what: string, query: string, variables?: Record<string, unknown>): Promise<T>;
}

/** How long the tokens the seed itself acts with live: long enough for its waits, never over JWT_MAX_TTL. */
const WORKING_TTL_SECONDS = 900;

export function gatewayApi(url: string, jwtSecret: string, maxTtlSeconds: number): Api {
  const tokens = new Map<string, Promise<string>>();
  const token = (who: Caller, ttlSeconds: number) => signDevToken(jwtSecret, { sub: who.sub, roles: who.roles, ttlSeconds });
  const working = (who: Caller): Promise<string> => {
    const key = `${who.sub}|${who.roles.join(',')}`;
    let t = tokens.get(key);
    if (!t) tokens.set(key, (t = token(who, Math.min(WORKING_TTL_SECONDS, maxTtlSeconds))));
    return t;
  };

  const raw = async <T>(who: Caller, query: string, variables?: Record<string, unknown>): Promise<Answer<T>> => {
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${await working(who)}` },
        body: JSON.stringify({ query, variables }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
      throw new SeedError(`cannot reach the gateway at ${url} (${cause}): start the system first with npm start, or pass --gateway URL`);
    }
    let body: Answer<T>;
    try {
      body = (await res.json()) as Answer<T>;
    } catch {
      throw new SeedError(`${url} answered HTTP ${res.status} without a GraphQL response: is it the gateway's /graphql?`);
    }
    if (res.status === 401) {
      throw new SeedError(`the gateway refused the seed's token (${body.errors?.[0]?.message ?? 'HTTP 401'}): run the seed with the JWT_SECRET (and JWT_MAX_TTL) the system runs with`);
    }
    return { status: res.status, data: body.data, errors: body.errors };
  };

  return {
    url,
    token,
    raw,
    async call<T>(who: Caller, what: string, query: string, variables?: Record<string, unknown>): Promise<T> {
      const answer = await raw<T>(who, query, variables);
      if (answer.errors?.length || !answer.data) {
        const e = answer.errors?.[0];
        throw new SeedError(`${what} failed: ${e ? `${e.extensions?.code ?? 'ERROR'}: ${e.message}` : `HTTP ${answer.status} without data`}`);
      }
      return answer.data;
    },
  };
}

/** Polls `check` every `everyMs` until it answers a value, or fails with `timeout` after `deadline` (ms since the epoch). */
export async function waitFor<T>(check: () => Promise<T | null>, deadline: number, timeout: () => string, everyMs = 500): Promise<T> {
  for (;;) {
    const value = await check();
    if (value !== null) return value;
    if (Date.now() >= deadline) throw new SeedError(timeout());
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

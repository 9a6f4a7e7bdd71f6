// Client authentication (docs/api.md#identity): a Bearer JWT, HS256 with JWT_SECRET or RS256/ES256 from a JWKS with
// issuer and audience checks. The effective roles are the token's together with those the directory holds for
// `sub`; the department always comes from the directory. Directory answers are cached briefly, with a bound.
import { createHash } from 'node:crypto';
import { type JWTPayload, type JWTVerifyGetKey, createRemoteJWKSet, jwtVerify } from 'jose';
import { type Principal, type Role, isRole } from '../platform/identity.ts';
import { TextPolicyError, checkText } from '../platform/text-policy.ts';

export class AuthenticationError extends Error {
  readonly code = 'UNAUTHENTICATED';
}

/** A caller over its rate (an API key's, gateway/api-keys.ts): HTTP and SSE 429 with Retry-After, graphql-ws 4429. */
export class RateLimitedError extends Error {
  readonly code = 'RATE_LIMITED';
  constructor(readonly retryAfterSeconds: number) {
    super(`too many requests with this API key; retry in ${retryAfterSeconds} s`);
  }
}

/** How every transport answers a failed authentication; `unexpected` ones are logged (authFailure), refusals audited. */
export interface AuthRefusal {
  status: 401 | 429 | 503;
  code: 'UNAUTHENTICATED' | 'RATE_LIMITED' | 'INTERNAL_SERVER_ERROR';
  message: string;
  retryAfterSeconds?: number;
  unexpected: boolean;
}

export function authRefusal(err: unknown): AuthRefusal {
  if (err instanceof AuthenticationError) return { status: 401, code: 'UNAUTHENTICATED', message: `Unauthenticated: ${err.message}`, unexpected: false };
  if (err instanceof RateLimitedError) return { status: 429, code: 'RATE_LIMITED', message: `Rate limited: ${err.message}`, retryAfterSeconds: err.retryAfterSeconds, unexpected: false };
  return { status: 503, code: 'INTERNAL_SERVER_ERROR', message: 'Authentication is unavailable; try again', unexpected: true };
}

export interface DirectoryEntry {
  roles: Role[];
  departmentId: string | null;
}

/** Who `sub` is in the organisation; null when it is not an employee (a service account). */
export type DirectoryLookup = (sub: string) => Promise<DirectoryEntry | null>;

export interface AuthOptions {
  jwtSecret?: string;
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
  lookup: DirectoryLookup;
  cacheTtlMs?: number;
  cacheSize?: number;
  now?: () => number;
  /** Longest lifetime a token may have, in seconds (JWT_MAX_TTL; default 24 h): `exp` − `iat` (or − now without `iat`). */
  maxTtlSeconds?: number;
}

export const DEFAULT_JWT_MAX_TTL_SECONDS = 86_400;

/** Clock difference between the token's issuer and this process that the lifetime check tolerates. */
const CLOCK_SKEW_SECONDS = 60;

const SUBJECT = { kind: 'single-line', max: 128 } as const;

/**
 * A `sub` the gateway accepts: a string of 1 to 128 printable characters (the free-text policy for single-line
 * text: no control, bidi or tag characters), already NFC and without surrounding spaces, so it is the identity the
 * directory, the audit trail and the subgraphs all see, byte for byte.
 */
export function isAcceptableSubject(sub: unknown): sub is string {
  if (typeof sub !== 'string') return false;
  try {
    return checkText(sub, 'sub', SUBJECT) === sub;
  } catch (err) {
    if (err instanceof TextPolicyError) return false;
    throw err;
  }
}

/** What is logged when authentication fails unexpectedly (the directory unreachable): its code and message, no stack. */
export function authFailure(err: unknown): { failure: { name: string; code: string | null; message: string } } {
  const e = err as { name?: unknown; code?: unknown; message?: unknown } | null;
  return {
    failure: {
      name: typeof e?.name === 'string' ? e.name : 'Error',
      code: typeof e?.code === 'string' ? e.code : null,
      message: typeof e?.message === 'string' ? e.message.slice(0, 500) : String(err).slice(0, 500),
    },
  };
}

/**
 * Names the internal services sign as (platform/identity.ts); a client token may not claim them. Client callers
 * are always users: a `sub` that is no employee has only the roles its token names, and never the service
 * identity that internal calls (voucher generation, audit entries) carry.
 */
const RESERVED_SUBJECTS = new Set(['gateway', 'sync', 'oa', 'archive', 'system']);

const BEARER = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/;

/** A verified caller, with when its token expires (subscriptions end then). */
export type AuthenticatedPrincipal = Principal & {
  expiresAt: number;
  /** An API key's: aborted once the key is found revoked (its open streams end). */
  revoked?: AbortSignal;
  /** An API key's: a transport keeping a connection open holds the key (so it is checked again) until it calls the release. */
  hold?(): () => void;
  /** An API key's: counts one operation sent over an open connection against the key's rate; throws RateLimitedError. */
  spend?(): Promise<void>;
};

/** What a transport hands on as the caller: the principal without the transport's handles. */
export function identityOf(p: Principal & Partial<Omit<AuthenticatedPrincipal, keyof Principal>>): Principal {
  const { expiresAt: _e, revoked: _r, hold: _h, spend: _s, ...identity } = p;
  return identity;
}

export function createAuthenticator(opts: AuthOptions): (authorization: string | undefined | null) => Promise<AuthenticatedPrincipal> {
  if (!opts.jwtSecret && !opts.jwksUrl) throw new Error('JWT_SECRET or JWT_JWKS_URL is required');
  const key: Uint8Array | JWTVerifyGetKey = opts.jwksUrl ? createRemoteJWKSet(new URL(opts.jwksUrl)) : new TextEncoder().encode(opts.jwtSecret);
  const algorithms = opts.jwksUrl ? ['RS256', 'ES256'] : ['HS256'];
  const ttl = opts.cacheTtlMs ?? 30_000;
  const size = opts.cacheSize ?? 10_000;
  const now = opts.now ?? Date.now;
  const maxTtl = opts.maxTtlSeconds ?? DEFAULT_JWT_MAX_TTL_SECONDS;
  const cache = new Map<string, { at: number; entry: Promise<DirectoryEntry | null> }>();

  const lookup = (sub: string): Promise<DirectoryEntry | null> => {
    const hit = cache.get(sub);
    if (hit && now() - hit.at < ttl) return hit.entry;
    const entry = opts.lookup(sub);
    // A failed lookup is not cached: the next request asks again.
    entry.catch(() => cache.delete(sub));
    cache.delete(sub);
    cache.set(sub, { at: now(), entry });
    if (cache.size > size) cache.delete(cache.keys().next().value as string);
    return entry;
  };

  // Tokens verified lately, by their SHA-256 (the bearer tokens themselves are not kept): a client sends one token
  // with every request until it expires, and its signature need not be checked each time. A hit is taken for at
  // most the directory's cache time (a key withdrawn from the JWKS stops counting within it), its exp and nbf
  // checked against the clock at every use; a failed verification is never remembered.
  const verified = new Map<string, { at: number; payload: JWTPayload }>();
  const verify = async (token: string): Promise<JWTPayload> => {
    const id = createHash('sha256').update(token).digest('base64url');
    const t = now();
    const hit = verified.get(id);
    if (hit && t - hit.at < ttl && t < hit.payload.exp! * 1000 && (typeof hit.payload.nbf !== 'number' || hit.payload.nbf * 1000 <= t)) return hit.payload;
    const { payload } = await jwtVerify(token, key as never, { algorithms, issuer: opts.issuer, audience: opts.audience, currentDate: new Date(t), requiredClaims: ['sub', 'exp'] });
    verified.delete(id);
    verified.set(id, { at: t, payload });
    if (verified.size > size) verified.delete(verified.keys().next().value as string);
    return payload;
  };

  return async (authorization) => {
    const m = authorization ? BEARER.exec(authorization.trim()) : null;
    if (!m) throw new AuthenticationError('a Bearer token or an API key is required');
    let payload: JWTPayload;
    try {
      payload = await verify(m[1]);
    } catch {
      // Which check failed stays in the server: the client learns only that the token is not accepted.
      throw new AuthenticationError('the token is invalid or expired');
    }
    // A number, an empty string or control characters in `sub` would reach the directory, the audit trail and the
    // subgraphs as an identity none of them can hold: refused here, as any invalid token.
    if (!isAcceptableSubject(payload.sub)) throw new AuthenticationError('the token is invalid or expired');
    const sub = payload.sub;
    // A token may live at most JWT_MAX_TTL: counted from `iat` when present, and never further ahead than that from now.
    const exp = payload.exp!;
    const nowSeconds = now() / 1000;
    const issuedAt = typeof payload.iat === 'number' ? payload.iat : nowSeconds;
    if (exp - issuedAt > maxTtl || exp - nowSeconds > maxTtl + CLOCK_SKEW_SECONDS) {
      throw new AuthenticationError(`the token lives longer than the ${maxTtl} seconds allowed (JWT_MAX_TTL)`);
    }
    // The internal services' names are not for client tokens (they would sign audit entries as the gateway).
    if (RESERVED_SUBJECTS.has(sub)) throw new AuthenticationError('the token names a reserved subject');
    const claimed = Array.isArray(payload.roles) ? payload.roles : [];
    if (!claimed.every(isRole)) throw new AuthenticationError('the token names an unknown role');
    const entry = await lookup(sub);
    const roles = [...new Set<Role>([...(claimed as Role[]), ...(entry?.roles ?? [])])];
    return { sub, roles, departmentId: entry?.departmentId ?? null, kind: 'user', expiresAt: exp * 1000 };
  };
}

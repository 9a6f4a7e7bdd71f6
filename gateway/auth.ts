// Client authentication (docs/api.md#identity): a Bearer JWT, HS256 with JWT_SECRET or RS256/ES256 from a JWKS with
// issuer and audience checks. The effective roles are the token's together with those the directory holds for
// `sub`; the department always comes from the directory. Directory answers are cached briefly, with a bound.
import { type JWTPayload, type JWTVerifyGetKey, createRemoteJWKSet, jwtVerify } from 'jose';
import { type Principal, type Role, isRole } from '../platform/identity.ts';

export class AuthenticationError extends Error {
  readonly code = 'UNAUTHENTICATED';
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
}

/**
 * Names the internal services sign as (platform/identity.ts); a client token may not claim them. Client callers
 * are always users: a `sub` that is no employee has only the roles its token names, and never the service
 * identity that internal calls (voucher generation, audit entries) carry.
 */
const RESERVED_SUBJECTS = new Set(['gateway', 'sync', 'oa', 'archive', 'system']);

const BEARER = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/;

/** A verified caller, with when its token expires (subscriptions end then). */
export type AuthenticatedPrincipal = Principal & { expiresAt: number };

export function createAuthenticator(opts: AuthOptions): (authorization: string | undefined | null) => Promise<AuthenticatedPrincipal> {
  if (!opts.jwtSecret && !opts.jwksUrl) throw new Error('JWT_SECRET or JWT_JWKS_URL is required');
  const key: Uint8Array | JWTVerifyGetKey = opts.jwksUrl ? createRemoteJWKSet(new URL(opts.jwksUrl)) : new TextEncoder().encode(opts.jwtSecret);
  const algorithms = opts.jwksUrl ? ['RS256', 'ES256'] : ['HS256'];
  const ttl = opts.cacheTtlMs ?? 30_000;
  const size = opts.cacheSize ?? 10_000;
  const now = opts.now ?? Date.now;
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

  return async (authorization) => {
    const m = authorization ? BEARER.exec(authorization.trim()) : null;
    if (!m) throw new AuthenticationError('a Bearer token is required');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(m[1], key as never, {
        algorithms,
        issuer: opts.issuer,
        audience: opts.audience,
        currentDate: new Date(now()),
        requiredClaims: ['sub', 'exp'],
      }));
    } catch {
      // Which check failed stays in the server: the client learns only that the token is not accepted.
      throw new AuthenticationError('the token is invalid or expired');
    }
    const sub = payload.sub!;
    if (sub.length > 128) throw new AuthenticationError('the token is invalid or expired');
    // The internal services' names are not for client tokens (they would sign audit entries as the gateway).
    if (RESERVED_SUBJECTS.has(sub)) throw new AuthenticationError('the token names a reserved subject');
    const claimed = Array.isArray(payload.roles) ? payload.roles : [];
    if (!claimed.every(isRole)) throw new AuthenticationError('the token names an unknown role');
    const entry = await lookup(sub);
    const roles = [...new Set<Role>([...(claimed as Role[]), ...(entry?.roles ?? [])])];
    return { sub, roles, departmentId: entry?.departmentId ?? null, kind: 'user', expiresAt: payload.exp! * 1000 };
  };
}

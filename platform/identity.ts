// The internal identity: the ONLY way a subgraph learns who is asking. The gateway verifies the client's
// token, then forwards a short-lived principal signed with INTERNAL_SECRET; subgraphs verify it here.
//
// Token: v1.<base64url(JSON payload)>.<base64url(HMAC-SHA256(secret, "v1." + payload))>
// Payload: { sub, roles, dept, kind, iat, exp } with iat/exp in unix seconds.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

export const ROLES = ['EMPLOYEE', 'MANAGER', 'ACCOUNTANT', 'FINANCE_DIRECTOR', 'ARCHIVIST', 'AUDITOR', 'ADMIN'] as const;
export type Role = (typeof ROLES)[number];

export type PrincipalKind = 'user' | 'service';

export interface Principal {
  sub: string;
  roles: Role[];
  departmentId: string | null;
  kind: PrincipalKind;
}

export const INTERNAL_IDENTITY_HEADER = 'x-internal-identity';
const VERSION = 'v1';
/** Clock difference tolerated between the signing gateway and a verifying subgraph. */
export const CLOCK_SKEW_SECONDS = 30;
const SIGNATURE_BYTES = 32;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export type IdentityFailure = 'missing' | 'malformed' | 'bad signature' | 'expired' | 'not yet valid' | 'unknown role';

export class IdentityError extends Error {
  readonly reason: IdentityFailure;
  constructor(reason: IdentityFailure, detail?: string) {
    super(detail === undefined ? `internal identity ${reason}` : `internal identity ${reason}: ${detail}`);
    this.name = 'IdentityError';
    this.reason = reason;
  }
}

/** Whether the principal holds one of `roles`. */
export const hasAnyRole = (p: Principal, roles: readonly Role[]): boolean => roles.some((r) => p.roles.includes(r));

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

interface Payload {
  sub: string;
  roles: string[];
  dept: string | null;
  kind: PrincipalKind;
  iat: number;
  exp: number;
}

function mac(secret: string, signingInput: string): Buffer {
  return createHmac('sha256', secret).update(signingInput).digest();
}

function requireSecret(secret: string): void {
  // An empty key would make every signature forgeable.
  if (typeof secret !== 'string' || secret.length === 0) throw new TypeError('internal identity secret must be a non-empty string');
}

/**
 * Signs a principal for forwarding to a subgraph.
 * @param ttlSeconds lifetime; keep it short, the token is minted per request.
 * @param now milliseconds since the epoch (Date.now()).
 */
export function signPrincipal(principal: Principal, secret: string, ttlSeconds = 60, now: number = Date.now()): string {
  requireSecret(secret);
  if (!(ttlSeconds > 0)) throw new RangeError('ttlSeconds must be positive');
  if (typeof principal.sub !== 'string' || principal.sub.length === 0) throw new TypeError('principal.sub must be a non-empty string');
  for (const role of principal.roles) if (!isRole(role)) throw new TypeError(`unknown role ${JSON.stringify(role)}`);
  if (principal.kind !== 'user' && principal.kind !== 'service') throw new TypeError('principal.kind must be "user" or "service"');
  const iat = Math.floor(now / 1000);
  const payload: Payload = {
    sub: principal.sub,
    roles: [...principal.roles],
    dept: principal.departmentId ?? null,
    kind: principal.kind,
    iat,
    exp: iat + Math.ceil(ttlSeconds),
  };
  const body = Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
  const signingInput = `${VERSION}.${body}`;
  return `${signingInput}.${mac(secret, signingInput).toString('base64url')}`;
}

/**
 * Verifies a token from signPrincipal.
 * @param now milliseconds since the epoch (Date.now()).
 * @throws IdentityError with a short reason.
 */
export function verifyPrincipal(token: string, secret: string, now: number = Date.now()): Principal {
  requireSecret(secret);
  if (typeof token !== 'string' || token.length === 0) throw new IdentityError('missing');
  if (token.length > 8192) throw new IdentityError('malformed', 'too long');
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== VERSION) throw new IdentityError('malformed', 'expected v1.<payload>.<signature>');
  const [, body, signature] = parts as [string, string, string];
  if (!BASE64URL.test(body) || !BASE64URL.test(signature)) throw new IdentityError('malformed', 'not base64url');

  // Signature first: nothing in an unauthenticated payload is interpreted.
  const given = Buffer.from(signature, 'base64url');
  const expected = mac(secret, `${VERSION}.${body}`);
  // The re-encoding check refuses non-canonical base64url (spare low bits set), so a token has one spelling.
  if (given.length !== SIGNATURE_BYTES || given.toString('base64url') !== signature || !timingSafeEqual(given, expected)) {
    throw new IdentityError('bad signature');
  }

  let data: unknown;
  try {
    data = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    throw new IdentityError('malformed', 'payload is not JSON');
  }
  const payload = checkShape(data);

  const nowSeconds = Math.floor(now / 1000);
  if (payload.exp <= nowSeconds) throw new IdentityError('expired');
  if (payload.iat > nowSeconds + CLOCK_SKEW_SECONDS) throw new IdentityError('not yet valid');
  const unknown = payload.roles.find((r) => !isRole(r));
  if (unknown !== undefined) throw new IdentityError('unknown role', unknown.slice(0, 40));

  return { sub: payload.sub, roles: payload.roles as Role[], departmentId: payload.dept, kind: payload.kind };
}

function checkShape(data: unknown): Payload {
  const bad = (field: string): never => {
    throw new IdentityError('malformed', `bad ${field}`);
  };
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return bad('payload');
  const p = data as Record<string, unknown>;
  if (typeof p.sub !== 'string' || p.sub.length === 0) bad('sub');
  if (!Array.isArray(p.roles) || !p.roles.every((r) => typeof r === 'string')) bad('roles');
  if (p.dept !== null && typeof p.dept !== 'string') bad('dept');
  if (p.kind !== 'user' && p.kind !== 'service') bad('kind');
  if (!Number.isSafeInteger(p.iat)) bad('iat');
  if (!Number.isSafeInteger(p.exp)) bad('exp');
  return p as unknown as Payload;
}

/** Header bags accepted: node:http IncomingHttpHeaders, or anything with get() (fetch Headers, Apollo HeaderMap). */
export type HeaderSource =
  | { get(name: string): string | null | undefined }
  | Readonly<Record<string, string | readonly string[] | undefined>>;

function readHeader(headers: HeaderSource, name: string): string | undefined {
  if (typeof headers.get === 'function') {
    return (headers as { get(name: string): string | null | undefined }).get(name) ?? undefined;
  }
  const value = (headers as Readonly<Record<string, string | readonly string[] | undefined>>)[name];
  // A repeated header is ambiguous: refuse rather than pick one.
  if (Array.isArray(value)) throw new IdentityError('malformed', 'header repeated');
  return value as string | undefined;
}

/** The identity an internal service (gateway, sync) signs its own calls with: no roles, no department. */
export const servicePrincipal = (name: string): Principal => ({ sub: name, roles: [], departmentId: null, kind: 'service' });

/** Headers to add to a request forwarded to a subgraph. */
export function identityHeaders(principal: Principal, secret: string, ttlSeconds = 60): Record<string, string> {
  return { [INTERNAL_IDENTITY_HEADER]: signPrincipal(principal, secret, ttlSeconds) };
}

/**
 * The verified principal of a request.
 * @throws IdentityError('missing') without the header, or the verification failure.
 */
export function principalFromRequest(headers: HeaderSource, secret: string, now: number = Date.now()): Principal {
  const token = readHeader(headers, INTERNAL_IDENTITY_HEADER);
  if (token === undefined || token === '') throw new IdentityError('missing');
  return verifyPrincipal(token, secret, now);
}

/** The body of every 401: deliberately the same whatever the reason. */
export const UNAUTHENTICATED_BODY = JSON.stringify({
  errors: [{ message: 'Unauthenticated: a valid internal identity is required', extensions: { code: 'UNAUTHENTICATED' } }],
});

export interface IdentityGuardLogger {
  debug(obj: object, msg?: string): void;
}

/**
 * node:http guard. Returns the principal, or answers 401 and returns undefined.
 * The reason goes to the debug log only (never the token).
 */
export function identityGuard(
  secret: string,
  logger?: IdentityGuardLogger,
): (req: IncomingMessage, res: ServerResponse) => Principal | undefined {
  requireSecret(secret);
  return (req, res) => {
    try {
      return principalFromRequest(req.headers, secret);
    } catch (err) {
      if (!(err instanceof IdentityError)) throw err;
      logger?.debug({ reason: err.reason, method: req.method, url: req.url }, 'internal identity refused');
      res.writeHead(401, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(UNAUTHENTICATED_BODY),
        'cache-control': 'no-store',
      });
      res.end(UNAUTHENTICATED_BODY);
      return undefined;
    }
  };
}

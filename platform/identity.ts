// The internal identity: the ONLY way a subgraph learns who is asking, and the only module that makes and checks
// one. The gateway verifies the client's token, then forwards the principal in a JWS that is worth nothing once
// used: minted for one HTTP request, bound to its audience (the subgraph), method and body, alive at most 10 s,
// with a unique id each subgraph process remembers until expiry, so a second use is refused.
//
// Token: compact JWS (jose), header { alg: "HS256", typ: "internal-identity+jwt" }, HMAC key derived from
// INTERNAL_SECRET with HKDF-SHA256 (so the configured secret itself never keys anything else by accident).
// Claims: sub, roles, dept, kind (the principal) and, for an integration (an API key), scp (its scopes); aud = subgraph name (oa | archive | sync); htm = HTTP method;
// bh = base64url(SHA-256(exact body bytes)), the empty body for GET; iat, exp (exp - iat <= 10); jti (128 random
// bits); optionally rid (request id), addr (client address), op (operationName): where the request came from.
// deploy/healthcheck.mjs imports this file with plain Node (type stripping, no tsx): keep its TypeScript erasable
// (no enums, namespaces or constructor parameter properties) and its imports to node: modules and jose.
import { createHash, createHmac, hkdfSync, randomBytes, webcrypto } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody } from './http-body.ts';
import { errors as joseErrors, jwtVerify } from 'jose';

export const ROLES = ['EMPLOYEE', 'MANAGER', 'ACCOUNTANT', 'FINANCE_DIRECTOR', 'ARCHIVIST', 'AUDITOR', 'ADMIN'] as const;
export type Role = (typeof ROLES)[number];

/**
 * What an integration's API key may be granted (schema/permissions.ts, INTEGRATION, says what each lets it read).
 * Written as clients see them in `Authorization: ApiKey …` documentation and in the API's `ApiKeyScope` enum
 * (`events:read` is EVENTS_READ).
 */
export const API_SCOPES = ['events:read', 'reports:read', 'claims:read', 'feedback:read'] as const;
export type ApiScope = (typeof API_SCOPES)[number];

/** The API's `ApiKeyScope` enum values and the scopes they stand for. */
export const API_SCOPE_OF_ENUM = { EVENTS_READ: 'events:read', REPORTS_READ: 'reports:read', CLAIMS_READ: 'claims:read', FEEDBACK_READ: 'feedback:read' } as const satisfies Record<string, ApiScope>;
export type ApiScopeEnum = keyof typeof API_SCOPE_OF_ENUM;
/** The enum value of a scope, as the API shows it. */
export const apiScopeEnum = (scope: ApiScope): ApiScopeEnum => (Object.keys(API_SCOPE_OF_ENUM) as ApiScopeEnum[]).find((e) => API_SCOPE_OF_ENUM[e] === scope)!;

export const isApiScope = (value: unknown): value is ApiScope => typeof value === 'string' && (API_SCOPES as readonly string[]).includes(value);

/** user: an employee's token; service: another part of this system; integration: an API key (no roles, scopes). */
export type PrincipalKind = 'user' | 'service' | 'integration';

export interface Principal {
  sub: string;
  roles: Role[];
  departmentId: string | null;
  kind: PrincipalKind;
  /** An integration's scopes; absent (none) for users and services. */
  scopes?: readonly ApiScope[];
}

const KINDS: readonly PrincipalKind[] = ['user', 'service', 'integration'];
const isKind = (v: unknown): v is PrincipalKind => (KINDS as readonly unknown[]).includes(v);

/** Where a request came from, as the gateway saw it; null when the signer does not know (service calls). */
export interface RequestOrigin {
  /** The id the gateway gave the client's request (one per client request, shared by all its subgraph calls). */
  requestId: string | null;
  clientAddress: string | null;
  /** The client's operationName, at most 100 characters. */
  operationName: string | null;
  /** The client's Idempotency-Key (platform/integration/idempotency.ts): a retried mutation is applied once. */
  idempotencyKey?: string | null;
  /** When the gateway stops waiting (ms since the epoch): a subgraph commits nothing after it. */
  deadline?: number | null;
}

export const NO_ORIGIN: RequestOrigin = Object.freeze({ requestId: null, clientAddress: null, operationName: null });

export const INTERNAL_IDENTITY_HEADER = 'x-internal-identity';
export const IDENTITY_ALG = 'HS256';
export const IDENTITY_TYP = 'internal-identity+jwt';
/** Longest life of a token; signers mint one per HTTP request. */
export const MAX_TTL_SECONDS = 10;
/** Clock difference tolerated between a signer and a verifying subgraph (iat in the future, exp); a token is still
 * refused once 10 s have passed since its iat on the verifier's clock. */
export const CLOCK_SKEW_SECONDS = 5;
/** Most token ids a subgraph process remembers; past it, calls are refused (503) rather than the cache growing. */
export const REPLAY_CACHE_LIMIT = 100_000;
const MAX_TOKEN_CHARS = 4096;
const MAX_OPERATION_NAME = 100;
const MAX_REQUEST_ID = 100;
const MAX_ADDRESS = 64;
/** An Idempotency-Key: 8 to 128 printable ASCII characters (a UUID, a ULID, a hash). */
export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{8,128}$/;
const MAX_AUDIENCE = 40;
const JTI = /^[A-Za-z0-9_-]{22}$/;
const DIGEST = /^[A-Za-z0-9_-]{43}$/;
const METHOD = /^[A-Z]{1,16}$/;

export type IdentityFailure =
  | 'missing'
  | 'malformed'
  | 'bad signature'
  | 'bad algorithm'
  | 'expired'
  | 'not yet valid'
  | 'unknown role'
  | 'wrong audience'
  | 'wrong method'
  | 'body mismatch'
  | 'replayed'
  | 'replay cache full';

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

/** The identity an internal service (gateway, sync) signs its own calls with: no roles, no department. */
export const servicePrincipal = (name: string): Principal => ({ sub: name, roles: [], departmentId: null, kind: 'service' });

/** The HTTP request a token is minted for, or checked against. */
export interface BoundRequest {
  /** The subgraph's name: oa, archive, sync. */
  audience: string;
  /** GET, POST …; compared in upper case. */
  method: string;
  /** The exact bytes sent (a string is sent as UTF-8); absent or null: the empty body. */
  body?: string | Uint8Array | null;
  /** Instead of `body`: base64url(SHA-256) of a body streamed rather than held (an uploaded file, gateway/files.ts). */
  digest?: string;
}

/** base64url(SHA-256(body)): the `bh` claim. */
export const bodyDigest = (body: string | Uint8Array | null | undefined): string => createHash('sha256').update(body ?? '').digest('base64url');

// The signing key: HKDF-SHA256 of INTERNAL_SECRET, for this one purpose: its bytes for signing, and imported once
// as an HMAC-SHA-256 CryptoKey (usable for nothing else) for jose to verify with. Memoised for the last secrets seen.
const keys = new Map<string, { bytes: Buffer; crypto: Promise<webcrypto.CryptoKey> }>();
function keysFor(secret: string): { bytes: Buffer; crypto: Promise<webcrypto.CryptoKey> } {
  // An empty key would make every signature forgeable.
  if (typeof secret !== 'string' || secret.length === 0) throw new TypeError('internal identity secret must be a non-empty string');
  let key = keys.get(secret);
  if (!key) {
    const bytes = Buffer.from(hkdfSync('sha256', secret, 'oa-archive-federation', 'internal identity v2 HS256', 32));
    key = { bytes, crypto: webcrypto.subtle.importKey('raw', bytes, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']) };
    if (keys.size >= 4) keys.clear();
    keys.set(secret, key);
  }
  return key;
}
const keyFor = (secret: string): Promise<webcrypto.CryptoKey> => keysFor(secret).crypto;

/** The JWS protected header of every identity token, base64url. */
const IDENTITY_HEADER = Buffer.from(JSON.stringify({ alg: IDENTITY_ALG, typ: IDENTITY_TYP })).toString('base64url');

function checkAudience(audience: string): void {
  if (typeof audience !== 'string' || audience.length === 0 || audience.length > MAX_AUDIENCE) throw new TypeError('audience must be a subgraph name');
}

const boundedOrNull = (value: unknown, max: number): value is string => typeof value === 'string' && value.length > 0 && value.length <= max;

export interface SignOptions {
  /** Lifetime, 1 to 10 s (default 10). */
  ttlSeconds?: number;
  /** Milliseconds since the epoch (Date.now()). */
  now?: number;
  /** Where the request came from (the gateway knows; services calling on their own account do not). */
  origin?: Partial<RequestOrigin> | null;
}

/**
 * Mints the identity for ONE request to one subgraph. A token is refused when used a second time, for another
 * subgraph, another method or another body: sign every HTTP request anew, over the bytes actually sent.
 */
export async function signPrincipal(principal: Principal, secret: string, request: BoundRequest, opts: SignOptions = {}): Promise<string> {
  const key = keysFor(secret);
  const ttl = opts.ttlSeconds ?? MAX_TTL_SECONDS;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL_SECONDS) throw new RangeError(`ttlSeconds must be an integer from 1 to ${MAX_TTL_SECONDS}`);
  if (typeof principal.sub !== 'string' || principal.sub.length === 0) throw new TypeError('principal.sub must be a non-empty string');
  for (const role of principal.roles) if (!isRole(role)) throw new TypeError(`unknown role ${JSON.stringify(role)}`);
  if (!isKind(principal.kind)) throw new TypeError('principal.kind must be "user", "service" or "integration"');
  const scopes = principal.scopes ?? [];
  for (const scope of scopes) if (!isApiScope(scope)) throw new TypeError(`unknown scope ${JSON.stringify(scope)}`);
  // Scopes are what an integration has instead of roles: never on another kind, and an integration has no role.
  if (principal.kind !== 'integration' && scopes.length) throw new TypeError('only an integration principal has scopes');
  if (principal.kind === 'integration' && principal.roles.length) throw new TypeError('an integration principal has no roles');
  checkAudience(request.audience);
  const method = String(request.method).toUpperCase();
  if (!METHOD.test(method)) throw new TypeError('method must be an HTTP method');
  if (request.digest !== undefined && !DIGEST.test(request.digest)) throw new TypeError('digest must be a base64url SHA-256');
  const iat = Math.floor((opts.now ?? Date.now()) / 1000);
  const claims: Record<string, unknown> = {
    roles: [...principal.roles],
    dept: principal.departmentId ?? null,
    kind: principal.kind,
    ...(principal.kind === 'integration' ? { scp: [...scopes] } : {}),
    htm: method,
    bh: request.digest ?? bodyDigest(request.body),
  };
  const origin = opts.origin;
  if (boundedOrNull(origin?.requestId, MAX_REQUEST_ID)) claims.rid = origin.requestId;
  if (boundedOrNull(origin?.clientAddress, MAX_ADDRESS)) claims.addr = origin.clientAddress;
  if (typeof origin?.operationName === 'string' && origin.operationName.length > 0) claims.op = origin.operationName.slice(0, MAX_OPERATION_NAME);
  if (typeof origin?.idempotencyKey === 'string' && IDEMPOTENCY_KEY.test(origin.idempotencyKey)) claims.idk = origin.idempotencyKey;
  if (Number.isSafeInteger(origin?.deadline)) claims.dl = origin!.deadline;
  const payload = { ...claims, sub: principal.sub, aud: request.audience, iat, exp: iat + ttl, jti: randomBytes(16).toString('base64url') };
  // A compact JWS (RFC 7515 §7.1) with node:crypto's synchronous HMAC: one is minted for every subgraph request, and
  // jose's WebCrypto signing costs a thread-pool job and a promise each time (about 6 times the CPU, measured). The
  // subgraphs verify it with jose (verifyToken below), which the identity tests run against every token minted here.
  const input = `${IDENTITY_HEADER}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  return `${input}.${createHmac('sha256', key.bytes).update(input).digest('base64url')}`;
}

/** The header to send with one request: `{ 'x-internal-identity': token }`. */
export async function identityHeaders(principal: Principal, secret: string, request: BoundRequest, opts?: SignOptions): Promise<Record<string, string>> {
  return { [INTERNAL_IDENTITY_HEADER]: await signPrincipal(principal, secret, request, opts) };
}

/** What a verified token says. */
export interface VerifiedIdentity {
  principal: Principal;
  origin: RequestOrigin;
  /** The token's id and expiry (unix seconds), for the replay cache. */
  jti: string;
  exp: number;
  /** The `bh` claim, compared with the body received. */
  bodyHash: string;
}

/**
 * The token ids a subgraph process has accepted, each remembered until its token can no longer be accepted
 * (exp + clock skew). Bounded: at `limit` ids still alive, new tokens are refused rather than the map growing.
 * Per process: instances of one subgraph behind a load balancer do not share it.
 */
export class ReplayCache {
  readonly limit: number;
  private readonly seen = new Map<string, number>();
  private lastSweep = -1;

  constructor(limit: number = REPLAY_CACHE_LIMIT) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError('limit must be a positive integer');
    this.limit = limit;
  }

  get size(): number {
    return this.seen.size;
  }

  /** Records `jti` until `until` (unix seconds): 'ok' the first time, 'replayed' after, 'full' at the bound. */
  consume(jti: string, until: number, nowSeconds: number): 'ok' | 'replayed' | 'full' {
    // Insertion order is nearly expiry order (every token lives at most 10 s): drop expired ids from the front.
    for (const [id, forgetAt] of this.seen) {
      if (forgetAt >= nowSeconds) break;
      this.seen.delete(id);
    }
    if (this.seen.has(jti)) return 'replayed';
    if (this.seen.size >= this.limit && this.lastSweep !== nowSeconds) {
      // Full: one sweep of the whole map per second at most, for ids that expired out of order.
      this.lastSweep = nowSeconds;
      for (const [id, forgetAt] of this.seen) if (forgetAt < nowSeconds) this.seen.delete(id);
    }
    if (this.seen.size >= this.limit) return 'full';
    this.seen.set(jti, until);
    return 'ok';
  }
}

const failed = (reason: IdentityFailure, detail?: string): never => {
  throw new IdentityError(reason, detail);
};

function joseFailure(err: unknown): IdentityError {
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return new IdentityError('bad signature');
  if (err instanceof joseErrors.JOSEAlgNotAllowed || err instanceof joseErrors.JOSENotSupported) return new IdentityError('bad algorithm');
  if (err instanceof joseErrors.JWTExpired) return new IdentityError('expired', err.claim);
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') return new IdentityError('wrong audience');
    if (err.claim === 'iat' || err.claim === 'nbf') return new IdentityError('not yet valid');
    return new IdentityError('malformed', err.claim);
  }
  if (err instanceof joseErrors.JOSEError) return new IdentityError('malformed', err.code);
  return new IdentityError('malformed');
}

/**
 * Checks everything but the body and the replay cache: signature (HS256 only), typ, audience, method, lifetime.
 * @param now milliseconds since the epoch.
 */
export async function verifyToken(token: string, secret: string, expect: { audience: string; method: string }, now: number = Date.now()): Promise<VerifiedIdentity> {
  const key = keyFor(secret);
  checkAudience(expect.audience);
  if (typeof token !== 'string' || token.length === 0) return failed('missing');
  if (token.length > MAX_TOKEN_CHARS) return failed('malformed', 'too long');
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, await key, {
      algorithms: [IDENTITY_ALG],
      typ: IDENTITY_TYP,
      audience: expect.audience,
      currentDate: new Date(now),
      clockTolerance: CLOCK_SKEW_SECONDS,
      maxTokenAge: MAX_TTL_SECONDS,
      requiredClaims: ['sub', 'iat', 'exp', 'jti', 'htm', 'bh'],
    }));
  } catch (err) {
    throw joseFailure(err);
  }
  const p = payload;
  // jose checked the types of sub, aud, iat and exp; the rest is ours.
  if (typeof p.aud !== 'string') failed('wrong audience');
  if (typeof p.sub !== 'string' || p.sub.length === 0) failed('malformed', 'sub');
  if (!Array.isArray(p.roles) || !p.roles.every((r) => typeof r === 'string')) failed('malformed', 'roles');
  if (p.dept !== null && typeof p.dept !== 'string') failed('malformed', 'dept');
  if (!isKind(p.kind)) failed('malformed', 'kind');
  if (p.scp !== undefined && (p.kind !== 'integration' || !Array.isArray(p.scp) || !p.scp.every(isApiScope))) failed('malformed', 'scp');
  if (p.kind === 'integration' && (p.scp === undefined || (p.roles as unknown[]).length > 0)) failed('malformed', 'scp');
  if (!Number.isSafeInteger(p.iat) || !Number.isSafeInteger(p.exp)) failed('malformed', 'iat/exp');
  const iat = p.iat as number;
  const exp = p.exp as number;
  if (exp <= iat || exp - iat > MAX_TTL_SECONDS) failed('malformed', 'lifetime');
  // Never accepted more than 10 s after it was issued, whatever the skew allowance on exp.
  if (Math.floor(now / 1000) - iat > MAX_TTL_SECONDS) failed('expired', 'iat');
  if (typeof p.jti !== 'string' || !JTI.test(p.jti)) failed('malformed', 'jti');
  if (typeof p.bh !== 'string' || !DIGEST.test(p.bh)) failed('malformed', 'bh');
  if (typeof p.htm !== 'string' || p.htm !== String(expect.method).toUpperCase()) failed('wrong method');
  for (const [claim, max] of [['rid', MAX_REQUEST_ID], ['addr', MAX_ADDRESS], ['op', MAX_OPERATION_NAME]] as const) {
    if (p[claim] !== undefined && !boundedOrNull(p[claim], max)) failed('malformed', claim);
  }
  if (p.idk !== undefined && (typeof p.idk !== 'string' || !IDEMPOTENCY_KEY.test(p.idk))) failed('malformed', 'idk');
  if (p.dl !== undefined && !Number.isSafeInteger(p.dl)) failed('malformed', 'dl');
  const unknown = (p.roles as string[]).find((r) => !isRole(r));
  if (unknown !== undefined) failed('unknown role', unknown.slice(0, 40));
  return {
    principal: {
      sub: p.sub as string,
      roles: p.roles as Role[],
      departmentId: p.dept as string | null,
      kind: p.kind as PrincipalKind,
      ...(p.kind === 'integration' ? { scopes: p.scp as ApiScope[] } : {}),
    },
    origin: {
      requestId: (p.rid as string | undefined) ?? null,
      clientAddress: (p.addr as string | undefined) ?? null,
      operationName: (p.op as string | undefined) ?? null,
      idempotencyKey: (p.idk as string | undefined) ?? null,
      deadline: (p.dl as number | undefined) ?? null,
    },
    jti: p.jti as string,
    exp,
    bodyHash: p.bh as string,
  };
}

/** The last two checks: the body received is the body signed, and the token was not used before. */
export function acceptOnce(identity: VerifiedIdentity, body: string | Uint8Array | null | undefined, replay: ReplayCache, now: number = Date.now()): void {
  if (bodyDigest(body) !== identity.bodyHash) failed('body mismatch');
  const outcome = replay.consume(identity.jti, identity.exp + CLOCK_SKEW_SECONDS, Math.floor(now / 1000));
  if (outcome === 'replayed') failed('replayed');
  if (outcome === 'full') failed('replay cache full');
}

/**
 * Verifies a token for one received request: signature, alg, typ, audience, method, body digest, lifetime and
 * single use (recorded in `replay`).
 * @throws IdentityError with a short reason.
 */
export async function verifyPrincipal(token: string, secret: string, request: BoundRequest, replay: ReplayCache, now: number = Date.now()): Promise<VerifiedIdentity> {
  const identity = await verifyToken(token, secret, request, now);
  acceptOnce(identity, request.body, replay, now);
  return identity;
}

/** The body of every 401: deliberately the same whatever the reason. */
export const UNAUTHENTICATED_BODY = JSON.stringify({
  errors: [{ message: 'Unauthenticated: a valid internal identity is required', extensions: { code: 'UNAUTHENTICATED' } }],
});
const TOO_LARGE_BODY = JSON.stringify({ errors: [{ message: 'Request body too large', extensions: { code: 'BAD_USER_INPUT' } }] });
const BUSY_BODY = JSON.stringify({ errors: [{ message: 'Too many requests in flight; try again', extensions: { code: 'SERVICE_UNAVAILABLE' } }] });

export interface IdentityGuardLogger {
  debug(obj: object, msg?: string): void;
}

export interface IdentityGuardOptions {
  /** The subgraph's name: tokens for any other audience are refused. */
  audience: string;
  logger?: IdentityGuardLogger;
  /** Largest body read (bytes); larger ones get 413. */
  maxBodyBytes?: number;
  /** Milliseconds since the epoch (tests move it). */
  clock?: () => number;
  /** The process's cache for this subgraph (default: a new one per guard). */
  replay?: ReplayCache;
}

/** A verified request: who, from where, and the raw body, read once and checked against the token. */
export interface GuardedRequest extends VerifiedIdentity {
  body: Buffer;
}

function answer(res: ServerResponse, status: number, body: string, extra: Record<string, string> = {}): undefined {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(body)), 'cache-control': 'no-store', ...extra });
  res.end(body);
  return undefined;
}

/**
 * node:http guard for a subgraph. Verifies the token, reads the raw body (POST; others have none) before anything
 * parses it, checks its digest and the token's single use, and returns the identity with the body; or answers
 * (401 for any identity failure, 413 for a body over the limit, 503 when the replay cache is full) and returns
 * undefined. The reason goes to the debug log only (never the token).
 */
export function identityGuard(secret: string, opts: IdentityGuardOptions): (req: IncomingMessage, res: ServerResponse) => Promise<GuardedRequest | undefined> {
  keyFor(secret);
  checkAudience(opts.audience);
  const replay = opts.replay ?? new ReplayCache();
  const clock = opts.clock ?? Date.now;
  const limit = opts.maxBodyBytes ?? 1024 * 1024;
  return async (req, res) => {
    const method = req.method ?? 'GET';
    try {
      const header = req.headers[INTERNAL_IDENTITY_HEADER];
      // A repeated header is ambiguous: refuse rather than pick one.
      if (Array.isArray(header)) failed('malformed', 'header repeated');
      if (header === undefined || header === '') failed('missing');
      const identity = await verifyToken(header as string, secret, { audience: opts.audience, method }, clock());
      const body = method === 'POST' ? await readBody(req, limit) : Buffer.alloc(0);
      if (!body) return answer(res, 413, TOO_LARGE_BODY, { connection: 'close' });
      acceptOnce(identity, body, replay, clock());
      return { ...identity, body };
    } catch (err) {
      if (!(err instanceof IdentityError)) throw err;
      opts.logger?.debug({ reason: err.reason, audience: opts.audience, method, url: req.url }, 'internal identity refused');
      if (err.reason === 'replay cache full') return answer(res, 503, BUSY_BODY, { 'retry-after': '1' });
      return answer(res, 401, UNAUTHENTICATED_BODY);
    }
  };
}

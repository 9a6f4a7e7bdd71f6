// The internal identity (platform/identity.ts): a jose JWS per request, bound to audience, method and body, short
// lived and single use.
import { hkdfSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLOCK_SKEW_SECONDS,
  IdentityError,
  INTERNAL_IDENTITY_HEADER,
  MAX_TTL_SECONDS,
  ReplayCache,
  ROLES,
  bodyDigest,
  identityGuard,
  identityHeaders,
  signPrincipal,
  verifyPrincipal,
  type BoundRequest,
  type IdentityFailure,
  type Principal,
} from '../../platform/identity.ts';

const SECRET = 'test-internal-secret-0123456789-abcdefgh';
const OTHER_SECRET = 'another-internal-secret-0123456789-xyz';
const NOW = Date.UTC(2025, 0, 15, 9, 30, 0);
const BODY = '{"query":"{ departments { id } }"}';
const TO_OA: BoundRequest = { audience: 'oa', method: 'POST', body: BODY };

const alice: Principal = { sub: 'emp-001', roles: ['EMPLOYEE', 'MANAGER'], departmentId: 'dept-finance', kind: 'user' };

async function failure(fn: () => Promise<unknown>): Promise<IdentityFailure> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(IdentityError);
    return (err as IdentityError).reason;
  }
  throw new Error('expected an IdentityError');
}

/** The signing key as platform/identity.ts derives it: tests forge correctly signed tokens of any shape with it. */
const KEY = new Uint8Array(hkdfSync('sha256', SECRET, 'oa-archive-federation', 'internal identity v2 HS256', 32));
const s = NOW / 1000;
const goodClaims = () => ({ roles: ['EMPLOYEE'], dept: null, kind: 'user', htm: 'POST', bh: bodyDigest(BODY), jti: 'AAAAAAAAAAAAAAAAAAAAAA', sub: 'emp-001', aud: 'oa', iat: s, exp: s + 10 });
function forge(claims: Record<string, unknown>, header: Record<string, unknown> = { alg: 'HS256', typ: 'internal-identity+jwt' }, key: Uint8Array = KEY): Promise<string> {
  return new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(key);
}
const verify = (token: string, request: BoundRequest = TO_OA, now = NOW, replay = new ReplayCache()) => verifyPrincipal(token, SECRET, request, replay, now);

describe('signPrincipal / verifyPrincipal', () => {
  it('exports the role list of docs/api.md#identity', () => {
    expect(ROLES).toEqual(['EMPLOYEE', 'MANAGER', 'ACCOUNTANT', 'FINANCE_DIRECTOR', 'ARCHIVIST', 'AUDITOR', 'ADMIN']);
    expect(INTERNAL_IDENTITY_HEADER).toBe('x-internal-identity');
    expect(MAX_TTL_SECONDS).toBeLessThanOrEqual(10);
    expect(CLOCK_SKEW_SECONDS).toBeLessThanOrEqual(5);
  });

  it('round-trips a principal and the origin of the request', async () => {
    const token = await signPrincipal(alice, SECRET, TO_OA, { now: NOW, origin: { requestId: 'req-1', clientAddress: '203.0.113.9', operationName: 'Departments' } });
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(await verify(token)).toMatchObject({ principal: alice, origin: { requestId: 'req-1', clientAddress: '203.0.113.9', operationName: 'Departments' } });
    const service: Principal = { sub: 'sync', roles: [], departmentId: null, kind: 'service' };
    const bare = await verify(await signPrincipal(service, SECRET, TO_OA, { now: NOW }));
    expect(bare).toMatchObject({ principal: service, origin: { requestId: null, clientAddress: null, operationName: null, idempotencyKey: null, deadline: null } });
    // The client's Idempotency-Key and the gateway's deadline travel signed too; a malformed key is not signed.
    const keyed = await signPrincipal(alice, SECRET, TO_OA, { now: NOW, origin: { requestId: 'req-2', idempotencyKey: 'key-0123456789', deadline: NOW + 9_000 } });
    expect(await verify(keyed)).toMatchObject({ origin: { idempotencyKey: 'key-0123456789', deadline: NOW + 9_000 } });
    const badKey = await signPrincipal(alice, SECRET, TO_OA, { now: NOW, origin: { idempotencyKey: 'no spaces allowed' } });
    expect(await verify(badKey)).toMatchObject({ origin: { idempotencyKey: null } });
  });

  it("carries an integration's scopes (scp), and only an integration's, which has no roles", async () => {
    const integration: Principal = { sub: 'apikey:0123456789abcdef01234567', roles: [], departmentId: null, kind: 'integration', scopes: ['events:read', 'claims:read'] };
    const token = await signPrincipal(integration, SECRET, TO_OA, { now: NOW });
    expect(decodeJwt(token).scp).toEqual(['events:read', 'claims:read']);
    expect((await verify(token)).principal).toEqual(integration);
    expect(decodeJwt(await signPrincipal(alice, SECRET, TO_OA, { now: NOW })).scp).toBeUndefined();
    await expect(signPrincipal({ ...alice, scopes: ['claims:read'] }, SECRET, TO_OA)).rejects.toThrow(TypeError);
    await expect(signPrincipal({ ...integration, roles: ['ADMIN'] }, SECRET, TO_OA)).rejects.toThrow(TypeError);
    await expect(signPrincipal({ ...integration, scopes: ['claims:write' as never] }, SECRET, TO_OA)).rejects.toThrow(TypeError);
    const good = { ...goodClaims(), kind: 'integration', roles: [], scp: ['events:read'] };
    expect((await verify(await forge(good))).principal).toMatchObject({ kind: 'integration', scopes: ['events:read'] });
    for (const claims of [{ ...good, scp: ['events:write'] }, { ...good, scp: 'events:read' }, { ...good, roles: ['ADMIN'] }, { ...goodClaims(), kind: 'integration', roles: [] }, { ...goodClaims(), scp: ['events:read'] }]) {
      expect(await failure(async () => verify(await forge(claims))), JSON.stringify(claims)).toBe('malformed');
    }
  });

  it('is a compact HS256 JWS with the principal, audience, method, body digest, a 10 s life and a 128-bit id', async () => {
    const token = await signPrincipal(alice, SECRET, TO_OA, { now: NOW, origin: { operationName: 'x'.repeat(300) } });
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'HS256', typ: 'internal-identity+jwt' });
    const claims = decodeJwt(token);
    expect(claims).toEqual({
      sub: 'emp-001',
      roles: ['EMPLOYEE', 'MANAGER'],
      dept: 'dept-finance',
      kind: 'user',
      aud: 'oa',
      htm: 'POST',
      bh: bodyDigest(BODY),
      iat: s,
      exp: s + 10,
      jti: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
      op: 'x'.repeat(100),
    });
    expect(Buffer.from(claims.jti!, 'base64url')).toHaveLength(16);
    expect(bodyDigest(BODY)).toBe(Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(BODY))).toString('base64url'));
    expect(bodyDigest(undefined)).toBe(bodyDigest(''));
    const again = decodeJwt(await signPrincipal(alice, SECRET, TO_OA, { now: NOW }));
    expect(again.jti).not.toBe(claims.jti);
    await expect(signPrincipal(alice, SECRET, TO_OA, { ttlSeconds: 11 })).rejects.toThrow(RangeError);
    await expect(signPrincipal(alice, SECRET, TO_OA, { ttlSeconds: 60 })).rejects.toThrow(RangeError);
  });

  it('binds the audience, the method and the body', async () => {
    const token = async () => signPrincipal(alice, SECRET, TO_OA, { now: NOW });
    expect(await failure(async () => verify(await token(), { ...TO_OA, audience: 'archive' }))).toBe('wrong audience');
    expect(await failure(async () => verify(await token(), { ...TO_OA, method: 'GET' }))).toBe('wrong method');
    expect(await failure(async () => verify(await token(), { ...TO_OA, body: BODY.replace('departments', 'me') }))).toBe('body mismatch');
    expect(await failure(async () => verify(await token(), { ...TO_OA, body: `${BODY} ` }))).toBe('body mismatch');
    expect(await failure(async () => verify(await token(), { ...TO_OA, body: Buffer.from(BODY, 'utf16le') }))).toBe('body mismatch');
    // The same bytes as a Buffer are the same body.
    expect((await verify(await token(), { ...TO_OA, body: Buffer.from(BODY) })).principal).toEqual(alice);
    // GET: the empty body.
    const get = await signPrincipal(alice, SECRET, { audience: 'sync', method: 'get' }, { now: NOW });
    expect(decodeJwt(get)).toMatchObject({ htm: 'GET', bh: '47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU' });
    expect((await verify(get, { audience: 'sync', method: 'GET', body: Buffer.alloc(0) })).principal).toEqual(alice);
  });

  it('accepts a token once: the replay cache refuses it the second time', async () => {
    const replay = new ReplayCache();
    const token = await signPrincipal(alice, SECRET, TO_OA, { now: NOW });
    expect((await verify(token, TO_OA, NOW, replay)).principal).toEqual(alice);
    expect(await failure(() => verify(token, TO_OA, NOW + 1000, replay))).toBe('replayed');
    expect(replay.size).toBe(1);
    // Refused for another reason first (another body): the id is not spent, the genuine request still passes.
    const other = await signPrincipal(alice, SECRET, TO_OA, { now: NOW });
    expect(await failure(() => verify(other, { ...TO_OA, body: '{}' }, NOW, replay))).toBe('body mismatch');
    expect((await verify(other, TO_OA, NOW, replay)).principal).toEqual(alice);
  });

  it('lives at most 10 s: refused 11 s after it was issued, and when issued more than 5 s in the future', async () => {
    const token = await signPrincipal(alice, SECRET, TO_OA, { now: NOW });
    expect((await verify(token, TO_OA, NOW + 9_000)).principal).toEqual(alice);
    expect((await verify(token, TO_OA, NOW + 10_999)).principal).toEqual(alice);
    expect(await failure(() => verify(token, TO_OA, NOW + 11_000))).toBe('expired');
    expect(await failure(() => verify(token, TO_OA, NOW + 3_600_000))).toBe('expired');
    const short = await signPrincipal(alice, SECRET, TO_OA, { now: NOW, ttlSeconds: 2 });
    expect((await verify(short, TO_OA, NOW + 6_000)).principal).toEqual(alice); // exp + 5 s skew
    expect(await failure(() => verify(short, TO_OA, NOW + 7_000))).toBe('expired');
    expect((await verify(await signPrincipal(alice, SECRET, TO_OA, { now: NOW + 5_000 }), TO_OA, NOW)).principal).toEqual(alice);
    expect(await failure(async () => verify(await signPrincipal(alice, SECRET, TO_OA, { now: NOW + 6_000 }), TO_OA, NOW))).toBe('not yet valid');
  });

  it('refuses a tampered payload or signature, and a token signed with another secret', async () => {
    const token = await signPrincipal(alice, SECRET, TO_OA, { now: NOW });
    const [h, , sig] = token.split('.');
    const elevated = Buffer.from(JSON.stringify({ ...decodeJwt(token), roles: ['ADMIN'] })).toString('base64url');
    expect(await failure(() => verify(`${h}.${elevated}.${sig}`))).toBe('bad signature');
    const last = token.at(-2) === 'A' ? 'B' : 'A';
    expect(await failure(() => verify(`${token.slice(0, -2)}${last}${token.at(-1)}`))).toBe('bad signature');
    expect(await failure(async () => verify(await signPrincipal(alice, OTHER_SECRET, TO_OA, { now: NOW })))).toBe('bad signature');
    // INTERNAL_SECRET itself is not the key: a token HMACed with the raw secret is refused.
    expect(await failure(async () => verify(await forge(goodClaims(), undefined, new TextEncoder().encode(SECRET))))).toBe('bad signature');
    expect((await verify(await forge(goodClaims()))).principal.sub).toBe('emp-001');
  });

  it('pins the algorithm: alg none and HS512 are refused', async () => {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const none = `${b64({ alg: 'none', typ: 'internal-identity+jwt' })}.${b64(goodClaims())}.`;
    expect(await failure(() => verify(none))).toMatch(/bad algorithm|malformed/);
    const hs512Key = new Uint8Array(hkdfSync('sha256', SECRET, 'oa-archive-federation', 'internal identity v2 HS256', 64));
    expect(await failure(async () => verify(await forge(goodClaims(), { alg: 'HS512', typ: 'internal-identity+jwt' }, hs512Key)))).toBe('bad algorithm');
  });

  it('refuses correctly signed tokens of the wrong shape', async () => {
    const good = goodClaims();
    const { jti: _jti, ...noJti } = good;
    const { bh: _bh, ...noBh } = good;
    for (const claims of [
      noJti,
      noBh,
      { ...good, jti: 'short' },
      { ...good, sub: '' },
      { ...good, roles: 'ADMIN' },
      { ...good, dept: 7 },
      { ...good, kind: 'robot' },
      { ...good, bh: 'not-a-digest' },
      { ...good, exp: s + 60 }, // a life longer than 10 s
      { ...good, rid: 'r'.repeat(101) },
    ]) {
      expect(await failure(async () => verify(await forge(claims))), JSON.stringify(claims)).toMatch(/malformed|expired/);
    }
    expect(await failure(async () => verify(await forge(good, { alg: 'HS256' })))).toBe('malformed'); // no typ
    expect(await failure(async () => verify(await forge(good, { alg: 'HS256', typ: 'JWT' })))).toBe('malformed');
    expect(await failure(async () => verify(await forge({ ...good, aud: ['oa', 'archive'] })))).toBe('wrong audience');
    expect(await failure(async () => verify(await forge({ ...good, roles: ['EMPLOYEE', 'SUPERUSER'] })))).toBe('unknown role');
    for (const bad of ['garbage', 'a.b', 'a.b.c', 'x'.repeat(5000)]) expect(await failure(() => verify(bad))).toBe('malformed');
    expect(await failure(() => verify(''))).toBe('missing');
  });

  it('refuses to sign what it cannot bind, and an empty secret', async () => {
    await expect(signPrincipal({ ...alice, roles: ['ROOT' as never] }, SECRET, TO_OA)).rejects.toThrow(TypeError);
    await expect(signPrincipal(alice, SECRET, { ...TO_OA, audience: '' })).rejects.toThrow(TypeError);
    await expect(signPrincipal(alice, '', TO_OA)).rejects.toThrow(TypeError);
    await expect(verifyPrincipal('a.b.c', '', TO_OA, new ReplayCache())).rejects.toThrow(TypeError);
  });
});

describe('ReplayCache', () => {
  it('forgets ids once their token can no longer be accepted', () => {
    const cache = new ReplayCache();
    expect(cache.consume('a', 110, 100)).toBe('ok');
    expect(cache.consume('a', 110, 105)).toBe('replayed');
    expect(cache.consume('b', 120, 110)).toBe('ok');
    expect(cache.consume('a', 110, 110)).toBe('replayed'); // still accepted at 110, so still remembered
    expect(cache.consume('c', 130, 111)).toBe('ok'); // 'a' pruned
    expect(cache.size).toBe(2);
  });

  it('is bounded: at the limit of live ids it refuses new ones instead of growing', () => {
    const cache = new ReplayCache(3);
    for (const id of ['a', 'b', 'c']) expect(cache.consume(id, 200, 100)).toBe('ok');
    expect(cache.consume('d', 200, 100)).toBe('full');
    expect(cache.size).toBe(3);
    expect(cache.consume('a', 200, 100)).toBe('replayed');
    // Once they expire there is room again, even for ids that expired out of order.
    const mixed = new ReplayCache(2);
    expect(mixed.consume('late', 300, 100)).toBe('ok');
    expect(mixed.consume('early', 150, 100)).toBe('ok');
    expect(mixed.consume('x', 400, 200)).toBe('ok'); // 'early' swept although behind 'late'
    expect(mixed.size).toBe(2);
  });
});

describe('identityGuard over HTTP', () => {
  let server: Server;
  let base: string;
  let now = Date.now();
  const debugLines: string[] = [];
  const replay = new ReplayCache(1000);

  beforeAll(async () => {
    const guard = identityGuard(SECRET, { audience: 'oa', logger: { debug: (obj, msg) => debugLines.push(JSON.stringify({ ...obj, msg })) }, clock: () => now, replay, maxBodyBytes: 1024 });
    server = createServer(async (req, res) => {
      const verified = await guard(req, res);
      if (!verified) return;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ principal: verified.principal, origin: verified.origin, body: verified.body.toString('utf8') }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  const expected401 = {
    errors: [{ message: 'Unauthenticated: a valid internal identity is required', extensions: { code: 'UNAUTHENTICATED' } }],
  };
  const post = async (headers: Record<string, string>, body = BODY) => fetch(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

  it('answers 401 with the fixed JSON body when the header is missing', async () => {
    const res = await fetch(`${base}/graphql`, { method: 'POST' });
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await res.json()).toEqual(expected401);
  });

  it('answers 200 once with the principal and the raw body, and 401 to the same request again', async () => {
    now = Date.now();
    const headers = await identityHeaders(alice, SECRET, TO_OA, { origin: { requestId: 'r-42' } });
    const first = await post(headers);
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ principal: alice, origin: { requestId: 'r-42', clientAddress: null, operationName: null, idempotencyKey: null, deadline: null }, body: BODY });
    const second = await post(headers);
    expect(second.status).toBe(401);
    expect(await second.json()).toEqual(expected401);
  });

  it('answers the same 401 for any bad token, and logs only the reason', async () => {
    now = Date.now();
    const forged = await signPrincipal({ ...alice, roles: ['ADMIN'] }, OTHER_SECRET, TO_OA);
    const otherAudience = await signPrincipal(alice, SECRET, { ...TO_OA, audience: 'archive' });
    const otherBody = await signPrincipal(alice, SECRET, { ...TO_OA, body: '{"query":"{ me { id } }"}' });
    const expired = await signPrincipal(alice, SECRET, TO_OA, { now: now - 11_000 });
    for (const token of [forged, otherAudience, otherBody, expired, 'nonsense']) {
      const res = await post({ [INTERNAL_IDENTITY_HEADER]: token });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual(expected401);
    }
    const log = debugLines.join('\n');
    for (const reason of ['bad signature', 'wrong audience', 'body mismatch', 'expired', 'malformed']) expect(log).toContain(`"reason":"${reason}"`);
    for (const token of [forged, otherAudience, otherBody, expired]) expect(log).not.toContain(token);
  });

  it('uses its clock: the same valid token is refused once the clock is 11 s on', async () => {
    now = Date.now();
    const headers = await identityHeaders(alice, SECRET, TO_OA, { now });
    now += 11_000;
    expect((await post(headers)).status).toBe(401);
    now -= 2_000; // 9 s after issue: accepted (and spent)
    expect((await post(headers)).status).toBe(200);
  });

  it('answers 413 for a body over the limit, and 503 when the replay cache is full', async () => {
    now = Date.now();
    const big = JSON.stringify({ query: `{ ${'a '.repeat(600)}}` });
    expect((await post(await identityHeaders(alice, SECRET, { ...TO_OA, body: big }), big)).status).toBe(413);
    const tiny = new ReplayCache(1);
    const guard = identityGuard(SECRET, { audience: 'oa', replay: tiny });
    const full = createServer(async (req, res) => {
      if (await guard(req, res)) res.end('ok');
    });
    await new Promise<void>((r) => full.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(full.address() as AddressInfo).port}/graphql`;
    try {
      const send = async () => fetch(url, { method: 'POST', headers: await identityHeaders(alice, SECRET, TO_OA), body: BODY });
      expect((await send()).status).toBe(200);
      const refused = await send();
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
    } finally {
      await new Promise<void>((r) => full.close(() => r()));
    }
  });
});

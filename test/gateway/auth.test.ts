// Client tokens: HS256 and JWKS (RS256/ES256) with issuer and audience; roles merged with the directory's.
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { AuthenticationError, type DirectoryEntry, createAuthenticator } from '../../gateway/auth.ts';

const SECRET = 'client-jwt-secret-for-tests-0123456789abcdef';
const key = new TextEncoder().encode(SECRET);
const hs = (claims: Record<string, unknown>, opts: { exp?: number | string; secret?: Uint8Array } = {}) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime(opts.exp ?? '5m').sign(opts.secret ?? key);

const directory = new Map<string, DirectoryEntry>([['emp-1', { roles: ['EMPLOYEE', 'MANAGER'], departmentId: 'dept-sales' }]]);
let lookups = 0;
const lookup = async (sub: string) => {
  lookups++;
  return directory.get(sub) ?? null;
};

const refused = async (p: Promise<unknown>) => {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(AuthenticationError);
  return (err as AuthenticationError).message;
};

describe('HS256 client tokens', () => {
  const auth = createAuthenticator({ jwtSecret: SECRET, lookup });

  it('merges the token roles with the directory and takes the department from the directory', async () => {
    expect(await auth(`Bearer ${await hs({ sub: 'emp-1', roles: ['ACCOUNTANT'] })}`)).toEqual({
      sub: 'emp-1',
      roles: ['ACCOUNTANT', 'EMPLOYEE', 'MANAGER'],
      departmentId: 'dept-sales',
      kind: 'user',
      expiresAt: expect.any(Number),
    });
    const service = await auth(`Bearer ${await hs({ sub: 'sync-service', roles: [] })}`);
    expect(service).toEqual({ sub: 'sync-service', roles: [], departmentId: null, kind: 'user', expiresAt: expect.any(Number) });
    // The token's exp, in milliseconds: subscriptions end then.
    expect(Math.abs(service.expiresAt - (Date.now() + 5 * 60_000))).toBeLessThan(5000);
  });

  it('refuses missing, malformed, expired, wrongly signed tokens and unknown roles, without saying which check failed', async () => {
    expect(await refused(auth(undefined))).toBe('a Bearer token or an API key is required');
    expect(await refused(auth('Basic abc'))).toBe('a Bearer token or an API key is required');
    expect(await refused(auth(`Bearer ${await hs({ sub: 'emp-1' }, { exp: Math.floor(Date.now() / 1000) - 10 })}`))).toBe('the token is invalid or expired');
    expect(await refused(auth(`Bearer ${await hs({ sub: 'emp-1' }, { secret: new TextEncoder().encode('another-secret-of-enough-length-0000000') })}`))).toBe('the token is invalid or expired');
    expect(await refused(auth(`Bearer ${await hs({ roles: ['ADMIN'] })}`))).toBe('the token is invalid or expired');
    expect(await refused(auth(`Bearer ${await hs({ sub: 'emp-1', roles: ['GOD'] })}`))).toBe('the token names an unknown role');
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'emp-1', exp: 9e9 })).toString('base64url')}.x`;
    expect(await refused(auth(`Bearer ${none}`))).toBe('the token is invalid or expired');
  });

  it('refuses a sub that is no printable string: a number, empty, control characters, surrounding spaces, over 128 characters', async () => {
    const before = lookups;
    for (const sub of [123, 0, true, ['emp-1'], '', ' ', 'a\u0001b', 'emp-1\n', 'a\u202eb', ' emp-1', 'e\u0301mp', 'x'.repeat(129)]) {
      expect(await refused(auth(`Bearer ${await hs({ sub })}`)), JSON.stringify(sub)).toBe('the token is invalid or expired');
    }
    // Refused before the directory is asked.
    expect(lookups).toBe(before);
    expect((await auth(`Bearer ${await hs({ sub: 'x'.repeat(128) })}`)).sub).toBe('x'.repeat(128));
    expect((await auth(`Bearer ${await hs({ sub: '员工-7' })}`)).sub).toBe('员工-7');
  });

  it('refuses a token that lives longer than maxTtlSeconds (default 24 h), counted from iat or from now', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect(await refused(auth(`Bearer ${await hs({ sub: 'emp-1' }, { exp: now + 100 * 365 * 86_400 })}`))).toBe('the token lives longer than the 86400 seconds allowed (JWT_MAX_TTL)');
    expect(await refused(auth(`Bearer ${await hs({ sub: 'emp-1' }, { exp: '25h' })}`))).toContain('JWT_MAX_TTL');
    expect((await auth(`Bearer ${await hs({ sub: 'emp-1' }, { exp: '23h' })}`)).sub).toBe('emp-1');
    // Without iat, counted from now.
    const noIat = (exp: number) => new SignJWT({ sub: 'emp-1' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(exp).sign(key);
    expect(await refused(auth(`Bearer ${await noIat(now + 86_400 + 3600)}`))).toContain('JWT_MAX_TTL');
    expect((await auth(`Bearer ${await noIat(now + 3600)}`)).sub).toBe('emp-1');
    const short = createAuthenticator({ jwtSecret: SECRET, lookup, maxTtlSeconds: 600 });
    expect((await short(`Bearer ${await hs({ sub: 'emp-1' }, { exp: '10m' })}`)).sub).toBe('emp-1');
    expect(await refused(short(`Bearer ${await hs({ sub: 'emp-1' }, { exp: '11m' })}`))).toBe('the token lives longer than the 600 seconds allowed (JWT_MAX_TTL)');
    // Issued 20 minutes ago for 30 minutes: 10 minutes left, but its lifetime is over the bound.
    const old = await new SignJWT({ sub: 'emp-1' }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt(now - 1200).setExpirationTime(now + 600).sign(key);
    expect(await refused(short(`Bearer ${old}`))).toContain('JWT_MAX_TTL');
  });

  it('caches directory answers for a short time, with a bound', async () => {
    let now = 1_800_000_000_000;
    const cached = createAuthenticator({ jwtSecret: SECRET, lookup, cacheTtlMs: 1000, cacheSize: 2, now: () => now });
    const token = `Bearer ${await new SignJWT({ sub: 'emp-1' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(now / 1000 + 600).sign(key)}`;
    const before = lookups;
    await cached(token);
    await cached(token);
    expect(lookups - before).toBe(1);
    now += 1500;
    await cached(token);
    expect(lookups - before).toBe(2);
  });

  it('remembers a verified token, but never past its exp, nor a token whose signature failed', async () => {
    let now = 1_800_000_000_000;
    const auth = createAuthenticator({ jwtSecret: SECRET, lookup, cacheTtlMs: 60_000, now: () => now });
    const exp = now / 1000 + 30;
    const good = await new SignJWT({ sub: 'emp-1' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(exp).sign(key);
    expect((await auth(`Bearer ${good}`)).sub).toBe('emp-1');
    now += 29_000;
    expect((await auth(`Bearer ${good}`)).sub).toBe('emp-1');
    now = exp * 1000; // remembered for another 30 s of the cache time, yet expired now
    expect(await refused(auth(`Bearer ${good}`))).toBe('the token is invalid or expired');
    // The same claims with a tampered signature: refused every time, whatever was verified before.
    now = 1_800_000_000_000;
    const tampered = `${good.slice(0, -2)}${good.endsWith('AA') ? 'AB' : 'AA'}`;
    expect(await refused(auth(`Bearer ${tampered}`))).toBe('the token is invalid or expired');
    expect((await auth(`Bearer ${good}`)).sub).toBe('emp-1');
    expect(await refused(auth(`Bearer ${tampered}`))).toBe('the token is invalid or expired');
  });
});

describe('JWKS client tokens (RS256, ES256) with issuer and audience', () => {
  let server: Server;
  afterAll(() => new Promise<void>((r) => server?.close(() => r())));

  it('accepts tokens signed by a key of the set for the right issuer and audience only', async () => {
    const rsa = await generateKeyPair('RS256');
    const ec = await generateKeyPair('ES256');
    const keys = [{ ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256' }, { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256' }];
    server = createServer((_, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys })));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
    const auth = createAuthenticator({ jwksUrl: url, issuer: 'https://idp.example', audience: 'oa-archive', lookup });
    const sign = (alg: 'RS256' | 'ES256', claims: { iss: string; aud: string }) =>
      new SignJWT({ sub: 'emp-1' })
        .setProtectedHeader({ alg, kid: alg === 'RS256' ? 'rsa-1' : 'ec-1' })
        .setIssuer(claims.iss)
        .setAudience(claims.aud)
        .setExpirationTime('5m')
        .sign(alg === 'RS256' ? rsa.privateKey : ec.privateKey);
    expect((await auth(`Bearer ${await sign('RS256', { iss: 'https://idp.example', aud: 'oa-archive' })}`)).sub).toBe('emp-1');
    expect((await auth(`Bearer ${await sign('ES256', { iss: 'https://idp.example', aud: 'oa-archive' })}`)).roles).toEqual(['EMPLOYEE', 'MANAGER']);
    expect(await refused(auth(`Bearer ${await sign('RS256', { iss: 'https://other.example', aud: 'oa-archive' })}`))).toBe('the token is invalid or expired');
    expect(await refused(auth(`Bearer ${await sign('RS256', { iss: 'https://idp.example', aud: 'another-api' })}`))).toBe('the token is invalid or expired');
    // An HS256 token made with the public key as secret (algorithm confusion) is refused.
    expect(await refused(auth(`Bearer ${await hs({ sub: 'emp-1', iss: 'https://idp.example', aud: 'oa-archive' })}`))).toBe('the token is invalid or expired');
  });
});

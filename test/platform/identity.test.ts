import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  identityGuard,
  identityHeaders,
  IdentityError,
  INTERNAL_IDENTITY_HEADER,
  principalFromRequest,
  ROLES,
  signPrincipal,
  verifyPrincipal,
  type IdentityFailure,
  type Principal,
} from '../../platform/identity.ts';

const SECRET = 'test-internal-secret-0123456789-abcdefgh';
const OTHER_SECRET = 'another-internal-secret-0123456789-xyz';
const NOW = Date.UTC(2025, 0, 15, 9, 30, 0);

const alice: Principal = { sub: 'emp-001', roles: ['EMPLOYEE', 'MANAGER'], departmentId: 'dept-finance', kind: 'user' };

function failure(fn: () => unknown): IdentityFailure {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(IdentityError);
    return (err as IdentityError).reason;
  }
  throw new Error('expected an IdentityError');
}

/** Builds a correctly signed token around an arbitrary payload. */
function forge(payload: unknown, secret = SECRET): string {
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
  const sig = createHmac('sha256', secret).update(`v1.${body}`).digest('base64url');
  return `v1.${body}.${sig}`;
}

describe('signPrincipal / verifyPrincipal', () => {
  it('exports the role list of docs/api.md#identity', () => {
    expect(ROLES).toEqual(['EMPLOYEE', 'MANAGER', 'ACCOUNTANT', 'FINANCE_DIRECTOR', 'ARCHIVIST', 'AUDITOR', 'ADMIN']);
    expect(INTERNAL_IDENTITY_HEADER).toBe('x-internal-identity');
  });

  it('round-trips a principal', () => {
    const token = signPrincipal(alice, SECRET, 60, NOW);
    expect(token).toMatch(/^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(verifyPrincipal(token, SECRET, NOW)).toEqual(alice);
    const service: Principal = { sub: 'sync-worker', roles: [], departmentId: null, kind: 'service' };
    expect(verifyPrincipal(signPrincipal(service, SECRET, 60, NOW), SECRET, NOW)).toEqual(service);
  });

  it('puts sub, roles, dept, kind, iat and exp in the payload', () => {
    const token = signPrincipal(alice, SECRET, 60, NOW);
    const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
    expect(payload).toEqual({
      sub: 'emp-001',
      roles: ['EMPLOYEE', 'MANAGER'],
      dept: 'dept-finance',
      kind: 'user',
      iat: NOW / 1000,
      exp: NOW / 1000 + 60,
    });
  });

  it('refuses a tampered payload', () => {
    const token = signPrincipal(alice, SECRET, 60, NOW);
    const [v, , sig] = token.split('.');
    const elevated = Buffer.from(
      JSON.stringify({ sub: 'emp-001', roles: ['ADMIN'], dept: 'dept-finance', kind: 'user', iat: NOW / 1000, exp: NOW / 1000 + 60 }),
    ).toString('base64url');
    expect(failure(() => verifyPrincipal(`${v}.${elevated}.${sig}`, SECRET, NOW))).toBe('bad signature');
  });

  it('refuses a tampered signature', () => {
    const token = signPrincipal(alice, SECRET, 60, NOW);
    const last = token.at(-2) === 'A' ? 'B' : 'A';
    expect(failure(() => verifyPrincipal(`${token.slice(0, -2)}${last}${token.at(-1)}`, SECRET, NOW))).toBe('bad signature');
    expect(failure(() => verifyPrincipal(`${token.slice(0, -4)}`, SECRET, NOW))).toBe('bad signature');
    // Same decoded bytes, different spelling (the last character's spare bits): still refused.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const lastIndex = alphabet.indexOf(token.at(-1)!);
    const sibling = alphabet[lastIndex ^ 1]!;
    expect(failure(() => verifyPrincipal(`${token.slice(0, -1)}${sibling}`, SECRET, NOW))).toBe('bad signature');
  });

  it('refuses a token signed with another secret', () => {
    expect(failure(() => verifyPrincipal(signPrincipal(alice, OTHER_SECRET, 60, NOW), SECRET, NOW))).toBe('bad signature');
  });

  it('refuses an expired token', () => {
    const token = signPrincipal(alice, SECRET, 60, NOW);
    expect(verifyPrincipal(token, SECRET, NOW + 59_000)).toEqual(alice);
    expect(failure(() => verifyPrincipal(token, SECRET, NOW + 60_000))).toBe('expired');
    expect(failure(() => verifyPrincipal(token, SECRET, NOW + 3_600_000))).toBe('expired');
  });

  it('refuses a token issued further in the future than the 30 s clock skew', () => {
    expect(verifyPrincipal(signPrincipal(alice, SECRET, 60, NOW + 30_000), SECRET, NOW)).toEqual(alice);
    expect(failure(() => verifyPrincipal(signPrincipal(alice, SECRET, 60, NOW + 31_000), SECRET, NOW))).toBe('not yet valid');
  });

  it('refuses malformed tokens', () => {
    for (const bad of ['garbage', 'v1.abc', 'v2.abc.def', 'v1.abc.def.ghi', 'v1..sig', 'v1.a b.c', 'v1.abc.d+f/', 'x'.repeat(9000)]) {
      expect(failure(() => verifyPrincipal(bad, SECRET, NOW))).toBe('malformed');
    }
    expect(failure(() => verifyPrincipal('', SECRET, NOW))).toBe('missing');
  });

  it('refuses correctly signed payloads of the wrong shape', () => {
    const base = { sub: 'emp-001', roles: ['EMPLOYEE'], dept: null, kind: 'user', iat: NOW / 1000, exp: NOW / 1000 + 60 };
    for (const payload of [
      [],
      'text',
      { ...base, sub: '' },
      { ...base, roles: 'ADMIN' },
      { ...base, dept: 7 },
      { ...base, kind: 'robot' },
      { ...base, iat: '1' },
      { ...base, exp: undefined },
    ]) {
      expect(failure(() => verifyPrincipal(forge(payload), SECRET, NOW))).toBe('malformed');
    }
    const notJson = `v1.${Buffer.from('{not json').toString('base64url')}`;
    const sig = createHmac('sha256', SECRET).update(notJson).digest('base64url');
    expect(failure(() => verifyPrincipal(`${notJson}.${sig}`, SECRET, NOW))).toBe('malformed');
  });

  it('refuses an unknown role', () => {
    const token = forge({ sub: 'emp-001', roles: ['EMPLOYEE', 'SUPERUSER'], dept: null, kind: 'user', iat: NOW / 1000, exp: NOW / 1000 + 60 });
    expect(failure(() => verifyPrincipal(token, SECRET, NOW))).toBe('unknown role');
    expect(() => signPrincipal({ ...alice, roles: ['ROOT' as never] }, SECRET)).toThrow(TypeError);
  });

  it('refuses an empty secret', () => {
    expect(() => signPrincipal(alice, '')).toThrow(TypeError);
    expect(() => verifyPrincipal('v1.a.b', '')).toThrow(TypeError);
  });
});

describe('principalFromRequest', () => {
  it('reads node:http headers and fetch-style headers', () => {
    const token = signPrincipal(alice, SECRET);
    expect(principalFromRequest({ [INTERNAL_IDENTITY_HEADER]: token }, SECRET)).toEqual(alice);
    expect(principalFromRequest(new Headers({ 'X-Internal-Identity': token }), SECRET)).toEqual(alice);
    expect(principalFromRequest(identityHeaders(alice, SECRET), SECRET)).toEqual(alice);
  });

  it('reports a missing or repeated header', () => {
    expect(failure(() => principalFromRequest({}, SECRET))).toBe('missing');
    expect(failure(() => principalFromRequest(new Headers(), SECRET))).toBe('missing');
    const token = signPrincipal(alice, SECRET);
    expect(failure(() => principalFromRequest({ [INTERNAL_IDENTITY_HEADER]: [token, token] }, SECRET))).toBe('malformed');
  });
});

describe('identityGuard over HTTP', () => {
  let server: Server;
  let base: string;
  const debugLines: string[] = [];

  beforeAll(async () => {
    const guard = identityGuard(SECRET, { debug: (obj, msg) => debugLines.push(JSON.stringify({ ...obj, msg })) });
    server = createServer((req, res) => {
      const principal = guard(req, res);
      if (!principal) return;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ principal }));
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

  it('answers 401 with the fixed JSON body when the header is missing', async () => {
    const res = await fetch(`${base}/graphql`, { method: 'POST' });
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await res.json()).toEqual(expected401);
  });

  it('answers the same 401 for a bad token, and logs only the reason', async () => {
    const forged = signPrincipal({ ...alice, roles: ['ADMIN'] }, OTHER_SECRET);
    const expired = signPrincipal(alice, SECRET, 60, Date.now() - 120_000);
    for (const token of [forged, expired, 'nonsense']) {
      const res = await fetch(`${base}/graphql`, { headers: { [INTERNAL_IDENTITY_HEADER]: token } });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual(expected401);
    }
    const log = debugLines.join('\n');
    expect(log).toContain('"reason":"bad signature"');
    expect(log).toContain('"reason":"expired"');
    expect(log).toContain('"reason":"malformed"');
    expect(log).not.toContain(forged);
    expect(log).not.toContain(expired);
  });

  it('answers 200 with the principal for a valid token', async () => {
    const res = await fetch(`${base}/graphql`, { headers: identityHeaders(alice, SECRET) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ principal: alice });
  });
});

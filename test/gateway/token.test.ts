// `npm run token` prints a token the gateway's authenticator accepts.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createAuthenticator } from '../../gateway/auth.ts';

const run = promisify(execFile);
const SECRET = 'client-jwt-secret-for-token-test-0123456789';
const env = { ...process.env, NODE_ENV: 'development', JWT_SECRET: SECRET, INTERNAL_SECRET: 'internal-secret-for-token-test-0123456789' };

describe('npm run token', () => {
  it('signs a development token with JWT_SECRET for the given subject and roles', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'scripts/token.ts', '--sub', 'emp-9', '--roles', 'AUDITOR,ARCHIVIST'], { env });
    const auth = createAuthenticator({ jwtSecret: SECRET, lookup: async () => null });
    expect(await auth(`Bearer ${stdout.trim()}`)).toEqual({ sub: 'emp-9', roles: ['AUDITOR', 'ARCHIVIST'], departmentId: null, kind: 'user', expiresAt: expect.any(Number) });
  });

  it('refuses unknown roles and production, with exit code 2', async () => {
    const bad = await run(process.execPath, ['--import', 'tsx', 'scripts/token.ts', '--sub', 'x', '--roles', 'GOD'], { env }).catch((e: { code: number; stderr: string }) => e);
    expect(bad).toMatchObject({ code: 2 });
    expect((bad as { stderr: string }).stderr).toContain('unknown role GOD');
    const prod = await run(process.execPath, ['--import', 'tsx', 'scripts/token.ts', '--sub', 'x'], {
      env: { ...env, NODE_ENV: 'production', JWT_SECRET: 'a-production-jwt-secret-of-sufficient-length', INTERNAL_SECRET: 'a-production-internal-secret-of-sufficient-length' },
    }).catch((e: { code: number; stderr: string }) => e);
    expect(prod).toMatchObject({ code: 2 });
    expect((prod as { stderr: string }).stderr).toContain('refused in production');
  });

  it('mints no token beyond JWT_MAX_TTL, nor for a subject the gateway refuses', async () => {
    const tooLong = await run(process.execPath, ['--import', 'tsx', 'scripts/token.ts', '--sub', 'x', '--ttl', '7200'], { env: { ...env, JWT_MAX_TTL: '1h' } }).catch((e: { code: number; stderr: string }) => e);
    expect(tooLong).toMatchObject({ code: 2 });
    expect((tooLong as { stderr: string }).stderr).toContain('--ttl must be between 60 and 3600 seconds (JWT_MAX_TTL)');
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'scripts/token.ts', '--sub', 'x', '--ttl', '3600'], { env: { ...env, JWT_MAX_TTL: '1h' } });
    const auth = createAuthenticator({ jwtSecret: SECRET, lookup: async () => null, maxTtlSeconds: 3600 });
    expect((await auth(`Bearer ${stdout.trim()}`)).sub).toBe('x');
    const badSub = await run(process.execPath, ['--import', 'tsx', 'scripts/token.ts', '--sub', 'a\u0001b'], { env }).catch((e: { code: number; stderr: string }) => e);
    expect(badSub).toMatchObject({ code: 2 });
    expect((badSub as { stderr: string }).stderr).toContain('--sub must be 1 to 128 printable characters');
  });
});

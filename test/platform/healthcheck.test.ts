// deploy/healthcheck.mjs --signed: the container check of a subgraph process mints its identity through
// platform/identity.ts (Node loads it by type stripping, without tsx), for the named subgraph.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../platform/logger.ts';
import { type RunningSubgraph, Subgraph } from '../../platform/subgraph.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SECRET = 'healthcheck-test-internal-secret-0123456789';
let running: RunningSubgraph;

beforeAll(async () => {
  const subgraph = new Subgraph({ name: 'oa', typeDefs: parse('type Query { ok: Boolean }'), resolvers: {} as never, secret: SECRET, logger: createLogger({ level: 'silent' }), production: true, context: () => ({}) });
  running = await subgraph.listen(0, '127.0.0.1');
});
afterAll(async () => {
  await running?.close();
});

function check(args: string[], secret = SECRET): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['deploy/healthcheck.mjs', ...args], { cwd: ROOT, env: { PATH: process.env.PATH, INTERNAL_SECRET: secret }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

describe('deploy/healthcheck.mjs --signed', () => {
  it('is healthy with an identity for the named subgraph, and not for another audience or secret', async () => {
    expect(await check(['--signed', 'oa', running.url])).toEqual({ code: 0, stderr: '' });
    const wrongAudience = await check(['--signed', 'archive', running.url]);
    expect(wrongAudience.code).toBe(1);
    expect(wrongAudience.stderr).toContain('answered HTTP 401');
    expect((await check(['--signed', 'oa', running.url], 'another-secret-of-sufficient-length-000000')).code).toBe(1);
  }, 30_000);
});

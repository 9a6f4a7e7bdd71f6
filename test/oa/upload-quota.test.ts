// The quota of uploads no claim references yet (docs/api.md#attachments): one employee holds at most
// UPLOADS_PENDING_MAX_FILES of them and UPLOADS_PENDING_MAX_BYTES, counted until a claim takes them or they expire;
// past it POST /files answers 429 with Retry-After, nothing is stored, and the refusal is in the audit trail. Others
// are not held back. Real stack: the gateway's POST /files, the oa subgraph, GridFS on the embedded engine.
import { type Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Org, item } from './seed.ts';
import { type Stack, seed, startStack } from '../sync/stack.ts';
import { until } from '../helpers/wait.ts';
import { receiptJpeg } from '../helpers/originals.ts';

let stack: Stack;
let org: Org;
let base: string;
const db = () => stack.connection.db as unknown as Db;
const KIB = 1024;

const CLAIM = `mutation($input: CreateExpenseClaimInput!) { createExpenseClaim(input: $input) { id } }`;

async function post(token: string, name: string, bytes: Buffer): Promise<{ status: number; retryAfter: string | null; body: { id?: string; errors?: Array<{ message: string; extensions: { code: string } }> } }> {
  const form = new FormData();
  form.append('file', new Blob([bytes]), name);
  const res = await fetch(`${base}/files`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as never };
}

const pendingOf = (ownerId: string) => db().collection('attachments.files').countDocuments({ 'metadata.ownerId': ownerId, 'metadata.claimId': null });

beforeAll(async () => {
  // Three files or 100 KiB per employee; a day's expiry, as by default.
  stack = await startStack({ label: 'upload_quota', attachments: { pendingMaxFiles: 3, pendingMaxBytes: 100 * KIB } });
  org = await seed(stack);
  base = stack.gateways[0].url.replace(/\/graphql$/, '');
}, 60_000);

afterAll(async () => {
  await stack?.close();
});

describe('the quota of uploads no claim references', () => {
  it('refuses the fourth file with 429 and Retry-After, stores nothing, audits it, and holds no one else back', async () => {
    const alice = await stack.token(org.ids.alice);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await post(alice, `r${i}.jpg`, receiptJpeg(`a${i}`, 10 * KIB));
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      ids.push(r.body.id!);
    }
    const fourth = await post(alice, 'r3.jpg', receiptJpeg('a3', 10 * KIB));
    expect(fourth.status).toBe(429);
    expect(fourth.body.errors![0].extensions.code).toBe('UPLOAD_QUOTA_EXCEEDED');
    expect(fourth.body.errors![0].message).toMatch(/^You hold 3 uploads \(0\.0 MiB\) that no claim references; at most 3 files and 0\.1 MiB/);
    // Until the first of them expires: a day, less the moments the test took.
    expect(Number(fourth.retryAfter)).toBeGreaterThan(24 * 3600 - 120);
    expect(Number(fourth.retryAfter)).toBeLessThanOrEqual(24 * 3600);
    expect(await pendingOf(org.ids.alice)).toBe(3);
    await until(async () => (await db().collection('audit_log').countDocuments({ action: 'upload file refused: UPLOAD_QUOTA_EXCEEDED', actor: org.ids.alice, outcome: 'RATE_LIMITED' })) === 1, 'the refusal audited');

    // Bob has his own quota.
    const bob = await stack.token(org.ids.bob);
    expect((await post(bob, 'b.jpg', receiptJpeg('b', 10 * KIB))).status).toBe(201);

    // A claim that takes two of them frees two places.
    const claim = await stack.gql(alice, CLAIM, { input: { title: 'Taxi', category: 'TRAVEL', items: [{ ...item('12.00'), attachmentIds: ids.slice(0, 2) }] } });
    expect(claim.errors).toBeUndefined();
    expect((await post(alice, 'r4.jpg', receiptJpeg('a4', 10 * KIB))).status).toBe(201);
    expect((await post(alice, 'r5.jpg', receiptJpeg('a5', 10 * KIB))).status).toBe(201);
    expect((await post(alice, 'r6.jpg', receiptJpeg('a6', 10 * KIB))).status).toBe(429);
  });

  it('counts bytes too: a file that would carry an employee past the byte quota is refused, a smaller one is not', async () => {
    const olga = await stack.token(org.ids.outsider);
    expect((await post(olga, 'big.jpg', receiptJpeg('c1', 70 * KIB))).status).toBe(201);
    const over = await post(olga, 'big2.jpg', receiptJpeg('c2', 40 * KIB));
    expect(over.status).toBe(429);
    expect(over.body.errors![0].extensions.code).toBe('UPLOAD_QUOTA_EXCEEDED');
    expect((await post(olga, 'small.jpg', receiptJpeg('c3', 20 * KIB))).status).toBe(201);
    expect(await pendingOf(org.ids.outsider)).toBe(2);
  });
});

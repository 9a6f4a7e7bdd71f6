// The soak's client side (bench/soak.ts): GraphQL over HTTP with error codes, client tokens, and the claims prepared
// before a load of final approvals.
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { JWT_SECRET } from './soak-system.ts';

/** A client gives up on a request after this long (counted as CLIENT_TIMEOUT). */
const CLIENT_TIMEOUT_MS = 60_000;
export const CREATE = 'mutation Create($input: CreateExpenseClaimInput!) { createExpenseClaim(input: $input) { id claimNo status } }';
export const SUBMIT = 'mutation Submit($id: ID!) { submitExpenseClaim(id: $id) { id status } }';
export const DECIDE = 'mutation Decide($id: ID!) { decideApproval(claimId: $id, decision: APPROVE) { id status } }';
export const PREPARE_CONCURRENCY = 16;

/** Errors by code, per kind of request. */
export class ErrorCounts {
  readonly byKind = new Map<string, Map<string, number>>();
  add(kind: string, code: string): void {
    let m = this.byKind.get(kind);
    if (!m) this.byKind.set(kind, (m = new Map()));
    m.set(code, (m.get(code) ?? 0) + 1);
  }
  total(): number {
    let n = 0;
    for (const m of this.byKind.values()) for (const v of m.values()) n += v;
    return n;
  }
}

export type Outcome<T> = { ok: true; data: T } | { ok: false; code: string };

/** POST /graphql; any GraphQL error, non-200 status or network failure is an error with a code. */
export async function gql<T>(url: string, token: string, query: string, variables: Record<string, unknown>, idempotencyKey?: string): Promise<Outcome<T>> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
    });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    if (e.name === 'TimeoutError') return { ok: false, code: 'CLIENT_TIMEOUT' };
    return { ok: false, code: `NETWORK ${e.cause?.code ?? e.name}` };
  }
  let body: { data?: T; errors?: Array<{ extensions?: { code?: string } }> };
  try {
    body = (await res.json()) as typeof body;
  } catch (err) {
    return { ok: false, code: (err as Error).name === 'TimeoutError' ? 'CLIENT_TIMEOUT' : `HTTP ${res.status} (no JSON body)` };
  }
  if (body.errors?.length) {
    const code = body.errors[0].extensions?.code ?? 'NO_CODE';
    return { ok: false, code: res.status === 200 ? code : `HTTP ${res.status} ${code}` };
  }
  if (res.status !== 200 || !body.data) return { ok: false, code: `HTTP ${res.status}` };
  return { ok: true, data: body.data };
}

export async function must<T>(p: Promise<Outcome<T>>, what: string): Promise<T> {
  const r = await p;
  if (!r.ok) throw new Error(`seeding failed at ${what}: ${r.code}`);
  return r.data;
}

export const token = (sub: string, roles: string[]) =>
  new SignJWT({ roles })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setExpirationTime(Math.floor(Date.now() / 1000) + 6 * 3600)
    .sign(new TextEncoder().encode(JWT_SECRET));

/**
 * Claims created, submitted and approved by the manager, PREPARE_CONCURRENCY at a time, waiting for the accountant:
 * the ids of those prepared (a claim whose preparation failed is left out and counted).
 */
/** `tokens.applicant`: one applicant's token, or claim n's applicant's (bench/documents.ts spreads uploads over applicants). */
export async function prepareClaims(url: string, tokens: { applicant: string | ((n: number) => string); manager: string }, count: number, input: (n: number) => Record<string, unknown>): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  let failed = 0;
  const started = performance.now();
  let reported = started;
  await Promise.all(
    Array.from({ length: PREPARE_CONCURRENCY }, async () => {
      while (next < count) {
        const n = next++;
        const applicant = typeof tokens.applicant === 'string' ? tokens.applicant : tokens.applicant(n);
        const created = await gql<{ createExpenseClaim: { id: string } }>(url, applicant, CREATE, { input: input(n) }, randomUUID());
        const id = created.ok ? created.data.createExpenseClaim.id : null;
        if (id && (await gql(url, applicant, SUBMIT, { id }, randomUUID())).ok && (await gql(url, tokens.manager, DECIDE, { id }, randomUUID())).ok) ids.push(id);
        else failed++;
        if (performance.now() - reported > 30_000) {
          reported = performance.now();
          console.log(`  preparing: ${ids.length} of ${count} claims waiting for the accountant (${failed} failed)`);
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  console.log(`Prepared ${ids.length} claims (created, submitted, approved by the manager) in ${seconds.toFixed(0)} s (${(ids.length / seconds).toFixed(1)} claims/s), ${failed} failed`);
  return ids;
}

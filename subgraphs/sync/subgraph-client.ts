// Calls from the sync service to the other subgraphs, as the `sync` service identity signed with INTERNAL_SECRET.
// The archive's generateVoucher and fileVoucher are idempotent (one voucher per claim, one record per voucher), so
// the pipeline may repeat a call after any failure without creating anything twice.
import { INTERNAL_IDENTITY_HEADER, signPrincipal, servicePrincipal } from '../../platform/identity.ts';

export const SYNC_SERVICE = servicePrincipal('sync');

/** A failed call; `message` is safe to store and show operators (no tokens, no bodies). */
export class SubgraphCallError extends Error {
  constructor(
    message: string,
    /** False when repeating the same call cannot help (the request itself is refused). */
    readonly retryable = true,
  ) {
    super(message);
  }
}

const PERMANENT_CODES = new Set(['BAD_USER_INPUT', 'FORBIDDEN', 'UNAUTHENTICATED', 'GRAPHQL_VALIDATION_FAILED']);

export interface SubgraphClientOptions {
  name: string;
  url: string;
  internalSecret: string;
  timeoutMs: number;
  fetch?: typeof fetch;
}

export type SubgraphCall = <T>(query: string, variables: Record<string, unknown>) => Promise<T>;

export function subgraphClient(opts: SubgraphClientOptions): SubgraphCall {
  const doFetch = opts.fetch ?? fetch;
  return async <T>(query: string, variables: Record<string, unknown>): Promise<T> => {
    let res: Response;
    try {
      res = await doFetch(opts.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          [INTERNAL_IDENTITY_HEADER]: signPrincipal(SYNC_SERVICE, opts.internalSecret, 60),
        },
        body: JSON.stringify({ query, variables }),
        signal: AbortSignal.timeout(opts.timeoutMs),
      });
    } catch (err) {
      const reason = (err as Error).name === 'TimeoutError' ? `no answer within ${opts.timeoutMs} ms` : 'unreachable';
      throw new SubgraphCallError(`${opts.name} subgraph ${reason}`);
    }
    let body: { data?: T | null; errors?: { message: string; extensions?: { code?: string } }[] };
    try {
      body = (await res.json()) as typeof body;
    } catch {
      throw new SubgraphCallError(`${opts.name} subgraph answered HTTP ${res.status} without GraphQL`);
    }
    if (body.errors?.length) {
      const [first] = body.errors;
      const code = first.extensions?.code ?? 'INTERNAL_SERVER_ERROR';
      throw new SubgraphCallError(`${opts.name}: ${code}: ${first.message}`.slice(0, 500), !PERMANENT_CODES.has(code));
    }
    if (!res.ok || body.data == null) throw new SubgraphCallError(`${opts.name} subgraph answered HTTP ${res.status}`);
    return body.data;
  };
}

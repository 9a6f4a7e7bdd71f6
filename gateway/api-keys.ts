// Integrations authenticate with an API key (docs/api.md#api-keys): `Authorization: ApiKey oak_…` on HTTP, in
// graphql-ws's connection parameters, on SSE (or through a stream ticket). The gateway hashes the key and asks the
// sync subgraph, as its own service identity, whether that hash belongs to an active key (apiKeyPrincipal); the key
// itself never leaves this process. Answers are kept API_KEY_CACHE_MS (positive and negative), so a revocation
// takes effect within that time, and streams opened with a revoked key are ended then. Each key may make
// `rateLimitPerMinute` requests (HTTP requests, stream and WebSocket connections) a minute on this gateway instance.
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { apiKeyHash, apiKeyId, apiKeyOf } from '../platform/api-key-token.ts';
import { API_SCOPE_OF_ENUM, type ApiScope, isApiScope } from '../platform/identity.ts';
import { SubgraphCallError, subgraphClient } from '../platform/integration/subgraph-client.ts';
import { type AuthenticatedPrincipal, AuthenticationError, RateLimitedError } from './auth.ts';
import { GATEWAY_SERVICE } from './directory.ts';

/** What the sync subgraph says of an active key. */
export interface ApiKeyRecord {
  id: string;
  name: string;
  scopes: ApiScope[];
  rateLimitPerMinute: number;
  /** ms since the epoch; null: until revoked. */
  expiresAt: number | null;
}

/** Asks whether `keyHash` is an active key of id `id`; null: it is not. */
export type ApiKeyCheck = (id: string, keyHash: string) => Promise<ApiKeyRecord | null>;

const QUERY = 'query($id: ID!, $keyHash: String!) { apiKeyPrincipal(id: $id, keyHash: $keyHash) { id name scopes rateLimitPerMinute expiresAt } }';

type Answer = { apiKeyPrincipal: { id: string; name: string; scopes: string[]; rateLimitPerMinute: number; expiresAt: string | null } | null };

/** The check over signed HTTP to the sync subgraph. */
export function syncApiKeyCheck(opts: { syncUrl: string; internalSecret: string; timeoutMs: number }): ApiKeyCheck {
  const sync = subgraphClient({ name: 'sync', url: opts.syncUrl, as: GATEWAY_SERVICE, internalSecret: opts.internalSecret, timeoutMs: opts.timeoutMs });
  return async (id, keyHash) => {
    let data: Answer;
    try {
      data = await sync<Answer>(QUERY, { id, keyHash });
    } catch (err) {
      if (!(err instanceof SubgraphCallError) || err.status === null) throw err;
      throw new Error(`API key check failed with HTTP ${err.status}`);
    }
    const k = data.apiKeyPrincipal;
    if (!k) return null;
    const scopes = k.scopes.map((s) => (API_SCOPE_OF_ENUM as Record<string, ApiScope>)[s]).filter(isApiScope);
    return { id: k.id, name: k.name, scopes, rateLimitPerMinute: k.rateLimitPerMinute, expiresAt: k.expiresAt ? Date.parse(k.expiresAt) : null };
  };
}

export interface ApiKeyAuthenticatorOptions {
  check: ApiKeyCheck;
  /** API_KEY_CACHE_MS (default 10 s); 0 asks at every request. */
  cacheMs?: number;
  cacheSize?: number;
  now?: () => number;
}

/**
 * An integration's principal. A transport that keeps a connection open (graphql-ws, SSE) calls `hold()` for as long
 * as it does, and ends it when `revoked` is aborted: the key is checked again every cacheMs while it is held.
 */
export type IntegrationPrincipal = AuthenticatedPrincipal & Required<Pick<AuthenticatedPrincipal, 'revoked' | 'hold' | 'spend'>>;

interface Watch {
  id: string;
  controller: AbortController;
  holders: number;
}

interface Cached {
  at: number;
  record: Promise<ApiKeyRecord | null>;
}

export class ApiKeyAuthenticator {
  private readonly cacheMs: number;
  private readonly cacheSize: number;
  private readonly now: () => number;
  /** By key hash (the keys themselves are not kept). */
  private readonly cache = new Map<string, Cached>();
  /** One limiter per rate, each counting per key id. */
  private readonly limiters = new Map<number, RateLimiterMemory>();
  /** Keys handed out lately, by hash: the signal their streams end on, and how many connections hold it. */
  private readonly watches = new Map<string, Watch>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: ApiKeyAuthenticatorOptions) {
    this.cacheMs = opts.cacheMs ?? 10_000;
    this.cacheSize = opts.cacheSize ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  /** The principal of `Authorization: ApiKey …`; throws AuthenticationError or RateLimitedError. */
  async authenticate(authorization: string): Promise<IntegrationPrincipal> {
    const key = apiKeyOf(authorization);
    if (!key) throw new AuthenticationError('the API key is invalid or revoked');
    const hash = apiKeyHash(key);
    const record = await this.lookup(apiKeyId(key)!, hash);
    if (!record || (record.expiresAt !== null && record.expiresAt <= this.now())) throw new AuthenticationError('the API key is invalid or revoked');
    await this.consume(record);
    const watch = this.watched(hash, record.id);
    return {
      sub: `apikey:${record.id}`,
      roles: [],
      departmentId: null,
      kind: 'integration',
      scopes: record.scopes,
      expiresAt: record.expiresAt ?? Number.MAX_SAFE_INTEGER,
      revoked: watch.controller.signal,
      hold: () => this.hold(hash, watch),
      spend: () => this.consume(record),
    };
  }

  /** Stops the periodic re-check of keys with open streams. */
  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private lookup(id: string, hash: string): Promise<ApiKeyRecord | null> {
    const t = this.now();
    const hit = this.cache.get(hash);
    if (hit && t - hit.at < this.cacheMs) return hit.record;
    const record = this.opts.check(id, hash);
    // A failed check (sync unreachable) is not remembered: the next request asks again.
    record.catch(() => this.cache.delete(hash));
    this.cache.delete(hash);
    this.cache.set(hash, { at: t, record });
    if (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value as string);
    return record;
  }

  private async consume(record: ApiKeyRecord): Promise<void> {
    const rate = record.rateLimitPerMinute;
    let limiter = this.limiters.get(rate);
    if (!limiter) this.limiters.set(rate, (limiter = new RateLimiterMemory({ points: rate, duration: 60 })));
    try {
      await limiter.consume(record.id, 1);
    } catch (err) {
      if (err instanceof RateLimiterRes) throw new RateLimitedError(Math.max(1, Math.ceil(err.msBeforeNext / 1000)));
      throw err;
    }
  }

  /** The signal streams of this key end on: one per key hash, kept while a connection holds it. */
  private watched(hash: string, id: string): Watch {
    const w = this.watches.get(hash);
    if (w && !w.controller.signal.aborted) return w;
    const fresh: Watch = { id, controller: new AbortController(), holders: 0 };
    this.watches.set(hash, fresh);
    // Bounded: past cacheSize keys, those no connection holds are forgotten (a later one gets a fresh signal).
    if (this.watches.size > this.cacheSize) for (const [h, x] of this.watches) if (x.holders <= 0 && x !== fresh) this.watches.delete(h);
    return fresh;
  }

  private hold(hash: string, w: Watch): () => void {
    w.holders++;
    if (!this.timer && this.cacheMs > 0) {
      this.timer = setInterval(() => void this.recheck(), this.cacheMs);
      this.timer.unref();
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      w.holders--;
    };
  }

  private async recheck(): Promise<void> {
    for (const [hash, w] of [...this.watches]) {
      if (w.holders <= 0) {
        this.watches.delete(hash);
        continue;
      }
      let active: boolean;
      try {
        const record = await this.lookup(w.id, hash);
        active = record !== null && (record.expiresAt === null || record.expiresAt > this.now());
      } catch {
        continue; // the sync subgraph unreachable: streams go on, and the next round asks again
      }
      if (!active) {
        w.controller.abort(new AuthenticationError('the API key was revoked'));
        this.watches.delete(hash);
      }
    }
    if (![...this.watches.values()].some((w) => w.holders > 0)) this.close();
  }
}

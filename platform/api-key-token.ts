// API keys as clients hold them (docs/api.md#api-keys): `oak_<key id>_<secret>`, sent as `Authorization: ApiKey <key>`.
// The key id (24 hex digits) names the stored key; the secret is 32 random bytes, base64url. Only the SHA-256 of the
// whole key is stored (subgraphs/sync/api-keys/) and sent between services: the key itself exists only in the client
// and in the one answer that shows it. A hash suffices, no slow password hash: the secret has 256 bits of entropy,
// so there is nothing to guess from a leaked hash, and every request can be checked without a costly derivation.
// Prefix and shape also let secret scanners recognise a leaked key.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const API_KEY_PREFIX = 'oak_';
const KEY = /^oak_([0-9a-f]{24})_([A-Za-z0-9_-]{43})$/;
const SCHEME = /^ApiKey[ \t]+(\S+)[ \t]*$/;

/** A new key for the stored key `id` (24 hex digits). */
export function newApiKey(id: string): string {
  if (!/^[0-9a-f]{24}$/.test(id)) throw new TypeError('an API key id is 24 hex digits');
  return `${API_KEY_PREFIX}${id}_${randomBytes(32).toString('base64url')}`;
}

/** base64url(SHA-256(key)): what is stored and compared. */
export const apiKeyHash = (key: string): string => createHash('sha256').update(key, 'utf8').digest('base64url');

/** The key's id, or null when `key` does not have the shape of one. */
export function apiKeyId(key: string): string | null {
  return KEY.exec(key)?.[1] ?? null;
}

/** Whether an Authorization header uses the ApiKey scheme (case as written in RFC 7235 is insensitive). */
export const isApiKeyAuthorization = (authorization: string): boolean => /^apikey(?:[ \t]|$)/i.test(authorization.trim());

/** The key of an `Authorization: ApiKey <key>` header, or null when it has no key's shape. */
export function apiKeyOf(authorization: string): string | null {
  const m = SCHEME.exec(authorization.trim().replace(/^apikey/i, 'ApiKey'));
  return m && KEY.test(m[1]) ? m[1] : null;
}

/** Constant-time comparison of two hashes made by apiKeyHash. */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

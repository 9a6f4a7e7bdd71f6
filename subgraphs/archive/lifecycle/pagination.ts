// Relay pagination of the lifecycle's lists (loans, access log, destruction registers).
import { badInput } from '../../../platform/graphql.ts';

/** Relay cursors: an opaque base64url of a prefix and a key. */
export const encodeCursor = (prefix: string, key: string | number): string => Buffer.from(`${prefix}:${key}`).toString('base64url');
export function decodeCursor(prefix: string, cursor: string): string {
  const text = Buffer.from(String(cursor), 'base64url').toString('utf8');
  if (!text.startsWith(`${prefix}:`)) throw badInput('after is not a cursor returned by this API', 'after');
  return text.slice(prefix.length + 1);
}

export function pageSize(first: number | null | undefined): number {
  const n = first ?? 20;
  if (!Number.isInteger(n) || n < 1 || n > 100) throw badInput('first must be between 1 and 100', 'first');
  return n;
}

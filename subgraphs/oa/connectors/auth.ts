// Request authentication helpers shared by the platform connectors: constant-time comparisons and the replay
// window on the timestamp a platform signs.
import { createHash, timingSafeEqual } from 'node:crypto';
import { ConnectorAuthError } from './types.ts';

/** Default replay window: a signed timestamp older (or further in the future) than this is refused. */
export const DEFAULT_REPLAY_WINDOW_MS = 5 * 60_000;

/** Constant-time comparison of two hex digests (case-insensitive). Different lengths are simply unequal. */
export function hexDigestsEqual(expected: string, received: string): boolean {
  const a = Buffer.from(expected.toLowerCase(), 'utf8');
  const b = Buffer.from(received.toLowerCase(), 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Constant-time comparison of two secrets of any length (compares their SHA-256 digests). */
export function secretsEqual(expected: string, received: string): boolean {
  const a = createHash('sha256').update(expected, 'utf8').digest();
  const b = createHash('sha256').update(received, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/**
 * Parses a platform timestamp (digits only). Values below 10^12 are seconds (Feishu), others milliseconds
 * (DingTalk). Returns milliseconds since the epoch.
 */
export function parseSignedTimestamp(raw: string | undefined): number {
  if (raw === undefined || !/^\d{1,16}$/.test(raw)) throw new ConnectorAuthError('missing or malformed timestamp');
  const n = Number(raw);
  return n < 1e12 ? n * 1000 : n;
}

/** Refuses a timestamp outside [now - window, now + window]. */
export function assertFresh(timestampMs: number, nowMs: number, windowMs: number): void {
  const age = nowMs - timestampMs;
  if (age > windowMs) throw new ConnectorAuthError(`timestamp is ${Math.round(age / 1000)} s old (replay window ${Math.round(windowMs / 1000)} s)`);
  if (-age > windowMs) throw new ConnectorAuthError(`timestamp is ${Math.round(-age / 1000)} s in the future`);
}

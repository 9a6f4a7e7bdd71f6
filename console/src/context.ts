// What every view gets from the signed-in console.
import type { Client } from 'graphql-ws';

export interface ConsoleContext {
  token: string;
  /** The shared graphql-ws client (connects on demand). */
  live: Client;
  /** Opens the trace view on a claim. */
  trace(claimId: string): void;
  /** The token was refused (expired, revoked): back to the sign-in form with this message. */
  expired(message: string): void;
}

export interface View {
  stop(): void;
}

/** Runs `fn` every `ms` while the view lives, and once now. */
export function every(ms: number, fn: () => unknown): () => void {
  void fn();
  const timer = setInterval(() => void fn(), ms);
  return () => clearInterval(timer);
}

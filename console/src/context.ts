// What every view gets from the signed-in console.
import type { Client } from 'graphql-ws';
import type { Access } from './access.ts';

export interface ConsoleContext {
  token: string;
  /** What the signed-in user's roles allow: views and buttons follow it. */
  access: Access;
  /** The shared graphql-ws client (connects on demand). */
  live: Client;
  /** Opens the trace view on a claim. */
  trace(claimId: string): void;
  /** The token was refused (expired, revoked): back to the sign-in form with this message. */
  expired(message: string): void;
  /** Live sync events as the events view receives them (other views refresh on them); returns the unsubscribe. */
  onSyncEvent(listener: (type: string) => void): () => void;
  emitSyncEvent(type: string): void;
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

/** A tiny fan-out of live sync event types to the views that refresh on them. */
export function syncEventHub(): Pick<ConsoleContext, 'onSyncEvent' | 'emitSyncEvent'> {
  const listeners = new Set<(type: string) => void>();
  return {
    onSyncEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    emitSyncEvent(type) {
      for (const l of listeners) l(type);
    },
  };
}

// The event log's seq as API clients see it (platform/integration/events.ts orders the log by it): a fixed-width
// decimal string, so that string order is event order. `syncEvents`, `alertEvents` and webhook deliveries carry it;
// their `after` cursors come back through parseSeq.
import { badInput } from '../graphql.ts';

const SEQ_WIDTH = 12;
const SEQ_PATTERN = /^\d{1,15}$/;

/** 42 → "000000000042". */
export const formatSeq = (seq: number): string => String(seq).padStart(SEQ_WIDTH, '0');

/** A client's `after` cursor back to a number; a malformed cursor is the client's error, never "from the start". */
export function parseSeq(value: string | null | undefined, field = 'after'): number {
  if (value === null || value === undefined || value === '') return 0;
  if (!SEQ_PATTERN.test(value)) throw badInput(`${field} must be a seq as returned by syncEvents (digits only)`, field);
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw badInput(`${field} is out of range`, field);
  return n;
}

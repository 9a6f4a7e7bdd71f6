// The subscriptions the API offers (docs/api.md) and the sync subgraph's queries they are read from. Both read
// the sync subgraph's durable event log, so they share its head and its announcements on the event bus.
import { readsOwnSyncEvents, syncEventConcerns } from '../../schema/permissions.ts';
import type { EventLog } from './stream.ts';

export const SYNC_EVENT_LOG: EventLog = {
  head: 'syncEventHead',
  // The sync subgraph's formatSeq (platform/integration/event-seq.ts).
  seqWidth: 12,
  reserved: { cursor: 'gatewaySyncAfter', seq: 'gatewaySyncSeq' },
  feeds: [
    // Query.syncEvents with the subscriber's selection; the subscription's event types narrow the query as they do a query.
    { subscription: 'syncEvents', query: 'syncEvents', payload: null, seq: 'seq', cursor: 'after', pageSize: 'first', filters: ['types'] },
    // Query.alertEvents { seq alert { … } }: the subscriber's selection applies to the alert.
    { subscription: 'alerts', query: 'alertEvents', payload: 'alert', seq: 'seq', cursor: 'after', pageSize: 'first', filters: [] },
  ],
  // An employee (or a manager, for the department) reads the log when an event of their claims is announced.
  audience: (p) => (p && readsOwnSyncEvents(p) ? (a) => syncEventConcerns(p, a) : null),
};

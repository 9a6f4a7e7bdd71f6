// Calls from the sync service to the other subgraphs, as the `sync` service identity: the platform's signed
// client (subgraph-client.ts) bound to that identity. The sync subgraph's process signs as it for both of the
// modules it serves (subgraphs/sync-service.ts): the sync module's pipeline, and operations' probes and chain checks.
import { type SubgraphCall, type SubgraphClientOptions as ClientOptions, subgraphClient as signedClient } from './subgraph-client.ts';
import { servicePrincipal } from '../identity.ts';

export const SYNC_SERVICE = servicePrincipal('sync');

export type SyncClientOptions = Omit<ClientOptions, 'as'>;

export const syncServiceClient = (opts: SyncClientOptions): SubgraphCall => signedClient({ ...opts, as: SYNC_SERVICE });

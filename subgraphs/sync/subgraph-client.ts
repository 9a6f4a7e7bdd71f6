// Calls from the sync service to the other subgraphs, as the `sync` service identity: the platform's signed
// client (platform/integration/subgraph-client.ts) bound to that identity. The archive's generateVoucher and
// fileVoucher are idempotent (one voucher per claim, one record per voucher), so the pipeline may repeat a call
// after any failure without creating anything twice.
import { type SubgraphCall, type SubgraphClientOptions as ClientOptions, subgraphClient as signedClient } from '../../platform/integration/subgraph-client.ts';
import { servicePrincipal } from '../../platform/identity.ts';

export { type SubgraphCall, SubgraphCallError } from '../../platform/integration/subgraph-client.ts';

export const SYNC_SERVICE = servicePrincipal('sync');

export type SubgraphClientOptions = Omit<ClientOptions, 'as'>;

export const subgraphClient = (opts: SubgraphClientOptions): SubgraphCall => signedClient({ ...opts, as: SYNC_SERVICE });

// Calls from the sync service to the other subgraphs, as the `sync` service identity: the platform's signed client
// bound to that identity (platform/integration/sync-client.ts). The archive's generateVoucher and fileVoucher are
// idempotent (one voucher per claim, one record per voucher), so the pipeline may repeat a call after any failure
// without creating anything twice.
export { syncServiceClient as subgraphClient } from '../../platform/integration/sync-client.ts';
export { type SubgraphCall, SubgraphCallError } from '../../platform/integration/subgraph-client.ts';

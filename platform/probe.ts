// The probe lives with the signed client (platform/integration/subgraph-client.ts); this path stays for callers
// that import it from here.
export { type ProbeResult, probeSubgraph } from './integration/subgraph-client.ts';

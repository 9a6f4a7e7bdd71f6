// Each head the archive seals is also written into the integration's audit trail (README.md, "Sealed chain heads"):
// a third place besides the seal file and the database's copy, itself chained and sealed by the sync process. It goes
// the way the gateway's entries go, recordAudit on the sync subgraph, signed as the `archive` service. Best effort:
// the seal file is what verification trusts, so a head not written here (sync down) is logged, not retried; the
// next head, which names its predecessor, is.
import type { SealedHead } from '../../platform/integration/chain-seal.ts';
import { servicePrincipal } from '../../platform/identity.ts';
import { subgraphClient } from '../../platform/integration/subgraph-client.ts';
import type { Logger } from '../../platform/logger.ts';

const RECORD_AUDIT = 'mutation RecordAudit($entries: [AuditEntryInput!]!) { recordAudit(entries: $entries) }';

/** The audit entry of a sealed head: its action names the chain, position, digest and archive number. */
export const sealAuditAction = (h: SealedHead): string => `sealed head ${h.chain} seq ${h.seq} digest ${h.digest}${h.label ? ` archiveNo ${h.label}` : ''}`;

export function sealAuditSink(opts: { syncUrl: () => string; internalSecret: string; logger: Logger; timeoutMs?: number }): (heads: SealedHead[]) => Promise<void> {
  return async (heads) => {
    if (heads.length === 0) return;
    const sync = subgraphClient({ name: 'sync', url: opts.syncUrl(), as: servicePrincipal('archive'), internalSecret: opts.internalSecret, timeoutMs: opts.timeoutMs ?? 5000 });
    const entries = heads.map((h) => ({ at: h.at, actor: 'archive', roles: [], address: null, action: sealAuditAction(h), operationName: null, outcome: 'OK', durationMs: null }));
    try {
      await sync(RECORD_AUDIT, { entries });
    } catch (err) {
      opts.logger.warn({ err: (err as Error).message, heads: heads.length }, 'could not write sealed heads into the audit trail');
    }
  };
}

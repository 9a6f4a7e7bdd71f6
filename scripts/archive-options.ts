// How a process builds the archive subgraph's options from the configuration.
import type { Connection } from 'mongoose';
import { type Config, sealKeySetting } from '../platform/config.ts';
import { loadSealKey } from '../platform/integration/chain-seal.ts';
import { loadTimestampAuthority, timestampWarning } from '../platform/integration/timestamp-authority.ts';
import type { Logger } from '../platform/logger.ts';
import { DEFAULT_CHART } from '../subgraphs/archive/context.ts';
import { sealAuditSink } from '../subgraphs/archive/seal-audit.ts';
import type { ArchiveSubgraphOptions } from '../subgraphs/archive/index.ts';
import { archivePorts } from '../subgraphs/archive/ports.ts';
import { oaPorts } from '../subgraphs/oa/ports.ts';
import { syncPorts } from '../subgraphs/sync/ports.ts';

export async function archiveOptions(config: Config, logger: Logger, connection: Connection): Promise<ArchiveSubgraphOptions> {
  return {
    connection,
    logger: logger.child({ subgraph: 'archive' }),
    internalSecret: config.internalSecret,
    production: config.nodeEnv === 'production',
    // One organisation, one database: approval routes read oa's departments and employees through its port.
    directory: oaPorts(connection).directory,
    // The originals of filed claims are copied through oa's attachments port (same database, any process).
    originals: oaPorts(connection).attachments,
    // Whether a month may be closed: the sync module's readiness, over oa's approved claims and the archive's ledger.
    closeReadiness: syncPorts(connection, { claims: oaPorts(connection).approvedClaims, ledger: archivePorts(connection).ledger }, config.businessTimeZone).readiness,
    settings: {
      fonds: config.archiveFonds,
      ...(config.companyName ? { companyName: config.companyName } : {}),
      timeZone: config.businessTimeZone,
      expenseAccounts: { ...DEFAULT_CHART.expenseAccounts, ...config.accountChart?.expenseAccounts },
      creditAccount: config.accountChart?.creditAccount ?? DEFAULT_CHART.creditAccount,
      financeDepartmentId: config.financeDepartmentId,
      closedPeriodBooking: config.closedPeriodBooking,
      unitHeadId: config.unitHeadId,
      itDepartmentId: config.itDepartmentId,
    },
    // Chain heads are always sealed when run from configuration; the key never comes from the database.
    seal: {
      key: await loadSealKey(sealKeySetting(config), config.archiveSealDir),
      dir: config.archiveSealDir,
      announce: sealAuditSink({ syncUrl: () => config.syncUrl, internalSecret: config.internalSecret, logger: logger.child({ subgraph: 'archive' }) }),
      tsa: await loadTimestampAuthority(config.archiveTsa),
      onTimestampError: timestampWarning(logger.child({ subgraph: 'archive' })),
    },
  };
}

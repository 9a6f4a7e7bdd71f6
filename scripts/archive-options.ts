// How a process builds the archive subgraph's options from the configuration.
import type { Connection } from 'mongoose';
import type { Config } from '../platform/config.ts';
import type { Logger } from '../platform/logger.ts';
import { DEFAULT_CHART } from '../subgraphs/archive/context.ts';
import type { ArchiveSubgraphOptions } from '../subgraphs/archive/index.ts';
import { oaPorts } from '../subgraphs/oa/ports.ts';

export function archiveOptions(config: Config, logger: Logger, connection: Connection): ArchiveSubgraphOptions {
  return {
    connection,
    logger: logger.child({ subgraph: 'archive' }),
    internalSecret: config.internalSecret,
    production: config.nodeEnv === 'production',
    // One organisation, one database: approval routes read oa's departments and employees through its port.
    directory: oaPorts(connection).directory,
    settings: {
      fonds: config.archiveFonds,
      timeZone: config.businessTimeZone,
      expenseAccounts: { ...DEFAULT_CHART.expenseAccounts, ...config.accountChart?.expenseAccounts },
      creditAccount: config.accountChart?.creditAccount ?? DEFAULT_CHART.creditAccount,
      financeDepartmentId: config.financeDepartmentId,
      unitHeadId: config.unitHeadId,
      itDepartmentId: config.itDepartmentId,
    },
  };
}

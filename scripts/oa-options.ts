// How a process builds the oa subgraph's options from the configuration.
import type { Connection } from 'mongoose';
import type { Config } from '../platform/config.ts';
import type { Logger } from '../platform/logger.ts';
import type { startOaSubgraph } from '../subgraphs/oa/index.ts';

export async function oaOptions(config: Config, logger: Logger, connection: Connection, port: number): Promise<Parameters<typeof startOaSubgraph>[0]> {
  return {
    connection,
    logger: logger.child({ subgraph: 'oa' }),
    internalSecret: config.internalSecret,
    production: config.nodeEnv === 'production',
    settings: { approvalThresholdFen: config.expenseApprovalThresholdFen, timeZone: config.businessTimeZone },
    port,
    escalationIntervalMs: config.escalationIntervalMs,
    connectorEnv: process.env,
    attachments: {
      fileMaxBytes: config.fileMaxBytes,
      claimFilesMaxBytes: config.claimFilesMaxBytes,
      ttlHours: config.attachmentTtlHours,
      pendingMaxBytes: config.uploadsPendingMaxBytes,
      pendingMaxFiles: config.uploadsPendingMaxFiles,
    },
    invoices: { companyTaxId: config.companyTaxId, verifier: config.invoiceVerifier },
  };
}

// Inbound OA connectors (Feishu/Lark and DingTalk approval events → expense claims): the public entry point.
import type { Connection } from 'mongoose';
import type { Logger } from '../../../platform/logger.ts';
import { loadConnectorConfig, type ConnectorConfig } from './config.ts';
import type { InvoiceVerifier } from '../invoices/verifier.ts';
import type { AttachmentStore } from '../attachments/store.ts';
import { DingTalkInstanceDetails, FeishuInstanceDetails, platformInstanceDetails } from './details.ts';
import { ConnectorFiles } from './files.ts';
import { InboundEventStore, redeliverPending } from './inbound.ts';
import { loadMappingFile } from './mapping.ts';
import { connectorRoutes, type ConnectorHandler } from './routes.ts';
import type { ClaimSink, InstanceDetails } from './types.ts';

export * from './types.ts';
export { DEFAULT_REPLAY_WINDOW_MS } from './auth.ts';
export { decryptFeishu, encryptFeishu, feishuSignature, parseFeishuRequest, type FeishuConfig } from './feishu.ts';
export {
  decryptDingTalk,
  dingTalkAnswer,
  dingTalkSignature,
  encryptDingTalk,
  parseDingTalkRequest,
  type DingTalkAnswer,
  type DingTalkConfig,
} from './dingtalk.ts';
export {
  approvalFor,
  loadMappingFile,
  mapToClaim,
  MappingConfigError,
  normaliseDingTalkStatus,
  normaliseFeishuStatus,
  parseMappingConfig,
  toFen,
  toIsoDate,
  type ApprovalMapping,
  type ItemFieldsConfig,
  type MappingConfig,
  type MappingFile,
  type MappingResult,
} from './mapping.ts';
export {
  DingTalkInstanceDetails,
  FeishuInstanceDetails,
  InstanceDetailError,
  normaliseDingTalkForm,
  normaliseFeishuForm,
  platformInstanceDetails,
} from './details.ts';
export {
  deliver,
  INBOUND_COLLECTION,
  INBOUND_STATUSES,
  InboundEventStore,
  InboundListError,
  redeliverPending,
  type DeliveryDeps,
  type DeliveryOutcome,
  type InboundEventConnection,
  type InboundEventRecord,
  type InboundListArgs,
  type InboundStatus,
} from './inbound.ts';
export { ConnectorFiles, DEFAULT_FILE_HOSTS, FileRefusedError } from './files.ts';
export { connectorRoutes, MAX_BODY_BYTES, type ConnectorHandler, type ConnectorRoutesOptions } from './routes.ts';
export { CONNECTOR_VARIABLES, loadConnectorConfig, type ConnectorConfig } from './config.ts';

export interface Connectors {
  handler: ConnectorHandler;
  store: InboundEventStore;
  config: ConnectorConfig;
  /** Retries events whose processing failed or was interrupted (a timer calls it). */
  redeliver(): Promise<number>;
}

/**
 * Everything from the environment: configuration, mapping file, inbound store (indexes built), HTTP detail
 * clients and the route handler. Resolves null when no platform is configured.
 * @throws ConfigError / MappingConfigError naming the variable at fault.
 */
export async function createConnectors(options: {
  env?: Readonly<Record<string, string | undefined>>;
  connection: Connection;
  sink: ClaimSink;
  logger: Logger;
  /** Replaces the HTTP detail clients (tests, other transports); then attachment fields are not downloaded. */
  details?: InstanceDetails;
  /** Where downloaded form files go (./files.ts); without it, attachment fields are not downloaded. */
  attachments?: AttachmentStore;
  /** Verifies the invoices among downloaded files, as for uploads. */
  verifier?: InvoiceVerifier;
}): Promise<Connectors | null> {
  const config = loadConnectorConfig(options.env ?? process.env);
  if ((config.feishu === undefined && config.dingtalk === undefined) || config.mappingFile === undefined) return null;
  const mapping = await loadMappingFile(config.mappingFile);
  const store = await new InboundEventStore(options.connection).init();
  const clients = {
    ...(config.feishu ? { feishu: new FeishuInstanceDetails(config.feishu.details) } : {}),
    ...(config.dingtalk ? { dingtalk: new DingTalkInstanceDetails(config.dingtalk.details) } : {}),
  };
  const details = options.details ?? platformInstanceDetails(clients);
  const files = options.details === undefined && options.attachments ? new ConnectorFiles({ store: options.attachments, ...(options.verifier ? { verifier: options.verifier } : {}), ...clients, ...(config.fileHosts ? { hosts: { feishu: config.fileHosts, dingtalk: config.fileHosts } } : {}) }) : undefined;
  const logger = options.logger.child({ component: 'oa-connectors' });
  const handler = connectorRoutes({
    ...(config.feishu ? { feishu: config.feishu } : {}),
    ...(config.dingtalk ? { dingtalk: config.dingtalk } : {}),
    details,
    mapping,
    store,
    sink: options.sink,
    logger,
    ...(files ? { files } : {}),
  });
  return { handler, store, config, redeliver: () => redeliverPending({ store, details, mapping, sink: options.sink, logger, ...(files ? { files } : {}) }) };
}

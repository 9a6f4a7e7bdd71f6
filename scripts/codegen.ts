// `npm run codegen`: TypeScript types for resolvers and models from each subgraph's SDL in schema/.
// A test regenerates them in memory and fails when the checked-in files are stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { codegen } from '@graphql-codegen/core';
import * as typescript from '@graphql-codegen/typescript';
import * as typescriptResolvers from '@graphql-codegen/typescript-resolvers';
import { parse } from 'graphql';

export interface Target {
  /** The subgraph's SDL files, in order. */
  sdl: string[];
  out: string;
  /** GraphQL type -> the model type resolvers receive as parent, `module#Type`. */
  mappers: Record<string, string>;
  contextType: string;
}

export const TARGETS: Target[] = [
  {
    sdl: ['schema/oa.graphql'],
    out: 'subgraphs/oa/generated/graphql.ts',
    contextType: '../context.ts#OaContext',
    mappers: {
      Department: '../models.ts#DepartmentDoc',
      Employee: '../models.ts#EmployeeDoc',
      ExpenseClaim: '../models.ts#ExpenseClaimDoc',
      ExpenseClaimConnection: '../queries.ts#ClaimConnectionModel',
      ExpenseItem: '../models.ts#ExpenseItemDoc',
      ApprovalInstance: '../../../platform/workflow/types.ts#WorkflowInstance',
      ApprovalStep: '../../../platform/workflow/types.ts#StepState',
      ApprovalDecision: '../../../platform/workflow/types.ts#StepDecision',
      Delegation: '../../../platform/workflow/types.ts#Delegation as DelegationModel',
      InboundEvent: '../connectors/inbound.ts#InboundEventRecord',
      Attachment: '../attachments/store.ts#AttachmentView',
      ElectronicInvoice: '../invoices/inspect.ts#StoredInvoice',
      InvoiceLine: '../invoices/fully-digital.ts#InvoiceLine as InvoiceLineModel',
      InvoiceVerification: '../invoices/inspect.ts#StoredVerification',
    },
  },
  {
    sdl: ['schema/archive.graphql', 'schema/archive-lifecycle.graphql'],
    out: 'subgraphs/archive/generated/graphql.ts',
    contextType: '../context.ts#ArchiveContext',
    mappers: {
      Voucher: '../models.ts#VoucherDoc',
      VoucherEntry: '../models.ts#VoucherEntryDoc',
      ArchiveRecord: '../models.ts#ArchiveRecordView',
      ExpenseClaim: '../context.ts#ClaimReference',
      Loan: '../lifecycle/borrowing.ts#LoanDoc',
      AccessLogEntry: '../lifecycle/access-log.ts#AccessLogEntryDoc',
      RecordContent: '../lifecycle/content.ts#RecordContent as RecordContentModel',
      Appraisal: '../lifecycle/appraisal.ts#AppraisalDoc',
      DestructionRegister: '../lifecycle/destruction/index.ts#DestructionRegisterDoc',
      DestructionLine: '../lifecycle/destruction/index.ts#DestructionLineDoc',
      DestructionSignature: '../lifecycle/destruction/index.ts#DestructionSignatureDoc',
    },
  },
  {
    sdl: ['schema/sync.graphql'],
    out: 'subgraphs/sync/generated/graphql.ts',
    contextType: '../context.ts#SyncContext',
    mappers: {
      SyncEvent: '../sync-events.ts#SyncEventView',
      SyncJob: '../models.ts#SyncJobDoc',
      SyncStatus: '../status.ts#SyncStatusView',
      Reconciliation: '../models.ts#ReconciliationDoc',
      ReconciliationDifference: '../models.ts#DifferenceDoc',
      Webhook: '../webhooks/service.ts#WebhookView',
      WebhookDelivery: '../webhooks/service.ts#DeliveryView',
      ExpenseClaim: '../context.ts#EntityReference',
      Voucher: '../context.ts#EntityReference',
      ArchiveRecord: '../context.ts#EntityReference',
    },
  },
  {
    // Operations extends the sync SDL (its scalars, root types and SyncStatus), so both are read; its resolvers
    // implement only the operations fields.
    sdl: ['schema/sync.graphql', 'schema/operations.graphql'],
    out: 'subgraphs/operations/generated/graphql.ts',
    contextType: '../context.ts#OperationsContext',
    mappers: {
      SyncStatus: '../ports.ts#SyncStatusView',
      Alert: '../alerts/models.ts#AlertDoc',
      AlertEvent: '../alerts/service.ts#AlertEventView',
      AlertRule: '../alerts/rules.ts#AlertRuleView',
      SystemStatus: '../system-status.ts#SystemStatusView',
      SyncStatisticRow: '../ports.ts#SyncStatisticRowView',
      Feedback: '../feedback/models.ts#FeedbackDoc',
      FeedbackConnection: '../feedback/paging.ts#FeedbackConnectionModel',
    },
  },
];

const ROOT = new URL('..', import.meta.url);

const FEDERATION_DIRECTIVES = `
directive @key(fields: String!, resolvable: Boolean = true) repeatable on OBJECT | INTERFACE
directive @link(url: String!, import: [String]) repeatable on SCHEMA
directive @shareable repeatable on OBJECT | FIELD_DEFINITION
directive @external on OBJECT | FIELD_DEFINITION
directive @requires(fields: String!) on FIELD_DEFINITION
directive @provides(fields: String!) on FIELD_DEFINITION
`;

// Resolvers see what the scalars parse to: Money as integer fen, Date as YYYY-MM-DD, DateTime as a Date.
const SCALARS = { Money: 'number', Date: 'string', DateTime: { input: 'Date', output: 'Date | string' } };

export async function generate(target: Target): Promise<string> {
  const sdl = target.sdl.map((f) => readFileSync(new URL(f, ROOT), 'utf8')).join('\n');
  // The SDL with the federation directives declared, so the resolvers plugin sees @key and adds __resolveReference.
  const schema = parse(`${sdl}\n${FEDERATION_DIRECTIVES}`);
  const output = await codegen({
    filename: target.out,
    schema,
    documents: [],
    config: { scalars: SCALARS, enumsAsTypes: true, useTypeImports: true },
    plugins: [
      { typescript: {} },
      {
        typescriptResolvers: {
          federation: true,
          useIndexSignature: false,
          contextType: target.contextType,
          mappers: target.mappers,
          avoidOptionals: false,
        },
      },
    ],
    pluginMap: { typescript, typescriptResolvers },
  });
  return `// Generated by \`npm run codegen\` from ${target.sdl.join(', ')}. Do not edit.\n/* eslint-disable */\n${output}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const target of TARGETS) {
    writeFileSync(new URL(target.out, ROOT), await generate(target));
    console.log(`wrote ${target.out}`);
  }
}

// The unified permission model (docs/architecture.md#decision-2): which role may touch which field of the supergraph. The
// gateway's shield rules are built from it; the subgraphs apply row-level scope (whose claims, which records) in
// their queries. Fail closed: a field the model does not cover is denied, and a test walks every field of the
// supergraph and fails when one has no rule.
import { API_SCOPES, type ApiScope, type Principal, type Role } from '../platform/identity.ts';

export { API_SCOPES, type ApiScope };

export type FieldRule =
  /** Any authenticated caller; rows are still scoped by the subgraph. */
  | { kind: 'authenticated' }
  /** Callers holding one of the roles; service identities (other subgraphs, sync) too when `services` is set. */
  | { kind: 'roles'; roles: readonly Role[]; services?: boolean }
  /** Service identities only. */
  | { kind: 'services' }
  /**
   * A sensitive personal field: the full value for the person themself and the `full` roles; the last four
   * characters for `masked` roles and for a MANAGER of the same department; FORBIDDEN for everyone else.
   */
  | { kind: 'sensitive'; full: readonly Role[]; masked: readonly Role[] };

export interface TypeRules {
  /** The rule of every field of the type that has no rule of its own. */
  '*'?: FieldRule;
  fields?: Readonly<Record<string, FieldRule>>;
}

const authenticated: FieldRule = { kind: 'authenticated' };
const roles = (...r: Role[]): FieldRule => ({ kind: 'roles', roles: r });
const rolesOrService = (...r: Role[]): FieldRule => ({ kind: 'roles', roles: r, services: true });

/** Finance, archive and audit: the readers of archive-wide reports and checks. */
const ARCHIVE_READERS: Role[] = ['ARCHIVIST', 'AUDITOR', 'ACCOUNTANT', 'FINANCE_DIRECTOR'];
/** Who watches the sync (jobs, status): ADMIN runs the integration (docs/domain.md#roles), AUDITOR reads. */
const SYNC_OPERATORS: Role[] = ['ADMIN', 'AUDITOR'];
/** Who reconciles a period: operations and the finance side that owns the books, audit reads. */
const RECONCILERS: Role[] = ['ADMIN', 'ACCOUNTANT', 'FINANCE_DIRECTOR', 'AUDITOR'];
/** Who reads every user's feedback: the operators, as they read alerts (ADMIN handles it, AUDITOR reads). */
const FEEDBACK_READERS: Role[] = SYNC_OPERATORS;

export const PERMISSIONS: Readonly<Record<string, TypeRules>> = {
  Query: {
    // Lists and lookups are row-scoped by the subgraphs; the fields below are role-gated as a whole.
    '*': authenticated,
    fields: {
      inboundEvents: roles('ADMIN'),
      // Reports over claims: any caller, over the rows of their own claim scope (ROW_SCOPES.ExpenseClaim).
      expenseSummary: authenticated,
      claimCycleTimes: authenticated,
      expenseReport: authenticated,
      approvalWaitTimes: authenticated,
      verifyArchiveChain: rolesOrService('ARCHIVIST', 'AUDITOR'),
      checkArchiveRecord: roles('ARCHIVIST', 'AUDITOR'),
      archiveStatistics: rolesOrService(...ARCHIVE_READERS),
      recordsDueForAppraisal: roles('ARCHIVIST', 'AUDITOR'),
      accessLog: roles('ARCHIVIST', 'AUDITOR'),
      verifyAccessLog: roles('ARCHIVIST', 'AUDITOR'),
      // Sync events are row-scoped by the sync subgraph (ROW_SCOPES.SyncEvent); operations are role-gated.
      syncJobs: roles(...SYNC_OPERATORS),
      syncStatus: roles(...SYNC_OPERATORS),
      reconciliations: roles(...RECONCILERS),
      webhooks: roles('ADMIN'),
      webhookDeliveries: roles('ADMIN'),
      apiKeys: roles('ADMIN'),
      apiKeyPrincipal: { kind: 'services' },
      systemStatus: roles(...SYNC_OPERATORS),
      systemStatusHistory: roles(...SYNC_OPERATORS),
      alerts: roles(...SYNC_OPERATORS),
      alertEvents: roles(...SYNC_OPERATORS),
      alertRules: roles(...SYNC_OPERATORS),
      auditLog: roles(...SYNC_OPERATORS),
      verifyAuditLog: roles(...SYNC_OPERATORS),
      syncStatistics: roles(...SYNC_OPERATORS, 'ACCOUNTANT', 'FINANCE_DIRECTOR'),
      accountingPeriods: roles(...ARCHIVE_READERS),
      transferRegisters: roles(...ARCHIVE_READERS),
      // Feedback: operators read all of it (as alerts); feedbackItem and myFeedback are row-scoped (ROW_SCOPES.Feedback).
      feedback: roles(...FEEDBACK_READERS),
      feedbackItem: authenticated,
      myFeedback: authenticated,
    },
  },
  Mutation: {
    // Ownership and assignment (own claim, assigned approver, borrower) are checked by the subgraphs.
    '*': authenticated,
    fields: {
      createDepartment: roles('ADMIN'),
      createEmployee: roles('ADMIN'),
      setDepartmentManager: roles('ADMIN'),
      updateDepartment: roles('ADMIN'),
      updateEmployee: roles('ADMIN'),
      generateVoucher: { kind: 'services' },
      fileVoucher: rolesOrService('ARCHIVIST'),
      generateVouchers: { kind: 'services' },
      fileVouchers: { kind: 'services' },
      fileArchiveRecord: roles('ARCHIVIST'),
      closePeriod: roles('ACCOUNTANT'),
      // The approvers of the current step (head of accounting, finance director): checked by the workflow engine.
      decidePeriodClose: roles('ACCOUNTANT', 'FINANCE_DIRECTOR', 'MANAGER'),
      reopenPeriod: roles('FINANCE_DIRECTOR'),
      prepareHandover: roles('ARCHIVIST', 'ACCOUNTANT'),
      signHandover: roles('ARCHIVIST', 'ACCOUNTANT'),
      withdrawHandover: roles('ARCHIVIST', 'ACCOUNTANT'),
      startLoan: roles('ARCHIVIST'),
      returnLoan: roles('ARCHIVIST'),
      markOverdueLoans: rolesOrService('ARCHIVIST'),
      placeHold: roles('ARCHIVIST', 'ACCOUNTANT'),
      releaseHold: roles('ARCHIVIST', 'ACCOUNTANT'),
      appraiseRecord: roles('ARCHIVIST'),
      fileAppraisalOpinion: roles('ARCHIVIST'),
      proposeDestruction: roles('ARCHIVIST'),
      cancelDestruction: roles('ARCHIVIST'),
      fileDestructionRegister: roles('ARCHIVIST'),
      retrySyncJob: roles('ADMIN'),
      correctSyncJob: roles('ADMIN'),
      reconcile: roles(...RECONCILERS),
      registerWebhook: roles('ADMIN'),
      setWebhookActive: roles('ADMIN'),
      updateWebhook: roles('ADMIN'),
      deleteWebhook: roles('ADMIN'),
      rotateWebhookSecret: roles('ADMIN'),
      sendTestWebhook: roles('ADMIN'),
      replayWebhookDelivery: roles('ADMIN'),
      createApiKey: roles('ADMIN'),
      rotateApiKey: roles('ADMIN'),
      revokeApiKey: roles('ADMIN'),
      acknowledgeAlert: roles('ADMIN'),
      resolveAlert: roles('ADMIN'),
      runAlertAction: roles('ADMIN'),
      recordAudit: { kind: 'services' },
      reportGateway: { kind: 'services' },
      // Any signed-in user sends feedback (the subgraph refuses API keys and services: they are not users).
      sendFeedback: authenticated,
      tagFeedback: roles('ADMIN'),
      closeFeedback: roles('ADMIN'),
      reopenFeedback: roles('ADMIN'),
    },
  },
  // Delivered by the gateway from Query.syncEvents and Query.alertEvents, under the same rules.
  Subscription: { '*': authenticated, fields: { alerts: roles(...SYNC_OPERATORS) } },
  Employee: {
    '*': authenticated,
    fields: {
      // docs/domain.md#sensitive-fields: everyone sees their own; ACCOUNTANT and FINANCE_DIRECTOR see bank accounts for payment; ADMIN
      // keeps the organisation; AUDITOR sees personal fields masked only.
      phone: { kind: 'sensitive', full: ['ADMIN'], masked: ['AUDITOR'] },
      idNumber: { kind: 'sensitive', full: ['ADMIN'], masked: ['AUDITOR'] },
      bankAccount: { kind: 'sensitive', full: ['ADMIN', 'ACCOUNTANT', 'FINANCE_DIRECTOR'], masked: ['AUDITOR'] },
    },
  },
  // Objects whose rows the subgraphs scope: readable by any authenticated caller who got them.
  Department: { '*': authenticated },
  ExpenseClaim: { '*': authenticated },
  ExpenseItem: { '*': authenticated },
  // Whoever reads the claim item reads its files' metadata (the subgraph scopes the claim's rows).
  Attachment: { '*': authenticated },
  // What a file says of itself (issue 17): as readable as the file's other metadata.
  FileStructure: { '*': authenticated },
  ElectronicInvoice: { '*': authenticated },
  InvoiceParty: { '*': authenticated },
  InvoiceLine: { '*': authenticated },
  InvoiceVerification: { '*': authenticated },
  ExpenseClaimEdge: { '*': authenticated },
  ExpenseClaimConnection: { '*': authenticated },
  ApprovalInstance: { '*': authenticated },
  ApprovalStep: { '*': authenticated },
  ApprovalDecision: { '*': authenticated },
  Delegation: { '*': authenticated },
  SummaryRow: { '*': authenticated },
  CycleTimeRow: { '*': authenticated },
  ExpenseReport: { '*': authenticated },
  ExpenseReportRow: { '*': authenticated },
  ReportCell: { '*': authenticated },
  ApprovalWaitRow: { '*': authenticated },
  PageInfo: { '*': authenticated },
  InboundEvent: { '*': roles('ADMIN') },
  InboundEventEdge: { '*': roles('ADMIN') },
  InboundEventConnection: { '*': roles('ADMIN') },
  Voucher: { '*': authenticated },
  VoucherEntry: { '*': authenticated },
  Fixity: { '*': authenticated },
  ArchiveRecord: { '*': authenticated, fields: { holds: rolesOrService(...ARCHIVE_READERS) } },
  ArchivedFile: { '*': authenticated },
  ArchiveRecordEdge: { '*': authenticated },
  ArchiveRecordConnection: { '*': authenticated },
  ChainVerification: { '*': authenticated },
  FourPropertiesCheck: { '*': authenticated },
  FourPropertiesReport: { '*': authenticated },
  ArchiveStatistic: { '*': authenticated },
  Hold: { '*': rolesOrService(...ARCHIVE_READERS) },
  RecordContent: { '*': authenticated },
  ArchiveApprovalStep: { '*': authenticated },
  Loan: { '*': authenticated },
  AccountingPeriod: { '*': roles(...ARCHIVE_READERS, 'MANAGER') },
  PeriodDocument: { '*': roles(...ARCHIVE_READERS, 'MANAGER') },
  PeriodRejection: { '*': roles(...ARCHIVE_READERS, 'MANAGER') },
  TransferRegister: { '*': roles(...ARCHIVE_READERS) },
  TransferLine: { '*': roles(...ARCHIVE_READERS) },
  TransferLineEdge: { '*': roles(...ARCHIVE_READERS) },
  TransferLineConnection: { '*': roles(...ARCHIVE_READERS) },
  HandoverSignature: { '*': roles(...ARCHIVE_READERS) },
  LoanEdge: { '*': authenticated },
  LoanConnection: { '*': authenticated },
  AccessLogEntry: { '*': roles('ARCHIVIST', 'AUDITOR') },
  AccessLogEntryEdge: { '*': roles('ARCHIVIST', 'AUDITOR') },
  AccessLogConnection: { '*': roles('ARCHIVIST', 'AUDITOR') },
  AccessLogVerification: { '*': roles('ARCHIVIST', 'AUDITOR') },
  Appraisal: { '*': authenticated },
  DestructionLine: { '*': authenticated },
  DestructionSignature: { '*': authenticated },
  PendingSignatory: { '*': authenticated },
  DestructionRegister: { '*': authenticated },
  DestructionRegisterEdge: { '*': authenticated },
  DestructionRegisterConnection: { '*': authenticated },
  SyncEvent: { '*': authenticated },
  SyncJob: { '*': roles(...SYNC_OPERATORS) },
  SyncJobCorrection: { '*': roles(...SYNC_OPERATORS) },
  SyncJobItemCorrection: { '*': roles(...SYNC_OPERATORS) },
  SyncStatus: { '*': roles(...SYNC_OPERATORS) },
  Reconciliation: { '*': roles(...RECONCILERS) },
  ReconciliationDifference: { '*': roles(...RECONCILERS) },
  Webhook: { '*': roles('ADMIN') },
  WebhookDelivery: { '*': roles('ADMIN') },
  WebhookTestResult: { '*': roles('ADMIN') },
  ApiKey: { '*': roles('ADMIN') },
  ApiKeySecret: { '*': roles('ADMIN') },
  ApiKeyPrincipal: { '*': { kind: 'services' } },
  SystemStatus: { '*': roles(...SYNC_OPERATORS) },
  SubgraphHealth: { '*': roles(...SYNC_OPERATORS) },
  StatusSample: { '*': roles(...SYNC_OPERATORS) },
  SubgraphSample: { '*': roles(...SYNC_OPERATORS) },
  GatewayInstance: { '*': roles(...SYNC_OPERATORS) },
  Alert: { '*': roles(...SYNC_OPERATORS) },
  AlertAction: { '*': roles(...SYNC_OPERATORS) },
  AlertEvent: { '*': roles(...SYNC_OPERATORS) },
  AlertRule: { '*': roles(...SYNC_OPERATORS) },
  AuditEntry: { '*': roles(...SYNC_OPERATORS) },
  AuditEntryConnection: { '*': roles(...SYNC_OPERATORS) },
  AuditVerification: { '*': roles(...SYNC_OPERATORS) },
  SyncStatisticRow: { '*': roles(...SYNC_OPERATORS, 'ACCOUNTANT', 'FINANCE_DIRECTOR') },
  // Rows scoped by the subgraph: operators all, a user their own (ROW_SCOPES.Feedback).
  Feedback: { '*': authenticated },
  FeedbackSource: { '*': authenticated },
  FeedbackChange: { '*': authenticated },
  FeedbackEdge: { '*': authenticated },
  FeedbackConnection: { '*': authenticated },
};

/**
 * Row-level scope, read by the subgraphs and applied inside their database queries: who sees every row, who the
 * rows of their own department, and (always) everyone their own rows. Service identities see every row.
 */
export interface RowScope {
  all: readonly Role[];
  department: readonly Role[];
  /** The scopes with which an integration (API key) sees every row; without one of them, none. */
  integration: readonly ApiScope[];
}

export const ROW_SCOPES: Readonly<Record<'ExpenseClaim' | 'Voucher' | 'ArchiveRecord' | 'SyncEvent' | 'Feedback', RowScope>> = {
  // EMPLOYEE: own claims; MANAGER: the department's; finance and audit: all (docs/domain.md#roles).
  // An integration reading events or reports sees the claims behind them, but only the fields INTEGRATION grants.
  ExpenseClaim: { all: ['ACCOUNTANT', 'FINANCE_DIRECTOR', 'AUDITOR'], department: ['MANAGER'], integration: ['claims:read', 'events:read', 'reports:read'] },
  // Vouchers and their records also for the ARCHIVIST, who keeps them.
  Voucher: { all: ['ACCOUNTANT', 'FINANCE_DIRECTOR', 'ARCHIVIST', 'AUDITOR'], department: ['MANAGER'], integration: ['events:read', 'reports:read'] },
  ArchiveRecord: { all: ['ACCOUNTANT', 'FINANCE_DIRECTOR', 'ARCHIVIST', 'AUDITOR'], department: ['MANAGER'], integration: ['events:read', 'reports:read'] },
  // Sync events of a claim: whoever may read the claim or its voucher, and ADMIN, who runs the integration and
  // sees that events flow (ids and numbers only: the claim itself still resolves under the claim's own scope).
  // Events without a claim (other filings, reconciliation) only for the `all` roles.
  SyncEvent: { all: ['ADMIN', 'ACCOUNTANT', 'FINANCE_DIRECTOR', 'ARCHIVIST', 'AUDITOR'], department: ['MANAGER'], integration: ['events:read'] },
  // Users' feedback and its events (FEEDBACK_EVENT_TYPES): the operators all; everyone their own; an
  // integration with feedback:read all (an OA plugin routing feedback). Never by department.
  Feedback: { all: FEEDBACK_READERS, department: [], integration: ['feedback:read'] },
};

/** The sync events of feedback (subject a Feedback, payload.senderId its sender), row-scoped by ROW_SCOPES.Feedback. */
export const FEEDBACK_EVENT_TYPES: readonly string[] = ['FEEDBACK_RECEIVED', 'FEEDBACK_CLOSED'];

/**
 * The INTEGRATION role: all that an API key (principal kind 'integration', docs/api.md#api-keys) may read, scope by
 * scope; nothing else, and never a mutation. Events, ids, numbers, amounts, dates and statuses: no person's name,
 * phone, ID or bank number (of an Employee only its id), nothing of the operations side (jobs, webhooks, alerts,
 * audit) but users' feedback with feedback:read. '*' grants every field of the type. Each field listed has a rule in PERMISSIONS as well (tested).
 */
export const INTEGRATION: Readonly<Record<ApiScope, Readonly<Record<string, '*' | readonly string[]>>>> = {
  'events:read': {
    Query: ['syncEvents', 'syncEventHead'],
    Subscription: ['syncEvents'],
    SyncEvent: '*',
    // What an event refers to, by id and number.
    ExpenseClaim: ['id', 'claimNo'],
    Voucher: ['id', 'voucherNo'],
    ArchiveRecord: ['id', 'archiveNo'],
  },
  'claims:read': {
    Query: ['expenseClaim', 'expenseClaims'],
    ExpenseClaim: ['id', 'claimNo', 'applicant', 'department', 'title', 'category', 'items', 'total', 'status', 'createdAt', 'submittedAt', 'approvedAt'],
    ExpenseItem: ['description', 'amount', 'occurredOn', 'invoiceNo', 'attachments'],
    // Not the file name, which people type (often their own name).
    Attachment: ['id', 'mediaType', 'size', 'sha256', 'uploadedAt', 'structure', 'invoice', 'verification'],
    FileStructure: '*',
    ElectronicInvoice: '*',
    // Not the parties' names: a buyer may be a natural person (as for employees' names elsewhere).
    InvoiceParty: ['taxId'],
    InvoiceLine: '*',
    InvoiceVerification: '*',
    ExpenseClaimConnection: '*',
    ExpenseClaimEdge: '*',
    PageInfo: '*',
    Employee: ['id'],
    Department: ['id', 'code', 'name'],
  },
  'reports:read': {
    Query: ['expenseSummary', 'claimCycleTimes', 'expenseReport', 'approvalWaitTimes', 'syncStatistics', 'archiveStatistics'],
    SummaryRow: '*',
    CycleTimeRow: '*',
    // Names of employees (ReportCell.label of EMPLOYEE, ApprovalWaitRow.approverName) are null for API keys: the
    // oa subgraph leaves them out for integrations (subgraphs/oa/expense-report.ts), ids stay.
    ExpenseReport: '*',
    ExpenseReportRow: '*',
    ReportCell: '*',
    ApprovalWaitRow: '*',
    SyncStatisticRow: '*',
    ArchiveStatistic: '*',
  },
  // Feedback events only (eventScope), and the feedback they name: its text, source, status, tags; of people only ids.
  'feedback:read': {
    Query: ['syncEvents', 'syncEventHead', 'feedbackItem'],
    Subscription: ['syncEvents'],
    SyncEvent: '*',
    Feedback: '*',
    FeedbackSource: '*',
    FeedbackChange: '*',
    Employee: ['id'],
    ExpenseClaim: ['id'],
    ArchiveRecord: ['id'],
  },
};

/** The scopes that grant a field to an integration (none: it is refused to every API key). */
export function scopesGranting(type: string, field: string): ApiScope[] {
  return API_SCOPES.filter((scope) => {
    const grant = INTEGRATION[scope][type];
    return grant === '*' || (grant !== undefined && grant.includes(field));
  });
}

/** Whether an integration holding `scopes` may read the field. */
export const integrationMayRead = (type: string, field: string, scopes: readonly ApiScope[] | undefined): boolean =>
  scopesGranting(type, field).some((scope) => scopes?.includes(scope) ?? false);

/** Whether the caller sees every row of the entity (ROW_SCOPES): services; the `all` roles; an integration by scope. */
export function readsAllRows(p: Principal, entity: keyof typeof ROW_SCOPES): boolean {
  const scope = ROW_SCOPES[entity];
  if (p.kind === 'service') return true;
  if (p.kind === 'integration') return scope.integration.some((s) => p.scopes?.includes(s) ?? false);
  return scope.all.some((role) => p.roles.includes(role));
}

/**
 * Whether the caller may use the field by what the caller is alone: the rule of PERMISSIONS for users and services
 * (a sensitive field's per-record decision is the masking's), INTEGRATION for API keys. The gateway's decision per
 * operation, and the check of subgraph resolvers that admit integrations (reports).
 */
export function callerMayUse(p: Principal | null, type: string, field: string): boolean {
  const rule = ruleFor(type, field);
  if (!rule || !p) return false;
  if (p.kind === 'integration') return rule.kind !== 'services' && rule.kind !== 'sensitive' && integrationMayRead(type, field, p.scopes);
  switch (rule.kind) {
    case 'authenticated':
    case 'sensitive':
      return true;
    case 'services':
      return p.kind === 'service';
    case 'roles':
      return (rule.services === true && p.kind === 'service') || rule.roles.some((role) => p.roles.includes(role));
    default:
      return false;
  }
}

/**
 * Whether a sync event may be in a caller's row scope, for callers who read only their own (no `all` role of
 * ROW_SCOPES.SyncEvent, a user): the event of a claim whose applicant they are, or, for a department role, of their
 * department's claim, and the events of the feedback they sent. What subgraphs/sync/context.ts (eventScope) filters
 * the log by; the gateway uses it only to skip reading the log for a subscriber no new event can concern (the read
 * itself stays scoped by the subgraph).
 */
export function syncEventConcerns(
  p: { sub: string; roles: readonly string[]; departmentId: string | null },
  a: { claim: boolean; applicantId: string | null; departmentId: string | null; senderId?: string | null },
): boolean {
  // A feedback event concerns its sender (only a Feedback's event carries senderId: eventAudience).
  if (a.senderId) return a.senderId === p.sub;
  if (!a.claim) return false;
  if (a.applicantId !== null && a.applicantId === p.sub) return true;
  const scope = ROW_SCOPES.SyncEvent;
  return p.departmentId !== null && a.departmentId === p.departmentId && scope.department.some((r) => p.roles.includes(r));
}

/** Whether a caller reads only their own sync events (syncEventConcerns applies): a user with no `all` role and no alert reader's. */
export const readsOwnSyncEvents = (p: { kind: string; roles: readonly string[] }): boolean =>
  p.kind === 'user' && ![...ROW_SCOPES.SyncEvent.all, ...SYNC_OPERATORS].some((r) => p.roles.includes(r));

/** The rule for a field, or undefined: the gateway then denies it. */
export function ruleFor(type: string, field: string): FieldRule | undefined {
  const t = PERMISSIONS[type];
  return t?.fields?.[field] ?? t?.['*'];
}

/**
 * The roles a role-gated field allows, for subgraphs that check a mutation or query themselves: they read the one
 * model instead of copying its lists. Throws at start-up when the field is not role-gated, so a rule changed to
 * another kind cannot silently open a resolver.
 */
export function rolesFor(type: string, field: string): readonly Role[] {
  const rule = ruleFor(type, field);
  if (rule?.kind !== 'roles') throw new Error(`${type}.${field} has no role rule in schema/permissions.ts`);
  return rule.roles;
}

export type SensitiveAccess = 'full' | 'masked' | 'forbidden';

/**
 * What a caller gets of a sensitive field (kind 'sensitive') of the record of `owner` (an employee id): the
 * gateway decides it per record, and the subgraph serving the field decides it again for user identities
 * (defence in depth), both from this one function. `departmentOf` is asked only for a MANAGER with a department.
 */
export async function sensitiveAccess(
  rule: Extract<FieldRule, { kind: 'sensitive' }>,
  owner: string | undefined,
  principal: Principal | null,
  departmentOf: (owner: string) => Promise<string | null | undefined> | string | null | undefined,
): Promise<SensitiveAccess> {
  const p = principal;
  if (!p) return 'forbidden';
  if (owner !== undefined && owner === p.sub) return 'full';
  if (rule.full.some((role) => p.roles.includes(role))) return 'full';
  if (rule.masked.some((role) => p.roles.includes(role))) return 'masked';
  if (p.roles.includes('MANAGER') && p.departmentId && owner !== undefined) {
    if ((await departmentOf(owner)) === p.departmentId) return 'masked';
  }
  return 'forbidden';
}

/** The sensitive fields of a type, with their rules (Employee: phone, idNumber, bankAccount). */
export function sensitiveFields(type: string): Array<[field: string, rule: Extract<FieldRule, { kind: 'sensitive' }>]> {
  return Object.entries(PERMISSIONS[type]?.fields ?? {}).filter((e): e is [string, Extract<FieldRule, { kind: 'sensitive' }>] => e[1].kind === 'sensitive');
}

/** Keeps the last four characters: "6222021234567890128" → "***************0128". */
export function maskValue(value: string): string {
  return value.length <= 4 ? '*'.repeat(value.length) : '*'.repeat(value.length - 4) + value.slice(-4);
}

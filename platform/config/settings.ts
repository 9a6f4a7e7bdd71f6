// The settings every process reads: the shape loadConfig (platform/config.ts) returns, and the enumerations it
// checks NODE_ENV and LOG_LEVEL against.
import type { AlertRuleOverrides } from './fields.ts';

export const NODE_ENVS = ['development', 'test', 'production'] as const;
export type NodeEnv = (typeof NODE_ENVS)[number];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Config {
  readonly nodeEnv: NodeEnv;
  readonly port: number;
  readonly logLevel: LogLevel;
  /** Unset: start the embedded engine with data in `dataDir`. */
  readonly mongodbUri: string | undefined;
  /** Production may run on the embedded engine (EMBEDDED_DATABASE_IN_PRODUCTION=true); see checkEmbeddedDatabase. */
  readonly embeddedDatabaseInProduction: boolean;
  /** Absolute path. */
  readonly dataDir: string;
  /** Page cache of the embedded engine's store in MiB: the working set it keeps in memory. */
  readonly engineCacheMb: number;
  /** When the embedded engine's commits reach the disk: within a second ('interval') or before each answer ('commit'). */
  readonly engineFsync: 'interval' | 'commit';
  /** Embedded engine commands that take longer are logged ("slow command", by shape, never values). */
  readonly engineSlowMs: number;
  readonly internalSecret: string;
  /** HS256 key for client tokens; undefined when only JWKS is configured. */
  readonly jwtSecret: string | undefined;
  readonly jwtJwksUrl: string | undefined;
  readonly jwtIssuer: string | undefined;
  readonly jwtAudience: string | undefined;
  /** Longest lifetime of a client token in seconds (JWT_MAX_TTL): a token whose `exp` lies further out is refused. */
  readonly jwtMaxTtlSeconds: number;
  readonly oaPort: number;
  readonly archivePort: number;
  readonly syncPort: number;
  /** Where `npm start` binds the oa, archive and sync subgraphs (SUBGRAPH_HOST, default 127.0.0.1: loopback only). */
  readonly subgraphHost: string;
  readonly oaUrl: string;
  readonly archiveUrl: string;
  readonly syncUrl: string;
  /** Where the sync service reaches the gateway (GATEWAY_URL), to run webhooks' GraphQL selections; null: not set. */
  readonly gatewayUrl: string | null;
  readonly redisUrl: string | undefined;
  readonly webhookAllowPrivateTargets: boolean;
  /** The gateway is behind a trusted proxy: the client address is the first hop of X-Forwarded-For. */
  readonly trustProxy: boolean;
  /** Sync: attempts before a job is DEAD; first retry delay and its cap (doubling, with jitter). */
  readonly syncMaxAttempts: number;
  readonly syncRetryBaseMs: number;
  readonly syncRetryMaxMs: number;
  /** How often the sync pipeline reads the event log (in-process appends wake it sooner). */
  readonly syncPollMs: number;
  /** How long another sync instance waits before taking over from one that died. */
  readonly syncLeaseTtlMs: number;
  /** Scheduled reconciliation of the current and previous period; 0 turns it off. */
  readonly reconcileIntervalMs: number;
  /** Claims approved more recently than this are not yet counted as missing their voucher. */
  readonly reconcileGraceMs: number;
  readonly webhookMaxAttempts: number;
  /** Requests a minute a new API key may make per gateway instance unless its creator says otherwise (API_KEY_RATE_LIMIT). */
  readonly apiKeyRateLimit: number;
  /** How long a gateway trusts a key it checked before it asks again (API_KEY_CACHE_MS): the delay of a revocation. */
  readonly apiKeyCacheMs: number;
  /** Largest attachment upload, bytes (FILE_MAX_BYTES; default 20 MiB; docs/api.md#attachments). */
  readonly fileMaxBytes: number;
  /** Largest total of the attachments of one claim, bytes (CLAIM_FILES_MAX_BYTES; default 100 MiB). */
  readonly claimFilesMaxBytes: number;
  /** How long an upload no claim references is kept (ATTACHMENT_TTL_HOURS; default 24). */
  readonly attachmentTtlHours: number;
  /** What one employee may hold in uploads no claim references yet (UPLOADS_PENDING_MAX_BYTES, default 200 MiB; UPLOADS_PENDING_MAX_FILES, default 100). */
  readonly uploadsPendingMaxBytes: number;
  readonly uploadsPendingMaxFiles: number;
  /** How often the anomaly rules are evaluated, and their overrides (ALERT_RULES). */
  readonly alertIntervalMs: number;
  readonly alertRules: AlertRuleOverrides;
  /** How often the sync service records a status sample for systemStatusHistory (STATUS_SAMPLE_MS). */
  readonly statusSampleMs: number;
  readonly webhookTimeoutMs: number;
  readonly shutdownTimeoutMs: number;
  /** Claims above this amount, in fen, also need a FINANCE_DIRECTOR. */
  readonly expenseApprovalThresholdFen: number;
  /** IANA time zone in which business dates ("today", claim-number years) are reckoned. */
  readonly businessTimeZone: string;
  /** How often approval steps past their time limit are escalated. */
  readonly escalationIntervalMs: number;
  /** 全宗号: the first part of every archive number. */
  readonly archiveFonds: string;
  /** The accounting department (its manager is the accounting department head in borrowing and destruction). */
  readonly financeDepartmentId: string | null;
  /** A voucher dated in a closed period: booked in the next open one (its date kept), or refused (CLOSED_PERIOD_BOOKING). */
  readonly closedPeriodBooking: 'NEXT_OPEN' | 'REFUSE';
  /** The unit head (单位负责人) who signs destruction registers. */
  readonly unitHeadId: string | null;
  /** The IT department that supervises the destruction of electronic archives. */
  readonly itDepartmentId: string | null;
  /** Chart of accounts for expense vouchers, overriding the default: expense account per category, credit account. */
  readonly accountChart: AccountChart | null;
  /** A supergraph SDL file the gateway serves instead of schema/supergraph.graphql. */
  readonly supergraphPath: string | null;
  /** Sealed chain heads (README.md, "Sealed chain heads"): HMAC-SHA-256 secret, or an Ed25519 private key (PEM) file. */
  readonly archiveSealKey: string | undefined;
  readonly archiveSealPrivateKeyFile: string | null;
  /** Absolute path of the append-only seal files; default DATA_DIR/seals. */
  readonly archiveSealDir: string;
  /** An RFC 3161 time-stamping authority for sealed heads, the PEM file of the certificates its tokens chain to, and its timeout. */
  readonly archiveTsa: { url: string; certFile: string; timeoutMs: number } | null;
  /** Bearer token a Prometheus scraper must send for /metrics (platform/metrics-http.ts). */
  readonly metricsToken: string | undefined;
  /** The company's 统一社会信用代码 (COMPANY_TAX_ID, GB 32100 checked, upper-cased): the buyer every invoice must name. */
  readonly companyTaxId: string | null;
  /** The unit's name printed on its books, reports and transfer registers (COMPANY_NAME); null: `全宗 <ARCHIVE_FONDS>`. */
  readonly companyName: string | null;
  /** The invoice verification interface (INVOICE_VERIFIER_URL, subgraphs/oa/invoices/verifier.ts) and its timeout; null: invoices are NOT_CHECKED. */
  readonly invoiceVerifier: { url: string; timeoutMs: number } | null;
  /** /metrics on a listener of its own on 127.0.0.1 (and not on PORT); `0` picks a free port. */
  readonly metricsPort: number | undefined;
  /** Names of the variables that fell back to a DEVELOPMENT_DEFAULTS value, so start-up can warn. */
  readonly developmentDefaults: readonly string[];
}

export interface ChartAccountSetting {
  readonly code: string;
  readonly name: string;
}

export interface AccountChart {
  readonly expenseAccounts: Readonly<Record<string, ChartAccountSetting>>;
  readonly creditAccount: ChartAccountSetting;
}

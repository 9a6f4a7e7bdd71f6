// Configuration from environment variables, validated once at start-up.
// A bad value stops the process with a message naming every offending variable (docs/architecture.md#habits).
// This module reads the environment and is what importers use; the parts live in platform/config/: the Config shape
// (settings.ts), the field schemas (fields.ts), the variable table (variables.ts), the development defaults
// (development-defaults.ts), the report of problems (issues.ts), and the checks made where a setting is used
// (embedded-database.ts, seal-key.ts).
import path from 'node:path';
import { DEVELOPMENT_DEFAULTS } from './config/development-defaults.ts';
import { MIN_SECRET_LENGTH, type Raw } from './config/fields.ts';
import { type ConfigIssue, ConfigError } from './config/issues.ts';
import type { Config, NodeEnv } from './config/settings.ts';
import { envSchema } from './config/variables.ts';

export { DEVELOPMENT_DEFAULTS } from './config/development-defaults.ts';
export { EMBEDDED_DATABASE_TRADE_OFFS, checkEmbeddedDatabase } from './config/embedded-database.ts';
export { type AlertRuleOverrides, MIN_SECRET_LENGTH } from './config/fields.ts';
export { type ConfigIssue, ConfigError, formatConfigError } from './config/issues.ts';
export { type SealKeySetting, sealKeySetting } from './config/seal-key.ts';
export { type AccountChart, type ChartAccountSetting, type Config, LOG_LEVELS, type LogLevel, NODE_ENVS, type NodeEnv } from './config/settings.ts';

/** Every environment variable this module reads. */
export const CONFIG_VARIABLES = Object.freeze(Object.keys(envSchema.shape)) as readonly (keyof typeof envSchema.shape)[];

type EnvInput = Readonly<Record<string, string | undefined>>;

/**
 * Reads and validates configuration. Empty values count as unset (a blank `MONGODB_URI=` in a .env file
 * means "embedded engine", not "invalid URI").
 * @throws ConfigError naming every bad or missing variable.
 */
export function loadConfig(env: EnvInput = process.env): Config {
  const input: Record<string, Raw> = {};
  for (const name of CONFIG_VARIABLES) {
    const value = env[name];
    input[name] = value === undefined || value.trim() === '' ? undefined : value;
  }

  const parsed = envSchema.safeParse(input);
  const issues: ConfigIssue[] = parsed.success
    ? []
    : parsed.error.issues.map((i) => ({ variable: String(i.path[0] ?? 'environment'), message: i.message }));
  const bad = new Set(issues.map((i) => i.variable));
  // Cross-field rules need NODE_ENV; if even that is invalid, report field problems only.
  if (bad.has('NODE_ENV')) throw new ConfigError(issues);
  const nodeEnv: NodeEnv = (input.NODE_ENV as NodeEnv | undefined) ?? 'development';
  const production = nodeEnv === 'production';
  const v = parsed.success ? parsed.data : undefined;

  // ---- secrets and client-token verification ----
  const developmentDefaults: string[] = [];
  const jwksUrl = input.JWT_JWKS_URL;
  let internalSecret = input.INTERNAL_SECRET;
  let jwtSecret = input.JWT_SECRET;

  if (internalSecret === undefined) {
    if (production) {
      issues.push({ variable: 'INTERNAL_SECRET', message: `required in production (at least ${MIN_SECRET_LENGTH} characters)` });
    } else {
      internalSecret = DEVELOPMENT_DEFAULTS.INTERNAL_SECRET;
      developmentDefaults.push('INTERNAL_SECRET');
    }
  }
  if (jwtSecret === undefined && jwksUrl === undefined) {
    if (production) {
      issues.push({ variable: 'JWT_SECRET', message: 'required in production unless JWT_JWKS_URL is set' });
    } else {
      jwtSecret = DEVELOPMENT_DEFAULTS.JWT_SECRET;
      developmentDefaults.push('JWT_SECRET');
    }
  }
  if (production) {
    for (const name of ['INTERNAL_SECRET', 'JWT_SECRET'] as const) {
      const value = input[name];
      if (value !== undefined && (Object.values(DEVELOPMENT_DEFAULTS) as string[]).includes(value)) {
        issues.push({ variable: name, message: 'is a public development default; production needs a secret of its own' });
      }
    }
    if (internalSecret !== undefined && internalSecret === jwtSecret && !bad.has('INTERNAL_SECRET')) {
      issues.push({ variable: 'INTERNAL_SECRET', message: 'must differ from JWT_SECRET' });
    }
  }
  if (jwksUrl !== undefined) {
    // Without issuer and audience checks any token the key set signed, for any service, would be accepted.
    if (input.JWT_ISSUER === undefined) issues.push({ variable: 'JWT_ISSUER', message: 'required when JWT_JWKS_URL is set' });
    if (input.JWT_AUDIENCE === undefined) issues.push({ variable: 'JWT_AUDIENCE', message: 'required when JWT_JWKS_URL is set' });
  }

  if (input.ARCHIVE_SEAL_KEY !== undefined && input.ARCHIVE_SEAL_PRIVATE_KEY_FILE !== undefined) {
    issues.push({ variable: 'ARCHIVE_SEAL_KEY', message: 'set either ARCHIVE_SEAL_KEY (HMAC) or ARCHIVE_SEAL_PRIVATE_KEY_FILE (Ed25519), not both' });
  }

  if (v !== undefined && v.METRICS_PORT !== undefined && v.METRICS_PORT !== 0 && v.METRICS_PORT === v.PORT) {
    issues.push({ variable: 'METRICS_PORT', message: 'must differ from PORT (/metrics gets a listener of its own on 127.0.0.1)' });
  }
  if (production && input.METRICS_TOKEN !== undefined && (input.METRICS_TOKEN === internalSecret || input.METRICS_TOKEN === jwtSecret)) {
    issues.push({ variable: 'METRICS_TOKEN', message: 'must differ from INTERNAL_SECRET and JWT_SECRET' });
  }

  // A token is worth only what its trust anchor is: one that verifies against the certificate it carries proves nothing.
  if ((input.ARCHIVE_TSA_URL === undefined) !== (input.ARCHIVE_TSA_CERT_FILE === undefined)) {
    issues.push({ variable: 'ARCHIVE_TSA_CERT_FILE', message: 'ARCHIVE_TSA_URL and ARCHIVE_TSA_CERT_FILE (the PEM certificates its tokens chain to) are set together' });
  }

  if (issues.length > 0 || v === undefined || internalSecret === undefined) throw new ConfigError(issues);

  const dataDir = path.resolve(v.DATA_DIR ?? './data');
  const localUrl = (p: number) => `http://127.0.0.1:${p}/graphql`;

  const config: Config = {
    nodeEnv,
    port: v.PORT,
    logLevel: v.LOG_LEVEL,
    mongodbUri: v.MONGODB_URI,
    embeddedDatabaseInProduction: v.EMBEDDED_DATABASE_IN_PRODUCTION,
    dataDir,
    engineCacheMb: v.ENGINE_CACHE_MB,
    engineFsync: v.ENGINE_FSYNC,
    engineSlowMs: v.ENGINE_SLOW_MS,
    internalSecret,
    jwtSecret,
    jwtJwksUrl: jwksUrl,
    jwtIssuer: v.JWT_ISSUER,
    jwtAudience: v.JWT_AUDIENCE,
    jwtMaxTtlSeconds: v.JWT_MAX_TTL,
    oaPort: v.OA_PORT,
    archivePort: v.ARCHIVE_PORT,
    syncPort: v.SYNC_PORT,
    subgraphHost: v.SUBGRAPH_HOST,
    oaUrl: v.OA_URL ?? localUrl(v.OA_PORT),
    archiveUrl: v.ARCHIVE_URL ?? localUrl(v.ARCHIVE_PORT),
    syncUrl: v.SYNC_URL ?? localUrl(v.SYNC_PORT),
    gatewayUrl: v.GATEWAY_URL ?? null,
    redisUrl: v.REDIS_URL,
    webhookAllowPrivateTargets: v.WEBHOOK_ALLOW_PRIVATE_TARGETS,
    trustProxy: v.TRUST_PROXY,
    syncMaxAttempts: v.SYNC_MAX_ATTEMPTS,
    syncRetryBaseMs: v.SYNC_RETRY_BASE_MS,
    syncRetryMaxMs: v.SYNC_RETRY_MAX_MS,
    syncPollMs: v.SYNC_POLL_MS,
    syncLeaseTtlMs: v.SYNC_LEASE_TTL_MS,
    reconcileIntervalMs: v.RECONCILE_INTERVAL_MS,
    reconcileGraceMs: v.RECONCILE_GRACE_MS,
    webhookMaxAttempts: v.WEBHOOK_MAX_ATTEMPTS,
    apiKeyRateLimit: v.API_KEY_RATE_LIMIT,
    apiKeyCacheMs: v.API_KEY_CACHE_MS,
    fileMaxBytes: v.FILE_MAX_BYTES,
    claimFilesMaxBytes: v.CLAIM_FILES_MAX_BYTES,
    attachmentTtlHours: v.ATTACHMENT_TTL_HOURS,
    uploadsPendingMaxBytes: v.UPLOADS_PENDING_MAX_BYTES,
    uploadsPendingMaxFiles: v.UPLOADS_PENDING_MAX_FILES,
    alertIntervalMs: v.ALERT_INTERVAL_MS,
    alertRules: v.ALERT_RULES,
    statusSampleMs: v.STATUS_SAMPLE_MS,
    webhookTimeoutMs: v.WEBHOOK_TIMEOUT_MS,
    shutdownTimeoutMs: v.SHUTDOWN_TIMEOUT_MS,
    expenseApprovalThresholdFen: v.EXPENSE_APPROVAL_THRESHOLD,
    businessTimeZone: v.BUSINESS_TIMEZONE,
    escalationIntervalMs: v.ESCALATION_INTERVAL_MS,
    archiveFonds: v.ARCHIVE_FONDS,
    financeDepartmentId: v.FINANCE_DEPARTMENT_ID,
    closedPeriodBooking: v.CLOSED_PERIOD_BOOKING === 'refuse' ? 'REFUSE' : 'NEXT_OPEN',
    unitHeadId: v.UNIT_HEAD_ID,
    itDepartmentId: v.IT_DEPARTMENT_ID,
    accountChart: v.ACCOUNT_CHART,
    supergraphPath: v.SUPERGRAPH_PATH ? path.resolve(v.SUPERGRAPH_PATH) : null,
    archiveSealKey: v.ARCHIVE_SEAL_KEY,
    archiveSealPrivateKeyFile: v.ARCHIVE_SEAL_PRIVATE_KEY_FILE ? path.resolve(v.ARCHIVE_SEAL_PRIVATE_KEY_FILE) : null,
    archiveSealDir: path.resolve(v.ARCHIVE_SEAL_DIR ?? path.join(dataDir, 'seals')),
    archiveTsa: v.ARCHIVE_TSA_URL && v.ARCHIVE_TSA_CERT_FILE ? { url: v.ARCHIVE_TSA_URL, certFile: path.resolve(v.ARCHIVE_TSA_CERT_FILE), timeoutMs: v.ARCHIVE_TSA_TIMEOUT_MS } : null,
    metricsToken: v.METRICS_TOKEN,
    companyTaxId: v.COMPANY_TAX_ID ?? null,
    companyName: v.COMPANY_NAME ?? null,
    invoiceVerifier: v.INVOICE_VERIFIER_URL ? { url: v.INVOICE_VERIFIER_URL, timeoutMs: v.INVOICE_VERIFIER_TIMEOUT_MS } : null,
    metricsPort: v.METRICS_PORT,
    developmentDefaults: Object.freeze(developmentDefaults),
  };
  return Object.freeze(config);
}

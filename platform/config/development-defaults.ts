// The secrets development and test run on when they are not set (platform/config.ts reports each one used).

/**
 * Well-known secrets used when development/test runs without them. They are public by design:
 * production refuses them, even when set explicitly.
 */
export const DEVELOPMENT_DEFAULTS = Object.freeze({
  INTERNAL_SECRET: 'development-internal-secret-not-for-production',
  JWT_SECRET: 'development-jwt-secret-not-for-production-use',
});

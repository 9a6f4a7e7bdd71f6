// The embedded database in production: allowed only when asked for, checked where a process opens the database.
import type { Config } from './settings.ts';
import { ConfigError } from './issues.ts';

/** What production gives up on the embedded engine instead of a MongoDB replica set. */
export const EMBEDDED_DATABASE_TRADE_OFFS =
  "no replication, no automatic failover, and no backups by the database's own tools (mongodump, Atlas or Ops Manager snapshots): back up DATA_DIR yourself";

/**
 * Production without MONGODB_URI would run on the embedded engine: refused unless EMBEDDED_DATABASE_IN_PRODUCTION
 * is "true". Checked when a process opens the database (platform/database.ts), so processes that never do (the
 * gateway alone, `npm run token`) need neither variable.
 * @throws ConfigError naming MONGODB_URI.
 */
export function checkEmbeddedDatabase(config: Partial<Pick<Config, 'nodeEnv' | 'mongodbUri' | 'embeddedDatabaseInProduction'>>): void {
  if (config.nodeEnv !== 'production' || config.mongodbUri !== undefined || config.embeddedDatabaseInProduction === true) return;
  throw new ConfigError([
    {
      variable: 'MONGODB_URI',
      message:
        'required in production: point it at a MongoDB replica set. To run on the embedded engine anyway, set ' +
        `EMBEDDED_DATABASE_IN_PRODUCTION=true (it has ${EMBEDDED_DATABASE_TRADE_OFFS})`,
    },
  ]);
}

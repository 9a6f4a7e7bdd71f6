// The key that seals chain heads: which one the archive uses, checked when the archive starts.
import path from 'node:path';
import type { Config } from './settings.ts';
import { ConfigError } from './issues.ts';

/** Where the archive's seal key comes from (platform/integration/chain-seal.ts). Never the database. */
export type SealKeySetting = { kind: 'ed25519-file'; file: string } | { kind: 'hmac'; secret: string } | { kind: 'generated'; file: string };

/**
 * The seal key: ARCHIVE_SEAL_PRIVATE_KEY_FILE (Ed25519, the default kind: auditors verify with the public key) or
 * ARCHIVE_SEAL_KEY (HMAC-SHA-256: only holders of the secret verify). Development and test generate an Ed25519 key
 * into DATA_DIR/seal-key/ (mode 0600) when neither is set; production requires one, kept off the database host's
 * DATA_DIR. Checked when the archive starts, so processes without it (the gateway alone) need neither.
 * @throws ConfigError naming ARCHIVE_SEAL_PRIVATE_KEY_FILE.
 */
export function sealKeySetting(config: Pick<Config, 'nodeEnv' | 'dataDir' | 'archiveSealKey' | 'archiveSealPrivateKeyFile'>): SealKeySetting {
  if (config.archiveSealPrivateKeyFile) return { kind: 'ed25519-file', file: config.archiveSealPrivateKeyFile };
  if (config.archiveSealKey) return { kind: 'hmac', secret: config.archiveSealKey };
  if (config.nodeEnv === 'production') {
    throw new ConfigError([
      { variable: 'ARCHIVE_SEAL_PRIVATE_KEY_FILE', message: 'required in production (an Ed25519 private key in PEM), unless ARCHIVE_SEAL_KEY (HMAC, at least 32 characters) is set' },
    ]);
  }
  return { kind: 'generated', file: path.join(config.dataDir, 'seal-key', 'ed25519.pem') };
}

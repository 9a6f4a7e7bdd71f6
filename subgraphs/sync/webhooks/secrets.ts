// Webhook secrets at rest. They cannot be hashed like passwords because every delivery is signed with the
// secret itself, so they are encrypted with a key derived from INTERNAL_SECRET: a database dump alone does not
// let anyone forge deliveries. GCM authenticates, so a changed ciphertext fails to decrypt instead of yielding
// a wrong secret.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { badInput } from '../../../platform/graphql.ts';
import { specSecretBytes } from './signature.ts';

export const SECRET_MIN_LENGTH = 16;
export const SECRET_MAX_LENGTH = 256;

const VERSION = 'v1';
// Binds ciphertexts to this purpose and format version.
const AAD = Buffer.from('webhook-secrets/v1');

/**
 * 16 to 256 characters. One that starts with `whsec_` must be in the Standard Webhooks form, so that a receiver can
 * tell by the prefix alone how its library takes the secret (README.md, "Webhooks").
 */
export function validateWebhookSecret(secret: unknown): string {
  if (typeof secret !== 'string' || secret.length < SECRET_MIN_LENGTH || secret.length > SECRET_MAX_LENGTH) {
    throw badInput(`secret must be ${SECRET_MIN_LENGTH} to ${SECRET_MAX_LENGTH} characters long`, 'secret');
  }
  if (secret.startsWith('whsec_')) {
    const bytes = specSecretBytes(secret)?.length ?? 0;
    if (bytes < 24 || bytes > 64) throw badInput('a secret starting with whsec_ must be whsec_ and the base64 of 24 to 64 random bytes', 'secret');
  }
  return secret;
}

export class SecretDecryptionError extends Error {
  constructor() {
    super('webhook secret cannot be decrypted (tampered, or encrypted under another INTERNAL_SECRET)');
  }
}

export interface SecretBox {
  encrypt(plain: string): string;
  decrypt(sealed: string): string;
}

export function secretBox(masterSecret: string): SecretBox {
  if (!masterSecret) throw new Error('secretBox needs a master secret');
  // HKDF gives this use its own key, independent of every other use of INTERNAL_SECRET.
  const key = Buffer.from(hkdfSync('sha256', masterSecret, Buffer.alloc(0), 'webhook-secrets', 32));
  return {
    encrypt(plain) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(AAD);
      const ciphertext = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return [VERSION, iv, cipher.getAuthTag(), ciphertext].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
    },
    decrypt(sealed) {
      const parts = sealed.split('.');
      if (parts.length !== 4 || parts[0] !== VERSION) throw new SecretDecryptionError();
      const [iv, tag, ciphertext] = parts.slice(1).map((p) => Buffer.from(p, 'base64url'));
      if (iv.length !== 12 || tag.length !== 16) throw new SecretDecryptionError();
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, iv).setAAD(AAD).setAuthTag(tag);
        return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
      } catch {
        throw new SecretDecryptionError();
      }
    },
  };
}

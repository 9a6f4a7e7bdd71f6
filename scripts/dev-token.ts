// Development client tokens: HS256 signed with JWT_SECRET, as the gateway verifies them (gateway/auth.ts). Used by
// `npm run token` and `npm run seed`; real tokens come from the identity provider.
import { SignJWT } from 'jose';
import type { Role } from '../platform/identity.ts';

export interface DevTokenClaims {
  /** An employee id (the directory adds their roles and department) or a service account name. */
  sub: string;
  /** Roles the token itself names; the gateway's effective roles are these together with the directory's. */
  roles: readonly Role[];
  /** Lifetime in seconds; the gateway refuses more than JWT_MAX_TTL. */
  ttlSeconds: number;
}

export function signDevToken(secret: string, claims: DevTokenClaims): Promise<string> {
  return new SignJWT({ roles: [...claims.roles] })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(claims.sub)
    .setIssuedAt()
    .setExpirationTime(`${claims.ttlSeconds}s`)
    .sign(new TextEncoder().encode(secret));
}

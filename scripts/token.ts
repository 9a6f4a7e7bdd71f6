// `npm run token -- --sub ID [--roles R1,R2] [--ttl 3600]`: prints a development client token signed with
// JWT_SECRET (HS256). Refused in production: real tokens come from the identity provider. The lifetime is at most
// JWT_MAX_TTL (default 24 h): the gateway refuses longer-lived tokens.
import { parseArgs } from 'node:util';
import { isAcceptableSubject } from '../gateway/auth.ts';
import { ConfigError, loadConfig } from '../platform/config.ts';
import { ROLES, type Role, isRole } from '../platform/identity.ts';
import { signDevToken } from './dev-token.ts';

const usage = `usage: npm run token -- --sub ID [--roles ${ROLES.join(',')}] [--ttl SECONDS]`;
const fail = (message: string): never => {
  process.stderr.write(`${message}\n${usage}\n`);
  process.exit(2);
};

let values;
try {
  ({ values } = parseArgs({ options: { sub: { type: 'string' }, roles: { type: 'string', default: '' }, ttl: { type: 'string', default: '3600' } } }));
} catch (err) {
  fail((err as Error).message);
}
let config;
try {
  config = loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  fail(err.message);
}
if (config!.nodeEnv === 'production') fail('npm run token makes development tokens and is refused in production');
if (!config!.jwtSecret) fail('JWT_SECRET is not set (tokens from a JWKS come from your identity provider)');
const sub = values!.sub?.trim();
if (!sub) fail('--sub is required: an employee id or a service account name');
if (!isAcceptableSubject(sub)) fail('--sub must be 1 to 128 printable characters (the gateway refuses others)');
const roles = values!.roles ? values!.roles.split(',').map((r) => r.trim()) : [];
for (const r of roles) if (!isRole(r)) fail(`unknown role ${r}`);
const ttl = Number(values!.ttl);
const maxTtl = config!.jwtMaxTtlSeconds;
if (!Number.isInteger(ttl) || ttl < 60 || ttl > maxTtl) fail(`--ttl must be between 60 and ${maxTtl} seconds (JWT_MAX_TTL)`);

const token = await signDevToken(config!.jwtSecret!, { sub: sub!, roles: roles as Role[], ttlSeconds: ttl });
process.stdout.write(`${token}\n`);

// Where webhooks may point. A webhook makes this server send requests to a URL an admin typed, so without these
// checks it could be aimed at the loopback interface, the internal network or a cloud metadata endpoint (SSRF).
// The URL is checked when it is registered, and every connection checks again what the host resolves to *then*
// (guardedLookup), because DNS may answer differently between the two (DNS rebinding).
import { isIP, type LookupFunction } from 'node:net';
import { promises as dns } from 'node:dns';
import { badInput } from '../../../platform/graphql.ts';
import { forbiddenReason, refusalHint } from './target-addresses.ts';

export { forbiddenReason };

export type Resolve = (host: string) => Promise<string[]>;

export const MAX_URL_LENGTH = 2048;

/** All addresses the system resolver gives for a host (IPv4 and IPv6). */
export const systemResolve: Resolve = async (host) => (await dns.lookup(host, { all: true })).map((a) => a.address);

const stripBrackets = (host: string) => (host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host);

/**
 * Parses and checks a webhook URL; throws BAD_USER_INPUT (field `url`) saying what is wrong.
 * allowPrivate (development, on-premises receivers) relaxes only loopback and private ranges (target-addresses.ts).
 */
export async function validateWebhookTarget(url: string, opts: { allowPrivate: boolean; resolve?: Resolve }): Promise<URL> {
  if (typeof url !== 'string' || url.trim() === '') throw badInput('url is required', 'url');
  if (url.length > MAX_URL_LENGTH) throw badInput(`url is longer than ${MAX_URL_LENGTH} characters`, 'url');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw badInput('url is not a valid absolute URL', 'url');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw badInput(`url must use http or https, not ${parsed.protocol.slice(0, 20)}`, 'url');
  // Credentials would be stored and shown in clear; the signature authenticates deliveries instead.
  if (parsed.username || parsed.password) throw badInput('url must not contain credentials (user:password@)', 'url');
  const host = stripBrackets(parsed.hostname);
  if (!host) throw badInput('url has no host', 'url');

  // The WHATWG parser has already normalised numeric hosts (http://2130706433/ is 127.0.0.1 here).
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    const name = host.replace(/\.$/, '').toLowerCase();
    if (!opts.allowPrivate && (name === 'localhost' || name.endsWith('.localhost'))) throw badInput('url host is loopback (localhost); webhook targets must be public (allowed only with WEBHOOK_ALLOW_PRIVATE_TARGETS=true)', 'url');
    try {
      addresses = await (opts.resolve ?? systemResolve)(host);
    } catch {
      addresses = [];
    }
    if (addresses.length === 0) throw badInput(`url host ${host} cannot be resolved`, 'url');
  }
  for (const address of addresses) {
    const reason = forbiddenReason(address, opts.allowPrivate);
    if (reason) {
      const via = address === host ? '' : ` resolves to ${address}, which`;
      throw badInput(`url host ${host}${via} is ${reason}; webhook targets must be public (${refusalHint(address)})`, 'url');
    }
  }
  return parsed;
}

/** Error a refused connection fails with (code lets the deliverer tell it apart from network errors). */
export class ForbiddenTargetError extends Error {
  readonly code = 'EWEBHOOKTARGET';
  constructor(host: string, address: string, reason: string) {
    super(`${host} resolved to ${address}, ${reason} (${refusalHint(address)})`);
  }
}

/**
 * A `lookup` for node:http(s) `request` (and net.connect) that resolves the host itself and refuses to connect
 * if any address is forbidden. Node skips `lookup` for IP-literal hosts, so callers must check those with
 * forbiddenReason before connecting (WebhookService does).
 */
export function guardedLookup(allowPrivate: boolean, resolve: Resolve = systemResolve): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname).then(
      (all) => {
        const wanted = options.family === 4 || options.family === 6 ? all.filter((a) => isIP(a) === options.family) : all;
        for (const address of all) {
          const reason = forbiddenReason(address, allowPrivate);
          if (reason) return callback(new ForbiddenTargetError(hostname, address, reason), '', 0);
        }
        if (wanted.length === 0) {
          const err: NodeJS.ErrnoException = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
          return callback(err, '', 0);
        }
        if (options.all) return callback(null, wanted.map((address) => ({ address, family: isIP(address) })));
        return callback(null, wanted[0], isIP(wanted[0]));
      },
      (err: NodeJS.ErrnoException) => callback(err, '', 0),
    );
  };
}

// RFC 3161 time-stamping of sealed chain heads (./chain-seal.ts): a time-stamping authority (TSA) outside our
// control signs "this digest existed at this time", so a holder of both the database and the seal key still cannot
// back-date a re-sealed chain. The ASN.1 (TimeStampReq, TimeStampResp, CMS SignedData, TSTInfo) and the certificate
// path validation are PKI.js's (pkijs, asn1js), the maintained pure-JS implementation of RFC 3161 and RFC 5652; only
// the HTTP exchange (RFC 3161 §3.4: POST application/timestamp-query) and the policy of what we accept are ours.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

const TST_INFO = '1.2.840.113549.1.9.16.1.4';
const EXTENDED_KEY_USAGE = '2.5.29.37';
const KP_TIME_STAMPING = '1.3.6.1.5.5.7.3.8';
/** SHA-256, SHA-384, SHA-512: what an imprint may use (RFC 3161 lets a TSA refuse weak ones; so do we). */
const STRONG_HASHES = new Set(['2.16.840.1.101.3.4.2.1', '2.16.840.1.101.3.4.2.2', '2.16.840.1.101.3.4.2.3']);
/** A reply with a certificate chain is a few KiB; anything far larger is not a reply. */
const MAX_REPLY_BYTES = 256 * 1024;

/** A verified time-stamp token. */
export interface Timestamp {
  /** The token (CMS SignedData over TSTInfo), DER: what an auditor keeps and re-verifies. */
  token: Buffer;
  /** The TSA's time for the datum. */
  genTime: Date;
  /** The token's serial number, hex. */
  serial: string;
  /** The signing certificate's subject, e.g. "CN=Example TSA". */
  signer: string;
}

export class TimestampError extends Error {
  override readonly name = 'TimestampError';
}

/** The trusted roots (or the TSA's own certificate) from a PEM bundle. */
export function parseCertificates(pem: string): pkijs.Certificate[] {
  const blocks = [...pem.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/g)];
  if (blocks.length === 0) throw new TimestampError('no PEM certificate found');
  return blocks.map((m) => pkijs.Certificate.fromBER(Buffer.from(m[1].replace(/\s+/g, ''), 'base64')));
}

export async function loadTrustedCertificates(file: string): Promise<pkijs.Certificate[]> {
  return parseCertificates(await readFile(file, 'utf8'));
}

const arrayBufferOf = (b: Uint8Array): ArrayBuffer => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;

const subjectOf = (cert: pkijs.Certificate) =>
  cert.subject.typesAndValues.map((tv) => `${{ '2.5.4.3': 'CN', '2.5.4.10': 'O', '2.5.4.6': 'C', '2.5.4.11': 'OU' }[tv.type] ?? tv.type}=${tv.value.valueBlock.value}`).join(', ');

/** A TSA's signing certificate must be for time-stamping only (RFC 3161 §2.3: the sole, critical extended key usage). */
function isTimestampingCertificate(cert: pkijs.Certificate): boolean {
  const eku = cert.extensions?.find((e) => e.extnID === EXTENDED_KEY_USAGE);
  const usages = (eku?.parsedValue as pkijs.ExtKeyUsage | undefined)?.keyPurposes ?? [];
  return eku?.critical === true && usages.length === 1 && usages[0] === KP_TIME_STAMPING;
}

/**
 * Checks a token against the datum it time-stamps and the trusted certificates: the CMS signature, the signer's
 * path to a trusted certificate at genTime, the signer's time-stamping usage, and the imprint (a strong hash of
 * `data`). Returns what it vouches for; throws TimestampError saying what failed.
 */
export async function verifyTimestamp(token: Uint8Array, data: Uint8Array, trusted: pkijs.Certificate[]): Promise<Timestamp> {
  let signed: pkijs.SignedData;
  let info: pkijs.TSTInfo;
  try {
    const content = pkijs.ContentInfo.fromBER(arrayBufferOf(token));
    if (content.contentType !== pkijs.ContentInfo.SIGNED_DATA) throw new TimestampError('the token is not CMS signed data');
    signed = new pkijs.SignedData({ schema: content.content });
    if (signed.encapContentInfo.eContentType !== TST_INFO || !signed.encapContentInfo.eContent) throw new TimestampError('the token does not carry a TSTInfo');
    info = pkijs.TSTInfo.fromBER(signed.encapContentInfo.eContent.getValue());
  } catch (err) {
    throw err instanceof TimestampError ? err : new TimestampError('the token is not DER a time-stamp token');
  }
  if (!STRONG_HASHES.has(info.messageImprint.hashAlgorithm.algorithmId)) throw new TimestampError('the token imprints a weak hash');
  // PKI.js reports some failures as a result and throws others (a path to no trusted certificate): both are refusals.
  const result = await signed.verify({ signer: 0, data: arrayBufferOf(data), trustedCerts: trusted, checkChain: true, extendedMode: true }).catch((err: { message?: string }) => ({
    signatureVerified: false,
    signerCertificateVerified: false,
    signerCertificate: null,
    message: err?.message,
  }));
  if (!result.signatureVerified || result.signerCertificateVerified !== true || !result.signerCertificate) {
    throw new TimestampError(`the token does not verify: ${result.message ?? 'signature or certificate path invalid'}`);
  }
  if (!isTimestampingCertificate(result.signerCertificate)) throw new TimestampError('the signer is not a time-stamping certificate');
  return { token: Buffer.from(token), genTime: info.genTime, serial: Buffer.from(info.serialNumber.valueBlock.valueHexView).toString('hex'), signer: subjectOf(result.signerCertificate) };
}

/** Reads at most `max` bytes of a body; more is refused before it is held. */
async function readCapped(body: ReadableStream<Uint8Array> | null, max: number): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (body) {
    for await (const chunk of body) {
      size += chunk.byteLength;
      if (size > max) throw new TimestampError(`the reply exceeds ${max} bytes`);
      chunks.push(chunk);
    }
  }
  return Buffer.concat(chunks);
}

export interface TimestampAuthorityOptions {
  url: string;
  /** The TSA's certificate or the root it chains to. A token is worth only what its trust anchor is. */
  trusted: pkijs.Certificate[];
  timeoutMs: number;
}

/** One configured TSA (ARCHIVE_TSA_URL, ARCHIVE_TSA_CERT_FILE). */
export interface TimestampAuthority {
  readonly url: string;
  /** Requests and verifies a token for `data` (its SHA-256 is what the TSA sees). */
  stamp(data: Uint8Array): Promise<Timestamp>;
  verify(token: Uint8Array, data: Uint8Array): Promise<Timestamp>;
}

/** Logs failed requests at most once a minute per chain: a TSA that is down must not flood the log at every filing. */
export function timestampWarning(logger: { warn(obj: object, msg: string): void }, everyMs = 60_000): (chain: string, err: Error) => void {
  const last = new Map<string, number>();
  return (chain, err) => {
    const now = Date.now();
    if (now - (last.get(chain) ?? -Infinity) < everyMs) return;
    last.set(chain, now);
    logger.warn({ chain, reason: err.message }, 'time-stamping a sealed head failed; it is asked for again at the next seal');
  };
}

/** The configured TSA (platform/config.ts `archiveTsa`), its trusted certificates read now: a bad file stops start-up. */
export async function loadTimestampAuthority(setting: { url: string; certFile: string; timeoutMs: number } | null): Promise<TimestampAuthority | undefined> {
  if (!setting) return undefined;
  const trusted = await loadTrustedCertificates(setting.certFile).catch((err: Error) => {
    throw new TimestampError(`ARCHIVE_TSA_CERT_FILE ${setting.certFile}: ${err.message}`);
  });
  return timestampAuthority({ url: setting.url, trusted, timeoutMs: setting.timeoutMs });
}

export function timestampAuthority(o: TimestampAuthorityOptions): TimestampAuthority {
  const verify = (token: Uint8Array, data: Uint8Array) => verifyTimestamp(token, data, o.trusted);
  return {
    url: o.url,
    verify,
    async stamp(data) {
      const nonce = randomBytes(16);
      nonce[0] = nonce[0] & 0x7f || 1; // a positive INTEGER in minimal DER, so it compares equal after the round trip
      const request = new pkijs.TimeStampReq({
        version: 1,
        messageImprint: await pkijs.MessageImprint.create('SHA-256', arrayBufferOf(data)),
        nonce: new asn1js.Integer({ valueHex: arrayBufferOf(nonce) }),
        certReq: true,
      });
      let reply: Response;
      try {
        reply = await fetch(o.url, {
          method: 'POST',
          headers: { 'content-type': 'application/timestamp-query', accept: 'application/timestamp-reply' },
          body: Buffer.from(request.toSchema().toBER()),
          signal: AbortSignal.timeout(o.timeoutMs),
          redirect: 'error',
        });
      } catch (err) {
        throw new TimestampError(`the TSA is unreachable (${(err as Error).name === 'TimeoutError' ? `no answer in ${o.timeoutMs} ms` : 'connection failed'})`);
      }
      const body = await readCapped(reply.body, MAX_REPLY_BYTES);
      if (!reply.ok) throw new TimestampError(`the TSA answered HTTP ${reply.status}`);
      let response: pkijs.TimeStampResp;
      try {
        response = pkijs.TimeStampResp.fromBER(arrayBufferOf(body));
      } catch {
        throw new TimestampError('the TSA answered something that is not a TimeStampResp');
      }
      const status = response.status.status;
      if ((status !== pkijs.PKIStatus.granted && status !== pkijs.PKIStatus.grantedWithMods) || !response.timeStampToken) {
        throw new TimestampError(`the TSA refused the request (PKIStatus ${status})`);
      }
      const token = Buffer.from(response.timeStampToken.toSchema().toBER());
      const stamped = await verify(token, data);
      // The reply is for this request: the nonce echoed (RFC 3161 §2.4.2).
      const signed = new pkijs.SignedData({ schema: response.timeStampToken.content });
      const info = pkijs.TSTInfo.fromBER(signed.encapContentInfo.eContent!.getValue());
      if (!info.nonce || !Buffer.from(info.nonce.valueBlock.valueHexView).equals(nonce)) throw new TimestampError('the TSA answered another request (nonce differs)');
      return stamped;
    },
  };
}

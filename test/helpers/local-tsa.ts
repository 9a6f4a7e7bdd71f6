// A local RFC 3161 time-stamping authority for the tests: its own root CA and a TSA certificate issued by it (critical
// extended key usage timeStamping, as RFC 3161 §2.3 requires), serving POST application/timestamp-query over real
// HTTP. Built with PKI.js, the library the product verifies tokens with, following RFC 3161 §2.4.2 (TSTInfo in CMS
// SignedData with the content-type, message-digest and ESS signing-certificate-v2 signed attributes, so OpenSSL's
// `openssl ts -verify` accepts its tokens too). It can misbehave on demand.
import { createHash, randomBytes, webcrypto } from 'node:crypto';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

type Mode = 'ok' | 'refuse' | 'wrong-nonce' | 'http-500';

export interface LocalTsa {
  url: string;
  /** PEM of the root CA: what a client configures as trusted (ARCHIVE_TSA_CERT_FILE). */
  rootPem: string;
  /** PEM of an unrelated root: tokens do not chain to it. */
  strangerPem: string;
  /** Requests answered so far. */
  readonly requests: number;
  mode: Mode;
  /** While set, replies wait until it resolves (to hold a request in flight). */
  hold: Promise<void> | null;
  close(): Promise<void>;
}

const ALG = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const toPem = (der: ArrayBuffer) => `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----\n`;
const ab = (b: Uint8Array) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;

function name(cn: string) {
  return new pkijs.RelativeDistinguishedNames({ typesAndValues: [new pkijs.AttributeTypeAndValue({ type: '2.5.4.3', value: new asn1js.Utf8String({ value: cn }) })] });
}

function extension(extnID: string, critical: boolean, value: { toSchema(): asn1js.BaseBlock }) {
  return new pkijs.Extension({ extnID, critical, extnValue: value.toSchema().toBER(false) });
}

/** Key usage as a DER BIT STRING of one byte (bits from the most significant: digitalSignature, nonRepudiation, …). */
const keyUsage = (byte: number, unusedBits: number) => ({ toSchema: () => new asn1js.BitString({ valueHex: new Uint8Array([byte]).buffer, unusedBits }) });

async function certificate(o: { subject: string; issuer: string; serial: number; publicKey: webcrypto.CryptoKey; signingKey: webcrypto.CryptoKey; ca: boolean }): Promise<pkijs.Certificate> {
  const cert = new pkijs.Certificate();
  cert.version = 2;
  cert.serialNumber = new asn1js.Integer({ value: o.serial });
  cert.subject = name(o.subject);
  cert.issuer = name(o.issuer);
  cert.notBefore.value = new Date(Date.now() - 86_400_000);
  cert.notAfter.value = new Date(Date.now() + 10 * 365 * 86_400_000);
  cert.extensions = o.ca
    ? [extension('2.5.29.19', true, new pkijs.BasicConstraints({ cA: true, pathLenConstraint: 0 })), extension('2.5.29.15', true, keyUsage(0x06, 1))]
    : [extension('2.5.29.15', true, keyUsage(0xc0, 6)), extension('2.5.29.37', true, new pkijs.ExtKeyUsage({ keyPurposes: ['1.3.6.1.5.5.7.3.8'] }))];
  await cert.subjectPublicKeyInfo.importKey(o.publicKey);
  await cert.sign(o.signingKey, 'SHA-256');
  return cert;
}

const keyPair = () => webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as Promise<webcrypto.CryptoKeyPair>;

async function respond(req: pkijs.TimeStampReq, tsa: { cert: pkijs.Certificate; key: webcrypto.CryptoKey }, mode: Mode): Promise<ArrayBuffer> {
  if (mode === 'refuse') return new pkijs.TimeStampResp({ status: new pkijs.PKIStatusInfo({ status: pkijs.PKIStatus.rejection }) }).toSchema().toBER();
  const nonce = mode === 'wrong-nonce' ? new asn1js.Integer({ valueHex: ab(Uint8Array.from([1, ...randomBytes(15)])) }) : req.nonce;
  const info = new pkijs.TSTInfo({
    version: 1,
    policy: '1.3.6.1.4.1.99999.1',
    messageImprint: req.messageImprint,
    serialNumber: new asn1js.Integer({ valueHex: ab(Uint8Array.from([1, ...randomBytes(9)])) }),
    genTime: new Date(),
    nonce,
  });
  const infoDer = info.toSchema().toBER();
  const signed = new pkijs.SignedData({
    version: 3,
    encapContentInfo: new pkijs.EncapsulatedContentInfo({ eContentType: '1.2.840.113549.1.9.16.1.4', eContent: new asn1js.OctetString({ valueHex: infoDer }) }),
    signerInfos: [
      new pkijs.SignerInfo({
        version: 1,
        sid: new pkijs.IssuerAndSerialNumber({ issuer: tsa.cert.issuer, serialNumber: tsa.cert.serialNumber }),
        signedAttrs: new pkijs.SignedAndUnsignedAttributes({
          type: 0,
          attributes: [
            new pkijs.Attribute({ type: '1.2.840.113549.1.9.3', values: [new asn1js.ObjectIdentifier({ value: '1.2.840.113549.1.9.16.1.4' })] }),
            new pkijs.Attribute({ type: '1.2.840.113549.1.9.4', values: [new asn1js.OctetString({ valueHex: ab(createHash('sha256').update(Buffer.from(infoDer)).digest()) })] }),
            // ESS signing-certificate-v2 (RFC 5035): names the TSA certificate, as RFC 3161 §2.4.2 requires.
            new pkijs.Attribute({
              type: '1.2.840.113549.1.9.16.2.47',
              values: [new asn1js.Sequence({ value: [new asn1js.Sequence({ value: [new asn1js.Sequence({ value: [new asn1js.OctetString({ valueHex: ab(createHash('sha256').update(Buffer.from(tsa.cert.toSchema().toBER())).digest()) })] })] })] })],
            }),
          ],
        }),
      }),
    ],
    certificates: req.certReq ? [tsa.cert] : undefined,
  });
  await signed.sign(tsa.key, 0, 'SHA-256');
  const token = new pkijs.ContentInfo({ contentType: pkijs.ContentInfo.SIGNED_DATA, content: signed.toSchema(true) });
  return new pkijs.TimeStampResp({ status: new pkijs.PKIStatusInfo({ status: pkijs.PKIStatus.granted }), timeStampToken: token }).toSchema().toBER();
}

export async function startLocalTsa(): Promise<LocalTsa> {
  const [rootKeys, tsaKeys, strangerKeys] = await Promise.all([keyPair(), keyPair(), keyPair()]);
  const root = await certificate({ subject: 'Local Test Root CA', issuer: 'Local Test Root CA', serial: 1, publicKey: rootKeys.publicKey, signingKey: rootKeys.privateKey, ca: true });
  const tsaCert = await certificate({ subject: 'Local Test TSA', issuer: 'Local Test Root CA', serial: 2, publicKey: tsaKeys.publicKey, signingKey: rootKeys.privateKey, ca: false });
  const stranger = await certificate({ subject: 'Stranger Root CA', issuer: 'Stranger Root CA', serial: 3, publicKey: strangerKeys.publicKey, signingKey: strangerKeys.privateKey, ca: true });
  let requests = 0;
  const state: { mode: Mode; hold: Promise<void> | null } = { mode: 'ok', hold: null };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      try {
        if (state.hold) await state.hold;
        if (req.method !== 'POST' || req.headers['content-type'] !== 'application/timestamp-query') {
          res.writeHead(415).end();
          return;
        }
        if (state.mode === 'http-500') {
          res.writeHead(500).end();
          return;
        }
        const reply = await respond(pkijs.TimeStampReq.fromBER(ab(Buffer.concat(chunks))), { cert: tsaCert, key: tsaKeys.privateKey }, state.mode);
        requests++;
        res.writeHead(200, { 'content-type': 'application/timestamp-reply' }).end(Buffer.from(reply));
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/tsa`,
    rootPem: toPem(root.toSchema().toBER()),
    strangerPem: toPem(stranger.toSchema().toBER()),
    get requests() {
      return requests;
    },
    get mode() {
      return state.mode;
    },
    set mode(m: Mode) {
      state.mode = m;
    },
    get hold() {
      return state.hold;
    },
    set hold(h: Promise<void> | null) {
      state.hold = h;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

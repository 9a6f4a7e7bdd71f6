// DingTalk HTTP callbacks (HTTP 推送) for `bpms_instance_change`, with DingTalk's callback encryption.
//
// Scheme (open-dingtalk/DingTalk-Callback-Crypto, DingCallbackCrypto.java and README):
// - Query: `msg_signature` (or `signature`), `timeStamp` (or `timestamp`, in ms), `nonce`; body {"encrypt": "..."}.
// - Signature = hex(sha1(concat(sort([token, timestamp, nonce, encrypt])))) — plain string sort, no separators.
// - AES key = base64decode(aesKey + '='), 43 characters → 32 bytes; IV = the key's first 16 bytes; AES-256-CBC
//   over PKCS#7 padding with block size 32.
// - Plaintext = 16 random bytes ‖ uint32 big-endian length of msg ‖ msg ‖ receiveId (AppKey for an internal
//   app's event subscription, CorpId for register_call_back, SuiteKey for third-party apps).
// - Answer: {msg_signature, timeStamp, nonce, encrypt} with encrypt = encrypt("success"), within 1.5 s.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { assertFresh, DEFAULT_REPLAY_WINDOW_MS, hexDigestsEqual, parseSignedTimestamp } from './auth.ts';
import { normaliseDingTalkStatus } from './mapping.ts';
import { ConnectorAuthError, ConnectorRequestError, type InboundMessage } from './types.ts';

export interface DingTalkConfig {
  /** The callback "Token" (签名 token) set in the developer console. */
  token: string;
  /** The 43-character "aes_key" (加密 aes_key) set in the developer console. */
  aesKey: string;
  /** The receiveId the plaintext ends with: the app's AppKey (or the CorpId/SuiteKey, see above). */
  appKey: string;
  /** Replay window for the signed timestamp (default 5 minutes). */
  replayWindowMs?: number;
}

export interface DingTalkRequest {
  query: URLSearchParams;
  rawBody: Buffer;
}

/** The JSON DingTalk expects as the answer to a callback. */
export interface DingTalkAnswer {
  msg_signature: string;
  timeStamp: string;
  nonce: string;
  encrypt: string;
}

export const DINGTALK_EVENT_TYPE = 'bpms_instance_change';
const BLOCK = 32;
const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** hex(sha1(sorted concatenation of token, timestamp, nonce, encrypt)). */
export function dingTalkSignature(token: string, timestamp: string, nonce: string, encrypt: string): string {
  const parts = [token, timestamp, nonce, encrypt].sort();
  return createHash('sha1').update(parts.join(''), 'utf8').digest('hex');
}

/** The 32-byte AES key of a 43-character aes_key. Throws on a key of another shape. */
export function dingTalkAesKey(aesKey: string): Buffer {
  if (!/^[A-Za-z0-9]{43}$/.test(aesKey)) throw new Error('the DingTalk aes_key must be 43 letters or digits');
  return Buffer.from(`${aesKey}=`, 'base64');
}

function randomText(length: number): Buffer {
  const bytes = randomBytes(length);
  return Buffer.from(Array.from(bytes, (b) => ALPHANUMERIC.charCodeAt(b % ALPHANUMERIC.length)));
}

/**
 * Encrypts a message for (or as) DingTalk. `random16` defaults to 16 random letters and digits, as DingTalk's
 * reference implementation uses.
 */
export function encryptDingTalk(plaintext: string, config: Pick<DingTalkConfig, 'aesKey' | 'appKey'>, random16: Buffer = randomText(16)): string {
  if (random16.length !== 16) throw new Error('the random prefix must be 16 bytes');
  const key = dingTalkAesKey(config.aesKey);
  const msg = Buffer.from(plaintext, 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(msg.length, 0);
  const body = Buffer.concat([random16, length, msg, Buffer.from(config.appKey, 'utf8')]);
  const pad = BLOCK - (body.length % BLOCK);
  const cipher = createCipheriv('aes-256-cbc', key, key.subarray(0, 16));
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(Buffer.concat([body, Buffer.alloc(pad, pad)])), cipher.final()]).toString('base64');
}

/**
 * Decrypts an `encrypt` value and checks that it was addressed to the configured receiveId.
 * @throws ConnectorAuthError when it does not decrypt, is badly padded or framed, or names another receiver.
 */
export function decryptDingTalk(encrypt: string, config: Pick<DingTalkConfig, 'aesKey' | 'appKey'>): string {
  const key = dingTalkAesKey(config.aesKey);
  const data = Buffer.from(encrypt, 'base64');
  if (data.length === 0 || data.length % BLOCK !== 0) throw new ConnectorAuthError('encrypt is not a whole number of 32-byte blocks');
  let plain: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-cbc', key, key.subarray(0, 16));
    decipher.setAutoPadding(false);
    plain = Buffer.concat([decipher.update(data), decipher.final()]);
  } catch {
    throw new ConnectorAuthError('encrypt does not decrypt under the configured aes_key');
  }
  const pad = plain[plain.length - 1] ?? 0;
  if (pad < 1 || pad > BLOCK || pad > plain.length || !plain.subarray(plain.length - pad).every((b) => b === pad)) {
    throw new ConnectorAuthError('bad padding after decryption');
  }
  const body = plain.subarray(0, plain.length - pad);
  if (body.length < 20) throw new ConnectorAuthError('decrypted message is too short');
  const length = body.readUInt32BE(16);
  if (20 + length > body.length) throw new ConnectorAuthError('decrypted message length does not fit');
  const receiveId = body.subarray(20 + length).toString('utf8');
  if (receiveId !== config.appKey) throw new ConnectorAuthError('message is addressed to another receiveId');
  return body.subarray(20, 20 + length).toString('utf8');
}

/** The answer DingTalk expects: the plaintext (normally "success") encrypted and signed. */
export function dingTalkAnswer(plaintext: string, config: DingTalkConfig, nowMs: number = Date.now(), nonce: string = randomText(16).toString('ascii')): DingTalkAnswer {
  const encrypt = encryptDingTalk(plaintext, config);
  const timeStamp = String(nowMs);
  return { msg_signature: dingTalkSignature(config.token, timeStamp, nonce, encrypt), timeStamp, nonce, encrypt };
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);
const ms = (v: unknown): Date | null => {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v > 0) return new Date(v);
  if (typeof v === 'string' && /^\d{1,16}$/.test(v)) return new Date(Number(v));
  return null;
};

/**
 * Authenticates, decrypts and classifies one DingTalk callback.
 * @throws ConnectorAuthError (answer 401) or ConnectorRequestError (answer 400).
 */
export function parseDingTalkRequest(request: DingTalkRequest, config: DingTalkConfig, nowMs: number = Date.now()): InboundMessage {
  const q = request.query;
  const signature = q.get('msg_signature') ?? q.get('signature') ?? undefined;
  const timestamp = q.get('timeStamp') ?? q.get('timestamp') ?? undefined;
  const nonce = q.get('nonce') ?? undefined;
  if (signature === undefined || nonce === undefined) throw new ConnectorAuthError('missing signature or nonce');
  assertFresh(parseSignedTimestamp(timestamp), nowMs, config.replayWindowMs ?? DEFAULT_REPLAY_WINDOW_MS);

  let outer: unknown;
  try {
    outer = JSON.parse(request.rawBody.toString('utf8'));
  } catch {
    throw new ConnectorAuthError('body is not JSON');
  }
  const encrypt = isObject(outer) ? str(outer.encrypt) : undefined;
  if (encrypt === undefined) throw new ConnectorAuthError('body has no encrypt');
  if (!hexDigestsEqual(dingTalkSignature(config.token, timestamp as string, nonce, encrypt), signature)) {
    throw new ConnectorAuthError('signature does not match');
  }
  let event: unknown;
  try {
    event = JSON.parse(decryptDingTalk(encrypt, config));
  } catch (err) {
    if (err instanceof ConnectorAuthError) throw err;
    throw new ConnectorRequestError('decrypted message is not JSON');
  }
  if (!isObject(event)) throw new ConnectorRequestError('decrypted message is not a JSON object');
  // HTTP push carries fields at the top level; a Stream-style envelope nests them under `data`.
  const type = str(event.EventType) ?? str(event.eventType);
  if (type === 'check_url') return { kind: 'check' };
  if (type !== DINGTALK_EVENT_TYPE) return { kind: 'ignored', platform: 'dingtalk', reason: `event type ${JSON.stringify(type ?? null)} is not handled` };
  const data = isObject(event.data) ? { ...event.data, eventId: event.eventId } : event;
  return normaliseDingTalkEvent(data);
}

/** Turns a decrypted bpms_instance_change event into an InboundMessage. */
export function normaliseDingTalkEvent(event: Json): InboundMessage {
  const instanceCode = str(event.processInstanceId) ?? null;
  const approvalCode = str(event.processCode) ?? null;
  const type = str(event.type);
  const result = str(event.result);
  const eventTime =
    type === 'start' ? (ms(event.createTime) ?? ms(event.EventTime)) : (ms(event.finishTime) ?? ms(event.EventTime) ?? ms(event.createTime));
  // eventId (HTTP push of the event subscription) or BizId ("幂等") when present; otherwise a key derived from the
  // change itself, so a re-delivery of the same change carries the same id.
  const eventId =
    str(event.eventId) ??
    str(event.BizId) ??
    (instanceCode !== null ? `${instanceCode}:${type ?? ''}:${result ?? ''}:${eventTime?.getTime() ?? ''}` : undefined);
  if (eventId === undefined) throw new ConnectorRequestError('bpms_instance_change without processInstanceId or eventId');
  const invalid = (reason: string): InboundMessage => ({ kind: 'invalid', platform: 'dingtalk', reason, eventId, instanceCode, approvalCode, eventTime });

  if (instanceCode === null) return invalid('event has no processInstanceId');
  if (approvalCode === null) return invalid('event has no processCode');
  if (eventTime === null) return invalid('event has no valid createTime/finishTime');
  const status = normaliseDingTalkStatus(type, result);
  if ('ignore' in status) return { kind: 'ignored', platform: 'dingtalk', reason: status.ignore, eventId, instanceCode, approvalCode, eventTime };
  if ('invalid' in status) return invalid(status.invalid);
  return {
    kind: 'event',
    event: {
      platform: 'dingtalk',
      eventId,
      instanceCode,
      approvalCode,
      status: status.status,
      eventTime,
      externalUserId: str(event.staffId) ?? null,
      form: null,
    },
  };
}

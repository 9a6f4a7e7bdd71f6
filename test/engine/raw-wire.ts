// A minimal MongoDB wire-protocol client over a raw socket, for tests that look at the bytes.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import net from 'node:net';
import { BSON, Binary } from 'bson';

export const OP_REPLY = 1;
export const OP_QUERY = 2004;
export const OP_MSG = 2013;
export const MORE_TO_COME = 1 << 1;

export type Doc = Record<string, unknown>;

let nextRequestId = 1000;

function header(length: number, requestId: number, opCode: number): Buffer {
  const h = Buffer.alloc(16);
  h.writeInt32LE(length, 0);
  h.writeInt32LE(requestId, 4);
  h.writeInt32LE(0, 8);
  h.writeInt32LE(opCode, 12);
  return h;
}

/** OP_QUERY as legacy drivers send their first handshake: flags, "db.$cmd", skip 0, limit -1, the command. */
export function opQuery(collection: string, query: Doc): { requestId: number; bytes: Buffer } {
  const requestId = nextRequestId++;
  const body = Buffer.concat([
    Buffer.from([0, 0, 0, 0]), // flags
    Buffer.from(`${collection}\0`, 'utf8'),
    Buffer.from([0, 0, 0, 0]), // numberToSkip
    Buffer.from([0xff, 0xff, 0xff, 0xff]), // numberToReturn -1
    Buffer.from(BSON.serialize(query)),
  ]);
  return { requestId, bytes: Buffer.concat([header(16 + body.length, requestId, OP_QUERY), body]) };
}

/** OP_MSG with a kind-0 body and optional kind-1 document sequences. */
export function opMsg(body: Doc, opts: { flags?: number; sequences?: Record<string, Doc[]> } = {}): { requestId: number; bytes: Buffer } {
  const requestId = nextRequestId++;
  const parts: Buffer[] = [];
  const flags = Buffer.alloc(4);
  flags.writeUInt32LE(opts.flags ?? 0, 0);
  parts.push(flags, Buffer.from([0]), Buffer.from(BSON.serialize(body)));
  for (const [identifier, docs] of Object.entries(opts.sequences ?? {})) {
    const payload = Buffer.concat([Buffer.from(`${identifier}\0`, 'utf8'), ...docs.map((d) => Buffer.from(BSON.serialize(d)))]);
    const size = Buffer.alloc(4);
    size.writeInt32LE(4 + payload.length, 0);
    parts.push(Buffer.from([1]), size, payload);
  }
  const rest = Buffer.concat(parts);
  return { requestId, bytes: Buffer.concat([header(16 + rest.length, requestId, OP_MSG), rest]) };
}

export interface RawReply {
  length: number;
  requestId: number;
  responseTo: number;
  opCode: number;
  /** OP_REPLY fields. */
  responseFlags?: number;
  cursorId?: bigint;
  startingFrom?: number;
  numberReturned?: number;
  /** OP_MSG flag bits. */
  flagBits?: number;
  documents: Doc[];
  raw: Buffer;
}

export function parseReply(buf: Buffer): RawReply {
  const reply: RawReply = {
    length: buf.readInt32LE(0),
    requestId: buf.readInt32LE(4),
    responseTo: buf.readInt32LE(8),
    opCode: buf.readInt32LE(12),
    documents: [],
    raw: buf,
  };
  const options = { promoteLongs: false } as const;
  if (reply.opCode === OP_REPLY) {
    reply.responseFlags = buf.readInt32LE(16);
    reply.cursorId = buf.readBigInt64LE(20);
    reply.startingFrom = buf.readInt32LE(28);
    reply.numberReturned = buf.readInt32LE(32);
    let off = 36;
    while (off < buf.length) {
      const size = buf.readInt32LE(off);
      reply.documents.push(BSON.deserialize(buf.subarray(off, off + size), options));
      off += size;
    }
  } else if (reply.opCode === OP_MSG) {
    reply.flagBits = buf.readUInt32LE(16);
    let off = 20;
    while (off < buf.length) {
      const kind = buf[off++];
      if (kind !== 0) throw new Error(`unexpected section kind ${kind} in a reply`);
      const size = buf.readInt32LE(off);
      reply.documents.push(BSON.deserialize(buf.subarray(off, off + size), options));
      off += size;
    }
  }
  return reply;
}

// ---------------------------------------------------------------------------------------------------------
// SCRAM-SHA-256, client side, by hand (RFC 5802 / RFC 7677), to authenticate a raw connection.

const hmac = (key: Buffer, text: string) => createHmac('sha256', key).update(text).digest();
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest();

/** The text of a SASL payload (BinData). */
export function payloadText(payload: unknown): string {
  const b = payload as Binary;
  return Buffer.from(b.buffer.subarray(0, b.position)).toString('utf8');
}

/** One SCRAM-SHA-256 conversation: `first` for saslStart, `final(serverFirst)` for the proof. */
export function scramClient(username: string, password: string) {
  const bare = `n=${username.replace(/=/g, '=3D').replace(/,/g, '=2C')},r=${randomBytes(24).toString('base64')}`;
  let expectedServerSignature = '';
  return {
    first: new Binary(Buffer.from(`n,,${bare}`)),
    final(serverFirst: string): Binary {
      const attrs = Object.fromEntries(serverFirst.split(',').map((a) => [a[0], a.slice(2)]));
      const salted = pbkdf2Sync(password, Buffer.from(attrs.s, 'base64'), Number(attrs.i), 32, 'sha256');
      const clientKey = hmac(salted, 'Client Key');
      const withoutProof = `c=biws,r=${attrs.r}`;
      const authMessage = `${bare},${serverFirst},${withoutProof}`;
      const signature = hmac(sha256(clientKey), authMessage);
      const proof = Buffer.from(clientKey.map((byte, i) => byte ^ signature[i]));
      expectedServerSignature = `v=${hmac(hmac(salted, 'Server Key'), authMessage).toString('base64')}`;
      return new Binary(Buffer.from(`${withoutProof},p=${proof.toString('base64')}`));
    },
    /** "v=…": what the server must answer the proof with. */
    get expectedServerSignature() {
      return expectedServerSignature;
    },
  };
}

/** One raw connection: send bytes, read whole messages, notice when the server closes it. */
export class RawConnection {
  private pending = Buffer.alloc(0);
  private readonly messages: Buffer[] = [];
  private waiters: Array<() => void> = [];
  closed = false;
  readonly closedPromise: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.pending = Buffer.concat([this.pending, chunk]);
      while (this.pending.length >= 4) {
        const len = this.pending.readInt32LE(0);
        if (this.pending.length < len) break;
        this.messages.push(this.pending.subarray(0, len));
        this.pending = this.pending.subarray(len);
      }
      this.wake();
    });
    this.closedPromise = new Promise((resolve) => {
      socket.on('close', () => {
        this.closed = true;
        this.wake();
        resolve();
      });
    });
    socket.on('error', () => {});
  }

  static open(host: string, port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port }, () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** The next whole message from the server, or an error after `timeoutMs` or when the socket closes. */
  async next(timeoutMs = 5000): Promise<RawReply> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages.length === 0) {
      if (this.closed) throw new Error('connection closed before a reply arrived');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return parseReply(this.messages.shift()!);
  }

  /** True when no message arrives within `ms`. */
  async silentFor(ms: number): Promise<boolean> {
    await new Promise((r) => setTimeout(r, ms));
    return this.messages.length === 0;
  }

  /** Resolves true when the server closes the connection within `ms`, false otherwise. */
  async closesWithin(ms: number): Promise<boolean> {
    if (this.closed) return true;
    return Promise.race([this.closedPromise.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);
  }

  async request(msg: { requestId: number; bytes: Buffer }, timeoutMs = 5000): Promise<RawReply> {
    this.send(msg.bytes);
    return this.next(timeoutMs);
  }

  /** Authenticates this connection (saslStart, saslContinue with skipEmptyExchange); throws if refused. */
  async authenticate(credentials: { username: string; password: string; authSource?: string }): Promise<void> {
    const $db = credentials.authSource ?? 'admin';
    const scram = scramClient(credentials.username, credentials.password);
    const start = (await this.request(opMsg({ saslStart: 1, mechanism: 'SCRAM-SHA-256', payload: scram.first, options: { skipEmptyExchange: true }, $db }))).documents[0];
    if (start.ok !== 1) throw new Error(`saslStart refused: ${JSON.stringify(start)}`);
    const proof = scram.final(payloadText(start.payload));
    const done = (await this.request(opMsg({ saslContinue: 1, conversationId: start.conversationId, payload: proof, $db }))).documents[0];
    if (done.ok !== 1 || done.done !== true) throw new Error(`authentication refused: ${JSON.stringify(done)}`);
    if (payloadText(done.payload) !== scram.expectedServerSignature) throw new Error('the server signature is wrong');
  }

  close(): void {
    this.socket.destroy();
  }
}

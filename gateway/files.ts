// POST /files: uploads of claim items' originals (electronic invoices, receipts; docs/api.md#attachments).
// Authenticated as POST /graphql is (gateway/auth.ts); employees only: an API key (read-only integrations) or a
// service gets 403. No CSRF header is asked for: the only credential is the Authorization header, which a
// cross-site form cannot send and which makes any browser request a preflighted one (no cookie authenticates).
//
// The body (multipart/form-data with one file part, parsed by busboy, or the raw bytes as application/octet-stream
// with the name in Content-Disposition) is streamed to a file in this gateway's private spool directory (0700),
// hashed and counted as it flows and cut past FILE_MAX_BYTES (413). Its type is recognised from its bytes
// (platform/file-kind.ts; 415 lists the accepted ones), then it is streamed on to the oa subgraph (POST /internal/files,
// subgraphs/oa/attachments/http.ts) under an internal identity bound to its SHA-256. Never more than a stream's
// buffer of it is in memory; the spooled file is deleted in every outcome. Every upload past authentication is an
// entry of the audit trail (`upload file <id>`; a refusal with its outcome, and its own code when the trail has none).
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { type IncomingMessage, type ServerResponse, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import { errorBody, json } from '../platform/apollo-http.ts';
import { type Principal, identityHeaders } from '../platform/identity.ts';
import type { Logger } from '../platform/logger.ts';
import { type AuditRecorder, outcomeOfStatus } from './audit.ts';
import { authenticatedCaller } from './auth-http.ts';
import { ACCEPTED_TYPES, fileKind } from '../platform/file-kind.ts';

export const FILES_PATH = '/files';
/** Room for a multipart body's boundaries and part headers on top of the file. */
const MULTIPART_OVERHEAD = 64 * 1024;

export interface FilesRouteOptions {
  /** The oa subgraph's GraphQL URL; uploads go to /internal/files on the same origin. */
  oaUrl: string;
  internalSecret: string;
  authenticate: (authorization: string | undefined) => Promise<Principal>;
  logger: Logger;
  audit?: AuditRecorder;
  /** FILE_MAX_BYTES. */
  maxBytes: number;
  /** Where the private spool directory is made (default the OS's temporary directory). */
  spoolRoot?: string;
  timeoutMs: number;
}

export interface FilesRoute {
  (req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  /** The private directory uploads are spooled in (empty between requests). */
  readonly spoolDir: string;
  /** Removes the spool directory. */
  close(): void;
}

/** An upload refused with a status and code. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const tooLarge = (max: number) => new Refusal(413, 'PAYLOAD_TOO_LARGE', `A file holds at most ${max} bytes`);
const interrupted = () => new Refusal(400, 'BAD_REQUEST', 'The upload was interrupted before its end');
const unsupported = () => new Refusal(415, 'UNSUPPORTED_MEDIA_TYPE', `This file type is not accepted; accepted: ${ACCEPTED_TYPES.join(', ')}`);

/** Hashes and counts what flows through; fails with 413 past `max` bytes. */
class Meter extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  constructor(private readonly max: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null, data?: Buffer) => void): void {
    this.bytes += chunk.length;
    if (this.bytes > this.max) return done(tooLarge(this.max));
    this.hash.update(chunk);
    done(null, chunk);
  }
}

/** The file name of `Content-Disposition: attachment; filename*=UTF-8''…` (RFC 8187) or `filename="…"`. */
export function dispositionFilename(header: string | undefined): string {
  if (!header) return '';
  const star = /filename\*\s*=\s*utf-8'[^']*'([^;\s]+)/i.exec(header);
  if (star) {
    try {
      return decodeURIComponent(star[1]);
    } catch {
      // fall back to filename=
    }
  }
  const plain = /filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/i.exec(header);
  return plain ? (plain[1]?.replace(/\\(.)/g, '$1') ?? plain[2]) : '';
}

/** The error code of an error answer (`errors[0].extensions.code`). */
const codeOf = (body: unknown): string | undefined => (body as { errors?: Array<{ extensions?: { code?: unknown } }> } | null)?.errors?.[0]?.extensions?.code as string | undefined;

const spoolTo = (path: string) => createWriteStream(path, { flags: 'wx', mode: 0o600 });

/** The one file part of a multipart body into `path`; its name. */
function spoolMultipart(req: IncomingMessage, path: string, meter: Meter): Promise<string> {
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: req.headers, limits: { files: 1, fields: 0 }, defParamCharset: 'utf8' });
    } catch {
      return reject(new Refusal(400, 'BAD_REQUEST', 'Malformed multipart/form-data (boundary missing?)'));
    }
    let file: Promise<string> | null = null;
    let part: Readable | null = null;
    // Rejected only once the spooled file is closed, so that the caller's unlink is the last word on it.
    const fail = (err: unknown) => {
      req.unpipe(bb);
      if (!file) return reject(err);
      part?.destroy();
      file.then(
        () => reject(err),
        () => reject(err),
      );
    };
    bb.on('file', (_field, stream: Readable, info) => {
      part = stream;
      file = pipeline(stream, meter, spoolTo(path)).then(() => info.filename ?? '');
      file.catch((err: unknown) => {
        req.unpipe(bb);
        reject(err);
      });
    });
    const onePart = () => fail(new Refusal(400, 'BAD_REQUEST', 'Send exactly one file part and no other field'));
    bb.on('filesLimit', onePart);
    bb.on('fieldsLimit', onePart);
    bb.on('error', () => fail(new Refusal(400, 'BAD_REQUEST', 'Malformed multipart/form-data')));
    bb.on('close', () => (file ? file.then(resolve, reject) : reject(new Refusal(400, 'BAD_REQUEST', 'No file part in the form'))));
    // A client gone mid-body: pipe() does not pass that on, and busboy would wait for the rest forever.
    req.on('close', () => {
      if (!req.complete) fail(interrupted());
    });
    req.pipe(bb);
  });
}

/**
 * After a refusal before the body was read: the rest of it is read and dropped, so that the client, still sending,
 * reads the answer rather than a reset; past `max` more bytes, or 10 s, the connection is cut.
 */
function drainThenClose(req: IncomingMessage, max: number): void {
  let drained = 0;
  const cut = () => req.socket.destroy();
  const timer = setTimeout(cut, 10_000).unref();
  req.on('data', (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > max) cut();
  });
  req.on('end', () => clearTimeout(timer));
  req.on('close', () => clearTimeout(timer));
  req.resume();
}

/** An answer to send: status, JSON body, and a Retry-After (seconds) where oa gave one. */
interface Answer {
  status: number;
  body: unknown;
  retryAfter?: string;
}

interface Stored {
  id: string;
  filename: string;
  mediaType: string;
  size: number;
  sha256: string;
  /** What oa read of an invoice file (subgraphs/oa/attachments/http.ts); null for other files. */
  invoice?: unknown;
  structure?: unknown;
  verification?: unknown;
}

/** Streams the spooled file to oa; its answer (status and JSON). */
async function forward(opts: FilesRouteOptions, principal: Principal, file: { path: string; size: number; digest: Buffer; mediaType: string; filename: string }): Promise<Answer> {
  const headers = await identityHeaders(principal, opts.internalSecret, { audience: 'oa-files', method: 'POST', digest: file.digest.toString('base64url') });
  const url = new URL('/internal/files', opts.oaUrl);
  return new Promise((resolve, reject) => {
    const out = httpRequest(url, {
      method: 'POST',
      timeout: opts.timeoutMs,
      headers: { ...headers, 'content-type': 'application/octet-stream', 'content-length': String(file.size), 'x-file-type': file.mediaType, 'x-file-name': encodeURIComponent(file.filename) },
    });
    out.on('timeout', () => out.destroy(new Error('oa did not answer in time')));
    out.on('error', reject);
    out.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= 64 * 1024) chunks.push(c);
      });
      res.on('error', reject);
      res.on('end', () => {
        const retryAfter = res.headers['retry-after'];
        try {
          resolve({ status: res.statusCode ?? 502, body: JSON.parse(Buffer.concat(chunks).toString('utf8')), ...(retryAfter && /^\d{1,9}$/.test(retryAfter) ? { retryAfter } : {}) });
        } catch {
          resolve({ status: 502, body: null });
        }
      });
    });
    createReadStream(file.path).on('error', (err) => out.destroy(err)).pipe(out);
  });
}

/** Spools, recognises and forwards one upload; its answer, or a Refusal. */
async function receive(opts: FilesRouteOptions, req: IncomingMessage, principal: Principal, path: string): Promise<Answer> {
  if (principal.kind !== 'user') throw new Refusal(403, 'FORBIDDEN', principal.kind === 'integration' ? 'API keys may not upload files' : 'Only employees upload files');
  const type = (req.headers['content-type'] ?? '').split(';', 1)[0].trim().toLowerCase();
  const declared = Number(req.headers['content-length']);
  const meter = new Meter(opts.maxBytes);
  let filename: string;
  try {
    if (type === 'multipart/form-data') {
      if (declared > opts.maxBytes + MULTIPART_OVERHEAD) throw tooLarge(opts.maxBytes);
      filename = await spoolMultipart(req, path, meter);
    } else if (type === 'application/octet-stream') {
      if (declared > opts.maxBytes) throw tooLarge(opts.maxBytes);
      filename = dispositionFilename(req.headers['content-disposition']);
      await pipeline(req, meter, spoolTo(path));
    } else {
      throw new Refusal(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the file as multipart/form-data (one file part) or application/octet-stream');
    }
  } catch (err) {
    // A client that went away is no server error (nobody hears the answer either).
    throw err instanceof Refusal || req.complete ? err : interrupted();
  }
  if (meter.bytes === 0) throw new Refusal(400, 'BAD_USER_INPUT', 'The file is empty');
  const mediaType = await fileKind(path);
  if (!mediaType) throw unsupported();
  let sent: Answer;
  try {
    sent = await forward(opts, principal, { path, size: meter.bytes, digest: meter.hash.digest(), mediaType, filename });
  } catch (err) {
    opts.logger.error({ err: { message: (err as Error).message } }, 'the attachment store could not be reached');
    sent = { status: 502, body: null };
  }
  if (sent.status === 201) {
    const f = sent.body as Stored;
    return {
      status: 201,
      body: { id: f.id, filename: f.filename, mediaType: f.mediaType, size: f.size, sha256: f.sha256, invoice: f.invoice ?? null, structure: f.structure ?? null, verification: f.verification ?? null },
    };
  }
  // oa's own refusals pass through: not an employee, too large, a type, over the uploader's quota (429, Retry-After).
  if ([403, 413, 415, 429].includes(sent.status)) return sent;
  opts.logger.error({ status: sent.status }, 'the attachment store refused an upload');
  return { status: 502, body: errorBody('The file could not be stored; try again', 'INTERNAL_SERVER_ERROR') };
}

export function filesRoute(opts: FilesRouteOptions): FilesRoute {
  // mkdtemp makes it 0700: other local users can neither list nor read what is spooled.
  const spoolDir = mkdtempSync(join(opts.spoolRoot ?? tmpdir(), 'gateway-files-'));
  const route = async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    if ((req.url ?? '').split('?', 1)[0] !== FILES_PATH) return false;
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      json(res, 405, errorBody(`Files are uploaded with POST, not ${req.method ?? '?'}`, 'METHOD_NOT_ALLOWED'));
      return true;
    }
    const startedAt = Date.now();
    const principal = await authenticatedCaller(req, res, startedAt, opts);
    if (!principal) {
      drainThenClose(req, opts.maxBytes);
      return true;
    }
    const path = join(spoolDir, randomUUID());
    let answer: Answer;
    try {
      answer = await receive(opts, req, principal, path);
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      if (!req.complete) {
        // Past the limit the connection is not reused: the rest of the body is dropped, then it closes.
        if (err.status === 413) res.setHeader('connection', 'close');
        drainThenClose(req, opts.maxBytes);
      }
      const body = errorBody(err.message, err.code);
      if (err.status === 415) Object.assign(body.errors[0].extensions, { accepted: [...ACCEPTED_TYPES] });
      answer = { status: err.status, body };
    } finally {
      // Before the answer: once the client hears back, nothing of its file is left here.
      await unlink(path).catch(() => undefined);
    }
    if (answer.retryAfter) res.setHeader('retry-after', answer.retryAfter);
    json(res, answer.status, answer.body);
    // Each upload is an entry of the audit trail, refused ones too: `upload file <id>` when stored.
    const stored = answer.status === 201 ? (answer.body as { id: string }).id : null;
    const code = codeOf(answer.body);
    const outcome = outcomeOfStatus(answer.status, code);
    opts.audit?.record({
      at: new Date(startedAt).toISOString(),
      actor: principal.sub,
      roles: [...principal.roles],
      address: opts.audit.addressOf(req),
      // A refusal the trail has no outcome for (415, 413) names its own code in the action.
      action: stored ? `upload file ${stored}` : code && code !== outcome ? `upload file refused: ${code}` : 'upload file',
      operationName: null,
      outcome,
      durationMs: Date.now() - startedAt,
      requestId: randomUUID(),
    });
    return true;
  };
  return Object.assign(route, { spoolDir, close: () => rmSync(spoolDir, { recursive: true, force: true }) });
}

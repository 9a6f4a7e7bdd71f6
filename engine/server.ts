// The engine process: TCP connections, command dispatch with sessions and transactions, timers.
import net from 'node:net';
import { Binary, Long, ObjectId, Timestamp } from 'bson';
import { Access, type Transaction, commitTransaction } from './access.ts';
import { Catalog, type JournalOp } from './catalog.ts';
import { COMMANDS, type CommandContext, type ServerInfo, checkFields } from './commands.ts';
import { Cursors } from './cursors.ts';
import { ErrorCodes, MongoServerError } from './errors.ts';
import { Persistence } from './persistence.ts';
import { type Session, Sessions, noSuchTransaction, txnNumberOf } from './sessions.ts';
import { type Doc, isPlainObject, toNumber, typeLowerBound, encodeKey } from './values.ts';
import { MAX_MESSAGE_BYTES, OP_MSG, OP_QUERY, WireError, encodeMsg, encodeReply, parseMessage } from './wire.ts';

export interface EngineLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface EngineOptions {
  /** Loopback by default: the engine has no authentication. */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Data directory; null or undefined keeps everything in memory. */
  dbPath?: string | null;
  logger?: EngineLogger;
  /** Replica-set name the engine reports (default "rs0"). */
  setName?: string;
  /** Idle time after which an open transaction is aborted (default 60 s, MongoDB's transactionLifetimeLimitSeconds). */
  transactionLifetimeMs?: number;
  /** How often expired TTL documents are removed (default 60 s, as MongoDB's TTL monitor). */
  ttlIntervalMs?: number;
  /** Journal size that triggers a snapshot (default 64 MiB). */
  compactAtBytes?: number;
}

export interface RunningEngine {
  host: string;
  port: number;
  /** mongodb://host:port, without a database name. */
  uri: string;
  dbPath: string | null;
  close(): Promise<void>;
}

const silent: EngineLogger = { info() {}, warn() {}, error() {}, debug() {} };

export class Engine {
  readonly catalog = new Catalog();
  readonly cursors = new Cursors();
  readonly sessions: Sessions;
  readonly persistence: Persistence | undefined;
  readonly info: ServerInfo;
  private readonly logger: EngineLogger;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly timers: NodeJS.Timeout[] = [];
  private nextConnectionId = 1;
  private nextRequestId = 1;
  private clusterTime = { t: Math.floor(Date.now() / 1000), i: 0 };

  constructor(private readonly opts: EngineOptions) {
    this.logger = opts.logger ?? silent;
    this.sessions = new Sessions(opts.transactionLifetimeMs ?? 60_000, (txn) => this.dropCreatedCollections(txn));
    this.persistence = opts.dbPath ? new Persistence(opts.dbPath, this.catalog, this.logger, opts.compactAtBytes) : undefined;
    this.info = {
      host: opts.host ?? '127.0.0.1',
      port: opts.port ?? 0,
      setName: opts.setName ?? 'rs0',
      electionId: new ObjectId('7fffffff0000000000000001'),
      startedAt: Date.now(),
      persistent: this.persistence !== undefined,
      connections: { current: 0, total: 0 },
      counters: { insert: 0, query: 0, update: 0, delete: 0, getmore: 0, command: 0 },
    };
    this.server = net.createServer((socket) => this.accept(socket));
  }

  async listen(): Promise<RunningEngine> {
    if (this.persistence) {
      const report = this.persistence.open();
      this.logger.info({ dbPath: this.opts.dbPath, ...report }, 'embedded engine recovered its data');
    }
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.info.port, this.info.host, () => resolve());
    });
    const address = this.server.address() as net.AddressInfo;
    this.info.port = address.port;
    this.timers.push(
      setInterval(() => this.sweep(), 1000),
      setInterval(() => this.expireTtl(), this.opts.ttlIntervalMs ?? 60_000),
    );
    if (this.persistence) this.timers.push(setInterval(() => this.persistence?.sync(), 1000));
    for (const t of this.timers) t.unref();
    const uri = `mongodb://${this.info.host}:${this.info.port}`;
    this.logger.info({ uri, dbPath: this.opts.dbPath ?? null }, 'embedded MongoDB-wire engine listening');
    return { host: this.info.host, port: this.info.port, uri, dbPath: this.opts.dbPath ?? null, close: () => this.close() };
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const s of this.sockets) s.destroy();
    });
    this.sessions.abortAll();
    this.persistence?.close();
    this.logger.info({ dbPath: this.opts.dbPath ?? null }, 'embedded engine stopped');
  }

  // -------------------------------------------------------------------------------------------------------
  // Connections

  private accept(socket: net.Socket): void {
    const connectionId = this.nextConnectionId++;
    this.sockets.add(socket);
    this.info.connections.current++;
    this.info.connections.total++;
    socket.setNoDelay(true);
    // Chunks are joined once per complete message, so a large message arriving in many chunks costs one copy.
    let chunks: Buffer[] = [];
    let buffered = 0;
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      buffered += chunk.length;
      while (buffered >= 4) {
        if (chunks[0].length < 4) chunks = [Buffer.concat(chunks, buffered)];
        const length = chunks[0].readInt32LE(0);
        if (length < 16 || length > MAX_MESSAGE_BYTES) {
          this.drop(socket, connectionId, `invalid message length ${length}`);
          return;
        }
        if (buffered < length) break;
        const all = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, buffered);
        const message = all.subarray(0, length);
        const rest = all.subarray(length);
        chunks = rest.length ? [rest] : [];
        buffered = rest.length;
        try {
          const reply = this.handleMessage(message, connectionId);
          if (reply) socket.write(reply);
        } catch (err) {
          this.drop(socket, connectionId, (err as Error).message);
          return;
        }
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.info.connections.current--;
    });
  }

  private drop(socket: net.Socket, connectionId: number, reason: string): void {
    this.logger.warn({ connectionId, reason }, 'closing connection after a malformed message');
    socket.destroy();
  }

  /** Returns the reply bytes, or undefined when the client asked for none (moreToCome). Throws WireError. */
  private handleMessage(buf: Buffer, connectionId: number): Buffer | undefined {
    const req = parseMessage(buf);
    const requestId = this.nextRequestId++;
    if (req.kind === 'query') {
      // Only the legacy handshake arrives as OP_QUERY.
      let query = req.query;
      if (isPlainObject(query.$query)) query = query.$query as Doc;
      const name = Object.keys(query)[0] ?? '';
      if (!req.collection.endsWith('.$cmd') || !['hello', 'ismaster', 'isMaster'].includes(name)) {
        const err = new MongoServerError(ErrorCodes.UnsupportedOpQueryCommand, `Unsupported OP_QUERY command: ${name}. The client driver may require an upgrade.`);
        return encodeReply(requestId, req.header.requestId, this.decorate(err.toReply()));
      }
      const db = req.collection.slice(0, -'.$cmd'.length);
      return encodeReply(requestId, req.header.requestId, this.execute({ ...query, $db: db }, connectionId));
    }
    if (req.kind === 'msg') {
      const reply = this.execute(req.body, connectionId);
      return req.moreToCome ? undefined : encodeMsg(requestId, req.header.requestId, reply);
    }
    throw new WireError(`unsupported opcode ${req.header.opCode} (only OP_MSG ${OP_MSG} and the OP_QUERY ${OP_QUERY} handshake)`);
  }

  // -------------------------------------------------------------------------------------------------------
  // Commands

  /** Runs one command and returns its reply; never throws. */
  execute(body: Doc, connectionId: number): Doc {
    try {
      return this.decorate({ ...this.run(body, connectionId), ok: 1 });
    } catch (err) {
      if (err instanceof MongoServerError) return this.decorate(err.toReply());
      this.logger.error({ err: (err as Error).message, stack: (err as Error).stack, command: Object.keys(body)[0] }, 'engine command failed unexpectedly');
      return this.decorate(new MongoServerError(ErrorCodes.InternalError, 'internal error in the embedded engine').toReply());
    }
  }

  private run(body: Doc, connectionId: number): Doc {
    const name = Object.keys(body)[0];
    const db = body.$db;
    if (typeof db !== 'string') throw new MongoServerError(ErrorCodes.FailedToParse, 'OP_MSG requests require a $db argument');
    this.info.counters.command++;
    const session = body.lsid ? this.sessions.touch(body.lsid) : undefined;
    if (name === 'commitTransaction' || name === 'abortTransaction') return this.endTransaction(name, body, session);
    if (name === 'endSessions') {
      this.sessions.end(Array.isArray(body.endSessions) ? body.endSessions : []);
      return {};
    }
    const def = COMMANDS[name];
    if (!def) throw new MongoServerError(ErrorCodes.CommandNotFound, `no such command: '${name}'`);
    checkFields(name, def, body);

    let txn;
    if (body.autocommit === false) {
      if (!session) throw new MongoServerError(ErrorCodes.InvalidOptions, 'Transactions require a session (lsid)');
      const n = txnNumberOf(body.txnNumber);
      txn = body.startTransaction === true ? this.sessions.start(session, n) : this.sessions.continue(session, n);
      if (!def.inTransaction) {
        this.sessions.abort(session);
        throw new MongoServerError(ErrorCodes.OperationNotSupportedInTransaction, `Cannot run '${name}' in a multi-document transaction.`);
      }
    }

    let retryNumber: bigint | undefined;
    if (!txn && def.retryable && session && body.txnNumber !== undefined) {
      retryNumber = txnNumberOf(body.txnNumber);
      if (session.retry?.txnNumber === retryNumber) return session.retry.reply;
    }

    const access = new Access(this.catalog, [], txn);
    const ctx: CommandContext = {
      db,
      body,
      access,
      catalog: this.catalog,
      cursors: this.cursors,
      server: this.info,
      connectionId,
      inTransaction: txn !== undefined,
    };
    let reply: Doc;
    let failed = false;
    try {
      const result = def.run(ctx, access.ops);
      if ('reply' in result && 'failed' in result && typeof result.failed === 'boolean') {
        reply = result.reply as Doc;
        failed = result.failed;
      } else reply = result as Doc;
    } catch (err) {
      if (txn && session) this.sessions.abort(session);
      throw err;
    } finally {
      // Whatever was applied is journalled before the reply leaves, including the part of a failed batch.
      this.persistence?.append(access.ops);
    }
    if (txn && session && failed) this.sessions.abort(session);
    if (retryNumber !== undefined && session) session.retry = { txnNumber: retryNumber, reply: { ...reply, ok: 1 } };
    return reply;
  }

  private endTransaction(name: 'commitTransaction' | 'abortTransaction', body: Doc, session: Session | undefined): Doc {
    if (!session) throw new MongoServerError(ErrorCodes.InvalidOptions, `${name} requires a session (lsid)`);
    const n = txnNumberOf(body.txnNumber);
    if (name === 'commitTransaction') {
      if (n === session.txnNumber && session.state === 'committed') return {}; // a retried commit
      const txn = this.sessions.continue(session, n);
      const ops = [] as Parameters<typeof commitTransaction>[1];
      try {
        commitTransaction(txn, ops);
      } catch (err) {
        session.state = 'aborted';
        session.txn = undefined;
        throw err;
      }
      this.persistence?.append(ops);
      session.state = 'committed';
      session.txn = undefined;
      return {};
    }
    if (n === session.txnNumber && session.state === 'committed') {
      throw new MongoServerError(ErrorCodes.TransactionCommitted, 'Cannot abort transaction, transaction already committed');
    }
    if (n !== session.txnNumber || session.state !== 'open') throw noSuchTransaction(n);
    this.sessions.abort(session);
    return {};
  }

  private decorate(reply: Doc): Doc {
    const now = Math.floor(Date.now() / 1000);
    if (now > this.clusterTime.t) this.clusterTime = { t: now, i: 0 };
    this.clusterTime.i++;
    const ts = new Timestamp({ t: this.clusterTime.t, i: this.clusterTime.i });
    reply.$clusterTime = { clusterTime: ts, signature: { hash: new Binary(Buffer.alloc(20)), keyId: Long.ZERO } };
    reply.operationTime = ts;
    return reply;
  }

  /** A collection created implicitly by an aborted transaction does not outlive it (unless others wrote to it). */
  private dropCreatedCollections(txn: Transaction): void {
    const ops: JournalOp[] = [];
    for (const coll of txn.createdCollections) {
      if (this.catalog.get(coll.db, coll.name) === coll && coll.docs.size === 0 && coll.indexes.size === 1) {
        this.catalog.drop(coll.db, coll.name);
        ops.push({ o: 'drop', db: coll.db, c: coll.name });
      }
    }
    this.persistence?.append(ops);
  }

  // -------------------------------------------------------------------------------------------------------
  // Timers

  private sweep(): void {
    const aborted = this.sessions.sweep();
    if (aborted) this.logger.info({ aborted }, 'aborted transactions past their lifetime');
    this.cursors.sweep();
  }

  /** Removes documents whose TTL-indexed date is older than the index's expireAfterSeconds. */
  expireTtl(now = Date.now()): number {
    const access = new Access(this.catalog, []);
    let removed = 0;
    for (const colls of this.catalog.dbs.values()) {
      for (const coll of colls.values()) {
        for (const index of coll.indexes.values()) {
          if (index.spec.expireAfterSeconds === undefined) continue;
          const cutoff = new Date(now - toNumber(index.spec.expireAfterSeconds) * 1000);
          const ids = [...index.idsInRange(typeLowerBound(cutoff), true, encodeKey(cutoff), false)];
          for (const id of ids) {
            const entry = coll.docs.get(id);
            if (entry) {
              access.delete(coll, entry);
              removed++;
            }
          }
        }
      }
    }
    this.persistence?.append(access.ops);
    if (removed) this.logger.debug({ removed }, 'TTL monitor removed expired documents');
    return removed;
  }
}

export async function startEngine(opts: EngineOptions = {}): Promise<RunningEngine> {
  return new Engine(opts).listen();
}

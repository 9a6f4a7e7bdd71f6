// The engine process: TCP connections, command dispatch with sessions and transactions, timers.
// Commits, aborts and retried writes' answers are in session-commands.ts; the TTL monitor is in ttl-monitor.ts.
import net from 'node:net';
import { BSON, Binary, Long, ObjectId, Timestamp } from 'bson';
import { Access, Transaction } from './access.ts';
import { Authenticator } from './auth.ts';
import { Catalog } from './catalog.ts';
import type { CommandContext, ServerInfo } from './command-context.ts';
import { COMMANDS, checkFields } from './commands.ts';
import { type CredentialStore, connectionString, loadOrCreateCredentials, maskedConnectionString, memoryCredentials } from './credentials.ts';
import { Cursors } from './cursors.ts';
import { prepareDirectory } from './data-dir.ts';
import type { EngineLogger, EngineOptions, RunningEngine } from './engine-options.ts';
import { ErrorCodes, MongoServerError } from './errors.ts';
import { migrateLegacy } from './legacy.ts';
import { materialize, releaseNow } from './raw.ts';
import { Sessions, txnNumberOf } from './sessions.ts';
import { SERVER_COMMANDS, endTransaction, recordedAnswer, sessionKey } from './session-commands.ts';
import { Store } from './store.ts';
import { startsTransaction } from './log-restart.ts';
import { DEFAULT_SLOW_MS, describeCommand } from './slow-log.ts';
import { expireTtl } from './ttl-monitor.ts';
import { type Doc, isPlainObject } from './values.ts';
import { MAX_MESSAGE_BYTES, OP_MSG, OP_QUERY, WireError, encodeMsg, encodeReply, parseMessage } from './wire.ts';
import { withWriteConcern } from './write-concern.ts';

const silent: EngineLogger = { info() {}, warn() {}, error() {}, debug() {} };

export class Engine {
  readonly store: Store;
  readonly catalog: Catalog;
  readonly cursors = new Cursors();
  readonly sessions: Sessions;
  readonly info: ServerInfo;
  /** Who may connect, and which connection has authenticated as whom (auth.ts). */
  readonly auth = new Authenticator((name) => Object.hasOwn(COMMANDS, name) || SERVER_COMMANDS.has(name));
  private readonly credentialStore: CredentialStore;
  private readonly logger: EngineLogger;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly slowMs: number;
  private nextConnectionId = 1;
  private nextRequestId = 1;
  private clusterTime = { t: Math.floor(Date.now() / 1000), i: 0 };

  constructor(private readonly opts: EngineOptions) {
    this.logger = opts.logger ?? silent;
    this.slowMs = opts.slowMs ?? DEFAULT_SLOW_MS;
    // ---- authentication: the users, from the data directory (created private to this account if new) or
    // made up for this memory-only run; before the data directory is opened, so a refusal leaves nothing held ----
    if (opts.dbPath) {
      prepareDirectory(opts.dbPath);
      this.credentialStore = loadOrCreateCredentials(opts.dbPath, this.logger);
    } else this.credentialStore = memoryCredentials();
    this.auth.setUsers(this.credentialStore.users);
    // ----
    // Opening the store takes the data directory's lock and recovers whatever the last process committed.
    this.store = new Store({ dir: opts.dbPath ?? null, cacheMb: opts.cacheMb, fsync: opts.fsync, logRestartBytes: opts.logRestartBytes, idleMs: () => this.sessions.longestIdleMs() });
    try {
      this.catalog = new Catalog(this.store);
      const migrated = migrateLegacy(this.store, this.catalog, this.logger);
      if (migrated) this.catalog.reload();
    } catch (err) {
      this.store.close();
      throw err;
    }
    this.sessions = new Sessions(opts.transactionLifetimeMs ?? 60_000, (locks, label) => new Transaction(locks, label, this.store));
    this.info = {
      host: opts.host ?? '127.0.0.1',
      port: opts.port ?? 0,
      setName: opts.setName ?? 'rs0',
      electionId: new ObjectId('7fffffff0000000000000001'),
      startedAt: Date.now(),
      persistent: !this.store.temporary,
      connections: { current: 0, total: 0 },
      counters: { insert: 0, query: 0, update: 0, delete: 0, getmore: 0, command: 0 },
    };
    this.server = net.createServer((socket) => this.accept(socket));
  }

  async listen(): Promise<RunningEngine> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.info.port, this.info.host, () => resolve());
    });
    const address = this.server.address() as net.AddressInfo;
    this.info.port = address.port;
    this.timers.push(
      setInterval(() => this.sweep(), 1000),
      setInterval(() => this.expireTtl(), this.opts.ttlIntervalMs ?? 60_000),
      setInterval(
        () =>
          this.store.flush((err) => {
            if (err) this.logger.error({ err: err.message }, 'could not flush the write-ahead log to disk; retrying in a second');
          }),
        1000,
      ),
    );
    for (const t of this.timers) t.unref();
    const { host, port } = this.info;
    const { credentials, credentialsPath } = this.credentialStore;
    const safeUri = maskedConnectionString(credentials, host, port);
    this.logger.info({ uri: safeUri, dbPath: this.opts.dbPath ?? null, credentialsFile: credentialsPath }, 'embedded MongoDB-wire engine listening');
    return {
      host,
      port,
      address: `${host}:${port}`,
      uri: connectionString(credentials, host, port),
      safeUri,
      uriFor: (dbName) => connectionString(credentials, host, port, dbName),
      credentials,
      credentialsPath,
      dbPath: this.opts.dbPath ?? null,
      close: () => this.close(),
    };
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const s of this.sockets) s.destroy();
    });
    this.sessions.abortAll();
    this.cursors.closeAll();
    this.store.close();
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
        if (!dispatch(message)) return;
      }
    });
    const answer = (message: Buffer): boolean => {
      try {
        const reply = this.handleMessage(message, connectionId);
        // A reply is released once the socket has handed it to the kernel (raw.ts releaseNow: a cursor's 4 MiB
        // batches would otherwise wait for a full collection).
        if (reply) socket.write(reply, () => releaseNow(reply));
        return true;
      } catch (err) {
        this.drop(socket, connectionId, (err as Error).message);
        return false;
      }
    };
    // While the write-ahead log restarts (engine/log-restart.ts), a command that starts a transaction waits, and the
    // connection's later messages after it, in order.
    let held: Buffer[] | null = null;
    const dispatch = (message: Buffer): boolean => {
      if (held) {
        held.push(message);
        return true;
      }
      if (!this.store.logRestartWanted || !startsTransaction(message)) return answer(message);
      held = [message];
      socket.pause();
      this.store.whenLogRestarted(() => {
        const queue = held ?? [];
        held = null;
        if (socket.destroyed) return;
        for (const m of queue) if (!dispatch(m)) return;
        if (!held) socket.resume();
      });
      return true;
    };
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.auth.forget(connectionId);
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
      return encodeReply(requestId, req.header.requestId, this.serve({ ...query, $db: db }, connectionId));
    }
    if (req.kind === 'msg') {
      const reply = this.serve(req.body, connectionId);
      return req.moreToCome ? undefined : encodeMsg(requestId, req.header.requestId, reply);
    }
    throw new WireError(`unsupported opcode ${req.header.opCode} (only OP_MSG ${OP_MSG} and the OP_QUERY ${OP_QUERY} handshake)`);
  }

  // -------------------------------------------------------------------------------------------------------
  // Commands

  // ---- authentication gate (auth.ts) ----
  /**
   * Runs one command that arrived on connection `connectionId` and returns its reply; never throws. Every
   * command from a socket comes through here, and here first: until the connection has authenticated, only the
   * handshake and the authentication commands run; anything else answers Unauthorized (13).
   */
  private serve(body: Doc, connectionId: number): Doc {
    const name = Object.keys(body)[0] ?? '';
    try {
      this.auth.check(name, connectionId);
      const answer = this.auth.run(name, body, connectionId);
      if (answer) return this.decorate({ ...answer, ok: 1 });
    } catch (err) {
      if (err instanceof MongoServerError) return this.decorate(err.toReply());
      this.logger.error({ err: (err as Error).message, stack: (err as Error).stack, command: name }, 'engine authentication failed unexpectedly');
      return this.decorate(new MongoServerError(ErrorCodes.InternalError, 'internal error in the embedded engine').toReply());
    }
    const reply = this.runTrusted(body, connectionId);
    this.auth.decorateHello(name, body, reply, connectionId);
    return reply;
  }
  // ----

  /** `serve`, with stored documents in the reply decoded: what a socket would receive, for callers in this process. */
  execute(body: Doc, connectionId: number): Doc {
    return materialize(this.serve(body, connectionId));
  }

  /**
   * Runs one command without any authentication check, for code in this process (benchmarks, tests) that
   * already holds the engine; never throws. Nothing that comes from a socket may call it: see `execute`.
   */
  executeTrusted(body: Doc, connectionId = 0): Doc {
    return materialize(this.runTrusted(body, connectionId));
  }

  /** Runs one command; cursor batches may hold stored documents as their bytes (raw.ts). Never throws. */
  private runTrusted(body: Doc, connectionId: number): Doc {
    const started = performance.now();
    try {
      return this.decorate({ ...withWriteConcern(body, () => this.run(body, connectionId)), ok: 1 });
    } catch (err) {
      if (err instanceof MongoServerError) return this.decorate(err.toReply());
      this.logger.error({ err: (err as Error).message, stack: (err as Error).stack, command: Object.keys(body)[0] }, 'engine command failed unexpectedly');
      return this.decorate(new MongoServerError(ErrorCodes.InternalError, 'internal error in the embedded engine').toReply());
    } finally {
      const ms = performance.now() - started;
      if (ms >= this.slowMs) this.logger.info(describeCommand(body, ms), 'slow command');
    }
  }

  private run(body: Doc, connectionId: number): Doc {
    const name = Object.keys(body)[0];
    const db = body.$db;
    if (typeof db !== 'string') throw new MongoServerError(ErrorCodes.FailedToParse, 'OP_MSG requests require a $db argument');
    this.info.counters.command++;
    const session = body.lsid ? this.sessions.touch(body.lsid) : undefined;
    if (name === 'commitTransaction' || name === 'abortTransaction') return endTransaction(this, name, body, session);
    if (name === 'endSessions') {
      this.sessions.end(Array.isArray(body.endSessions) ? body.endSessions : []);
      return {};
    }
    const def = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
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

    // readConcern snapshot outside a transaction: reads only, each session's reads from one snapshot.
    let snapshot: ReturnType<Sessions['snapshotOf']> | undefined;
    const readConcern = isPlainObject(body.readConcern) ? (body.readConcern as Doc) : undefined;
    if (!txn && readConcern?.level === 'snapshot') {
      if (!SNAPSHOT_READS.has(name)) {
        throw new MongoServerError(ErrorCodes.InvalidOptions, `Command ${name} does not support { readConcern: { level: "snapshot" } } outside a multi-document transaction`);
      }
      const at = readConcern.atClusterTime as Timestamp | undefined;
      if (session) snapshot = this.sessions.snapshotOf(session, at, () => this.now());
    }

    // A retried write (same session and txnNumber) is answered with what its first execution answered: the
    // answer is stored with the write itself, so this holds across a restart too.
    let retryNumber: bigint | undefined;
    if (!txn && def.retryable && session && body.txnNumber !== undefined) {
      retryNumber = txnNumberOf(body.txnNumber);
      const recorded = recordedAnswer(this.store, session, retryNumber);
      if (recorded) return recorded;
    }

    const access = new Access(this.catalog, txn ?? snapshot?.txn);
    const ctx: CommandContext = {
      db,
      body,
      access,
      catalog: this.catalog,
      cursors: this.cursors,
      server: this.info,
      connectionId,
      inTransaction: txn !== undefined,
      logger: this.logger,
    };
    // A write outside a transaction runs in one store transaction: answered only once committed (see
    // StoreOptions.fsync for when that reaches the disk), and on an unexpected failure nothing of it remains, so
    // nothing applied is ever answered as an error.
    const writes = !txn && (def.kind === 'write' || def.kind === 'catalog');
    if (writes) this.store.begin();
    let reply: Doc;
    let failed = false;
    try {
      const result = def.run(ctx);
      if ('reply' in result && 'failed' in result && typeof result.failed === 'boolean') {
        reply = result.reply as Doc;
        failed = result.failed;
      } else reply = result as Doc;
      if (retryNumber !== undefined && session) {
        const answer = { ...reply, ok: 1 };
        this.store.recordSession(sessionKey(session), retryNumber, 'write', BSON.serialize(answer));
        session.retry = { txnNumber: retryNumber, reply: answer };
      }
      if (writes) this.store.commit();
    } catch (err) {
      if (writes) {
        this.store.rollback();
        this.catalog.reload();
      }
      if (txn && session) this.sessions.abort(session);
      throw err;
    }
    if (txn && session && failed) this.sessions.abort(session);
    if (readConcern?.level === 'snapshot' && !txn) {
      const atClusterTime = snapshot?.atClusterTime ?? this.now();
      // find and aggregate report it in their cursor, distinct at the top (as MongoDB does).
      if (isPlainObject(reply.cursor)) reply.cursor = { ...(reply.cursor as Doc), atClusterTime };
      else reply.atClusterTime = atClusterTime;
    }
    return reply;
  }

  /** The latest cluster time handed out: what a snapshot taken now shows. */
  private now(): Timestamp {
    return new Timestamp({ t: this.clusterTime.t, i: this.clusterTime.i });
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

  // -------------------------------------------------------------------------------------------------------
  // Timers

  private sweep(): void {
    const aborted = this.sessions.sweep();
    if (aborted) this.logger.info({ aborted }, 'aborted transactions past their lifetime');
    this.cursors.sweep();
    // Answers of retryable writes are kept as long as MongoDB keeps a session: 30 minutes after its last use.
    if (Date.now() - this.lastSessionSweep > 60_000) {
      this.lastSessionSweep = Date.now();
      this.store.begin();
      try {
        this.store.forgetSessionsBefore(Date.now() - 30 * 60_000);
        this.store.commit();
      } catch (err) {
        this.store.rollback();
        this.logger.warn({ err: (err as Error).message }, 'could not forget expired sessions');
      }
    }
  }

  private lastSessionSweep = Date.now();

  /** Removes documents whose TTL-indexed date is older than the index's expireAfterSeconds. */
  expireTtl(now = Date.now()): number {
    return expireTtl(this.store, this.catalog, this.logger, now);
  }
}

/** The commands MongoDB runs with readConcern snapshot outside transactions. */
const SNAPSHOT_READS = new Set(['find', 'aggregate', 'distinct']);

export async function startEngine(opts: EngineOptions = {}): Promise<RunningEngine> {
  return new Engine(opts).listen();
}

// Authentication: SCRAM-SHA-256 (RFC 5802, RFC 7677) as MongoDB runs it for the drivers' default mechanism.
//
// A connection is unauthenticated until a SASL conversation succeeds on it. Until then the only commands it may
// run are those MongoDB lets an unauthenticated client run (`requiresAuth() == false` in the server: the
// handshake, buildInfo, ping, the SASL commands, logout, connectionStatus); everything else answers
// Unauthorized (13) "Command <name> requires authentication". The check is `Authenticator.check`, which the
// server calls for every command that arrives on a socket before anything else looks at it.
//
// The conversation, as the Node driver (node_modules/mongodb/lib/cmap/auth/scram.js) runs it:
//   hello { speculativeAuthenticate: { saslStart, mechanism, payload: client-first, db, options } }
//     -> hello reply { speculativeAuthenticate: { conversationId: 1, done: false, payload: server-first } }
//     (or, without the speculative part, saslStart { mechanism, payload, options } -> the same reply)
//   saslContinue { conversationId: 1, payload: client-final with the proof }
//     -> { conversationId: 1, done: true, payload: "v=" server signature }   (options.skipEmptyExchange)
//     -> { conversationId: 1, done: false, payload: "v=..." }, then an empty saslContinue -> { done: true }
// Every failure of a step answers AuthenticationFailed (18) "Authentication failed.", never saying whether
// the user or the password was wrong, and ends the conversation.
//
// SASLprep: RFC 7677 prepares the password with SASLprep (RFC 4013) before hashing, and the Node driver does so
// (@mongodb-js/saslprep). The server never sees the password: users.json holds only StoredKey and ServerKey,
// derived once from the prepared password. The engine generates its passwords from ASCII letters and digits,
// for which SASLprep is the identity, so no SASLprep implementation is needed here; a password with other
// characters would need one wherever its credential is derived (credentials.ts, scramCredential).
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { Binary } from 'bson';
import { ErrorCodes, MongoServerError } from './errors.ts';
import { type Doc, isPlainObject } from './values.ts';

export const SCRAM_SHA_256 = 'SCRAM-SHA-256';
/** MongoDB's default scramSHA256IterationCount. */
export const SCRAM_ITERATIONS = 15_000;
/** MongoDB salts SCRAM-SHA-256 credentials with 28 random bytes (the hash length less 4). */
const SALT_BYTES = 28;

/** A SCRAM-SHA-256 verifier, as MongoDB keeps it in admin.system.users (base64 fields). */
export interface ScramCredential {
  iterationCount: number;
  salt: string;
  storedKey: string;
  serverKey: string;
}

export interface EngineUser {
  user: string;
  db: string;
  roles: Array<{ role: string; db: string }>;
  credentials: { [SCRAM_SHA_256]: ScramCredential };
}

/** The commands MongoDB runs for a connection that has not authenticated (their `requiresAuth()` is false). */
export const ALLOWED_WITHOUT_AUTHENTICATION: ReadonlySet<string> = new Set([
  'hello', 'isMaster', 'ismaster', 'buildInfo', 'buildinfo', 'ping', 'saslStart', 'saslContinue', 'logout',
  'connectionStatus', 'authenticate', 'listCommands',
]);

const HELLO = new Set(['hello', 'isMaster', 'ismaster']);

const hmac = (key: Buffer, text: string | Buffer): Buffer => createHmac('sha256', key).update(text).digest();
const sha256 = (data: Buffer): Buffer => createHash('sha256').update(data).digest();

/** Derives the verifier of `password` (already SASLprepped: see the note at the top). */
export function scramCredential(password: string, iterationCount = SCRAM_ITERATIONS, salt: Buffer = randomBytes(SALT_BYTES)): ScramCredential {
  const salted = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterationCount, 32, 'sha256');
  return {
    iterationCount,
    salt: salt.toString('base64'),
    storedKey: sha256(hmac(salted, 'Client Key')).toString('base64'),
    serverKey: hmac(salted, 'Server Key').toString('base64'),
  };
}

/** True when `password` is the one `credential` was derived from. */
export function passwordMatches(password: string, credential: ScramCredential): boolean {
  const again = scramCredential(password, credential.iterationCount, Buffer.from(credential.salt, 'base64'));
  const a = Buffer.from(again.storedKey, 'base64');
  const b = Buffer.from(credential.storedKey, 'base64');
  return a.length === b.length && timingSafeEqual(a, b);
}

// ---------------------------------------------------------------------------------------------------------
// Errors, as MongoDB words them

const AuthenticationFailed = 18;
const ProtocolError = 17;
const MechanismUnavailable = 334;

const authenticationFailed = () => new MongoServerError(AuthenticationFailed, 'Authentication failed.', { codeName: 'AuthenticationFailed' });
const protocolError = (message: string) => new MongoServerError(ProtocolError, message, { codeName: 'ProtocolError' });

/** Thrown inside a step; turned into AuthenticationFailed, whatever the reason. */
class StepFailure extends Error {}
const stepFail = (reason: string): never => {
  throw new StepFailure(reason);
};

// ---------------------------------------------------------------------------------------------------------
// Per-connection state

interface Conversation {
  /** The user's verifier, or a decoy for an unknown user (so the failure comes at the same step). */
  credential: ScramCredential;
  user: EngineUser | undefined;
  db: string;
  gs2Header: string;
  clientFirstBare: string;
  serverFirst: string;
  nonce: string;
  /** 'proof': waiting for the client-final message; 'empty': waiting for the final empty round. */
  expect: 'proof' | 'empty';
  skipEmptyExchange: boolean;
  /** The client sent base64 strings instead of BinData: answer the same way. */
  base64: boolean;
}

interface ConnectionState {
  user?: EngineUser;
  conversation?: Conversation;
}

export class Authenticator {
  private users: EngineUser[] = [];
  private readonly connections = new Map<number, ConnectionState>();
  /** Keys the decoy salt of unknown users, so asking twice for one gives the same salt. */
  private readonly decoyKey = randomBytes(32);

  /** `isCommand(name)`: whether the engine knows the command at all (unknown ones answer CommandNotFound). */
  constructor(private readonly isCommand: (name: string) => boolean) {}

  /** The users who may authenticate. Without any, no connection can authenticate. */
  setUsers(users: EngineUser[]): void {
    this.users = users;
  }

  /** Forgets a closed connection. */
  forget(connectionId: number): void {
    this.connections.delete(connectionId);
  }

  /**
   * The gate, run before any command that arrived on a socket. Throws Unauthorized (or CommandNotFound for a
   * name that is no command) when the connection has not authenticated and the command needs it.
   */
  check(name: string, connectionId: number): void {
    if (this.connections.get(connectionId)?.user) return;
    if (ALLOWED_WITHOUT_AUTHENTICATION.has(name)) return;
    // As in MongoDB, the command is looked up first: a name that is no command is reported as such.
    if (!this.isCommand(name)) throw new MongoServerError(ErrorCodes.CommandNotFound, `no such command: '${name}'`);
    throw new MongoServerError(ErrorCodes.Unauthorized, `Command ${name} requires authentication`);
  }

  /**
   * Answers the commands that belong to authentication (saslStart, saslContinue, logout, connectionStatus);
   * undefined for every other command. Throws MongoServerError.
   */
  run(name: string, body: Doc, connectionId: number): Doc | undefined {
    switch (name) {
      case 'saslStart':
        return this.saslStart(body, String(body.$db), connectionId);
      case 'saslContinue':
        return this.saslContinue(body, connectionId);
      case 'logout':
        this.connections.delete(connectionId);
        return {};
      case 'connectionStatus':
        return this.connectionStatus(body, connectionId);
      default:
        return undefined;
    }
  }

  /** Adds to a successful hello reply what MongoDB adds for `saslSupportedMechs` and `speculativeAuthenticate`. */
  decorateHello(name: string, body: Doc, reply: Doc, connectionId: number): void {
    if (!HELLO.has(name) || reply.ok !== 1) return;
    const mechs = body.saslSupportedMechs;
    if (typeof mechs === 'string' && mechs.includes('.')) {
      // MongoDB leaves the field out for a user it does not know; the engine names its one mechanism for any
      // user, so the reply does not tell whether a user exists (a failed conversation does not either).
      reply.saslSupportedMechs = [SCRAM_SHA_256];
    }
    const spec = body.speculativeAuthenticate;
    if (isPlainObject(spec) && spec.saslStart !== undefined && typeof spec.db === 'string') {
      try {
        reply.speculativeAuthenticate = this.saslStart(spec, spec.db, connectionId);
      } catch {
        // As MongoDB: a speculative start that fails is as if none had been sent; the client starts over.
      }
    }
  }

  // -------------------------------------------------------------------------------------------------------

  private state(connectionId: number): ConnectionState {
    let s = this.connections.get(connectionId);
    if (!s) this.connections.set(connectionId, (s = {}));
    return s;
  }

  private saslStart(cmd: Doc, db: string, connectionId: number): Doc {
    const mechanism = cmd.mechanism;
    if (mechanism !== SCRAM_SHA_256) {
      throw new MongoServerError(MechanismUnavailable, `Received authentication for mechanism ${String(mechanism)} which is unknown or not enabled`, {
        codeName: 'MechanismUnavailable',
      });
    }
    const state = this.state(connectionId);
    state.conversation = undefined; // a new saslStart abandons any conversation in progress
    const options = isPlainObject(cmd.options) ? cmd.options : {};
    try {
      const { text, base64 } = payloadText(cmd.payload);
      const conversation = this.clientFirst(text, db, options.skipEmptyExchange === true, base64);
      state.conversation = conversation;
      return { conversationId: 1, done: false, payload: payloadOut(conversation.serverFirst, base64) };
    } catch (err) {
      if (err instanceof StepFailure) throw authenticationFailed();
      throw err;
    }
  }

  private saslContinue(cmd: Doc, connectionId: number): Doc {
    const state = this.state(connectionId);
    const conversation = state.conversation;
    if (!conversation) throw protocolError('No SASL session state found');
    if (Number(cmd.conversationId) !== 1) {
      state.conversation = undefined;
      throw protocolError('sasl: Mismatched conversation id');
    }
    try {
      const { text } = payloadText(cmd.payload);
      if (conversation.expect === 'empty') {
        if (text !== '') stepFail('unexpected payload in the final round');
        state.conversation = undefined;
        state.user = conversation.user;
        return { conversationId: 1, done: true, payload: payloadOut('', conversation.base64) };
      }
      const serverFinal = this.clientFinal(conversation, text);
      if (conversation.skipEmptyExchange) {
        state.conversation = undefined;
        state.user = conversation.user;
        return { conversationId: 1, done: true, payload: payloadOut(serverFinal, conversation.base64) };
      }
      conversation.expect = 'empty';
      return { conversationId: 1, done: false, payload: payloadOut(serverFinal, conversation.base64) };
    } catch (err) {
      state.conversation = undefined;
      if (err instanceof StepFailure) throw authenticationFailed();
      throw err;
    }
  }

  /** client-first-message = gs2-header client-first-message-bare; answers with the server-first-message. */
  private clientFirst(text: string, db: string, skipEmptyExchange: boolean, base64: boolean): Conversation {
    // gs2-header: "n,," (no channel binding) or "y,,"; "p=" (channel binding) is not offered. An authzid
    // ("a=...") must name the authenticating user itself.
    const m = /^([ny]),(?:a=([^,]*))?,(.*)$/s.exec(text);
    if (!m) return stepFail('malformed gs2 header or channel binding requested');
    const [, , authzid, bare] = m;
    const gs2Header = text.slice(0, text.length - bare.length);
    const attrs = bare.split(',');
    if (attrs.length < 2 || !attrs[0].startsWith('n=') || !attrs[1].startsWith('r=')) stepFail('malformed client-first-message');
    if (attrs.slice(2).some((a) => a.startsWith('m='))) stepFail('mandatory extension');
    const username = saslName(attrs[0].slice(2));
    if (authzid !== undefined && authzid !== '' && saslName(authzid) !== username) stepFail('authzid differs');
    const clientNonce = attrs[1].slice(2);
    if (!/^[\x21-\x2b\x2d-\x7e]+$/.test(clientNonce)) stepFail('malformed nonce');

    const user = this.users.find((u) => u.user === username && u.db === db);
    const credential = user?.credentials[SCRAM_SHA_256] ?? this.decoy(db, username);
    const nonce = clientNonce + randomBytes(24).toString('base64');
    const serverFirst = `r=${nonce},s=${credential.salt},i=${credential.iterationCount}`;
    return { credential, user, db, gs2Header, clientFirstBare: bare, serverFirst, nonce, expect: 'proof', skipEmptyExchange, base64 };
  }

  /** client-final-message = channel-binding "," nonce "," proof; answers with the server-final-message. */
  private clientFinal(c: Conversation, text: string): string {
    const at = text.lastIndexOf(',p=');
    if (at < 0) return stepFail('no proof');
    const withoutProof = text.slice(0, at);
    const proof = Buffer.from(text.slice(at + 3), 'base64');
    const attrs = withoutProof.split(',');
    if (attrs[0] !== `c=${Buffer.from(c.gs2Header, 'utf8').toString('base64')}`) stepFail('channel binding differs');
    if (attrs[1] !== `r=${c.nonce}`) stepFail('nonce differs');
    const authMessage = `${c.clientFirstBare},${c.serverFirst},${withoutProof}`;
    const storedKey = Buffer.from(c.credential.storedKey, 'base64');
    if (storedKey.length !== 32) stepFail('stored key of the wrong length');
    const clientSignature = hmac(storedKey, authMessage);
    if (proof.length !== clientSignature.length) stepFail('proof has the wrong length');
    const clientKey = Buffer.alloc(proof.length);
    for (let i = 0; i < proof.length; i++) clientKey[i] = proof[i] ^ clientSignature[i];
    // A decoy (unknown user) has a random StoredKey: no proof matches it. Compared either way, in constant time.
    const matches = timingSafeEqual(sha256(clientKey), storedKey);
    if (!c.user || !matches) stepFail('wrong proof');
    const serverSignature = hmac(Buffer.from(c.credential.serverKey, 'base64'), authMessage);
    return `v=${serverSignature.toString('base64')}`;
  }

  /** For an unknown user: a salt that stays the same for that name, and keys nobody can match. */
  private decoy(db: string, username: string): ScramCredential {
    return {
      iterationCount: SCRAM_ITERATIONS,
      salt: hmac(this.decoyKey, `${db}\0${username}`).subarray(0, SALT_BYTES).toString('base64'),
      storedKey: randomBytes(32).toString('base64'),
      serverKey: randomBytes(32).toString('base64'),
    };
  }

  private connectionStatus(body: Doc, connectionId: number): Doc {
    const user = this.connections.get(connectionId)?.user;
    const authInfo: Doc = {
      authenticatedUsers: user ? [{ user: user.user, db: user.db }] : [],
      authenticatedUserRoles: user ? user.roles.map((r) => ({ ...r })) : [],
    };
    if (body.showPrivileges === true) {
      authInfo.authenticatedUserPrivileges = user?.roles.some((r) => r.role === 'root') ? [{ resource: { anyResource: true }, actions: ['anyAction'] }] : [];
    }
    return { authInfo };
  }
}

/** A SASL name: "=2C" is a comma, "=3D" an equals sign; any other "=" is malformed (RFC 5802 5.1). */
function saslName(value: string): string {
  if (/=(?!2C|3D)/.test(value)) stepFail('malformed saslname');
  return value.replace(/=2C/g, ',').replace(/=3D/g, '=');
}

/** Payloads arrive as BinData (drivers) or, from some shells, as base64 strings. */
function payloadText(payload: unknown): { text: string; base64: boolean } {
  if (payload instanceof Binary) return { text: Buffer.from(payload.buffer.subarray(0, payload.position)).toString('utf8'), base64: false };
  if (payload instanceof Uint8Array) return { text: Buffer.from(payload).toString('utf8'), base64: false };
  if (typeof payload === 'string') return { text: Buffer.from(payload, 'base64').toString('utf8'), base64: true };
  return stepFail('payload is neither BinData nor a string');
}

function payloadOut(text: string, base64: boolean): Binary | string {
  const bytes = Buffer.from(text, 'utf8');
  return base64 ? bytes.toString('base64') : new Binary(bytes);
}

// MongoDB server errors as the driver expects to see them: numeric code, codeName, errmsg, optional labels.
// Codes follow src/mongo/base/error_codes.yml of the MongoDB server.

export const ErrorCodes = {
  InternalError: 1,
  BadValue: 2,
  NoSuchKey: 4,
  FailedToParse: 9,
  TypeMismatch: 14,
  InvalidLength: 16,
  IllegalOperation: 20,
  NamespaceNotFound: 26,
  IndexNotFound: 27,
  PathNotViable: 28,
  ConflictingUpdateOperators: 40,
  CursorNotFound: 43,
  NamespaceExists: 48,
  InvalidOptions: 72,
  InvalidNamespace: 73,
  IndexOptionsConflict: 85,
  IndexKeySpecsConflict: 86,
  CommandNotFound: 59,
  ImmutableField: 66,
  CannotCreateIndex: 67,
  IndexAlreadyExists: 68,
  InvalidIdField: 53,
  NotImplemented: 238,
  WriteConflict: 112,
  OperationNotSupportedInTransaction: 263,
  NoSuchTransaction: 251,
  TransactionCommitted: 256,
  TransactionTooOld: 225,
  InvalidPipelineOperator: 168,
  Location15952: 15952,
  UnknownQueryOperator: 2,
  DuplicateKey: 11000,
  Location40324: 40324,
  Location40415: 40415,
  Location51091: 51091,
  Location31254: 31254,
  UnrecognizedCommandField: 40415,
  CannotIndexParallelArrays: 171,
  Interrupted: 11601,
  NoSuchSession: 206,
  InvalidBSON: 22,
  InvalidIndexSpecificationOption: 197,
  Location40323: 40323,
  UnsupportedOpQueryCommand: 352,
  CommandNotSupported: 115,
  NotWritablePrimary: 10107,
  ConflictingOperationInProgress: 117,
  BSONObjectTooLarge: 10334,
  Unauthorized: 13,
  SnapshotTooOld: 239,
  DollarPrefixedFieldName: 52,
  InvalidDBRef: 55,
  AmbiguousIndexKeyPattern: 181,
  UnknownReplWriteConcern: 79,
  UnsatisfiableWriteConcern: 100,
  DocumentValidationFailure: 121,
  NoQueryExecutionPlans: 291,
  Location16410: 16410,
  Location17276: 17276,
  Location4738901: 4738901,
  Location4890500: 4890500,
  Location40573: 40573,
} as const;

const codeNames: Record<number, string> = {};
for (const [name, code] of Object.entries(ErrorCodes)) {
  if (!name.startsWith('Location') && !(code in codeNames)) codeNames[code] = name;
}
codeNames[2] = 'BadValue';

export class MongoServerError extends Error {
  readonly code: number;
  readonly codeName: string | undefined;
  readonly labels: string[];
  /** Extra fields copied into the error reply (keyPattern, keyValue for duplicate keys). */
  readonly extra: Record<string, unknown>;

  constructor(code: number, message: string, opts: { labels?: string[]; extra?: Record<string, unknown>; codeName?: string } = {}) {
    super(message);
    this.code = code;
    this.codeName = opts.codeName ?? codeNames[code];
    this.labels = opts.labels ?? [];
    this.extra = opts.extra ?? {};
  }

  /** The document a command answers with when it fails as a whole. */
  toReply(): Record<string, unknown> {
    const reply: Record<string, unknown> = { ok: 0, errmsg: this.message, code: this.code };
    if (this.codeName) reply.codeName = this.codeName;
    if (this.labels.length) reply.errorLabels = this.labels;
    Object.assign(reply, this.extra);
    return reply;
  }

  /** The entry this error takes in a write command's writeErrors array. */
  toWriteError(index: number): Record<string, unknown> {
    // MongoDB's WriteError carries no codeName.
    const entry: Record<string, unknown> = { index, code: this.code, errmsg: this.message };
    Object.assign(entry, this.extra);
    return entry;
  }
}

export const fail = (code: number, message: string, opts?: ConstructorParameters<typeof MongoServerError>[2]): never => {
  throw new MongoServerError(code, message, opts);
};

export const badValue = (message: string): never => fail(ErrorCodes.BadValue, message);

export const writeConflict = (why: string): MongoServerError =>
  new MongoServerError(ErrorCodes.WriteConflict, `WriteConflict error: this operation conflicted with another operation. ${why}`, {
    labels: ['TransientTransactionError'],
  });

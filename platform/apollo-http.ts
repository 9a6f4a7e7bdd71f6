// Bridges node:http to Apollo Server: JSON body with a size limit, then Apollo's own HTTP handling.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type ApolloServer, type BaseContext, HeaderMap } from '@apollo/server';
import { GraphQLError, type GraphQLFormattedError, Kind, type ValueNode, parse, visit } from 'graphql';
import { readBody } from './http-body.ts';
import { PUBLIC_ERROR_CODES } from './graphql.ts';
import { currentTraceId } from './tracing.ts';

export const MAX_BODY_BYTES = 1024 * 1024;

export function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

/** A JSON error answer; in a trace (platform/tracing.ts) it names the trace id, for the user to quote to an operator. */
export const errorBody = (message: string, code: string) => {
  const traceId = currentTraceId();
  return { errors: [{ message, extensions: traceId ? { code, traceId } : { code } }] };
};

/** 413, and the connection closed so that the rest of an upload in progress is never read. */
export function refuseTooLarge(res: ServerResponse, limit = MAX_BODY_BYTES): void {
  res.setHeader('connection', 'close');
  json(res, 413, errorBody(`Request body larger than ${limit} bytes`, 'BAD_USER_INPUT'));
}

export { readBody };

/**
 * Runs one HTTP request through Apollo Server with the given context. `rawBody`: the POST body when the caller
 * has already read it (subgraphs read it first, to check the internal identity's digest of it).
 */
export async function executeApollo<TContext extends BaseContext>(apollo: ApolloServer<TContext>, req: IncomingMessage, res: ServerResponse, context: () => Promise<TContext>, rawBody?: Buffer): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://server');
  let body: unknown;
  if (req.method === 'POST') {
    const raw = rawBody ?? (await readBody(req, MAX_BODY_BYTES));
    if (!raw) return refuseTooLarge(res);
    try {
      body = raw.length ? JSON.parse(raw.toString('utf8')) : undefined;
    } catch {
      return json(res, 400, errorBody('Request body is not valid JSON', 'BAD_USER_INPUT'));
    }
  }
  const headers = new HeaderMap();
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
  const result = await apollo.executeHTTPGraphQLRequest({ httpGraphQLRequest: { method: req.method ?? 'GET', headers, search: url.search, body }, context });
  for (const [k, v] of result.headers) res.setHeader(k, v);
  res.statusCode = result.status ?? 200;
  if (result.body.kind === 'complete') res.end(result.body.string);
  else {
    for await (const chunk of result.body.asyncIterator) res.write(chunk);
    res.end();
  }
}

/** graphql-js's "Did you mean …?" (fields, arguments, types, enum values, input fields): it names schema members. */
const SUGGESTION = / ?Did you mean .+?\?$/s;

/**
 * A validation or coercion message without its suggestion and without the schema's type names. graphql-js 16 has no
 * switch for either, and in production, where introspection is off, they would rebuild the schema name by name;
 * every transport (HTTP, graphql-ws, SSE) and every subgraph passes its messages through this.
 */
export const withoutSchemaDetails = (message: string): string => withoutTypeNames(message.replace(SUGGESTION, ''));

/**
 * graphql-js's validation and coercion messages that name a schema type the caller never wrote (the parent of a
 * field, an enum, an argument's or variable's type), said without it. Names the caller sent (its field, argument,
 * value, variable) stay, so the message still says what to fix.
 */
const TYPE_NAMES: ReadonlyArray<readonly [RegExp, string]> = [
  [/^Cannot query field "([^"]+)" on type "[^"]+"\.$/, 'Cannot query field "$1" here.'],
  [/^Unknown argument "([^"]+)" on field "[^"]*\.([^"]+)"\.$/, 'Unknown argument "$1" on field "$2".'],
  [/^Field "([^"]+)" of type "[^"]+" must have a selection of subfields\./, 'Field "$1" must have a selection of subfields.'],
  [/^Field "([^"]+)" must not have a selection since type "[^"]+" has no subfields\.$/, 'Field "$1" must not have a selection.'],
  [/^Value "([^"]*)" does not exist in "[^"]+" enum\.$/, 'Value "$1" is not one of the allowed values.'],
  [/^Enum "[^"]+" cannot represent /, 'The value cannot represent '],
  [/^Variable "(\$[^"]+)" of type "[^"]+" used in position expecting type "[^"]+"\.$/, 'Variable "$1" is used where a value of another type is expected.'],
  [/^Field "[^"]*\.([^"]+)" of required type "[^"]+" was not provided\.$/, 'Required input field "$1" was not provided.'],
  [/^Field "([^"]+)" is not defined by type "[^"]+"\.$/, 'Input field "$1" is not defined here.'],
];

const withoutTypeNames = (message: string): string => {
  // Variable coercion wraps the message: `Variable "$s" got invalid value "X"; <message>`.
  const [head, tail] = message.includes('; ') ? [message.slice(0, message.indexOf('; ') + 2), message.slice(message.indexOf('; ') + 2)] : ['', message];
  for (const [pattern, plain] of TYPE_NAMES) if (pattern.test(tail)) return head + tail.replace(pattern, plain);
  return message;
};

/**
 * Where in the caller's variables a coercion error lies, as graphql-js words it: `Variable "$c" got invalid value
 * "1.234" at "c.items[0].amount"; …` names `c.items[0].amount`; a variable refused whole (missing, null, wrong
 * type) names the variable. Clients read `extensions.field` to mark the input at fault.
 */
export function variableFieldOf(message: string): string | undefined {
  const at = /^Variable "\$([A-Za-z_][A-Za-z0-9_]*)" got invalid value .*? at "([^"]+)"; /s.exec(message);
  if (at) return at[2];
  return /^Variable "\$([A-Za-z_][A-Za-z0-9_]*)" /.exec(message)?.[1];
}

const VALUE_KINDS: ReadonlySet<string> = new Set([Kind.INT, Kind.FLOAT, Kind.STRING, Kind.BOOLEAN, Kind.NULL, Kind.ENUM, Kind.LIST, Kind.OBJECT, Kind.VARIABLE]);

/**
 * Where in the arguments a literal that failed validation sits (`input.items[1].amount`), as variableFieldOf says it
 * for a variable: read from the error's value node and the document it came from. undefined for other errors.
 */
export function literalFieldOf(error: unknown): string | undefined {
  if (!(error instanceof GraphQLError) || !error.source || !error.nodes?.length) return undefined;
  const node = error.nodes[0];
  const start = node.loc?.start;
  if (start === undefined || !VALUE_KINDS.has(node.kind)) return undefined;
  const find = (value: ValueNode, at: string): string | undefined => {
    if (value.loc?.start === start && value.kind === node.kind) return at;
    if (value.kind === Kind.OBJECT) for (const f of value.fields) { const r = find(f.value, `${at}.${f.name.value}`); if (r) return r; }
    if (value.kind === Kind.LIST) for (const [i, v] of value.values.entries()) { const r = find(v, `${at}[${i}]`); if (r) return r; }
    return undefined;
  };
  let found: string | undefined;
  try {
    visit(parse(error.source), { Argument: (a) => void (found ??= find(a.value, a.name.value)) });
  } catch {
    return undefined;
  }
  return found;
}

export interface PublicErrorOptions {
  /** Production: messages lose graphql-js's "Did you mean …?" suggestions. */
  hideSchemaDetails?: boolean;
}

/**
 * Errors leave with an actionable public code and their message; anything else (a bug, a failing dependency) is
 * logged (platform/logger.ts keeps request bodies and variables out) and answered as "Internal server error".
 * Never a stack trace.
 */
export function publicError(formatted: GraphQLFormattedError, error: unknown, log: (original: unknown) => void, opts: PublicErrorOptions = {}): GraphQLFormattedError {
  const code = formatted.extensions?.code;
  if (typeof code === 'string' && PUBLIC_ERROR_CODES.has(code)) {
    const message = opts.hideSchemaDetails ? withoutSchemaDetails(formatted.message) : formatted.message;
    const field = formatted.extensions?.field ?? (code === 'BAD_USER_INPUT' ? (variableFieldOf(formatted.message) ?? literalFieldOf(error)) : code === 'GRAPHQL_VALIDATION_FAILED' ? literalFieldOf(error) : undefined);
    return { message, locations: formatted.locations, path: formatted.path, extensions: { ...formatted.extensions, ...(field !== undefined ? { field } : {}), stacktrace: undefined } };
  }
  log(error instanceof GraphQLError && error.originalError ? error.originalError : error);
  return { message: 'Internal server error', path: formatted.path, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
}

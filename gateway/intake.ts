// One request intake for every transport (HTTP /graphql, SSE /graphql/stream, graphql-ws): the same limits, checked
// in the same order, each before the work it protects.
// 1. Body: at most MAX_BODY_BYTES. A declared Content-Length over it is refused with 413 before a byte is read; a
//    body streamed without one is cut at the limit. The connection is closed, so the rest is never read. (graphql-ws:
//    the WebSocket server's maxPayload, close code 1009.)
// 2. Document: at most MAX_DOCUMENT_TOKENS tokens, counted by graphql-js's parser, which stops there (`maxTokens`):
//    a huge document costs the lexing of its first tokens, not a parse.
// 3. Operation: depth, aliases and fields (./limits.ts), in validation, before anything executes; one operation per
//    request (no batches); GET never runs a mutation (HTTP: Apollo; SSE: ./subscriptions/sse.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MAX_BODY_BYTES, readBody, refuseTooLarge } from '../platform/apollo-http.ts';

export { MAX_BODY_BYTES };

/** Tokens a document may have; the standard introspection query has about 250, the console's largest about 400. */
export const MAX_DOCUMENT_TOKENS = 10_000;

export const PARSE_OPTIONS = { maxTokens: MAX_DOCUMENT_TOKENS } as const;

export const TOO_MANY_TOKENS = `The document has more than ${MAX_DOCUMENT_TOKENS} tokens; at most ${MAX_DOCUMENT_TOKENS} are allowed`;

/** graphql-js's message for the token limit ("… more that N tokens …", sic), said plainly; other messages unchanged. */
export const plainParseMessage = (message: string): string => (/^Syntax Error: Document contains more tha[nt] \d+ tokens\./.test(message) ? TOO_MANY_TOKENS : message);

/** The request's body within the limit, or null once 413 was answered. */
export async function readWithinLimit(req: IncomingMessage, res: ServerResponse): Promise<Buffer | null> {
  const body = await readBody(req, MAX_BODY_BYTES);
  if (body === undefined) {
    refuseTooLarge(res);
    return null;
  }
  return body;
}

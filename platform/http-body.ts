// Reading a request body within a limit, for every server here (gateway intake, subgraph identity guard, Apollo
// bridge). A declared Content-Length over the limit is refused before a byte is read; a body streamed without one is
// cut as soon as it passes the limit. Dependency-free: deploy/healthcheck.mjs loads platform/identity.ts, which uses it.
import type { IncomingMessage } from 'node:http';

/** The body, or undefined when it is (or says it is) larger than `limit` bytes. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

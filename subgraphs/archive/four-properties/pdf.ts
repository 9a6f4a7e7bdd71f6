// PDF content: recognised by type or signature, and the names it holds (for encryption and active content).
import { constants as zlibConstants, inflateSync } from 'node:zlib';
import { startsWith } from './media.ts';
import type { Ctx } from './types.ts';

export const isPdf = (mediaType: string, bytes: Buffer): boolean => mediaType === 'application/pdf' || startsWith(bytes, [0x25, 0x50, 0x44, 0x46, 0x2d]);

const MAX_INFLATED = 16 * 1024 * 1024;

const pdfNameCache = new WeakMap<Ctx, Map<string, string>>();

/**
 * PDF names (/Name, with #xx escapes decoded) found in the file and in its Flate-compressed streams (object
 * streams hide dictionaries there), each with where it was first seen. Streams that do not inflate are skipped.
 */
export function pdfNames(ctx: Ctx): Map<string, string> {
  const cached = pdfNameCache.get(ctx);
  if (cached) return cached;
  const names = new Map<string, string>();
  const collect = (text: string, where: (offset: number) => string): void => {
    for (const m of text.matchAll(/\/([^\s\0/<>[\]()%{}]*)/g)) {
      const name = m[1].replace(/#([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
      if (!names.has(name)) names.set(name, where(m.index));
    }
  };
  const text = ctx.bytes.toString('latin1');
  collect(text, (o) => `at byte ${o}`);
  let budget = MAX_INFLATED;
  for (const m of text.matchAll(/stream\r?\n/g)) {
    if (budget <= 0) break;
    const start = m.index + m[0].length;
    const end = text.indexOf('endstream', start);
    if (end === -1) break;
    try {
      const inflated = inflateSync(ctx.bytes.subarray(start, end), { maxOutputLength: budget, finishFlush: zlibConstants.Z_SYNC_FLUSH /* tolerate the EOL before endstream */ });
      budget -= inflated.length;
      collect(inflated.toString('latin1'), () => `in the compressed stream at byte ${start}`);
    } catch {
      // not Flate, encrypted or too large: the raw scan above is all we have
    }
  }
  pdfNameCache.set(ctx, names);
  return names;
}

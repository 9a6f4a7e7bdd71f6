// Whether content really is of its media type: text, JSON, XML, PDF, OFD and the image formats.
import { hex, isBinary, startsWith } from './media.ts';
import { codePoint, stripBom } from './values.ts';
import { xmlProblem } from './xml.ts';
import { ZIP_MAGIC, zipEntries } from './zip.ts';

/** Why text content is not valid UTF-8 text, or null. */
function textProblem(s: string): string | null {
  const lone = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.exec(s);
  if (lone) return `content is not valid UTF-8: unpaired surrogate ${codePoint(lone[0])} at position ${lone.index}`;
  // eslint-disable-next-line no-control-regex
  const control = /[\u0000-\u0008\u000B\u000E-\u001F\u007F]/.exec(s);
  if (control) return `content holds the binary control character ${codePoint(control[0])} at position ${control.index}, so it is not text`;
  return null;
}

const IMAGE_MAGIC: Record<string, { name: string; magics: number[][] }> = {
  'image/png': { name: 'PNG', magics: [[0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]] },
  'image/jpeg': { name: 'JPEG', magics: [[0xff, 0xd8, 0xff]] },
  'image/tiff': { name: 'TIFF', magics: [[0x49, 0x49, 0x2a, 0x00], [0x4d, 0x4d, 0x00, 0x2a]] },
};

/** Why the bytes are not really of the media type, or null. */
export function formatProblem(mediaType: string, content: string, bytes: Buffer): string | null {
  if (isBinary(mediaType)) {
    const compact = content.replace(/\s+/g, '');
    if (compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) return `content is not valid base64 (${mediaType} travels as base64)`;
  } else {
    const why = textProblem(content);
    if (why) return why;
  }
  switch (mediaType) {
    case 'application/json':
      try {
        JSON.parse(stripBom(content));
        return null;
      } catch (e) {
        return `content is not valid JSON: ${(e as Error).message}`;
      }
    case 'application/xml':
    case 'text/xml':
      return xmlProblem(content);
    case 'text/csv':
    case 'text/plain':
      return null;
    case 'application/pdf': {
      if (!startsWith(bytes, [...Buffer.from('%PDF-', 'latin1')])) return `content does not start with %PDF- (starts ${hex(bytes.subarray(0, 8))})`;
      if (bytes.lastIndexOf('%%EOF', undefined, 'latin1') < Math.max(0, bytes.length - 1024)) return 'PDF has no %%EOF marker in its last 1024 bytes: it is truncated';
      return null;
    }
    case 'application/ofd': {
      if (!startsWith(bytes, ZIP_MAGIC)) return `OFD content is not a ZIP package (starts ${hex(bytes.subarray(0, 4))}, not 50 4B 03 04)`;
      const names = zipEntries(bytes).map((e) => e.name);
      if (!names.includes('OFD.xml')) return `OFD package has no OFD.xml entry (entries: ${names.join(', ') || 'none'})`;
      return null;
    }
    default: {
      const image = IMAGE_MAGIC[mediaType];
      if (image && !image.magics.some((m) => startsWith(bytes, m))) return `content does not start with the ${image.name} signature ${image.magics.map((m) => hex(Buffer.from(m))).join(' or ')} (starts ${hex(bytes.subarray(0, 8))})`;
      return null;
    }
  }
}

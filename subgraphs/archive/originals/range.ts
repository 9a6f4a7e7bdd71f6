// HTTP details of downloads: a single byte range (RFC 9110 §14.1.2) and the Content-Disposition of a stored name
// (RFC 6266: an ASCII fallback and the UTF-8 name percent-encoded per RFC 8187).

/**
 * The one range asked for, clamped to the file: null to send the whole file (no Range header, a unit other than
 * bytes, several ranges, or a malformed one: RFC 9110 lets a server ignore those), 'unsatisfiable' for a range
 * starting past the end (416).
 */
export function parseRange(header: string | string[] | undefined, size: number): { start: number; end: number } | null | 'unsatisfiable' {
  if (typeof header !== 'string') return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    // The last n bytes.
    const n = Number(m[2]);
    if (n === 0) return 'unsatisfiable';
    return size === 0 ? 'unsatisfiable' : { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (!Number.isSafeInteger(start) || start >= size) return 'unsatisfiable';
  if (end < start) return null;
  return { start, end };
}

/** `attachment; filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded>`. */
export function contentDisposition(name: string): string {
  const fallback = name.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_') || 'file';
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}

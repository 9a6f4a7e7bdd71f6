// ZIP packages (OFD is one): their entries, read from the headers.

export interface ZipEntry {
  name: string;
  flags: number;
  method: number;
}

/** Entry names from a ZIP's local and central directory headers (a tolerant scan, not an extractor). */
export function zipEntries(b: Buffer): ZipEntry[] {
  const entries = new Map<string, ZipEntry>();
  for (let i = b.indexOf('PK', 0, 'latin1'); i !== -1 && i + 4 <= b.length; i = b.indexOf('PK', i + 2, 'latin1')) {
    const sig = b.readUInt32LE(i);
    let at: number | null = null;
    let nameLength = 0;
    if (sig === 0x04034b50 && i + 30 <= b.length) [at, nameLength] = [i + 30, b.readUInt16LE(i + 26)];
    else if (sig === 0x02014b50 && i + 46 <= b.length) [at, nameLength] = [i + 46, b.readUInt16LE(i + 28)];
    if (at === null || at + nameLength > b.length) continue;
    const flags = b.readUInt16LE(i + (sig === 0x04034b50 ? 6 : 8));
    const method = b.readUInt16LE(i + (sig === 0x04034b50 ? 8 : 10));
    const name = b.toString('utf8', at, at + nameLength);
    if (!entries.has(name)) entries.set(name, { name, flags, method });
  }
  return [...entries.values()];
}

export const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];

// The gateway's durable audit spool: every entry the gateway records (refusals, reads, subscriptions, and its own
// record of mutations) is appended to a file before the request is answered, and leaves it only once the sync
// subgraph has accepted it. A gateway killed with entries undelivered sends them at its next start; the trail stores
// one entry per request id, so sending again never records twice (README.md, "Audit trail").
//
// The file is JSON lines, written with one write(2) per entry: in the operating system's cache at once, so a killed
// process loses nothing (a power loss may lose the last second of refusals; a mutation's own entry is written in its
// transaction by the subgraph). A cursor file beside it holds the byte offset up to which entries were delivered,
// replaced atomically; when everything is delivered both go back to empty. Every step errs towards sending again.
import { closeSync, fstatSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';

/** Where a gateway run from configuration spools: one file per gateway port in DATA_DIR. */
export const auditSpoolFile = (config: { dataDir: string; port: number }) => path.join(config.dataDir, 'audit-spool', `gateway-${config.port}.jsonl`);

export interface Spooled<T> {
  entry: T;
  /** Where the entry's line ends in the spool file: delivered() up to it. */
  end: number;
}

export class AuditSpool<T> {
  private fd: number;
  private size: number;
  private cursor: number;
  private readonly cursorFile: string;

  /** Opens (or creates, mode 0600) `file`; entries written before and not delivered are in `pending`. */
  constructor(readonly file: string) {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    this.cursorFile = `${file}.cursor`;
    this.fd = openSync(file, 'a+', 0o600);
    this.size = fstatSync(this.fd).size;
    // A line cut short (power lost mid-write) would swallow the next entry appended after it: cut it off first.
    if (this.size > 0) {
      const data = readFileSync(file);
      const end = data.lastIndexOf(10) + 1;
      if (end < this.size) {
        ftruncateSync(this.fd, end);
        this.size = end;
      }
    }
    this.cursor = Math.min(this.size, readCursor(this.cursorFile));
  }

  /** The entries after the cursor, oldest first. A line cut short by a crash (no newline) is not an entry. */
  pending(): Spooled<T>[] {
    if (this.cursor >= this.size) return [];
    const text = readFileSync(this.file).subarray(this.cursor, this.size);
    const out: Spooled<T>[] = [];
    let start = 0;
    for (let nl = text.indexOf(10); nl !== -1; nl = text.indexOf(10, start)) {
      try {
        out.push({ entry: JSON.parse(text.subarray(start, nl).toString('utf8')) as T, end: this.cursor + nl + 1 });
      } catch {
        // Not JSON (a torn write): skipped, the cursor passes it with the next delivery.
      }
      start = nl + 1;
    }
    return out;
  }

  /** Appends one entry; it is in the file when this returns. */
  append(entry: T): Spooled<T> {
    const line = Buffer.from(`${JSON.stringify(entry)}\n`);
    writeSync(this.fd, line);
    this.size += line.length;
    return { entry, end: this.size };
  }

  /** Everything up to `end` has left (delivered, or dropped for good). */
  delivered(end: number): void {
    if (end <= this.cursor) return;
    this.cursor = Math.min(end, this.size);
    if (this.cursor < this.size) return this.saveCursor();
    // Nothing left: both files start again from empty, so the spool does not grow for ever. The cursor first: a
    // crash in between sends the delivered entries again (stored once), never skips one.
    this.cursor = 0;
    this.saveCursor();
    ftruncateSync(this.fd, 0);
    this.size = 0;
  }

  private saveCursor(): void {
    const tmp = `${this.cursorFile}.tmp`;
    writeFileSync(tmp, String(this.cursor), { mode: 0o600 });
    renameSync(tmp, this.cursorFile);
  }

  close(): void {
    closeSync(this.fd);
  }
}

function readCursor(file: string): number {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isSafeInteger(n) && n >= 0 ? n : 0;
  } catch {
    return 0;
  }
}

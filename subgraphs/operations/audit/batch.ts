// The sync service's own audit entries (jobs, scheduled reconciliations), collected and appended every 250 ms in
// one transaction, so auditing adds one write per batch instead of one per job. Bounded: should the database
// refuse for long, the oldest entries go first (and the log says so).
import type { Logger } from '../../../platform/logger.ts';
import type { AuditEntryInput, AuditTrail } from './trail.ts';

const FLUSH_MS = 250;
const MAX_BATCH = 500;
const MAX_BUFFER = 10_000;

export class AuditBatch {
  private buffer: AuditEntryInput[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly trail: AuditTrail,
    private readonly logger: Logger,
  ) {}

  add(entry: AuditEntryInput): void {
    this.buffer.push(entry);
    if (this.buffer.length > MAX_BUFFER) {
      this.buffer.shift();
      this.logger.warn('the sync audit buffer is full: the oldest entry was dropped');
    }
    this.timer ??= setTimeout(() => void this.flush(), FLUSH_MS);
  }

  /** Appends what is buffered (also on shutdown). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.flushing = this.flushing.then(async () => {
      while (this.buffer.length) {
        const batch = this.buffer.splice(0, MAX_BATCH);
        try {
          await this.trail.append(batch, 'sync');
        } catch (err) {
          this.logger.warn({ err: (err as Error).message, entries: batch.length }, 'could not append the sync service audit entries');
          return;
        }
      }
    });
    return this.flushing;
  }
}

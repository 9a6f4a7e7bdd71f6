// One background loop for every timer in the services (the sync pipeline, webhook delivery, the alert monitor,
// scheduled reconciliation, approval escalation, overdue loans): a pass of `work` every interval, optionally only
// while this instance holds a database lease (lease.ts), so that of several instances one does it
// (docs/architecture.md, decision 7). Passes never overlap; a pass that throws is logged and the loop goes on.
import type { Lease } from './lease.ts';
import { outsideRequest } from './served-request.ts';
import { ROOT_CONTEXT, context } from '@opentelemetry/api';

export interface WorkerLoopLogger {
  error(obj: object, msg?: string): void;
}

export interface PassContext {
  /** True on the first pass after this instance took the lease (at start, or over from another instance). */
  leaseTaken: boolean;
}

export interface WorkerLoopOptions<T> {
  work: (pass: PassContext) => Promise<T>;
  logger: WorkerLoopLogger;
  /** The log line of a failed pass (logged with the error's message only). */
  failure: string;
  /** When given, a pass runs only if acquiring (or renewing) the lease succeeds. */
  lease?: Lease;
  /** The first pass at start() rather than one interval later. */
  runOnStart?: boolean;
  /** Work the passes started and left running (jobs): stop() waits for it before giving the lease up. */
  drain?: () => Promise<unknown>;
  /** Give the lease up on stop (the default), so a successor need not wait for it to expire. */
  releaseOnStop?: boolean;
  /**
   * wake() runs the pass this long after the first wake rather than at once, and every wake meanwhile shares it:
   * a loop woken by each event appended makes one pass for a burst of them (default 0: at once).
   */
  wakeDelayMs?: number;
}

const ignore = () => undefined;
const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class WorkerLoop<T = unknown> {
  private inFlight: Promise<T | null> | null = null;
  /** The pass asked for while one was in flight: it starts when that one ends, and serves every ask meanwhile. */
  private queued: Promise<T | null> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private wakeTimer: NodeJS.Timeout | null = null;
  private intervalMs: number | null = null;
  /** Bumped by start and stop, so a timer of an earlier start never schedules another. */
  private generation = 0;
  private halted = false;

  constructor(private readonly o: WorkerLoopOptions<T>) {}

  /** True after stop() until the next start(): wake() does nothing, and passes should start no new work. */
  get stopped(): boolean {
    return this.halted;
  }

  /** A pass every intervalMs, each counted from the end of the one before; a second start() does nothing. */
  start(intervalMs: number): void {
    if (this.intervalMs !== null) return;
    this.intervalMs = intervalMs;
    this.halted = false;
    const generation = ++this.generation;
    if (this.o.runOnStart) this.timed(generation);
    else this.schedule(generation);
  }

  /** A pass soon: now if idle (or after wakeDelayMs), else once the pass in flight ends; asks meanwhile share that one pass. */
  wake(): void {
    if (this.halted) return;
    const delay = this.o.wakeDelayMs ?? 0;
    if (delay <= 0) {
      this.runNow().catch(ignore);
      return;
    }
    if (this.wakeTimer) return;
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = null;
      if (!this.halted) this.runNow().catch(ignore);
    }, delay);
  }

  /**
   * One pass, started now or right after the one in flight (never beside it), whether the loop runs or not.
   * Resolves with what `work` returned, or null when another instance holds the lease; rejects when it threw.
   */
  runNow(): Promise<T | null> {
    if (this.queued) return this.queued;
    if (!this.inFlight) return this.begin();
    const queued = this.inFlight.then(ignore, ignore).then(() => {
      this.queued = null;
      return this.begin();
    });
    this.queued = queued;
    return queued;
  }

  /** No new passes; waits for the pass in flight (and one asked for meanwhile) and `drain`, then gives the lease up. */
  async stop(): Promise<void> {
    this.halted = true;
    this.intervalMs = null;
    this.generation++;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeTimer = null;
    while (this.queued ?? this.inFlight) await (this.queued ?? this.inFlight)!.catch(ignore);
    await this.o.drain?.();
    if (this.o.lease && this.o.releaseOnStop !== false) {
      await this.o.lease.release().catch((err: unknown) => this.o.logger.error({ lease: this.o.lease!.name, err: messageOf(err) }, 'giving up a lease failed'));
    }
  }

  private begin(): Promise<T | null> {
    // Outside any trace: a pass woken by a request's commit is not part of that request (platform/tracing.ts); the
    // work it does for an event or a job continues their own traces. Nor is it bound by that request's deadline, or
    // part of its audit entry (served-request.ts).
    const pass: Promise<T | null> = context.with(ROOT_CONTEXT, () => outsideRequest(() => this.pass())).finally(() => {
      if (this.inFlight === pass) this.inFlight = null;
    });
    this.inFlight = pass;
    return pass;
  }

  private async pass(): Promise<T | null> {
    try {
      const lease = this.o.lease;
      if (!lease) return await this.o.work({ leaseTaken: false });
      const wasHeld = lease.held;
      if (!(await lease.acquire())) return null;
      return await this.o.work({ leaseTaken: !wasHeld });
    } catch (err) {
      this.o.logger.error({ err: messageOf(err) }, this.o.failure);
      throw err;
    }
  }

  private schedule(generation: number): void {
    if (generation !== this.generation || this.intervalMs === null) return;
    this.timer = setTimeout(() => this.timed(generation), this.intervalMs).unref();
  }

  private timed(generation: number): void {
    this.timer = null;
    void this.runNow()
      .catch(ignore)
      .then(() => this.schedule(generation));
  }
}

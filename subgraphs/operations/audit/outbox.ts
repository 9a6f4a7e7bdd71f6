// Moves the audit entries subgraphs wrote in their mutations' transactions (platform/integration/served-request.ts)
// into the hash-chained trail: a batch is appended and removed from the outbox in one transaction, so an entry is
// chained once, and the trail stores one entry per request id (trail.ts), so the gateway's record of the same request
// and an instance draining concurrently add nothing twice. Entries wait a grace period first: the gateway's record
// (with the outcome, duration and every root field) normally lands first, and the outbox entry is the backstop for a
// gateway that died before sending it.
import type { Connection } from 'mongoose';
import { AUDIT_OUTBOX, type AuditOutboxDoc } from '../../../platform/integration/served-request.ts';
import { transaction } from '../../../platform/integration/transactions.ts';
import { WorkerLoop, type WorkerLoopLogger } from '../../../platform/integration/worker-loop.ts';
import { type AuditSource, type AuditTrail, MAX_BATCH } from './trail.ts';

export class AuditOutbox {
  private readonly loop: WorkerLoop<number>;

  constructor(
    private readonly connection: Connection,
    private readonly trail: AuditTrail,
    logger: WorkerLoopLogger,
    private readonly graceMs = 5_000,
  ) {
    this.loop = new WorkerLoop({ work: () => this.drain(), logger, failure: 'moving audit entries from the outbox into the trail failed', runOnStart: true });
  }

  start(intervalMs: number): void {
    this.loop.start(intervalMs);
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** Moves everything older than the grace period; resolves with how many entries left the outbox. */
  async drain(): Promise<number> {
    let moved = 0;
    for (;;) {
      const n = await this.moveBatch();
      moved += n;
      if (n < MAX_BATCH) break;
    }
    if (moved) await this.trail.sealHead();
    return moved;
  }

  private async moveBatch(): Promise<number> {
    const outbox = this.connection.collection<AuditOutboxDoc>(AUDIT_OUTBOX);
    return transaction(
      this.connection,
      async (session) => {
        const docs = await outbox.find({ at: { $lt: new Date(Date.now() - this.graceMs) } }, { session }).sort({ at: 1 }).limit(MAX_BATCH).toArray();
        if (docs.length === 0) return 0;
        const bySource = new Map<AuditSource, AuditOutboxDoc[]>();
        for (const d of docs) bySource.set(d.source, [...(bySource.get(d.source) ?? []), d]);
        for (const [source, group] of bySource) {
          const entries = group.map((d) => ({ at: d.at, actor: d.actor, roles: d.roles, address: d.address, action: d.action, operationName: d.operationName, outcome: d.outcome, durationMs: null, requestId: d._id }));
          // An entry the trail refuses (it cannot be: the subgraph made it) would block the outbox; it is dropped with it.
          await this.trail.append(entries, source, session);
        }
        await outbox.deleteMany({ _id: { $in: docs.map((d) => d._id) } }, { session });
        return docs.length;
      },
      { lane: this.trail.lane },
    );
  }
}

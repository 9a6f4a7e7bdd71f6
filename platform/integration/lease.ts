// A lease in the database: of several instances running the same background work (the sync pipeline, webhook
// delivery), only the holder does it. The holder renews before expiry; if it dies, another takes over once the
// lease has expired. Work done under a lease must still be idempotent: a paused holder can overlap a successor
// for a moment, which is why every consumer here keys its writes on the source event.
import { randomUUID } from 'node:crypto';
import type { Connection, Model } from 'mongoose';
import { Schema } from 'mongoose';

interface LeaseDoc {
  _id: string;
  owner: string;
  expiresAt: Date;
}

const leaseSchema = new Schema<LeaseDoc>({ _id: String, owner: String, expiresAt: Date }, { collection: 'leases', versionKey: false });

export class Lease {
  private readonly model: Model<LeaseDoc>;
  readonly owner: string;
  private heldUntil = 0;

  constructor(
    connection: Connection,
    readonly name: string,
    private readonly ttlMs = 10_000,
    owner: string = randomUUID(),
    private readonly now: () => number = Date.now,
  ) {
    this.model = (connection.models.Lease as Model<LeaseDoc> | undefined) ?? connection.model<LeaseDoc>('Lease', leaseSchema);
    this.owner = owner;
  }

  /** True while this instance holds the lease (as of its last successful acquire or renew). */
  get held(): boolean {
    return this.heldUntil > this.now();
  }

  /**
   * Takes the lease if free or expired, or renews it if already ours; false if another instance holds it. Renewed
   * within the last 30% of its time, it is still ours for more than half of it: a loop woken by every event (a
   * busy pipeline passes many times a second) renews it every few seconds, not at every pass.
   */
  async acquire(): Promise<boolean> {
    const now = this.now();
    if (this.heldUntil - now > this.ttlMs * 0.5) return true;
    const expiresAt = new Date(now + this.ttlMs);
    try {
      const doc = await this.model.findOneAndUpdate(
        { _id: this.name, $or: [{ owner: this.owner }, { expiresAt: { $lt: new Date(now) } }] },
        { $set: { owner: this.owner, expiresAt } },
        { upsert: true, returnDocument: 'after' },
      );
      // Keep a safety margin: stop believing we hold it a little before the database would hand it on.
      this.heldUntil = doc?.owner === this.owner ? now + this.ttlMs * 0.8 : 0;
    } catch (err) {
      // The upsert collides with the other holder's document: not ours.
      if ((err as { code?: number }).code !== 11000) throw err;
      this.heldUntil = 0;
    }
    return this.held;
  }

  /** Gives the lease up (on shutdown) so a successor need not wait for it to expire. */
  async release(): Promise<void> {
    this.heldUntil = 0;
    await this.model.deleteOne({ _id: this.name, owner: this.owner });
  }
}

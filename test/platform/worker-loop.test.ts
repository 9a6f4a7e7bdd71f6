// The worker loop every background timer runs on: passes never overlap, wake() coalesces, stop() waits for the
// pass in flight and gives the lease up, of two loops on one lease only the holder works, a failing pass is
// logged (its message only) and the loop goes on. Leases against a real database.
import type { Connection } from 'mongoose';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Lease } from '../../platform/integration/lease.ts';
import { WorkerLoop, type WorkerLoopOptions } from '../../platform/integration/worker-loop.ts';
import { useMongo } from '../helpers/mongo.ts';

const mongo = useMongo('worker_loop');
let conn: Connection;
beforeAll(async () => {
  conn = await mongo.mongoose();
});

const lines: { obj: object; msg?: string }[] = [];
const logger = { error: (obj: object, msg?: string) => void lines.push({ obj, msg }) };

const loops: WorkerLoop[] = [];
function loop<T>(o: Omit<WorkerLoopOptions<T>, 'logger' | 'failure'> & Partial<WorkerLoopOptions<T>>): WorkerLoop<T> {
  const l = new WorkerLoop<T>({ logger, failure: 'test pass failed', ...o });
  loops.push(l as WorkerLoop);
  return l;
}
afterEach(async () => {
  vi.useRealTimers();
  for (const l of loops.splice(0)) await l.stop();
});

/** A promise the test resolves when it chooses. */
function gate(): { open: () => void; opened: Promise<void> } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

const leaseOf = (name: string) => conn.collection('leases').findOne({ _id: name as never });

describe('passes', () => {
  it('never overlap: asks while one is in flight share one pass after it', async () => {
    let passes = 0;
    let active = 0;
    let most = 0;
    let hold = gate();
    const l = loop({
      work: async () => {
        passes++;
        active++;
        most = Math.max(most, active);
        const until = hold;
        await until.opened;
        active--;
        return passes;
      },
    });
    const first = l.runNow();
    expect(passes).toBe(1);
    l.wake();
    const second = l.runNow();
    l.wake();
    expect(l.runNow()).toBe(second);
    expect(passes).toBe(1);

    const firstHold = hold;
    hold = gate();
    firstHold.open();
    expect(await first).toBe(1);
    await vi.waitFor(() => expect(passes).toBe(2));
    hold.open();
    expect(await second).toBe(2);
    expect(passes).toBe(2);
    expect(most).toBe(1);
  });

  it('wake() runs a pass soon, and nothing once stopped', async () => {
    let passes = 0;
    const l = loop({ work: async () => void passes++ });
    l.start(60_000);
    expect(passes).toBe(0);
    l.wake();
    await vi.waitFor(() => expect(passes).toBe(1));
    await l.stop();
    expect(l.stopped).toBe(true);
    l.wake();
    expect(passes).toBe(1);
  });

  it('with wakeDelayMs, a burst of wakes makes one pass after the delay', async () => {
    vi.useFakeTimers();
    let passes = 0;
    const l = loop({ work: async () => void passes++, wakeDelayMs: 50 });
    l.start(60_000);
    for (let i = 0; i < 20; i++) l.wake();
    await vi.advanceTimersByTimeAsync(49);
    expect(passes).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(passes).toBe(1);
    l.wake();
    await vi.advanceTimersByTimeAsync(50);
    expect(passes).toBe(2);
    l.wake();
    await l.stop(); // a wake pending at stop never runs
    await vi.advanceTimersByTimeAsync(100);
    expect(passes).toBe(2);
  });

  it('run every interval, counted from the end of the pass before; the first at start only when asked', async () => {
    vi.useFakeTimers();
    let passes = 0;
    const later = loop({ work: async () => void passes++ });
    later.start(1000);
    later.start(10); // a second start changes nothing
    expect(passes).toBe(0);
    await vi.advanceTimersByTimeAsync(999);
    expect(passes).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(passes).toBe(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(passes).toBe(2);
    await later.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(passes).toBe(2);

    let eager = 0;
    loop({ work: async () => void eager++, runOnStart: true }).start(1000);
    expect(eager).toBe(1);
  });

  it('a pass that throws is logged with its message only, and the loop goes on', async () => {
    let calls = 0;
    const l = loop({
      work: async () => {
        calls++;
        if (calls <= 2) throw new Error(`boom ${calls}`);
      },
      runOnStart: true,
    });
    const before = lines.length;
    l.start(5);
    await vi.waitFor(() => expect(calls).toBeGreaterThanOrEqual(4));
    await l.stop();
    expect(lines.slice(before)).toEqual([
      { obj: { err: 'boom 1' }, msg: 'test pass failed' },
      { obj: { err: 'boom 2' }, msg: 'test pass failed' },
    ]);

    // One asked for explicitly also rejects for its caller; the next runs as usual.
    let fail = true;
    const asked = loop({ work: async () => (fail ? Promise.reject(new Error('refused')) : 'done') });
    await expect(asked.runNow()).rejects.toThrow('refused');
    fail = false;
    expect(await asked.runNow()).toBe('done');
  });
});

describe('under a lease', () => {
  it('stop() waits for the pass in flight and what it left running, then gives the lease up', async () => {
    const hold = gate();
    const steps: string[] = [];
    const l = loop({
      lease: new Lease(conn, 'loop-stop', 10_000, 'A'),
      work: async () => {
        steps.push('pass');
        await hold.opened;
        steps.push('pass done');
      },
      drain: async () => void steps.push('drained'),
      runOnStart: true,
    });
    l.start(60_000);
    await vi.waitFor(() => expect(steps).toEqual(['pass']));
    expect((await leaseOf('loop-stop'))?.owner).toBe('A');
    let stopped = false;
    const stopping = l.stop().then(() => (stopped = true));
    expect(await leaseOf('loop-stop')).not.toBeNull();
    expect(stopped).toBe(false);
    hold.open();
    await stopping;
    expect(steps).toEqual(['pass', 'pass done', 'drained']);
    expect(await leaseOf('loop-stop')).toBeNull();
  });

  it('renews the lease in the database only once 30% of its time has passed since the last renewal', async () => {
    let now = 1_800_000_000_000;
    const lease = new Lease(conn, 'lease-renewal', 10_000, 'A', () => now);
    expect(await lease.acquire()).toBe(true);
    const renewed = (await leaseOf('lease-renewal'))!.expiresAt;
    now += 2_900;
    expect(await lease.acquire()).toBe(true); // still ours for more than half its time: not written
    expect((await leaseOf('lease-renewal'))!.expiresAt).toEqual(renewed);
    now += 200;
    expect(await lease.acquire()).toBe(true);
    expect((await leaseOf('lease-renewal'))!.expiresAt).toEqual(new Date(now + 10_000));
    // Taken meanwhile by another instance (its own lease expired in between): noticed at the next renewal.
    await conn.collection('leases').updateOne({ _id: 'lease-renewal' as never }, { $set: { owner: 'B', expiresAt: new Date(now + 60_000) } });
    now += 3_100;
    expect(await lease.acquire()).toBe(false);
    expect(lease.held).toBe(false);
  });

  it('keeps the lease on stop when told to (a lease that spaces runs out)', async () => {
    const l = loop({ lease: new Lease(conn, 'loop-keep', 10_000, 'A'), work: async () => 'ran', releaseOnStop: false });
    expect(await l.runNow()).toBe('ran');
    await l.stop();
    expect((await leaseOf('loop-keep'))?.owner).toBe('A');
  });

  it('of two loops on one lease only the holder works; when it stops, the other takes over', async () => {
    const other = await mongo.mongoose();
    const taken: Record<string, boolean[]> = { A: [], B: [] };
    const make = (connection: Connection, owner: 'A' | 'B') =>
      loop({ lease: new Lease(connection, 'loop-shared', 10_000, owner), work: async (pass) => void taken[owner].push(pass.leaseTaken), runOnStart: true });
    const a = make(conn, 'A');
    const b = make(other, 'B');
    a.start(10);
    b.start(10);
    await vi.waitFor(() => expect(taken.A.length + taken.B.length).toBeGreaterThanOrEqual(5));
    const holder = taken.A.length ? 'A' : 'B';
    const waiting = holder === 'A' ? 'B' : 'A';
    expect(taken[waiting]).toEqual([]);
    expect(taken[holder][0]).toBe(true);
    expect(taken[holder].slice(1).every((t) => !t)).toBe(true);
    expect((await leaseOf('loop-shared'))?.owner).toBe(holder);
    // A runNow() of the waiting loop does no work either: null says the lease is another's.
    expect(await (holder === 'A' ? b : a).runNow()).toBeNull();

    await (holder === 'A' ? a : b).stop();
    await vi.waitFor(() => expect(taken[waiting].length).toBeGreaterThanOrEqual(2));
    expect(taken[waiting][0]).toBe(true);
    expect((await leaseOf('loop-shared'))?.owner).toBe(waiting);
  });
});

// When the write-ahead log is past its limit, transactions starting now wait for the open ones to end so the log can
// restart (engine/log-restart.ts). Those still at work are waited for; one whose client has gone quiet is not.
import fs from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { IDLE_MS, LogRestart, MAX_HOLD_MS, MAX_WAIT_MS } from '../../engine/log-restart.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'log-restart-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LIMIT = 1024 * 1024;

/** A log past its limit, one transaction open and a clock of the last command it sent. */
function setup() {
  const walFile = path.join(dir, `wal-${Math.random().toString(16).slice(2)}`);
  fs.writeFileSync(walFile, '');
  fs.truncateSync(walFile, 2 * LIMIT);
  let lastCommand = Date.now();
  let open = 1;
  const restarts: number[] = [];
  const log = new LogRestart({
    walFile,
    limitBytes: LIMIT,
    restart: () => {
      restarts.push(Date.now());
      return true;
    },
    idleMs: () => (open ? Date.now() - lastCommand : 0),
  });
  log.opened();
  // A commit every so often looks at the log's size: enough of them to pass the check.
  for (let i = 0; i < 16; i++) log.committed();
  const resumed: number[] = [];
  log.wait(() => resumed.push(Date.now()));
  return {
    log,
    restarts,
    resumed,
    command: () => (lastCommand = Date.now()),
    end: () => {
      open--;
      log.closed(true);
    },
  };
}

describe('restarting the log while transactions overlap', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('holds transactions that start while one is open, and restarts once it ends', () => {
    const s = setup();
    const start = Date.now();
    expect(s.log.wanted).toBe(true);
    vi.advanceTimersByTime(30);
    expect(s.resumed).toEqual([]);
    s.end();
    expect(s.restarts).toEqual([start + 30]);
    vi.advanceTimersByTime(1);
    expect(s.resumed).toEqual([start + 30]);
    expect(s.log.wanted).toBe(false);
  });

  it('waits past MAX_WAIT_MS for a transaction still at work (a command every 20 ms), then restarts', () => {
    const s = setup();
    const start = Date.now();
    // 400 ms of work: four times the first wait, all of it with commands arriving.
    for (let t = 0; t < 400; t += 20) {
      vi.advanceTimersByTime(20);
      s.command();
    }
    expect(400).toBeGreaterThan(MAX_WAIT_MS);
    expect(s.resumed).toEqual([]);
    expect(s.log.wanted).toBe(true);
    s.end();
    vi.advanceTimersByTime(1);
    expect(s.restarts).toEqual([start + 400]);
    expect(s.resumed).toEqual([start + 400]);
  });

  it('gives up after MAX_WAIT_MS when the open transaction has gone quiet, and leaves the log alone for a while', () => {
    const s = setup();
    const start = Date.now();
    // Its client sent nothing since it began.
    vi.advanceTimersByTime(MAX_WAIT_MS - 1);
    expect(s.resumed).toEqual([]);
    vi.advanceTimersByTime(IDLE_MS);
    expect(s.resumed.length).toBe(1);
    expect(s.resumed[0] - start).toBeGreaterThanOrEqual(MAX_WAIT_MS);
    expect(s.resumed[0] - start).toBeLessThanOrEqual(MAX_WAIT_MS + IDLE_MS);
    expect(s.restarts).toEqual([]);
    expect(s.log.wanted).toBe(false);
    // The next commits within the quiet second want no restart, even with the log still long.
    for (let i = 0; i < 32; i++) s.log.committed();
    expect(s.log.wanted).toBe(false);
  });

  it('holds no transaction longer than MAX_HOLD_MS, even for one still at work', () => {
    const s = setup();
    const start = Date.now();
    for (let t = 0; t < MAX_HOLD_MS + 100; t += 10) {
      vi.advanceTimersByTime(10);
      s.command();
    }
    expect(s.resumed.length).toBe(1);
    expect(s.resumed[0] - start).toBeGreaterThanOrEqual(MAX_HOLD_MS);
    expect(s.resumed[0] - start).toBeLessThanOrEqual(MAX_HOLD_MS + 10);
    expect(s.restarts).toEqual([]);
  });
});

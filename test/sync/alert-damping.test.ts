// The alert lifecycle of the monitor (issue 16 §1) with a rule the test switches on and off and a moved clock:
// a condition must hold openAfterMs before its alert opens, and stay clear closeAfterMs before the system resolves
// it; coming back while the alert is open counts one occurrence; a rule that did not look clears nothing.
import type { Connection } from 'mongoose';
import { pino } from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import { EventLog } from '../../platform/integration/events.ts';
import { Lease } from '../../platform/integration/lease.ts';
import { operationsModels } from '../../subgraphs/operations/alerts/models.ts';
import { AlertMonitor } from '../../subgraphs/operations/alerts/monitor.ts';
import type { Rule, RuleSettings } from '../../subgraphs/operations/alerts/rules.ts';
import { AlertService } from '../../subgraphs/operations/alerts/service.ts';
import { useMongo } from '../helpers/mongo.ts';

const mongo = useMongo('alert_damping');
let conn: Connection;
beforeAll(async () => {
  conn = await mongo.mongoose();
});

/** A rule whose condition is `holds` (null: it does not look this round). */
function switchable(name: string) {
  const state: { holds: boolean | null } = { holds: false };
  const rule: Rule = {
    name,
    description: 'test',
    defaults: { enabled: true, severity: 'WARNING', threshold: 1, windowMs: 0 },
    evaluate: async (_ctx, s) => (state.holds === null ? null : state.holds ? [{ rule: name, severity: s.severity, subject: 'thing', message: 'it holds' }] : []),
  };
  return { rule, state };
}

async function setUp(name: string, damping: { openAfterMs: number; closeAfterMs: number }) {
  const { rule, state } = switchable(name);
  let now = Date.parse('2031-05-01T00:00:00Z');
  const clock = () => new Date(now);
  const events = new EventLog(conn);
  const alerts = new AlertService({ connection: conn, models: operationsModels(conn), events, clock, runner: {} as never });
  await alerts.init();
  const settings = new Map<string, RuleSettings>([[name, { ...rule.defaults, ...damping }]]);
  const monitor = new AlertMonitor({ alerts, settings, rules: [rule], clock, lease: new Lease(conn, `alerts-${name}`, 5_000), logger: pino({ enabled: false }), context: () => ({}) as never });
  const open = async () => (await alerts.openOf(name))[0] ?? null;
  const resolvedEvents = () => events.events.countDocuments({ type: 'ALERT_RESOLVED', 'payload.rule': name });
  return { state, monitor, open, resolvedEvents, advance: (ms: number) => void (now += ms), alerts };
}

describe('the alert lifecycle', () => {
  it('opens only after the condition held openAfterMs, and closes only after it stayed clear closeAfterMs', async () => {
    const t = await setUp('DAMPED', { openAfterMs: 60_000, closeAfterMs: 120_000 });
    t.state.holds = true;
    expect(await t.monitor.evaluate()).toEqual({ raised: 0, resolved: 0 });
    t.advance(30_000);
    // A blip: clear before openAfterMs, so nothing opens, and holding starts again from zero.
    t.state.holds = false;
    await t.monitor.evaluate();
    t.state.holds = true;
    t.advance(30_000);
    expect(await t.monitor.evaluate()).toEqual({ raised: 0, resolved: 0 });
    t.advance(60_000);
    expect(await t.monitor.evaluate()).toEqual({ raised: 1, resolved: 0 });
    const alert = (await t.open())!;
    expect(alert).toMatchObject({ status: 'OPEN', count: 1 });

    // Clear for less than closeAfterMs, then back: still open, one more occurrence.
    t.state.holds = false;
    t.advance(60_000);
    expect(await t.monitor.evaluate()).toEqual({ raised: 0, resolved: 0 });
    t.state.holds = true;
    t.advance(60_000);
    await t.monitor.evaluate();
    await t.monitor.evaluate();
    expect(await t.open()).toMatchObject({ _id: alert._id, count: 2 });

    // A round in which the rule does not look clears nothing.
    t.state.holds = null;
    t.advance(600_000);
    expect(await t.monitor.evaluate()).toEqual({ raised: 0, resolved: 0 });

    // Clear for closeAfterMs: resolved by the system, with its event.
    t.state.holds = false;
    await t.monitor.evaluate();
    t.advance(119_000);
    expect(await t.monitor.evaluate()).toEqual({ raised: 0, resolved: 0 });
    t.advance(1_000);
    expect(await t.monitor.evaluate()).toEqual({ raised: 0, resolved: 1 });
    expect(await t.open()).toBeNull();
    const stored = await t.alerts.list('RESOLVED', 500);
    expect(stored.find((a) => String(a._id) === String(alert._id))).toMatchObject({ status: 'RESOLVED', resolvedBy: 'system', resolution: 'The condition cleared', count: 2 });
    expect(await t.resolvedEvents()).toBe(1);
    // Still clear: nothing more.
    t.advance(600_000);
    expect(await t.monitor.evaluate()).toEqual({ raised: 0, resolved: 0 });
    expect(await t.resolvedEvents()).toBe(1);
  });

  it('without damping opens at once and resolves at the first clear evaluation; an acknowledged alert too', async () => {
    const t = await setUp('UNDAMPED', { openAfterMs: 0, closeAfterMs: 0 });
    t.state.holds = true;
    expect(await t.monitor.evaluate()).toEqual({ raised: 1, resolved: 0 });
    const alert = (await t.open())!;
    await t.alerts.acknowledge(String(alert._id), 'admin-1');
    t.state.holds = false;
    expect(await t.monitor.evaluate()).toEqual({ raised: 0, resolved: 1 });
    // The condition returns after the alert closed: a new alert.
    t.state.holds = true;
    expect(await t.monitor.evaluate()).toEqual({ raised: 1, resolved: 0 });
    expect(String((await t.open())!._id)).not.toBe(String(alert._id));
  });
});

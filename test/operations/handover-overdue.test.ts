// HANDOVER_OVERDUE (issue 19 §4): a fiscal year that ended more than a year ago and whose records the accounting
// department still holds raises an alert, one per year, from the archive's custody port (counted in the database;
// test/archive/handover.test.ts holds the port to real records). Without the port the rule does not look.
import { describe, expect, it } from 'vitest';
import { RULES, type RuleContext, type RuleSettings } from '../../subgraphs/operations/alerts/rules.ts';

const rule = RULES.find((r) => r.name === 'HANDOVER_OVERDUE')!;
const settings: RuleSettings = { enabled: true, severity: 'WARNING', threshold: 1, windowMs: 0, openAfterMs: 0, closeAfterMs: 60_000 };

describe('HANDOVER_OVERDUE', () => {
  it('asks for the years before last year and raises one alert per year still held', async () => {
    const asked: number[] = [];
    const ctx = {
      now: new Date('2027-03-01T00:00:00Z'),
      archiveCustody: {
        async yearsNotHandedOver(before: number) {
          asked.push(before);
          return [{ fiscalYear: 2024, records: 12 }, { fiscalYear: 2025, records: 3 }];
        },
      },
    } as unknown as RuleContext;
    expect(await rule.evaluate(ctx, settings)).toEqual([
      { rule: 'HANDOVER_OVERDUE', severity: 'WARNING', subject: 'year:2024', message: '12 record(s) of 2024 are still with the accounting department: hand the year over (prepareHandover, signHandover)' },
      { rule: 'HANDOVER_OVERDUE', severity: 'WARNING', subject: 'year:2025', message: '3 record(s) of 2025 are still with the accounting department: hand the year over (prepareHandover, signHandover)' },
    ]);
    // 2025 may stay with the accounting department through 2026: in 2027 it is overdue, 2026's is not yet.
    expect(asked).toEqual([2026]);
    expect(await rule.evaluate(ctx, { ...settings, threshold: 5 })).toHaveLength(1);
  });

  it('does not look without the archive’s port', async () => {
    expect(await rule.evaluate({ now: new Date() } as unknown as RuleContext, settings)).toBeNull();
  });
});

// Every row of the retention table (docs/domain.md#retention), and the dates that follow from it.
import { describe, expect, it } from 'vitest';
import { ARCHIVE_KINDS, ARCHIVE_NO_RE, RETENTION_TABLE, archiveNumber, retentionFor } from '../../subgraphs/archive/retention.ts';

describe('retention', () => {
  it('gives every kind its period per the Accounting Archives Management Measures', () => {
    const expected: Record<string, [string, string]> = {
      ORIGINAL_VOUCHER: ['PZ', 'Y30'],
      BOOKKEEPING_VOUCHER: ['PZ', 'Y30'],
      GENERAL_LEDGER: ['ZB', 'Y30'],
      SUBSIDIARY_LEDGER: ['ZB', 'Y30'],
      JOURNAL: ['ZB', 'Y30'],
      AUXILIARY_BOOK: ['ZB', 'Y30'],
      FIXED_ASSET_CARD: ['ZB', 'Y5_AFTER_DISPOSAL'],
      MONTHLY_REPORT: ['BG', 'Y10'],
      QUARTERLY_REPORT: ['BG', 'Y10'],
      HALF_YEARLY_REPORT: ['BG', 'Y10'],
      ANNUAL_REPORT: ['BG', 'PERMANENT'],
      BANK_RECONCILIATION: ['QT', 'Y10'],
      BANK_STATEMENT: ['QT', 'Y10'],
      TAX_RETURN: ['QT', 'Y10'],
      TRANSFER_REGISTER: ['QT', 'Y30'],
      CUSTODY_REGISTER: ['QT', 'PERMANENT'],
      DESTRUCTION_REGISTER: ['QT', 'PERMANENT'],
      APPRAISAL_OPINION: ['QT', 'PERMANENT'],
    };
    expect(Object.keys(expected).sort()).toEqual([...ARCHIVE_KINDS].sort());
    for (const kind of ARCHIVE_KINDS) expect([RETENTION_TABLE[kind].category, RETENTION_TABLE[kind].retention]).toEqual(expected[kind]);
  });

  it('starts on the first day after the fiscal year and ends on the last day of the final year', () => {
    expect(retentionFor('BOOKKEEPING_VOUCHER', 2026)).toEqual({ retention: 'Y30', retentionStartsOn: '2027-01-01', expiresOn: '2056-12-31' });
    expect(retentionFor('BANK_STATEMENT', 2026)).toEqual({ retention: 'Y10', retentionStartsOn: '2027-01-01', expiresOn: '2036-12-31' });
    expect(retentionFor('MONTHLY_REPORT', 2019)).toEqual({ retention: 'Y10', retentionStartsOn: '2020-01-01', expiresOn: '2029-12-31' });
    expect(retentionFor('ANNUAL_REPORT', 2026)).toEqual({ retention: 'PERMANENT', retentionStartsOn: '2027-01-01', expiresOn: null });
  });

  it('keeps a fixed-asset card five years after the asset is cleared, and open-ended while it is in use', () => {
    expect(retentionFor('FIXED_ASSET_CARD', 2018)).toEqual({ retention: 'Y5_AFTER_DISPOSAL', retentionStartsOn: '2019-01-01', expiresOn: null });
    expect(retentionFor('FIXED_ASSET_CARD', 2018, '2025-06-30')).toEqual({ retention: 'Y5_AFTER_DISPOSAL', retentionStartsOn: '2026-01-01', expiresOn: '2030-12-31' });
  });

  it('writes archive numbers as fonds-year-retention-category-item', () => {
    expect(archiveNumber('Q001', 2026, 'Y30', 'PZ', 7)).toBe('Q001-2026-D30-PZ-00007');
    expect(archiveNumber('Q001', 2026, 'PERMANENT', 'BG', 1)).toBe('Q001-2026-YJ-BG-00001');
    expect(ARCHIVE_NO_RE.test('Q001-2026-D10-QT-00012')).toBe(true);
    expect(ARCHIVE_NO_RE.test('Q001-2026-D99-QT-00012')).toBe(false);
  });
});

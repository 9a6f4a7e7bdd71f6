// Retention of accounting archives for enterprises (会计档案管理办法, 2015, appendix): what each kind of record
// is, how long it is kept, and from when. A period starts on the first day after the end of the record's fiscal
// year and ends on the last day of its final year: a 2026 voucher is kept from 2027-01-01 to 2056-12-31.

export type RetentionPeriod = 'Y10' | 'Y30' | 'PERMANENT' | 'Y5_AFTER_DISPOSAL';

export const ARCHIVE_KINDS = [
  'BOOKKEEPING_VOUCHER', 'ORIGINAL_VOUCHER', 'GENERAL_LEDGER', 'SUBSIDIARY_LEDGER', 'JOURNAL', 'AUXILIARY_BOOK',
  'FIXED_ASSET_CARD', 'MONTHLY_REPORT', 'QUARTERLY_REPORT', 'HALF_YEARLY_REPORT', 'ANNUAL_REPORT',
  'BANK_RECONCILIATION', 'BANK_STATEMENT', 'TAX_RETURN', 'TRANSFER_REGISTER', 'CUSTODY_REGISTER',
  'DESTRUCTION_REGISTER', 'APPRAISAL_OPINION',
] as const;
export type ArchiveKind = (typeof ARCHIVE_KINDS)[number];

/** Category code of the 档号: 凭证 PZ, 账簿 ZB, 财务会计报告 BG, 其他会计资料 QT. */
export type CategoryCode = 'PZ' | 'ZB' | 'BG' | 'QT';

interface KindRule {
  category: CategoryCode;
  retention: RetentionPeriod;
  label: string;
}

/** Every row of the retention table for enterprises. */
export const RETENTION_TABLE: Readonly<Record<ArchiveKind, KindRule>> = Object.freeze({
  ORIGINAL_VOUCHER: { category: 'PZ', retention: 'Y30', label: '原始凭证' },
  BOOKKEEPING_VOUCHER: { category: 'PZ', retention: 'Y30', label: '记账凭证' },
  GENERAL_LEDGER: { category: 'ZB', retention: 'Y30', label: '总账' },
  SUBSIDIARY_LEDGER: { category: 'ZB', retention: 'Y30', label: '明细账' },
  JOURNAL: { category: 'ZB', retention: 'Y30', label: '日记账' },
  AUXILIARY_BOOK: { category: 'ZB', retention: 'Y30', label: '其他辅助性账簿' },
  FIXED_ASSET_CARD: { category: 'ZB', retention: 'Y5_AFTER_DISPOSAL', label: '固定资产卡片' },
  MONTHLY_REPORT: { category: 'BG', retention: 'Y10', label: '月度财务会计报告' },
  QUARTERLY_REPORT: { category: 'BG', retention: 'Y10', label: '季度财务会计报告' },
  HALF_YEARLY_REPORT: { category: 'BG', retention: 'Y10', label: '半年度财务会计报告' },
  ANNUAL_REPORT: { category: 'BG', retention: 'PERMANENT', label: '年度财务会计报告' },
  BANK_RECONCILIATION: { category: 'QT', retention: 'Y10', label: '银行存款余额调节表' },
  BANK_STATEMENT: { category: 'QT', retention: 'Y10', label: '银行对账单' },
  TAX_RETURN: { category: 'QT', retention: 'Y10', label: '纳税申报表' },
  TRANSFER_REGISTER: { category: 'QT', retention: 'Y30', label: '会计档案移交清册' },
  CUSTODY_REGISTER: { category: 'QT', retention: 'PERMANENT', label: '会计档案保管清册' },
  DESTRUCTION_REGISTER: { category: 'QT', retention: 'PERMANENT', label: '会计档案销毁清册' },
  APPRAISAL_OPINION: { category: 'QT', retention: 'PERMANENT', label: '会计档案鉴定意见书' },
});

export interface RetentionDates {
  retention: RetentionPeriod;
  retentionStartsOn: string;
  /** Last day kept; null when permanent, or for a fixed-asset card still in use. */
  expiresOn: string | null;
}

const YEARS: Record<Exclude<RetentionPeriod, 'PERMANENT'>, number> = { Y10: 10, Y30: 30, Y5_AFTER_DISPOSAL: 5 };

/**
 * Retention of a record of `kind` belonging to `fiscalYear`. A fixed-asset card is kept five years after the
 * asset is scrapped and cleared: its five years start after the fiscal year of disposal (`disposedOn`).
 */
export function retentionFor(kind: ArchiveKind, fiscalYear: number, disposedOn?: string | null): RetentionDates {
  const { retention } = RETENTION_TABLE[kind];
  const retentionStartsOn = `${fiscalYear + 1}-01-01`;
  if (retention === 'PERMANENT') return { retention, retentionStartsOn, expiresOn: null };
  if (retention === 'Y5_AFTER_DISPOSAL') {
    if (!disposedOn) return { retention, retentionStartsOn, expiresOn: null };
    const disposalYear = Number(disposedOn.slice(0, 4));
    return { retention, retentionStartsOn: `${disposalYear + 1}-01-01`, expiresOn: `${disposalYear + YEARS.Y5_AFTER_DISPOSAL}-12-31` };
  }
  return { retention, retentionStartsOn, expiresOn: `${fiscalYear + YEARS[retention]}-12-31` };
}

/** Retention code in the 档号. */
export const RETENTION_CODE: Readonly<Record<RetentionPeriod, string>> = Object.freeze({ Y10: 'D10', Y30: 'D30', PERMANENT: 'YJ', Y5_AFTER_DISPOSAL: 'D5' });

/** 档号: fonds-year-retention-category-item, the item number running without gaps within its series. */
export function archiveNumber(fonds: string, fiscalYear: number, retention: RetentionPeriod, category: CategoryCode, item: number): string {
  return `${fonds}-${fiscalYear}-${RETENTION_CODE[retention]}-${category}-${String(item).padStart(5, '0')}`;
}

export const ARCHIVE_NO_RE = /^([A-Z0-9]{1,8})-(\d{4})-(D10|D30|YJ|D5)-(PZ|ZB|BG|QT)-(\d{5,})$/;

/** The series an archive number belongs to (its item numbers run 1, 2, 3 ... without gaps). */
export const seriesOf = (fonds: string, fiscalYear: number, retention: RetentionPeriod, category: CategoryCode): string =>
  `archiveNo:${fonds}-${fiscalYear}-${RETENTION_CODE[retention]}-${category}`;

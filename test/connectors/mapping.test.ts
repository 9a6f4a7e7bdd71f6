// Mapping of external approvals to claims: exact fen amounts, dates, status normalisation, the mapping file.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  loadMappingFile,
  mapToClaim,
  MappingConfigError,
  normaliseDingTalkStatus,
  normaliseFeishuStatus,
  parseMappingConfig,
  toFen,
  toIsoDate,
} from '../../subgraphs/oa/connectors/mapping.ts';
import type { ExternalApprovalEvent, InstanceDetail } from '../../subgraphs/oa/connectors/types.ts';
import { MAPPING_FILE } from './helpers.ts';

describe('toFen', () => {
  it.each([
    ['1234.5', 123450],
    ['1234.50', 123450],
    ['0.01', 1],
    ['0.1', 10],
    [' 88 ', 8800],
    ['007.30', 730],
    [1234.56, 123456],
    [0.1, 10],
    [88, 8800],
    ['9999999999999.99', 999999999999999],
  ])('%j → %i fen', (input, fen) => {
    expect(toFen(input)).toBe(fen);
  });

  it.each([
    ['12.345', /more than 2 decimal places/],
    [12.345, /more than 2 decimal places/],
    [0.1 + 0.2, /more than 2 decimal places/],
    ['1e3', /not a plain/],
    [1e21, /not a plain/],
    ['-5', /not a plain/],
    ['1,234.00', /not a plain/],
    ['¥12', /not a plain/],
    ['12.', /not a plain/],
    ['', /empty/],
    [null, /empty/],
    [undefined, /empty/],
    ['0.00', /greater than 0/],
    [Number.NaN, /not a number/],
    [true, /not a number/],
    ['99999999999999', /too large/],
  ])('refuses %j', (input, message) => {
    expect(() => toFen(input)).toThrow(message);
  });
});

describe('toIsoDate', () => {
  it.each([
    ['2024-05-28', '2024-05-28'],
    ['2024-5-8', '2024-05-08'],
    ['2024/05/28', '2024-05-28'],
    ['2024-05-31 14:20', '2024-05-31'],
    ['2019-10-01T08:12:01+08:00', '2019-10-01'],
    ['2019-10-01T23:30:00-05:00', '2019-10-01'],
    [1_717_171_200_000, '2024-06-01'], // 2024-05-31T16:00Z = 2024-06-01 00:00 in China
    ['1717171199999', '2024-05-31'],
  ])('%j → %s', (input, date) => {
    expect(toIsoDate(input)).toBe(date);
  });

  it.each([['2024-02-30'], ['31/05/2024'], ['yesterday'], [''], [null], [{}]])('refuses %j', (input) => {
    expect(() => toIsoDate(input)).toThrow();
  });
});

describe('statuses', () => {
  it('normalises Feishu statuses', () => {
    const map = Object.fromEntries(
      ['PENDING', 'APPROVED', 'REJECTED', 'CANCELED', 'DELETED', 'REVERTED', 'OVERTIME_CLOSE', 'OVERTIME_RECOVER', 'WHATEVER'].map((s) => [s, normaliseFeishuStatus(s)]),
    );
    expect(map).toEqual({
      PENDING: { status: 'SUBMITTED' },
      APPROVED: { status: 'APPROVED' },
      REJECTED: { status: 'REJECTED' },
      CANCELED: { status: 'WITHDRAWN' },
      DELETED: { status: 'WITHDRAWN' },
      REVERTED: { status: 'SUBMITTED' },
      OVERTIME_CLOSE: { ignore: 'status OVERTIME_CLOSE has no claim equivalent' },
      OVERTIME_RECOVER: { ignore: 'status OVERTIME_RECOVER has no claim equivalent' },
      WHATEVER: { invalid: 'unknown Feishu status "WHATEVER"' },
    });
  });

  it('normalises DingTalk type/result', () => {
    expect(normaliseDingTalkStatus('start', undefined)).toEqual({ status: 'SUBMITTED' });
    expect(normaliseDingTalkStatus('finish', 'agree')).toEqual({ status: 'APPROVED' });
    expect(normaliseDingTalkStatus('finish', 'refuse')).toEqual({ status: 'REJECTED' });
    expect(normaliseDingTalkStatus('terminate', undefined)).toEqual({ status: 'WITHDRAWN' });
    expect(normaliseDingTalkStatus('delete', undefined)).toEqual({ status: 'WITHDRAWN' });
    expect(normaliseDingTalkStatus('finish', 'redirect')).toHaveProperty('invalid');
    expect(normaliseDingTalkStatus(undefined, undefined)).toHaveProperty('invalid');
  });
});

describe('mapping file', () => {
  it('accepts the documented shape and keeps keys safe from prototype names', () => {
    const config = parseMappingConfig(MAPPING_FILE);
    expect(config.users.feishu.get('fs-user-1')).toBe('E1001');
    expect(config.users.feishu.get('constructor')).toBeUndefined();
    expect(config.approvals.dingtalk.get('PROC-EXPENSE')?.category).toBe('OFFICE');
    expect(parseMappingConfig({ users: {}, approvals: {} }).users.dingtalk.size).toBe(0);
  });

  it('lists every problem with its path', () => {
    const bad = {
      users: { feishu: { 'fs-1': '' }, wecom: {} },
      approvals: {
        feishu: {
          'APPROVAL-X': { category: 'FOOD', items: { field: '明细', description: '说明', amount: '', occurredOn: '日期', invoice: '发票' } },
        },
      },
    };
    const err = (() => {
      try {
        parseMappingConfig(bad, 'CONNECTOR_MAPPING_FILE (x.json)');
      } catch (e) {
        return e as MappingConfigError;
      }
      throw new Error('expected a MappingConfigError');
    })();
    expect(err).toBeInstanceOf(MappingConfigError);
    expect(err.message).toMatch(/^CONNECTOR_MAPPING_FILE \(x\.json\): invalid connector mapping \(5 problems\)/);
    expect([...err.issues].sort()).toEqual(
      [
        'users.feishu["fs-1"]: must be an employee id',
        'users: Unrecognized key: "wecom"',
        'approvals.feishu["APPROVAL-X"].category: must be one of TRAVEL, MEALS, OFFICE, TRAINING, OTHER',
        'approvals.feishu["APPROVAL-X"].items.amount: must name a form field',
        'approvals.feishu["APPROVAL-X"].items: Unrecognized key: "invoice"',
      ].sort(),
    );
  });

  it('loads a file, naming the variable and the path in errors', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mapping-'));
    try {
      const good = path.join(dir, 'good.json');
      await writeFile(good, JSON.stringify(MAPPING_FILE));
      expect((await loadMappingFile(good)).users.dingtalk.get('manager75')).toBe('E2001');
      const broken = path.join(dir, 'broken.json');
      await writeFile(broken, '{"users": ');
      await expect(loadMappingFile(broken)).rejects.toThrow(`CONNECTOR_MAPPING_FILE (${broken}): invalid connector mapping (1 problem):\n  not valid JSON`);
      await expect(loadMappingFile(path.join(dir, 'missing.json'))).rejects.toThrow(/cannot read the file: ENOENT/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('mapToClaim', () => {
  const config = parseMappingConfig(MAPPING_FILE);
  const event = (over: Partial<ExternalApprovalEvent> = {}): ExternalApprovalEvent => ({
    platform: 'feishu',
    eventId: 'e1',
    instanceCode: 'I1',
    approvalCode: 'APPROVAL-TRAVEL',
    status: 'APPROVED',
    eventTime: new Date(1_717_000_000_000),
    externalUserId: null,
    form: null,
    ...over,
  });
  const row = (description: unknown, amount: unknown, date: unknown, invoice?: unknown) => [
    { name: '费用说明', value: description },
    { name: '金额', value: amount },
    { name: '发生日期', value: date },
    ...(invoice === undefined ? [] : [{ name: '发票号', value: invoice }]),
  ];
  const detail = (rows: unknown, over: Partial<InstanceDetail> = {}): InstanceDetail => ({
    externalUserId: 'fs-user-1',
    title: '差旅报销 1',
    form: [{ name: '费用明细', value: rows }],
    ...over,
  });

  it('maps table rows to items, falling back to the instance title', () => {
    const result = mapToClaim(event(), detail([row('机票', '1580', '2024-06-01', 'INV-1'), row('出租车', 46.8, '2024-06-02', '  ')]), config);
    expect(result).toEqual({
      ok: true,
      claim: {
        source: { platform: 'feishu', instanceCode: 'I1', approvalCode: 'APPROVAL-TRAVEL' },
        applicantId: 'E1001',
        category: 'TRAVEL',
        title: '差旅报销 1',
        items: [
          { description: '机票', amountFen: 158000, occurredOn: '2024-06-01', invoiceNo: 'INV-1' },
          { description: '出租车', amountFen: 4680, occurredOn: '2024-06-02' },
        ],
        status: 'APPROVED',
        eventTime: new Date(1_717_000_000_000),
      },
    });
  });

  it.each([
    ['an unknown approval code', event({ approvalCode: 'NOPE' }), detail([row('a', '1', '2024-06-01')]), 'UNKNOWN_APPROVAL'],
    ['an unknown user', event(), detail([row('a', '1', '2024-06-01')], { externalUserId: 'nobody' }), 'UNKNOWN_USER'],
    ['no applicant at all', event(), detail([row('a', '1', '2024-06-01')], { externalUserId: '' }), 'UNKNOWN_USER'],
    ['a missing items field', event(), { externalUserId: 'fs-user-1', title: 't', form: [] }, 'MISSING_FIELD'],
    ['an empty table', event(), detail([]), 'NO_ITEMS'],
    ['an empty description', event(), detail([row('  ', '1', '2024-06-01')]), 'MISSING_FIELD'],
    ['a missing amount column', event(), detail([[{ name: '费用说明', value: 'x' }, { name: '发生日期', value: '2024-06-01' }]]), 'MISSING_FIELD'],
    ['a bad amount', event(), detail([row('a', 'abc', '2024-06-01')]), 'INVALID_AMOUNT'],
    ['a bad date', event(), detail([row('a', '1', '2024-13-01')]), 'INVALID_DATE'],
  ])('fails on %s', (_what, e, d, code) => {
    const result = mapToClaim(e, d as InstanceDetail, config);
    expect(result.ok).toBe(false);
    expect(result.ok ? undefined : result.code).toBe(code);
  });

  it('uses the DingTalk staffId when the detail names nobody', () => {
    const dingConfig = parseMappingConfig(MAPPING_FILE);
    const result = mapToClaim(
      event({ platform: 'dingtalk', approvalCode: 'PROC-EXPENSE', externalUserId: 'manager75' }),
      {
        externalUserId: '',
        title: 't',
        form: [{ name: '报销明细', value: [[{ name: '明细说明', value: 'x' }, { name: '金额（元）', value: '1.00' }, { name: '日期', value: '2024-06-01' }]] }],
      },
      dingConfig,
    );
    expect(result.ok && result.claim.applicantId).toBe('E2001');
  });
});

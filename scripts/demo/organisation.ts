// What `npm run seed` creates (scripts/seed.ts): a small company, its people, and claims in every state. Plain data;
// the steps that create it through the API are in activity.ts.
import type { Role } from '../../platform/identity.ts';

/** The code of the demo organisation's top department: a second seed finds it and creates nothing. */
export const ROOT_CODE = 'DEMO-HQ';

export type DepartmentKey = 'hq' | 'finance' | 'sales' | 'east' | 'north' | 'rd';
export type PersonKey = 'wang' | 'li' | 'zhao' | 'qian' | 'sun' | 'zhou' | 'wu' | 'zheng' | 'feng' | 'chen' | 'chu' | 'wei' | 'jiang' | 'shen' | 'han';

export interface DemoDepartment {
  key: DepartmentKey;
  code: string;
  name: string;
  parent: DepartmentKey | null;
  manager: PersonKey;
}

/** Parents before children. */
export const DEPARTMENTS: readonly DemoDepartment[] = [
  { key: 'hq', code: ROOT_CODE, name: '总部 Head office', parent: null, manager: 'wang' },
  { key: 'finance', code: 'DEMO-FIN', name: '财务部 Finance', parent: 'hq', manager: 'li' },
  { key: 'sales', code: 'DEMO-SALES', name: '销售部 Sales', parent: 'hq', manager: 'zheng' },
  { key: 'east', code: 'DEMO-SALES-EAST', name: '华东 East', parent: 'sales', manager: 'feng' },
  { key: 'north', code: 'DEMO-SALES-NORTH', name: '华北 North', parent: 'sales', manager: 'wei' },
  { key: 'rd', code: 'DEMO-RD', name: '研发部 R&D', parent: 'hq', manager: 'shen' },
];

export interface DemoPerson {
  key: PersonKey;
  employeeNo: string;
  name: string;
  /** For the printed table and the e-mail address. */
  pinyin: string;
  department: DepartmentKey;
  roles: Role[];
  birthDate: string;
  sex: 'F' | 'M';
}

const person = (key: PersonKey, n: number, name: string, pinyin: string, department: DepartmentKey, roles: Role[], birthDate: string, sex: 'F' | 'M'): DemoPerson => ({
  key,
  employeeNo: `DEMO-${String(n).padStart(3, '0')}`,
  name,
  pinyin,
  department,
  roles,
  birthDate,
  sex,
});

/** In employee-number order; the index is the person's index for demo-identities. */
export const PEOPLE: readonly DemoPerson[] = [
  person('wang', 1, '王建国', 'Wang Jianguo', 'hq', ['MANAGER'], '1968-03-12', 'M'),
  person('li', 2, '李秀英', 'Li Xiuying', 'finance', ['MANAGER'], '1975-08-21', 'F'),
  person('zhao', 3, '赵敏', 'Zhao Min', 'finance', ['ACCOUNTANT'], '1988-11-05', 'F'),
  person('qian', 4, '钱伟', 'Qian Wei', 'finance', ['FINANCE_DIRECTOR'], '1972-01-30', 'M'),
  person('sun', 5, '孙浩', 'Sun Hao', 'finance', ['ARCHIVIST'], '1985-06-18', 'M'),
  person('zhou', 6, '周芳', 'Zhou Fang', 'hq', ['AUDITOR'], '1980-04-09', 'F'),
  person('wu', 7, '吴磊', 'Wu Lei', 'rd', ['ADMIN'], '1990-09-27', 'M'),
  person('zheng', 8, '郑强', 'Zheng Qiang', 'sales', ['MANAGER'], '1976-12-02', 'M'),
  person('feng', 9, '冯静', 'Feng Jing', 'east', ['MANAGER'], '1983-02-14', 'F'),
  person('chen', 10, '陈杰', 'Chen Jie', 'east', [], '1994-07-08', 'M'),
  person('chu', 11, '褚丽', 'Chu Li', 'east', [], '1996-10-19', 'F'),
  person('wei', 12, '卫东', 'Wei Dong', 'north', ['MANAGER'], '1981-05-23', 'M'),
  person('jiang', 13, '蒋涛', 'Jiang Tao', 'north', [], '1992-03-03', 'M'),
  person('shen', 14, '沈洁', 'Shen Jie', 'rd', ['MANAGER'], '1979-09-11', 'F'),
  person('han', 15, '韩雪', 'Han Xue', 'rd', [], '1995-12-25', 'F'),
];

/** Whose token is printed for each role: the EMPLOYEE and MANAGER of 华东 East, and the one holder of each other role. */
export const ROLE_HOLDERS: Readonly<Record<Role, PersonKey>> = {
  EMPLOYEE: 'chen',
  MANAGER: 'feng',
  ACCOUNTANT: 'zhao',
  FINANCE_DIRECTOR: 'qian',
  ARCHIVIST: 'sun',
  AUDITOR: 'zhou',
  ADMIN: 'wu',
};

export type ExpenseCategory = 'TRAVEL' | 'MEALS' | 'OFFICE' | 'TRAINING' | 'OTHER';

/**
 * Where a claim ends: DRAFT (created only), WITHDRAWN (submitted, then withdrawn), SUBMITTED after `approvals`
 * decisions (0: waiting for the department manager, 1: for finance, 2: for the finance director), APPROVED (every
 * step approved), REJECTED at the step after `approvals` approvals.
 */
export type Outcome =
  | { status: 'DRAFT' }
  | { status: 'WITHDRAWN' }
  | { status: 'SUBMITTED'; approvals: number }
  | { status: 'APPROVED' }
  | { status: 'REJECTED'; approvals: number; comment: string };

export interface DemoClaim {
  key: string;
  applicant: PersonKey;
  category: ExpenseCategory;
  title: string;
  /** Amounts exact to the fen; the day is `daysAgo` before today; `invoice` gives the item an invoice number. */
  items: { description: string; amount: string; daysAgo: number; invoice: boolean }[];
  outcome: Outcome;
}

/**
 * Every person but the managers files at least one claim (a second seed finds them as applicants); approved claims
 * in four departments, one above the finance director's threshold (5000.00 by default).
 */
export const CLAIMS: readonly DemoClaim[] = [
  {
    key: 'shanghai-trip', applicant: 'chen', category: 'TRAVEL', title: '上海—杭州客户拜访差旅 Client visits Shanghai–Hangzhou',
    items: [
      { description: '高铁票 Train tickets', amount: '438.50', daysAgo: 12, invoice: true },
      { description: '酒店住宿两晚 Hotel, two nights', amount: '1280.00', daysAgo: 11, invoice: true },
    ],
    outcome: { status: 'APPROVED' },
  },
  { key: 'client-dinner', applicant: 'chu', category: 'MEALS', title: '华东区客户招待 Client dinner, East region', items: [{ description: '客户晚餐 Dinner with Jinling Trading', amount: '468.00', daysAgo: 9, invoice: true }], outcome: { status: 'APPROVED' } },
  {
    key: 'beijing-fair', applicant: 'jiang', category: 'TRAVEL', title: '北京展会差旅 Beijing trade fair',
    items: [
      { description: '往返机票 Return flights', amount: '2360.00', daysAgo: 15, invoice: true },
      { description: '展位费 Booth fee', amount: '3800.00', daysAgo: 14, invoice: true },
      { description: '住宿 Hotel', amount: '1120.40', daysAgo: 13, invoice: true },
    ],
    outcome: { status: 'APPROVED' },
  },
  { key: 'k8s-training', applicant: 'han', category: 'TRAINING', title: 'Kubernetes 运维培训 Kubernetes training', items: [{ description: '培训费 Course fee', amount: '3200.00', daysAgo: 20, invoice: true }], outcome: { status: 'APPROVED' } },
  { key: 'audit-printing', applicant: 'zhou', category: 'OFFICE', title: '审计底稿打印装订 Printing audit papers', items: [{ description: '打印装订 Printing and binding', amount: '235.60', daysAgo: 6, invoice: true }], outcome: { status: 'APPROVED' } },
  { key: 'fair-materials', applicant: 'chu', category: 'OFFICE', title: '展会物料 Trade-show materials', items: [{ description: '易拉宝和宣传册 Banners and brochures', amount: '612.30', daysAgo: 4, invoice: true }], outcome: { status: 'SUBMITTED', approvals: 0 } },
  { key: 'server-memory', applicant: 'wu', category: 'OFFICE', title: '服务器内存条 Server memory', items: [{ description: '64 GB 内存条两条 Two 64 GB modules', amount: '1899.00', daysAgo: 5, invoice: true }], outcome: { status: 'SUBMITTED', approvals: 1 } },
  {
    key: 'shenzhen-support', applicant: 'han', category: 'TRAVEL', title: '深圳客户驻场支持 On-site support in Shenzhen',
    items: [
      { description: '往返机票 Return flights', amount: '1860.00', daysAgo: 8, invoice: true },
      { description: '住宿五晚 Hotel, five nights', amount: '3150.00', daysAgo: 7, invoice: true },
      { description: '市内交通 Local transport', amount: '486.00', daysAgo: 7, invoice: false },
    ],
    outcome: { status: 'SUBMITTED', approvals: 2 },
  },
  { key: 'team-dinner', applicant: 'jiang', category: 'MEALS', title: '团队聚餐 Team dinner', items: [{ description: '部门聚餐 Team dinner', amount: '1680.00', daysAgo: 10, invoice: true }], outcome: { status: 'REJECTED', approvals: 0, comment: '团队聚餐不在报销范围 Team dinners are not reimbursed' } },
  { key: 'suzhou-trip', applicant: 'chen', category: 'TRAVEL', title: '苏州出差 Trip to Suzhou', items: [{ description: '高铁票 Train tickets', amount: '356.00', daysAgo: 3, invoice: true }], outcome: { status: 'REJECTED', approvals: 1, comment: '发票抬头不符 The invoice names another company' } },
  { key: 'archive-boxes', applicant: 'sun', category: 'OFFICE', title: '档案盒 Archive boxes', items: [{ description: '无酸档案盒 Acid-free boxes', amount: '320.00', daysAgo: 2, invoice: true }], outcome: { status: 'WITHDRAWN' } },
  { key: 'cfo-seminar', applicant: 'qian', category: 'TRAINING', title: '财务总监研修班 CFO seminar', items: [{ description: '学费 Tuition', amount: '4800.00', daysAgo: 1, invoice: false }], outcome: { status: 'DRAFT' } },
  { key: 'voucher-paper', applicant: 'zhao', category: 'OFFICE', title: '凭证打印纸 Voucher paper', items: [{ description: '凭证纸十包 Ten packs', amount: '158.00', daysAgo: 1, invoice: false }], outcome: { status: 'DRAFT' } },
  { key: 'client-gifts', applicant: 'chen', category: 'OTHER', title: '客户礼品 Client gifts', items: [{ description: '茶叶礼盒 Tea gift boxes', amount: '260.00', daysAgo: 2, invoice: false }], outcome: { status: 'DRAFT' } },
];

/** The loan: 陈杰 borrows the record of his Shanghai trip (outside finance: the archivist and the finance manager approve). */
export const LOAN = { borrower: 'chen' as PersonKey, claim: 'shanghai-trip', purpose: '客户审计核对差旅凭证 A customer audit asks for the travel voucher', days: 30 };

/** The alert: 韩雪's script polls systemStatus with her own token, which may not read it (rule PROBING). */
export const PROBE = { person: 'han' as PersonKey, query: 'query DemoStatusPoll { systemStatus { checkedAt } }' };

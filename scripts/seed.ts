// `npm run seed [-- --gateway URL] [--wait SECONDS]`: fills a running development system (`npm start` in another
// terminal) with a demo organisation through the public GraphQL API, so the console shows something at once:
// departments and people with valid identity and bank numbers (scripts/demo/identities.ts), claims in every status,
// their vouchers and archive records (made by the sync pipeline, awaited), a loan and an open alert. Prints the demo
// users and a token per role. A second run finds the organisation (department DEMO-HQ) and only prints the tokens,
// adding the loan if borrowing has been configured since. Refused in production, like `npm run token`.
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { DEFAULT_JWT_MAX_TTL_SECONDS } from '../gateway/auth.ts';
import { ConfigError, loadConfig } from '../platform/config.ts';
import { today } from '../platform/graphql.ts';
import { ROLES, type Role } from '../platform/identity.ts';
import { type AlertOutcome, type LoanOutcome, type Organisation, borrowRecord, createClaims, createOrganisation, findLoan, findOrganisation, listClaims, raiseProbingAlert, waitForFilings } from './demo/activity.ts';
import { type Api, SeedError, gatewayApi } from './demo/api.ts';
import { CLAIMS, LOAN, PEOPLE, ROLE_HOLDERS, ROOT_CODE } from './demo/organisation.ts';

export { SeedError };

export interface SeedOptions {
  /** The gateway's GraphQL endpoint, e.g. http://localhost:4000/graphql. */
  gateway: string;
  /** The JWT_SECRET the system verifies client tokens with. */
  jwtSecret: string;
  /** Lifetime of the printed tokens (JWT_MAX_TTL; default 24 h). */
  tokenTtlSeconds?: number;
  /** BUSINESS_TIMEZONE: expense and loan days are days there (default Asia/Shanghai). */
  timeZone?: string;
  /** How long to wait for the filings and for the alert (default 120 s each). */
  waitSeconds?: number;
  /** Where the human text goes (default stdout). */
  print?: (line: string) => void;
}

export interface DemoUser {
  name: string;
  employeeNo: string;
  employeeId: string;
  roles: Role[];
  department: string;
}

export interface SeedResult {
  /** False when the organisation was there already. */
  created: boolean;
  users: DemoUser[];
  /** Per role: the token of its demo holder. */
  tokens: Record<Role, string>;
  consoleUrl: string;
  claims: { key: string; id: string; status: string }[];
  loan: LoanOutcome | null;
  alert: AlertOutcome | null;
}

export async function seed(options: SeedOptions): Promise<SeedResult> {
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const ttl = options.tokenTtlSeconds ?? DEFAULT_JWT_MAX_TTL_SECONDS;
  const waitSeconds = options.waitSeconds ?? 120;
  const timeZone = options.timeZone ?? 'Asia/Shanghai';
  const api = gatewayApi(options.gateway, options.jwtSecret, ttl);
  const day = today(timeZone);

  // Reaching the gateway (and its accepting the token) is checked by the first call.
  let org = await findOrganisation(api);
  const created = org === null;
  let claims: SeedResult['claims'] = [];
  let loan: LoanOutcome | null = null;
  let alert: AlertOutcome | null = null;
  if (!org) {
    org = await createOrganisation(api);
    print(`Created the demo organisation: ${org.departments.size} departments under ${ROOT_CODE}, ${org.people.size} employees.`);
    claims = await createClaims(api, org, day, invoiceStamp());
    print(`Filed ${claims.length} expense claims: ${statusCounts(claims.map((c) => c.status))}.`);
    const approved = claims.filter((c) => c.status === 'APPROVED').map((c) => c.id);
    print(`Waiting for the sync pipeline to file the ${approved.length} approved claims (at most ${waitSeconds} s) ...`);
    const filed = await waitForFilings(api, org, approved, Date.now() + waitSeconds * 1000, waitSeconds);
    print('Filed by the sync pipeline (claim → voucher, archive record):');
    for (const c of filed) print(`  ${c.claimNo} → ${c.voucher!.voucherNo}, ${c.archiveRecord!.archiveNo}`);
    loan = await lend(api, org, day);
    print(loanLine(loan));
    print('Raising an alert: an employee\'s script polls systemStatus, which her token may not read (rule PROBING) ...');
    alert = await raiseProbingAlert(api, org, Date.now() + waitSeconds * 1000, waitSeconds);
    print('alert' in alert ? `Alert open: ${alert.alert.rule} (${alert.alert.severity}): ${alert.alert.message}. It closes by itself once the refusals leave the rule's window.` : `No alert: ${alert.skipped}.`);
  } else {
    print(`The demo organisation is there already (department ${ROOT_CODE}): nothing created.`);
    claims = (await listClaims(api, org.departments.get('hq')!.id)).map((c) => ({ key: CLAIMS.find((p) => p.title === c.title)?.key ?? c.title, id: c.id, status: c.status }));
    // The one thing a first run may have left out: the loan, when borrowing was not configured then.
    if (!(await findLoan(api, org))) {
      loan = await lend(api, org, day);
      print(loanLine(loan));
    }
  }

  const users = PEOPLE.map((p): DemoUser => {
    const m = org.people.get(p.key)!;
    return { name: `${p.name} ${p.pinyin}`, employeeNo: m.employeeNo, employeeId: m.id, roles: m.roles, department: [...org.departments.values()].find((d) => d.id === m.departmentId)?.name ?? '' };
  });
  const tokens = {} as Record<Role, string>;
  for (const role of ROLES) tokens[role] = await api.token({ sub: org.people.get(ROLE_HOLDERS[role])!.id, roles: [role] }, ttl);
  const consoleUrl = new URL('/console', options.gateway).href;

  print('');
  print('Demo users:');
  for (const line of table(['Name', 'Roles', 'Department', 'Employee id'], users.map((u) => [u.name, u.roles.join(',') || 'EMPLOYEE', u.department, u.employeeId]))) print(`  ${line}`);
  print('');
  print(`Tokens, one per role (valid ${hours(ttl)}, JWT_MAX_TTL):`);
  for (const role of ROLES) print(`  ${role.padEnd(16)} ${PEOPLE.find((p) => p.key === ROLE_HOLDERS[role])!.pinyin.padEnd(12)} ${tokens[role]}`);
  print('');
  print(`Console: ${consoleUrl}  (paste the AUDITOR token to see every chart)`);
  return { created, users, tokens, consoleUrl, claims, loan, alert };
}

/** The loan of the demo: the record of the borrower's approved trip. */
async function lend(api: Api, org: Organisation, day: string): Promise<LoanOutcome> {
  const title = CLAIMS.find((c) => c.key === LOAN.claim)!.title;
  const record = (await listClaims(api, org.departments.get('hq')!.id)).find((c) => c.title === title && c.archiveRecord)?.archiveRecord;
  if (!record) return { skipped: `the archive record of "${title}" is not filed` };
  return borrowRecord(api, org, record.id, day, org.departments.get('finance')!.id);
}

function loanLine(loan: LoanOutcome): string {
  if ('skipped' in loan) return `No loan: ${loan.skipped}.`;
  const borrower = PEOPLE.find((p) => p.key === LOAN.borrower)!;
  return `Loan: ${borrower.name} borrows ${loan.loan.archiveNo} until ${loan.loan.until}: ${loan.loan.status}.`;
}

function statusCounts(statuses: string[]): string {
  const counts = new Map<string, number>();
  for (const s of statuses) counts.set(s, (counts.get(s) ?? 0) + 1);
  return [...counts].map(([s, n]) => `${n} ${s}`).join(', ');
}

/** Invoice numbers of this run start with its time (YYMMDDhhmmss), so a later demo in another database never repeats them. */
function invoiceStamp(now = new Date()): string {
  return now.toISOString().replace(/\D/g, '').slice(2, 14);
}

const hours = (s: number) => (s % 3600 === 0 ? `${s / 3600} h` : `${Math.round(s / 60)} min`);

/** Columns padded to their widest cell, counting a CJK character as two columns (as terminals show them). */
function table(header: string[], rows: string[][]): string[] {
  const width = (s: string) => [...s].reduce((w, ch) => w + (/[\u1100-\u115F\u2E80-\uA4CF\uAC00-\uD7A3\uF900-\uFAFF\uFE30-\uFE4F\uFF00-\uFF60\uFFE0-\uFFE6]/.test(ch) ? 2 : 1), 0);
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => width(r[i]))));
  return all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell + ' '.repeat(widths[i] - width(cell)))).join('  '));
}

// ---- the command ------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { gateway: { type: 'string' }, wait: { type: 'string', default: '120' } } });
  const config = loadConfig();
  if (config.nodeEnv === 'production') throw new SeedError('npm run seed makes a demo organisation with development tokens and is refused in production');
  if (!config.jwtSecret) throw new SeedError('JWT_SECRET is not set: the seed signs development tokens with it');
  const waitSeconds = Number(values.wait);
  if (!Number.isInteger(waitSeconds) || waitSeconds < 1 || waitSeconds > 3600) throw new SeedError('--wait must be 1 to 3600 seconds');
  const gateway = values.gateway ?? `http://localhost:${config.port}/graphql`;
  try {
    new URL(gateway);
  } catch {
    throw new SeedError(`--gateway must be a URL such as http://localhost:4000/graphql, got ${JSON.stringify(gateway)}`);
  }
  await seed({ gateway, jwtSecret: config.jwtSecret, tokenTtlSeconds: config.jwtMaxTtlSeconds, timeZone: config.businessTimeZone, waitSeconds });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err: unknown) => {
    const message = err instanceof SeedError || err instanceof ConfigError || String((err as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS') ? (err as Error).message : `seed failed: ${(err as Error).message}`;
    process.stderr.write(`${message.split('\n').join('; ')}\n`);
    process.exit(1);
  });
}

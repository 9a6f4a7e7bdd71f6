// The reports as CSV for BI tools and spreadsheets (issue 16 §4; docs/api.md#reports-as-csv):
// GET /reports/<name>.csv?<the query's arguments>. Authenticated as POST /graphql is (Bearer JWT or API key,
// gateway/auth.ts and gateway/api-keys.ts), then the same GraphQL report runs through the gateway's own pipeline
// (GatewayServer.run: limits, permission model, row scope in the subgraph, audit), never around it. No CSRF header
// is asked for: the route answers GET only and changes nothing.
//
// CSV as Excel opens it: UTF-8 with a BOM, CRLF line ends, a header row, Money as plain decimal strings. Labels are
// names people typed: cells starting with = + - @ tab or CR get a leading apostrophe (OWASP's CSV injection advice,
// csv-stringify's escape_formulas).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { stringify } from 'csv-stringify/sync';
import type { FormattedExecutionResult, GraphQLFormattedError } from 'graphql';
import { errorBody, json } from '../platform/apollo-http.ts';
import type { Principal } from '../platform/identity.ts';
import type { Logger } from '../platform/logger.ts';
import type { AuditRecorder } from './audit.ts';
import { authenticatedCaller } from './auth-http.ts';
import type { GatewayServer } from './server.ts';

type Cell = string | number | null | undefined;
interface Table {
  header: string[];
  rows: Cell[][];
}

/** How a query parameter becomes a variable: as it is, a comma-separated list, or an integer. */
type Param = 'string' | 'list' | 'int';

interface CsvReport {
  query: string;
  params: Readonly<Record<string, Param>>;
  table(data: Record<string, unknown>): Table;
}

interface ReportCell {
  dimension: string;
  key: string | null;
  label: string | null;
}
interface ReportRow {
  rowType: string;
  level: number;
  cells: ReportCell[];
  count: number;
  total: string;
}

/** Dimensions whose key is an id: a name column follows it. */
const NAMED: Readonly<Record<string, string>> = { DEPARTMENT: 'department', DEPARTMENT_SUBTREE: 'department_subtree', EMPLOYEE: 'employee' };

const ROW = 'rowType level cells { dimension key label } count total';

export const CSV_REPORTS: Readonly<Record<string, CsvReport>> = {
  'expense-summary': {
    query: `query ExpenseReportCsv($dimensions: [ReportDimension!]!, $from: Date!, $to: Date!, $timeZone: String, $statuses: [ClaimStatus!], $departmentLevel: Int) {
      expenseReport(dimensions: $dimensions, from: $from, to: $to, timeZone: $timeZone, statuses: $statuses, departmentLevel: $departmentLevel) {
        dimensions rows { ${ROW} } subtotals { ${ROW} } grandTotal { ${ROW} }
      }
    }`,
    params: { dimensions: 'list', from: 'string', to: 'string', timeZone: 'string', statuses: 'list', departmentLevel: 'int' },
    table(data) {
      const report = data.expenseReport as { dimensions: string[]; rows: ReportRow[]; subtotals: ReportRow[]; grandTotal: ReportRow };
      const header = ['row_type', 'level'];
      for (const d of report.dimensions) header.push(...(NAMED[d] ? [`${NAMED[d]}_id`, `${NAMED[d]}_name`] : [d.toLowerCase()]));
      header.push('count', 'total');
      const line = (r: ReportRow): Cell[] => [r.rowType, r.level, ...r.cells.flatMap((c) => (NAMED[c.dimension] ? [c.key, c.label] : [c.key])), r.count, r.total];
      return { header, rows: [...report.rows, ...report.subtotals, report.grandTotal].map(line) };
    },
  },
  'approval-wait-times': {
    query: `query ApprovalWaitTimesCsv($groupBy: ApprovalWaitGroup, $from: Date!, $to: Date!, $timeZone: String) {
      approvalWaitTimes(groupBy: $groupBy, from: $from, to: $to, timeZone: $timeZone) { stepKey stepName approverId approverName count waitAvgMs waitP50Ms waitP95Ms waitMaxMs }
    }`,
    params: { groupBy: 'string', from: 'string', to: 'string', timeZone: 'string' },
    table(data) {
      const columns = ['stepKey', 'stepName', 'approverId', 'approverName', 'count', 'waitAvgMs', 'waitP50Ms', 'waitP95Ms', 'waitMaxMs'];
      const rows = data.approvalWaitTimes as Array<Record<string, Cell>>;
      return { header: ['step_key', 'step_name', 'approver_id', 'approver_name', 'count', 'wait_avg_ms', 'wait_p50_ms', 'wait_p95_ms', 'wait_max_ms'], rows: rows.map((r) => columns.map((c) => r[c])) };
    },
  },
  'claim-cycle-times': {
    query: `query ClaimCycleTimesCsv($groupBy: SummaryGroup, $from: Date!, $to: Date!) {
      claimCycleTimes(groupBy: $groupBy, from: $from, to: $to) { key label count submissionToApprovalAvgMs submissionToApprovalP50Ms submissionToApprovalP95Ms submissionToApprovalMaxMs }
    }`,
    params: { groupBy: 'string', from: 'string', to: 'string' },
    table(data) {
      const columns = ['key', 'label', 'count', 'submissionToApprovalAvgMs', 'submissionToApprovalP50Ms', 'submissionToApprovalP95Ms', 'submissionToApprovalMaxMs'];
      const rows = data.claimCycleTimes as Array<Record<string, Cell>>;
      return { header: ['key', 'label', 'count', 'avg_ms', 'p50_ms', 'p95_ms', 'max_ms'], rows: rows.map((r) => columns.map((c) => r[c])) };
    },
  },
};

const ROUTE = /^\/reports\/([a-z-]+)\.csv$/;

class ParamError extends Error {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

/** The query string as the report's variables; an unknown or repeated parameter is refused by name. */
function variablesOf(search: URLSearchParams, params: CsvReport['params']): Record<string, unknown> {
  const variables: Record<string, unknown> = {};
  for (const name of new Set(search.keys())) {
    const kind = params[name];
    if (!kind) throw new ParamError(`Unknown parameter ${name}; this report takes ${Object.keys(params).join(', ')}`, name);
    const values = search.getAll(name);
    if (values.length > 1) throw new ParamError(`Parameter ${name} is given ${values.length} times; give it once (lists comma-separated)`, name);
    const value = values[0];
    // A malformed integer goes on as text: GraphQL's coercion refuses it, naming the variable.
    variables[name] = kind === 'list' ? value.split(',').map((v) => v.trim()).filter(Boolean) : kind === 'int' && /^-?\d{1,9}$/.test(value) ? Number(value) : value;
  }
  return variables;
}

const STATUS_OF_CODE: Readonly<Record<string, number>> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  BAD_USER_INPUT: 400,
  GRAPHQL_VALIDATION_FAILED: 400,
  GRAPHQL_PARSE_FAILED: 400,
  RATE_LIMITED: 429,
  NOT_FOUND: 404,
};

/** A refused report, as JSON: the GraphQL errors' messages, codes and argument names, nothing more. */
function refuse(res: ServerResponse, errors: readonly GraphQLFormattedError[]): void {
  const code = String(errors[0]?.extensions?.code ?? 'INTERNAL_SERVER_ERROR');
  const status = STATUS_OF_CODE[code] ?? 500;
  const slim = errors.map((e) => {
    const ext = e.extensions ?? {};
    return { message: e.message, extensions: { code: ext.code ?? 'INTERNAL_SERVER_ERROR', ...(typeof ext.field === 'string' && { field: ext.field }) } };
  });
  json(res, status, { errors: slim });
}

/** The file name offered: the report's name and its period (digits and dashes only). */
function filenameOf(name: string, variables: Record<string, unknown>): string {
  const day = (v: unknown) => (typeof v === 'string' ? v.replace(/[^0-9-]/g, '').slice(0, 10) : '');
  return [name, day(variables.from), day(variables.to)].filter(Boolean).join('_') + '.csv';
}

export interface ReportCsvOptions {
  server: Pick<GatewayServer, 'run'>;
  authenticate: (authorization: string | undefined) => Promise<Principal>;
  logger: Logger;
  audit?: AuditRecorder;
}

/** GET /reports/<name>.csv; answers false for other paths. */
export function reportCsvRoute(opts: ReportCsvOptions): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://gateway');
    const m = ROUTE.exec(url.pathname);
    if (!url.pathname.startsWith('/reports/')) return false;
    if (req.method !== 'GET') {
      res.setHeader('allow', 'GET');
      json(res, 405, errorBody(`Reports are read with GET, not ${req.method ?? '?'}`, 'METHOD_NOT_ALLOWED'));
      return true;
    }
    const report = m ? CSV_REPORTS[m[1]] : undefined;
    if (!report) {
      json(res, 404, errorBody(`No such report: ${url.pathname}; there are ${Object.keys(CSV_REPORTS).map((n) => `/reports/${n}.csv`).join(', ')}`, 'NOT_FOUND'));
      return true;
    }
    const startedAt = Date.now();
    const principal = await authenticatedCaller(req, res, startedAt, opts);
    if (!principal) return true;
    let variables: Record<string, unknown>;
    try {
      variables = variablesOf(url.searchParams, report.params);
    } catch (err) {
      if (!(err instanceof ParamError)) throw err;
      refuse(res, [{ message: err.message, extensions: { code: 'BAD_USER_INPUT', field: err.field } }]);
      return true;
    }
    const result: FormattedExecutionResult = await opts.server.run(req, res, principal, startedAt, { query: report.query, variables });
    // Any error refuses the whole file: a CSV with rows silently missing would be read as complete.
    if (result.errors?.length || !result.data) {
      refuse(res, result.errors ?? []);
      return true;
    }
    const { header, rows } = report.table(result.data);
    const csv = stringify([header, ...rows], { bom: true, record_delimiter: 'windows', escape_formulas: true });
    res.writeHead(200, {
      'content-type': 'text/csv; charset=utf-8',
      'content-disposition': `attachment; filename="${filenameOf(m![1], variables)}"`,
      'content-length': Buffer.byteLength(csv),
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    });
    res.end(csv);
    return true;
  };
}

// Failures a caller can act on. The code matches the GraphQL `extensions.code` the subgraphs report.
export type WorkflowErrorCode = 'BAD_USER_INPUT' | 'FORBIDDEN' | 'CONFLICT' | 'NOT_FOUND';

export class WorkflowError extends Error {
  readonly code: WorkflowErrorCode;
  /** The input at fault, for BAD_USER_INPUT's `extensions.field`. */
  readonly field?: string;

  constructor(code: WorkflowErrorCode, message: string, field?: string) {
    super(message);
    this.name = 'WorkflowError';
    this.code = code;
    if (field) this.field = field;
  }
}

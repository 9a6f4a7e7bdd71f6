// A configuration that does not validate: every problem, one line each naming its variable, in one error; the
// process entry (scripts/process.ts) prints it and exits with code 1. Secret values are never part of a message.

export interface ConfigIssue {
  readonly variable: string;
  readonly message: string;
}

export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    super(formatIssues(issues));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

function formatIssues(issues: readonly ConfigIssue[]): string {
  const lines = issues.map((i) => `  ${i.variable}: ${i.message}`);
  return `Invalid configuration (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${lines.join('\n')}`;
}

/** The text to print for a configuration failure (no stack trace). */
export function formatConfigError(err: ConfigError): string {
  return err.message;
}

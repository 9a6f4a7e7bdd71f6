// Runs every check in report order and builds the report; a check that throws fails with the reason.
import { AUTHENTICITY_RUNS } from './authenticity.ts';
import { INTEGRITY_RUNS } from './integrity.ts';
import { contentBytes, isBinary } from './media.ts';
import { SECURITY_RUNS } from './security.ts';
import type { CheckFacts, CheckResult, Ctx, FourPropertiesReport, Property, RecordUnderCheck, Run } from './types.ts';
import { USABILITY_RUNS } from './usability.ts';
import { isRealDate, show } from './values.ts';

/** Every check in report order. */
export const CHECKS: ReadonlyArray<{ readonly property: Property; readonly check: string }> = Object.freeze([
  { property: 'AUTHENTICITY', check: 'content-digest' },
  { property: 'AUTHENTICITY', check: 'fixity-digest' },
  { property: 'AUTHENTICITY', check: 'metadata-types' },
  { property: 'AUTHENTICITY', check: 'archive-number' },
  { property: 'AUTHENTICITY', check: 'no-duplicate' },
  { property: 'AUTHENTICITY', check: 'location' },
  { property: 'INTEGRITY', check: 'required-metadata' },
  { property: 'INTEGRITY', check: 'sequence' },
  { property: 'INTEGRITY', check: 'content-present' },
  { property: 'INTEGRITY', check: 'package-complete' },
  { property: 'USABILITY', check: 'metadata-readable' },
  { property: 'USABILITY', check: 'format-allowed' },
  { property: 'USABILITY', check: 'environment-recorded' },
  { property: 'USABILITY', check: 'no-private-encoding' },
  { property: 'SECURITY', check: 'malware-scan' },
  { property: 'SECURITY', check: 'storage-sound' },
  { property: 'SECURITY', check: 'filing-process' },
] as const);

const RUNS: Readonly<Record<string, Run>> = { ...AUTHENTICITY_RUNS, ...INTEGRITY_RUNS, ...USABILITY_RUNS, ...SECURITY_RUNS };

/** Runs every check of the four properties; the record passes when every check passes. */
export function checkFourProperties(record: RecordUnderCheck, facts: CheckFacts): FourPropertiesReport {
  // Facts come from the caller's own code: a malformed fact is a programming error, not a finding about the record.
  if (!isRealDate(facts.today)) throw new TypeError(`facts.today ${show(facts.today)} is not a date YYYY-MM-DD`);
  if (facts.previousItemInSeries !== null && !(Number.isInteger(facts.previousItemInSeries) && facts.previousItemInSeries >= 1)) {
    throw new TypeError(`facts.previousItemInSeries ${show(facts.previousItemInSeries)} is neither null nor a positive integer`);
  }
  const hasContent = typeof record.content === 'string' && record.content.length > 0;
  const binary = isBinary(String(record.mediaType));
  const bytes = contentBytes(record);
  const views = [bytes];
  if (hasContent && !binary) {
    const latin1 = Buffer.from(record.content as string, 'latin1');
    if (!latin1.equals(bytes)) views.push(latin1);
  }
  const ctx: Ctx = { r: record, f: facts, hasContent, destroyed: record.status === 'DESTROYED', binary, bytes, views };
  const results = CHECKS.map(({ property, check }): CheckResult => {
    try {
      const { problems, ok } = RUNS[check](ctx);
      return { property, check, passed: problems.length === 0, detail: problems.length ? problems.join('; ') : ok };
    } catch (e) {
      return { property, check, passed: false, detail: `check could not run: ${(e as Error).message}` };
    }
  });
  return { passed: results.every((r) => r.passed), results };
}

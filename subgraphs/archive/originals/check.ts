// The four-properties check of a record's original documents, file by file (issue 17 §4): the format is recognised
// and the file is well-formed (XML parses, PDF structure, OFD package: the archive's own format checks,
// ../four-properties/formats.ts), the bytes kept hash to the manifest's SHA-256, nothing is encrypted and there is no
// active content (the archive's encoding and signature scans). Each check is one result per file, named
// `file-<check>` and with a detail that starts with the file's name and id, appended after the record's own checks:
// the report's shape does not change, and a record without files gets no file results.
import { USABILITY_RUNS } from '../four-properties/usability.ts';
import { SECURITY_RUNS } from '../four-properties/security.ts';
import { isBinary, sha256Hex } from '../four-properties/media.ts';
import type { CheckResult, Ctx, Property, RecordUnderCheck, Run } from '../four-properties/types.ts';
import type { ArchivedFileDoc } from '../models.ts';

/** The per-file checks, in report order. */
export const FILE_CHECKS: ReadonlyArray<{ property: Property; check: string }> = [
  { property: 'INTEGRITY', check: 'file-present' },
  { property: 'AUTHENTICITY', check: 'file-digest' },
  { property: 'USABILITY', check: 'file-format' },
  { property: 'USABILITY', check: 'file-no-private-encoding' },
  { property: 'SECURITY', check: 'file-malware-scan' },
];

/** The record's checks that run on a file's bytes unchanged. */
const ON_BYTES: Readonly<Record<string, Run>> = {
  'file-format': USABILITY_RUNS['format-allowed'],
  'file-no-private-encoding': USABILITY_RUNS['no-private-encoding'],
  'file-malware-scan': SECURITY_RUNS['malware-scan'],
};

/** A file's bytes as the record checks see content: base64 for binary types, text for the others. */
function ctxOf(file: ArchivedFileDoc, bytes: Buffer): Ctx {
  const binary = isBinary(file.mediaType);
  const content = binary ? bytes.toString('base64') : bytes.toString('utf8');
  const r = { archiveNo: file.name, mediaType: file.mediaType, content, status: 'FILED' } as RecordUnderCheck;
  const views = binary ? [bytes] : [bytes, Buffer.from(content, 'latin1')];
  return { r, f: {} as Ctx['f'], hasContent: bytes.length > 0, destroyed: false, binary, bytes, views };
}

/** The results for each file: `bytes` is what the archive's bucket holds now (null when the copy is gone). */
export function checkFiles(files: ReadonlyArray<{ file: ArchivedFileDoc; bytes: Buffer | null }>): CheckResult[] {
  const results: CheckResult[] = [];
  for (const { file, bytes } of files) {
    const who = `${file.name} (${file.fileId})`;
    for (const { property, check } of FILE_CHECKS) {
      const result = (passed: boolean, detail: string) => results.push({ property, check, passed, detail: `${who}: ${detail}` });
      if (check === 'file-present') {
        result(bytes !== null, bytes === null ? 'the archive copy is missing' : `kept in archive_files (${bytes.length} bytes)`);
        continue;
      }
      if (bytes === null) {
        result(false, 'not checked: the archive copy is missing');
        continue;
      }
      if (check === 'file-digest') {
        const digest = sha256Hex(bytes);
        result(digest === file.sha256 && bytes.length === file.size, digest === file.sha256 ? `SHA-256 ${digest} as filed` : `SHA-256 ${digest} differs from ${file.sha256} filed`);
        continue;
      }
      try {
        const { problems, ok } = ON_BYTES[check](ctxOf(file, bytes));
        result(problems.length === 0, problems.length ? problems.join('; ') : ok);
      } catch (e) {
        result(false, `check could not run: ${(e as Error).message}`);
      }
    }
  }
  return results;
}

/** Whether a result is one of a file's. */
export const isFileResult = (r: Pick<CheckResult, 'check'>): boolean => r.check.startsWith('file-');

// The shared types of the four-properties check: the record and facts it takes, the report it gives, and what
// each check receives and answers.
import type { ArchiveStatus } from '../models.ts';
import type { ArchiveKind, CategoryCode, RetentionPeriod } from '../retention.ts';

export type Property = 'AUTHENTICITY' | 'INTEGRITY' | 'USABILITY' | 'SECURITY';

export interface CheckResult {
  property: Property;
  /** Short stable id, e.g. 'content-digest'. */
  check: string;
  passed: boolean;
  /** Why, in plain English, naming the field or value. */
  detail: string;
}

export interface FourPropertiesReport {
  passed: boolean;
  results: CheckResult[];
}

export interface RecordUnderCheck {
  archiveNo: string;
  kind: ArchiveKind;
  category: CategoryCode;
  title: string;
  fiscalYear: number;
  retention: RetentionPeriod;
  retentionStartsOn: string;
  expiresOn: string | null;
  /** Disposal date of the asset of a fixed-asset card (its five years run from the year after). */
  disposedOn: string | null;
  mediaType: string;
  /** Text, or base64 for binary media types; null once destroyed. */
  content: string | null;
  /** Hex SHA-256 of the content bytes as filed. */
  contentDigest: string;
  status: ArchiveStatus;
  invoiceNumbers: string[];
  sourceClaimNo: string | null;
  voucherId: string | null;
  filedBy: string;
  environment: string;
  chainSeq: number;
  fixity: { algorithm: string; digest: string; previousDigest: string | null };
}

export interface CheckFacts {
  /** true when another record already holds this archiveNo (or, for a voucher, another record files the same voucher). */
  duplicate: boolean;
  /** Item number of the previous record in the same archive-number series (null when this is the first), to prove no gap. */
  previousItemInSeries: number | null;
  /** Digest the chain expects this record to carry: recomputed fixity digest (the caller computes it with its canonical form). */
  expectedDigest: string;
  /** Digest of the previous record in the chain (null for the first). */
  previousDigest: string | null;
  /** Where the record is stored, as recorded, and where it really is (e.g. 'mongodb:archive_records'). */
  recordedLocation: string;
  actualLocation: string;
  /** The filing identity was authenticated and authorised, and the write ran in one transaction. */
  filedByAuthorisedIdentity: boolean;
  filedInTransaction: boolean;
  /** The storage acknowledged the write and a re-read returned the same digest (on-demand checks: the re-read digest matches). */
  storageVerified: boolean;
  /** Today's date YYYY-MM-DD, for range checks. */
  today: string;
}

export interface Ctx {
  r: RecordUnderCheck;
  f: CheckFacts;
  /** content is a non-empty string. */
  hasContent: boolean;
  destroyed: boolean;
  binary: boolean;
  bytes: Buffer;
  /** Byte views to scan for signatures: the bytes, and for text the string's code units as Latin-1 bytes
   *  (binary pasted into a text field survives there, while its UTF-8 encoding would split bytes >= 0x80). */
  views: Buffer[];
}

export interface Outcome {
  problems: string[];
  ok: string;
}

export type Run = (ctx: Ctx) => Outcome;

// The four-properties check (四性检测) of one electronic accounting archive record, after DA/T 70-2018 and
// DA/T 94-2022: authenticity 真实性, integrity 完整性, usability 可用性 and security 安全性. It runs at filing (a
// record that fails is not filed) and on demand for records in custody. Pure modules: no I/O, no clock; the
// caller gathers the facts only it can know (duplicates, the chain, the storage, the filing identity, today) and
// passes them in. Every check runs and reports why it passed or failed, naming the field or value; a check that
// throws on malformed data fails with that reason instead of aborting the report (fail closed).
//
// One concern per module: authenticity.ts, integrity.ts, usability.ts and security.ts hold the checks of each
// property; runner.ts runs them in report order; types.ts, media.ts, values.ts and the format readers (formats.ts,
// xml.ts, zip.ts, pdf.ts) are what the checks share.
export { ALLOWED_MEDIA_TYPES, BINARY_MEDIA_TYPES, contentBytes, sha256Hex } from './media.ts';
export { CHECKS, checkFourProperties } from './runner.ts';
export type { CheckFacts, CheckResult, FourPropertiesReport, Property, RecordUnderCheck } from './types.ts';

// `npm run verify-seals -- --public-key FILE --seals FILE [--chain NAME] [--tsa-cert PEM [--timestamps FILE]]`: an
// auditor's check of a seal file (README.md, "Sealed chain heads") with the Ed25519 public key alone, no database:
// every head signed by that key, naming its predecessor, positions only moving forward. With --tsa-cert, every RFC
// 3161 token of the timestamps file (default: <chain>.timestamps.jsonl beside the seals) must verify against that
// certificate and name a head of the file. Prints the newest sealed and time-stamped heads, or the first line that
// breaks; exit 0 or 1 (2: wrong usage). Whether the chain's entries still match the heads is for verifyArchiveChain /
// verifyAccessLog / verifyAuditLog, or checkSeals over an export.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { type SealedHead, checkSeals, ed25519Verifier, readSealFile } from '../platform/integration/chain-seal.ts';
import { checkTimestamp, readTimestampFile } from '../platform/integration/head-timestamps.ts';
import { loadTrustedCertificates, verifyTimestamp } from '../platform/integration/timestamp-authority.ts';

const usage = 'usage: npm run verify-seals -- --public-key seal-public-key.pem --seals <chain>.seals.jsonl [--chain NAME] [--tsa-cert tsa-root.pem [--timestamps <chain>.timestamps.jsonl]]';
const fail = (message: string, code = 2): never => {
  process.stderr.write(`${message}\n${code === 2 ? `${usage}\n` : ''}`);
  process.exit(code);
};

let values: { 'public-key'?: string; seals?: string; chain?: string; 'tsa-cert'?: string; timestamps?: string } = {};
try {
  ({ values } = parseArgs({ options: { 'public-key': { type: 'string' }, seals: { type: 'string' }, chain: { type: 'string' }, 'tsa-cert': { type: 'string' }, timestamps: { type: 'string' } } }));
} catch (err) {
  fail((err as Error).message);
}
if (!values['public-key'] || !values.seals) fail('--public-key and --seals are required');
if (values.timestamps && !values['tsa-cert']) fail('--timestamps needs --tsa-cert (the certificate the tokens chain to)');

let key;
try {
  key = ed25519Verifier(await readFile(values['public-key']!, 'utf8'));
} catch (err) {
  fail(`cannot use ${values['public-key']} as the Ed25519 public key: ${(err as Error).message}`, 1);
}
const lines = await readSealFile(values.seals!).catch((err: Error) => fail(`cannot read ${values.seals}: ${err.message}`, 1));
if (!lines || lines.length === 0) fail(`${values.seals}: no sealed heads`, 1);
// The chain a file seals is in its name (<chain>.seals.jsonl); the signature covers it in every head.
const chain = values.chain ?? path.basename(values.seals!).replace(/\.seals\.jsonl$/, '');

// Without an export of the chain the file's own digests stand in for it: what is checked is the file itself.
const byFile = new Map(lines!.flatMap((h) => (h ? [[h.seq, h.digest] as const] : [])));
const result = checkSeals(key!, chain, lines!, null, { digestAt: (seq) => byFile.get(seq) });
if (result.state === 'SEALED') {
  const head = lines!.at(-1)!;
  process.stdout.write(`OK ${chain}: ${lines!.length} heads signed by key ${key!.keyId}; newest: seq ${head.seq} digest ${head.digest}${head.label ? ` archiveNo ${head.label}` : ''} sealed at ${head.at}\n`);
  if (values['tsa-cert']) await checkTokens(lines!.filter((h): h is SealedHead => h !== null));
  process.exit(0);
}
// The heads before the break verified; the line after the last of them is the first that does not.
const good = result.sealedSeq === null ? 0 : lines!.findIndex((h) => h?.seq === result.sealedSeq) + 1;
const line = lines![good];
const vouched = good > 0 ? lines![good - 1]! : null;
process.stdout.write(
  `BROKEN ${chain}: line ${good + 1} of ${lines!.length} (${line ? `seq ${line.seq}` : 'not a sealed head'}) is not signed by key ${key!.keyId}, does not name the head before it, or goes backwards` +
    `${vouched ? `; the newest head vouched for: seq ${vouched.seq} digest ${vouched.digest}${vouched.label ? ` archiveNo ${vouched.label}` : ''}` : ''}\n`,
);
process.exit(1);

/** Every token of the timestamps file against the TSA certificate and the heads: the auditor's full check. */
async function checkTokens(heads: SealedHead[]): Promise<void> {
  const trusted = await loadTrustedCertificates(values['tsa-cert']!).catch((err: Error) => fail(`cannot use ${values['tsa-cert']} as the TSA certificate: ${err.message}`, 1));
  const file = values.timestamps ?? path.join(path.dirname(values.seals!), `${chain}.timestamps.jsonl`);
  const stamps = await readTimestampFile(file).catch((err: Error) => fail(`cannot read ${file}: ${err.message}`, 1));
  if (stamps.length === 0) fail(`BROKEN ${chain}: ${file} holds no time-stamp token`, 1);
  let newest = null;
  for (const [i, stamp] of stamps.entries()) {
    const checked = await checkTimestamp({ verify: (token, data) => verifyTimestamp(token, data, trusted) }, stamp, heads);
    if (checked.state !== 'STAMPED') fail(`BROKEN ${chain}: time-stamp line ${i + 1} of ${stamps.length}: ${checked.reason}`, 1);
    newest = checked;
  }
  process.stdout.write(`OK ${chain}: ${stamps.length} time-stamp tokens verify; newest: seq ${newest!.seq}${newest!.label ? ` archiveNo ${newest!.label}` : ''} existed by ${newest!.genTime!.toISOString()} (the TSA's time)\n`);
}

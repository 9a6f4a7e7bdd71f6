// The offline check of a handover package (issue 17 §6; `npm run verify-package -- <zip>`, scripts/verify-package.ts):
// no database, only the ZIP. Every entry is read once as a stream and hashed; then
// - the BagIt manifests (RFC 8493): every listed file is there with that SHA-256, every payload file is listed,
//   Payload-Oxum (octets.files) agrees;
// - each record's folder: the files its metadata.xml lists are there with the same size and SHA-256, its content
//   hashes to the contentDigest, and its fixity digest is recomputed from fixity.json by the archive's own function
//   (../fixity.ts fixityDigest, a pure module), which ties metadata.xml's manifest of originals to the digest filed.
// Problems name the entry: MISSING, ALTERED, EXTRA or INVALID (unreadable, or disagreeing with its record).
import { createHash } from 'node:crypto';
import { XMLParser } from 'fast-xml-parser';
import yauzl from 'yauzl';
import { fixityDigest } from '../fixity.ts';
import { BAGIT_TXT, BAG_INFO, MANIFEST, RECORDS_DIR, TAG_MANIFEST, type FixityInput, manifestPath } from './layout.ts';

export type PackageProblemKind = 'MISSING' | 'ALTERED' | 'EXTRA' | 'INVALID';
export interface PackageProblem { path: string; kind: PackageProblemKind; detail: string }
export interface PackageVerification { ok: boolean; entries: number; records: number; files: number; problems: PackageProblem[] }

/** Text entries kept to be read (manifests, metadata, fixity.json); anything else is only hashed. */
const KEPT = /(^(bagit|bag-info|manifest-sha256|tagmanifest-sha256)\.txt$)|(\/(metadata\.xml|fixity\.json)$)/;
const MAX_KEPT_BYTES = 64 * 1024 * 1024;

interface Seen { sha256: string; size: number; text: string | null }

export async function verifyPackage(zipPath: string): Promise<PackageVerification> {
  const problems: PackageProblem[] = [];
  const problem = (path: string, kind: PackageProblemKind, detail: string) => problems.push({ path, kind, detail });
  const seen = new Map<string, Seen>();
  const zip = await yauzl.openPromise(zipPath, { lazyEntries: true, decodeStrings: true, validateEntrySizes: true, strictFileNames: true });
  try {
    for await (const entry of zip.eachEntry()) {
      const name = entry.fileName;
      if (name.endsWith('/')) continue;
      if (seen.has(name)) problem(name, 'INVALID', 'the entry is in the ZIP twice');
      const hash = createHash('sha256');
      const kept: Buffer[] = [];
      let size = 0;
      try {
        for await (const chunk of await zip.openReadStreamPromise(entry)) {
          hash.update(chunk as Buffer);
          size += (chunk as Buffer).length;
          if (KEPT.test(name) && size <= MAX_KEPT_BYTES) kept.push(chunk as Buffer);
        }
      } catch (err) {
        problem(name, 'INVALID', `unreadable: ${(err as Error).message.slice(0, 160)}`);
        continue;
      }
      seen.set(name, { sha256: hash.digest('hex'), size, text: KEPT.test(name) && size <= MAX_KEPT_BYTES ? Buffer.concat(kept).toString('utf8') : null });
    }
  } finally {
    zip.close();
  }

  if (seen.get('bagit.txt')?.text !== BAGIT_TXT) problem('bagit.txt', seen.has('bagit.txt') ? 'INVALID' : 'MISSING', 'not the BagIt 1.0 declaration');
  const checkManifest = (manifest: string, covers: (path: string) => boolean): Map<string, string> => {
    const listed = new Map<string, string>();
    const text = seen.get(manifest)?.text;
    if (text == null) {
      problem(manifest, 'MISSING', 'the package has no readable manifest');
      return listed;
    }
    for (const line of text.split('\n').filter(Boolean)) {
      const m = /^([0-9a-f]{64}) {1,2}(.+)$/.exec(line);
      if (!m) {
        problem(manifest, 'INVALID', `not a manifest line: ${line.slice(0, 120)}`);
        continue;
      }
      const path = manifestPath(m[2]);
      listed.set(path, m[1]);
      const entry = seen.get(path);
      if (!entry) problem(path, 'MISSING', `listed in ${manifest} but not in the package`);
      else if (entry.sha256 !== m[1]) problem(path, 'ALTERED', `SHA-256 ${entry.sha256}, ${manifest} says ${m[1]}`);
    }
    for (const path of seen.keys()) if (covers(path) && !listed.has(path)) problem(path, 'EXTRA', `not listed in ${manifest}`);
    return listed;
  };
  const payload = checkManifest(MANIFEST, (p) => p.startsWith('data/'));
  const manifestAgrees = problems.length === 0;
  checkManifest(TAG_MANIFEST, (p) => !p.startsWith('data/') && p !== TAG_MANIFEST);
  // Payload-Oxum (octets.files) only adds to a manifest that agrees: a missing or altered file is named above.
  const oxum = /^Payload-Oxum: (\d+)\.(\d+)$/m.exec(seen.get(BAG_INFO)?.text ?? '');
  const octets = [...payload.keys()].reduce((n, p) => n + (seen.get(p)?.size ?? 0), 0);
  if (manifestAgrees && (!oxum || Number(oxum[1]) !== octets || Number(oxum[2]) !== payload.size)) problem(BAG_INFO, 'INVALID', `Payload-Oxum ${oxum ? `${oxum[1]}.${oxum[2]}` : 'absent'}, the manifest lists ${octets}.${payload.size}`);

  let records = 0;
  let files = 0;
  for (const path of seen.keys()) {
    if (!path.startsWith(`${RECORDS_DIR}/`) || !path.endsWith('/metadata.xml')) continue;
    records++;
    files += checkRecord(path.slice(0, -'/metadata.xml'.length), seen, problem);
  }
  return { ok: problems.length === 0, entries: seen.size, records, files, problems };
}

const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', parseAttributeValue: false, parseTagValue: false, isArray: (name) => name === 'file' });

type Attrs = Record<string, string>;

/** One record's folder against its metadata.xml and fixity.json; the number of originals it lists. */
function checkRecord(dir: string, seen: Map<string, Seen>, problem: (path: string, kind: PackageProblemKind, detail: string) => void): number {
  const metaPath = `${dir}/metadata.xml`;
  let record: { archiveNo?: string; content?: Attrs; fixity?: Attrs; files?: { file?: Attrs[] } | string };
  try {
    record = (xml.parse(seen.get(metaPath)?.text ?? '') as { record?: typeof record }).record ?? {};
  } catch (err) {
    problem(metaPath, 'INVALID', `not readable XML: ${(err as Error).message.slice(0, 120)}`);
    return 0;
  }
  const listed = typeof record.files === 'object' ? (record.files.file ?? []) : [];
  for (const f of listed) {
    const entry = seen.get(f.path);
    if (!f.path?.startsWith(`${dir}/files/`)) problem(metaPath, 'INVALID', `lists a file outside the record's folder: ${String(f.path).slice(0, 120)}`);
    else if (!entry) problem(f.path, 'MISSING', `listed in ${metaPath} but not in the package`);
    else if (entry.sha256 !== f.sha256 || entry.size !== Number(f.size)) problem(f.path, 'ALTERED', `${entry.size} bytes SHA-256 ${entry.sha256}; ${metaPath} says ${f.size} bytes ${f.sha256}`);
  }
  for (const path of seen.keys()) if (path.startsWith(`${dir}/files/`) && !listed.some((f) => f.path === path)) problem(path, 'EXTRA', `not listed in ${metaPath}`);

  const fixityPath = `${dir}/fixity.json`;
  let fixed: FixityInput;
  try {
    fixed = JSON.parse(seen.get(fixityPath)?.text ?? 'null') as FixityInput;
    if (!fixed || typeof fixed !== 'object') throw new Error('absent');
  } catch (err) {
    problem(fixityPath, seen.has(fixityPath) ? 'INVALID' : 'MISSING', `the fields of the fixity digest cannot be read: ${(err as Error).message.slice(0, 120)}`);
    return listed.length;
  }
  if (record.content) {
    const entry = seen.get(record.content.path);
    if (!entry) problem(record.content.path, 'MISSING', `the record's content, listed in ${metaPath}`);
    else if (entry.sha256 !== fixed.contentDigest) problem(record.content.path, 'ALTERED', `SHA-256 ${entry.sha256}, the record's contentDigest is ${fixed.contentDigest}`);
  }
  // The originals in metadata.xml are the ones the digest covers (fixity.json's files, by the archive's copy id).
  const covered = new Map((fixed.files ?? []).map((f) => [f.fileId, f]));
  if (covered.size !== listed.length || listed.some((f) => covered.get(f.fileId)?.sha256 !== f.sha256 || covered.get(f.fileId)?.size !== Number(f.size))) {
    problem(metaPath, 'INVALID', `its files differ from those the fixity digest covers (${fixityPath})`);
  }
  const recomputed = fixityDigest({ ...fixed, filedAt: new Date(fixed.filedAt) }, fixed.previousDigest);
  if (record.fixity?.digest !== recomputed || record.archiveNo !== fixed.archiveNo || (record.fixity.previousDigest || null) !== fixed.previousDigest) {
    problem(fixityPath, 'ALTERED', `the fixity digest recomputed is ${recomputed}; ${metaPath} says ${record.fixity?.digest ?? 'nothing'}`);
  }
  return listed.length;
}

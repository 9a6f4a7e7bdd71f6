// `npm run verify-package -- <zip>`: the offline check of a handover package exported at GET
// /archive/packages/<fiscalYear>.zip (README.md, "Handover packages"; subgraphs/archive/handover/verify.ts). No
// database, no network: the ZIP alone. Exit 0 with a summary; 1 naming every missing, extra or altered entry; 2 on
// wrong usage or an unreadable file.
import { verifyPackage } from '../subgraphs/archive/handover/verify.ts';

const usage = 'usage: npm run verify-package -- <package.zip>';
const file = process.argv.slice(2).filter((a) => a !== '--')[0];
if (!file || process.argv.length > 4) {
  process.stderr.write(`${usage}\n`);
  process.exit(2);
}
let result;
try {
  result = await verifyPackage(file);
} catch (err) {
  process.stderr.write(`cannot read ${file} as a ZIP package: ${(err as Error).message}\n`);
  process.exit(2);
}
if (result.ok) {
  process.stdout.write(`OK ${file}: ${result.entries} entries, ${result.records} records, ${result.files} original files; every SHA-256, manifest and fixity digest agrees\n`);
  process.exit(0);
}
process.stdout.write(`REJECTED ${file}: ${result.problems.length} problem(s)\n`);
for (const p of result.problems) process.stdout.write(`${p.kind} ${p.path}: ${p.detail}\n`);
process.exit(1);

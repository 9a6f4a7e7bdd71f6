import fs from 'node:fs'; import os from 'node:os'; import path from 'node:path';
import { Engine } from '../engine/index.ts';
import { claimDoc } from '../bench/fixtures.ts';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prof-'));
const e = new Engine({ port: 0, dbPath: dir });
const run = (b: any) => { const r = e.executeTrusted({ ...b, $db: 'bench' }); if (r.ok !== 1) throw new Error(String(r.errmsg)); return r; };
run({ createIndexes: 'claims', indexes: [{ key: { claimNo: 1 }, name: 'claimNo_1', unique: true }, { key: { departmentId: 1, submittedAt: 1 }, name: 'd_s' }] });
let total = 0;
for (let s = 0; s < 10000; s += 1000) {
  const docs = Array.from({ length: 1000 }, (_, j) => claimDoc(s + j));
  const t = process.hrtime.bigint();
  run({ insert: 'claims', documents: docs });
  total += Number(process.hrtime.bigint() - t) / 1e6;
}
console.log('server ms per 1000', total / 10, 'docs/s', Math.round(10000 / (total / 1000)));
await (await e.listen()).close();
fs.rmSync(dir, { recursive: true, force: true });

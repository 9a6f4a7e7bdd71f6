// Connectors bring the files (issue 17): the attachment widgets of a Feishu approval and the DDAttachment fields of a
// DingTalk one are downloaded through local fakes of the platforms' APIs, recognised from their bytes, stored in the
// attachments bucket as the applicant's and bound to the created claim's items; refused files (host, type, size)
// leave the claim without them and are named in the inbound record.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../platform/logger.ts';
import type { RunningSubgraph } from '../../platform/subgraph.ts';
import { DingTalkInstanceDetails, normaliseDingTalkForm, normaliseFeishuForm } from '../../subgraphs/oa/connectors/details.ts';
import { ConnectorFiles } from '../../subgraphs/oa/connectors/files.ts';
import { InboundEventStore } from '../../subgraphs/oa/connectors/inbound.ts';
import type { MappedClaim } from '../../subgraphs/oa/connectors/types.ts';
import { createOaSubgraph } from '../../subgraphs/oa/index.ts';
import { until } from '../helpers/wait.ts';
import { SECRET, useOaSubgraph } from '../oa/fixture.ts';
import { postFeishu } from '../oa/feishu.ts';
import { seedOrg } from '../oa/seed.ts';
import { feishuV1, listen, type TestServer } from './helpers.ts';

const oa = useOaSubgraph('oa_connector_files');
const ENCRYPT_KEY = 'fs-encrypt-key-attachments-7d1e';
const TOKEN = 'fs-verification-token-attachments';
const FILE_MAX = 256 * 1024;
const dir = mkdtempSync(path.join(tmpdir(), 'oa-connector-files-'));

const PDF = Buffer.concat([Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\n', 'latin1'), Buffer.alloc(3000, 0x41), Buffer.from('\n%%EOF\n')]);
const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]), Buffer.from('JFIF\0'), Buffer.alloc(2000, 0x33), Buffer.from([0xff, 0xd9])]);
const EXE = Buffer.concat([Buffer.from('MZ\x90\x00\x03\x00\x00\x00', 'latin1'), Buffer.alloc(1000, 0x90)]);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

// ---- fake platform APIs ----------------------------------------------------------------------------------------

let feishuApi: TestServer;
let elsewhere: TestServer;
let withConnectors: RunningSubgraph | undefined;
const instances = new Map<string, unknown[]>();
const seen = { fileAuth: [] as (string | undefined)[], elsewhereHits: 0, bigSent: 0, bigClosed: false };

async function streamBig(res: ServerResponse): Promise<void> {
  // 64 MiB announced by no Content-Length: the client must stop reading past the limit.
  res.writeHead(200, { 'content-type': 'application/pdf' });
  res.on('close', () => (seen.bigClosed = true));
  const chunk = Buffer.concat([PDF.subarray(0, 9), Buffer.alloc(64 * 1024 - 9, 0x41)]);
  for (let i = 0; i < 1024 && !res.destroyed; i++) {
    seen.bigSent += chunk.length;
    if (!res.write(chunk)) await new Promise((r) => (res.once('drain', r), res.once('close', r)));
  }
  res.end();
}

function feishuHandler(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  const json = (body: unknown) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (req.method === 'POST' && url.pathname === '/open-apis/auth/v3/tenant_access_token/internal') return json({ code: 0, tenant_access_token: 't-fake-files', expire: 7200 });
  const inst = /^\/open-apis\/approval\/v4\/instances\/([^/]+)$/.exec(url.pathname);
  if (inst) {
    const form = instances.get(decodeURIComponent(inst[1]));
    return form ? json({ code: 0, data: { approval_name: 'Travel', serial_number: '001', user_id: 'fs-alice', form: JSON.stringify(form) } }) : json({ code: 1390003, msg: 'not found' });
  }
  if (url.pathname.startsWith('/files/')) seen.fileAuth.push(req.headers.authorization);
  if (url.pathname === '/files/receipt.pdf') return void res.writeHead(200, { 'content-type': 'application/pdf' }).end(PDF);
  if (url.pathname === '/files/photo.jpg') return void res.writeHead(200, { 'content-type': 'image/jpeg' }).end(JPEG);
  if (url.pathname === '/files/invoice.pdf') return void res.writeHead(200, { 'content-type': 'application/pdf' }).end(EXE);
  if (url.pathname === '/files/big.pdf') return void streamBig(res);
  if (url.pathname === '/files/moved') return void res.writeHead(302, { location: `${elsewhere.url}/metadata` }).end();
  res.writeHead(404).end();
}

const fileWidget = (name: string, urls: string[], names: string[]) => ({ id: `w-${name}`, name, type: 'attachmentV2', ext: names.join(','), value: urls });
const lines = (rows: unknown[][]) => ({ id: 'w-lines', name: 'lines', type: 'fieldList', value: rows });
const row = (what: string, amount: string, files?: unknown) => [
  { id: 'w-what', name: 'what', type: 'input', value: what },
  { id: 'w-amount', name: 'amount', type: 'amount', value: amount },
  { id: 'w-date', name: 'date', type: 'date', value: '2026-11-02T09:00:00+08:00' },
  ...(files ? [files] : []),
];

let url = '';
beforeAll(async () => {
  feishuApi = await listen(feishuHandler);
  elsewhere = await listen((_req, res) => {
    seen.elsewhereHits++;
    res.writeHead(200, { 'content-type': 'application/pdf' }).end(PDF);
  });
  const org = await seedOrg(oa, '-cf');
  const mappingFile = path.join(dir, 'mapping.json');
  writeFileSync(
    mappingFile,
    JSON.stringify({
      users: { feishu: { 'fs-alice': org.ids.alice } },
      approvals: { feishu: { 'APPROVAL-TRAVEL': { category: 'TRAVEL', items: { field: 'lines', description: 'what', amount: 'amount', occurredOn: 'date', attachments: 'files' } } } },
    }),
  );
  const { subgraph } = await createOaSubgraph({
    connection: oa.connection,
    logger: createLogger({ level: 'silent' }),
    internalSecret: SECRET,
    production: false,
    settings: { approvalThresholdFen: 500_000, timeZone: 'Asia/Shanghai' },
    attachments: { fileMaxBytes: FILE_MAX },
    connectorEnv: {
      FEISHU_ENCRYPT_KEY: ENCRYPT_KEY,
      FEISHU_VERIFICATION_TOKEN: TOKEN,
      FEISHU_APP_ID: 'cli_files',
      FEISHU_APP_SECRET: 'secret-files',
      CONNECTOR_MAPPING_FILE: mappingFile,
      CONNECTOR_DETAILS_FEISHU_URL: feishuApi.url,
    },
  });
  withConnectors = await subgraph.listen(0, '127.0.0.1');
  url = withConnectors.url.replace('/graphql', '/connectors/feishu');
});
afterAll(async () => {
  await withConnectors?.close();
  await feishuApi?.close();
  await elsewhere?.close();
  rmSync(dir, { recursive: true, force: true });
});

const event = (uuid: string, instanceCode: string) => feishuV1({ uuid, token: TOKEN, instanceCode, approvalCode: 'APPROVAL-TRAVEL', status: 'PENDING', operateTime: Date.now() - 1000 });

async function bytesOf(id: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of oa.services.attachments.bucket.openDownloadStream(new ObjectId(id))) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

describe('Feishu attachment widgets', () => {
  it('downloads a row column into its item and a top-level widget into the first item, bound to the claim', async () => {
    const f = `${feishuApi.url}/files`;
    instances.set('INST-FILES', [
      lines([row('Taxi', '42.00', fileWidget('files', [`${f}/receipt.pdf`], ['taxi receipt.pdf'])), row('Hotel', '300.00', fileWidget('files', [`${f}/photo.jpg`], ['hotel.jpg']))]),
      fileWidget('files', [`${f}/photo.jpg`], ['boarding pass.jpg']),
    ]);
    const first = await postFeishu(url, event('cf-ev-1', 'INST-FILES'), ENCRYPT_KEY);
    expect(first).toMatchObject({ status: 200, body: { status: 'APPLIED' } });

    const claim = await oa.services.models.ExpenseClaim.findOne({ 'external.instanceCode': 'INST-FILES' }).lean();
    const [taxi, hotel] = claim!.items;
    expect(taxi.attachmentIds).toHaveLength(2);
    expect(hotel.attachmentIds).toHaveLength(1);
    const files = await oa.services.attachments.byIds([...taxi.attachmentIds!, ...hotel.attachmentIds!]);
    const byId = new Map(files.map((x) => [x._id.toHexString(), x.metadata]));
    expect(byId.get(taxi.attachmentIds![0])).toMatchObject({ filename: 'taxi receipt.pdf', mediaType: 'application/pdf', sha256: sha(PDF), size: PDF.length, ownerId: claim!.applicantId, claimId: claim!._id.toHexString(), expiresAt: null });
    expect(byId.get(taxi.attachmentIds![1])).toMatchObject({ filename: 'boarding pass.jpg', mediaType: 'image/jpeg', sha256: sha(JPEG) });
    // Inspected as an upload is: a PDF's structure is checked and kept; an image is not inspected.
    expect((byId.get(taxi.attachmentIds![0]) as { structure?: unknown }).structure).toMatchObject({ ok: expect.any(Boolean) });
    expect((byId.get(taxi.attachmentIds![1]) as { structure?: unknown }).structure ?? null).toBeNull();
    expect(byId.get(hotel.attachmentIds![0])).toMatchObject({ filename: 'hotel.jpg', mediaType: 'image/jpeg', sha256: sha(JPEG), claimId: claim!._id.toHexString() });
    expect((await bytesOf(taxi.attachmentIds![0])).equals(PDF)).toBe(true);
    expect((await bytesOf(hotel.attachmentIds![0])).equals(JPEG)).toBe(true);
    // The token goes to the platform's own host only.
    expect(seen.fileAuth.every((a) => a === 'Bearer t-fake-files')).toBe(true);
    expect(await new InboundEventStore(oa.connection).get('feishu', 'cf-ev-1')).toMatchObject({ status: 'APPLIED', reason: null });
  });

  it('refuses a URL or redirect to another host, an executable named invoice.pdf and an oversize file, creating the claim without them', async () => {
    const f = `${feishuApi.url}/files`;
    instances.set('INST-BAD', [
      lines([
        row('Taxi', '42.00', fileWidget('files', [`${elsewhere.url}/metadata`, `${f}/moved`, `${f}/invoice.pdf`], ['a.pdf', 'b.pdf', 'invoice.pdf'])),
        row('Hotel', '300.00', fileWidget('files', [`${f}/big.pdf`, `${f}/receipt.pdf`], ['big.pdf', 'ok.pdf'])),
      ]),
    ]);
    expect(await postFeishu(url, event('cf-ev-2', 'INST-BAD'), ENCRYPT_KEY)).toMatchObject({ status: 200, body: { status: 'APPLIED' } });

    expect(seen.elsewhereHits).toBe(0);
    const host = new URL(elsewhere.url).host;
    const record = await new InboundEventStore(oa.connection).get('feishu', 'cf-ev-2');
    expect(record).toMatchObject({ status: 'APPLIED', reasonCode: 'ATTACHMENT_REFUSED' });
    expect(record!.reason).toBe(
      'claim created without 4 refused attachments: ' +
        [
          `item 1, file "a.pdf": download host ${host} is not allowed`,
          `item 1, file "b.pdf": download host ${host} is not allowed`,
          'item 1, file "invoice.pdf": not an accepted type (PDF, OFD, XML, JPEG, PNG, TIFF or HEIC, recognised from the bytes)',
          `item 2, file "big.pdf": larger than ${FILE_MAX} bytes`,
        ].join('; '),
    );
    // The oversize download was abandoned early: far less than its 64 MiB was sent.
    await until(() => seen.bigClosed, 'the oversize download to be abandoned');
    expect(seen.bigSent).toBeLessThan(16 * 1024 * 1024);

    const claim = await oa.services.models.ExpenseClaim.findOne({ 'external.instanceCode': 'INST-BAD' }).lean();
    expect(claim!.items[0].attachmentIds ?? []).toEqual([]);
    expect(claim!.items[1].attachmentIds).toHaveLength(1);
    const [ok] = await oa.services.attachments.byIds(claim!.items[1].attachmentIds!);
    expect(ok.metadata).toMatchObject({ filename: 'ok.pdf', sha256: sha(PDF), claimId: claim!._id.toHexString() });
    // Refused files left nothing behind in the bucket.
    expect(await oa.services.attachments.files.countDocuments({ 'metadata.claimId': null })).toBe(0);
  });
});

describe('DingTalk DDAttachment fields', () => {
  it('normalises a DDAttachment value and downloads the files through the download-info API', async () => {
    const form = normaliseDingTalkForm([
      { name: '附件', component_type: 'DDAttachment', value: JSON.stringify([{ spaceId: '163', fileId: 'F-1', fileName: 'fapiao.pdf', fileSize: String(PDF.length), fileType: 'pdf' }, { spaceId: 163, fileId: 77, fileName: 'photo.jpg', fileSize: JPEG.length, fileType: 'jpg' }]) },
    ]);
    expect(form[0].value).toEqual({
      kind: 'attachments',
      files: [
        { platform: 'dingtalk', name: 'fapiao.pdf', fileId: 'F-1', spaceId: '163', size: PDF.length },
        { platform: 'dingtalk', name: 'photo.jpg', fileId: '77', spaceId: '163', size: JPEG.length },
      ],
    });
    expect(normaliseFeishuForm([{ id: 'w', name: 'files', type: 'attachmentV2', ext: 'a.pdf', value: 'https://internal-api-lark-file.feishu.cn/a' }])[0].value).toEqual({
      kind: 'attachments',
      files: [{ platform: 'feishu', name: 'a.pdf', url: 'https://internal-api-lark-file.feishu.cn/a' }],
    });

    const asked: unknown[] = [];
    const api = await listen((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      if (u.pathname === '/gettoken') return void res.writeHead(200).end(JSON.stringify({ errcode: 0, access_token: 'dt-fake', expires_in: 7200 }));
      if (u.pathname === '/v1.0/workflow/processInstances/spaces/files/urls/download') {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          const parsed = JSON.parse(body) as { fileId: string };
          asked.push({ token: req.headers['x-acs-dingtalk-access-token'], ...parsed });
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ success: true, result: { downloadUri: `${apiUrl}/dl/${parsed.fileId}`, fileId: parsed.fileId, spaceId: 163 } }));
        });
        return;
      }
      if (u.pathname === '/dl/F-1') return void res.writeHead(200).end(PDF);
      if (u.pathname === '/dl/77') return void res.writeHead(200).end(JPEG);
      res.writeHead(404).end();
    });
    const apiUrl = api.url;
    try {
      const dingtalk = new DingTalkInstanceDetails({ baseUrl: api.url, apiBaseUrl: api.url, appKey: 'k', appSecret: 's' });
      const files = new ConnectorFiles({ store: oa.services.attachments, dingtalk });
      const org = await seedOrg(oa, '-cd');
      const claim: MappedClaim = {
        source: { platform: 'dingtalk', instanceCode: 'PROC-1', approvalCode: 'PROC-CODE' },
        applicantId: org.ids.alice,
        category: 'TRAVEL',
        title: 'Trip',
        items: [{ description: 'Taxi', amountFen: 4200, occurredOn: '2026-11-02', attachments: (form[0].value as { files: never[] }).files }],
        status: 'SUBMITTED',
        eventTime: new Date(),
      };
      const { claim: out, problems } = await files.collect(claim);
      expect(problems).toEqual([]);
      expect(asked).toEqual([
        { token: 'dt-fake', processInstanceId: 'PROC-1', fileId: 'F-1' },
        { token: 'dt-fake', processInstanceId: 'PROC-1', fileId: '77' },
      ]);
      const ids = out.items[0].attachmentIds!;
      expect(ids).toHaveLength(2);
      const stored = new Map((await oa.services.attachments.byIds(ids)).map((x) => [x._id.toHexString(), x.metadata]));
      expect(stored.get(ids[0])).toMatchObject({ filename: 'fapiao.pdf', mediaType: 'application/pdf', sha256: sha(PDF), ownerId: org.ids.alice, claimId: null });
      expect(stored.get(ids[1])).toMatchObject({ filename: 'photo.jpg', mediaType: 'image/jpeg', sha256: sha(JPEG) });
      expect((await bytesOf(ids[0])).equals(PDF)).toBe(true);
    } finally {
      await api.close();
    }
  });
});

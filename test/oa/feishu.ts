// The oa subgraph with its Feishu connector, for tests that post signed, encrypted events to it: the mapping file
// (fs-alice → an employee, APPROVAL-TRAVEL → a travel claim read from the form's `reason` and `lines`), the fake
// instance details the test fills, and a poster.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Connection } from 'mongoose';
import { createLogger } from '../../platform/logger.ts';
import type { RunningSubgraph } from '../../platform/subgraph.ts';
import { createOaSubgraph } from '../../subgraphs/oa/index.ts';
import { type FakeDetails, feishuDelivery } from '../connectors/helpers.ts';
import { SECRET } from './fixture.ts';

export interface FeishuOa {
  running: RunningSubgraph;
  /** Where Feishu posts events. */
  url: string;
}

/** Serves oa with the Feishu connector on a free port; `dir` receives the mapping file. */
export async function startFeishuOa(opts: { connection: Connection; dir: string; alice: string; details: FakeDetails; encryptKey: string; token: string }): Promise<FeishuOa> {
  const mappingFile = path.join(opts.dir, 'mapping.json');
  writeFileSync(
    mappingFile,
    JSON.stringify({
      users: { feishu: { 'fs-alice': opts.alice } },
      approvals: { feishu: { 'APPROVAL-TRAVEL': { category: 'TRAVEL', title: 'reason', items: { field: 'lines', description: 'what', amount: 'amount', occurredOn: 'date', invoiceNo: 'invoice' } } } },
    }),
  );
  const { subgraph } = await createOaSubgraph({
    connection: opts.connection,
    logger: createLogger({ level: 'silent' }),
    internalSecret: SECRET,
    production: false,
    settings: { approvalThresholdFen: 500_000, timeZone: 'Asia/Shanghai' },
    connectorEnv: { FEISHU_ENCRYPT_KEY: opts.encryptKey, FEISHU_VERIFICATION_TOKEN: opts.token, FEISHU_APP_ID: 'cli_test', FEISHU_APP_SECRET: 'secret-test', CONNECTOR_MAPPING_FILE: mappingFile },
    connectorDetails: opts.details,
  });
  const running = await subgraph.listen(0, '127.0.0.1');
  return { running, url: running.url.replace('/graphql', '/connectors/feishu') };
}

/** Posts an event as Feishu does (encrypted and signed with `encryptKey`). */
export async function postFeishu(url: string, event: unknown, encryptKey: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const delivery = feishuDelivery(event, encryptKey);
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...delivery.headers }, body: delivery.body });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

// The executable supergraph: one query reaches oa and archive, with the caller's identity signed per call.
import { type ExecutionResult, graphql } from 'graphql';
import mongoose, { type Connection } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningEngine, startEngine } from '../../engine/index.ts';
import { buildSupergraphSchema, loadSupergraphSdl } from '../../gateway/supergraph.ts';
import type { Principal } from '../../platform/identity.ts';
import { createLogger } from '../../platform/logger.ts';
import type { RunningSubgraph } from '../../platform/subgraph.ts';
import { DEFAULT_CHART } from '../../subgraphs/archive/context.ts';
import { createArchiveSubgraph } from '../../subgraphs/archive/index.ts';
import { createOaSubgraph } from '../../subgraphs/oa/index.ts';
import { oaModels } from '../../subgraphs/oa/models.ts';
import { oaDirectory } from '../../subgraphs/oa/organisation.ts';
import { SECRET, ok } from '../oa/fixture.ts';
import { CREATE_CLAIM, DECIDE, SUBMIT, item, seedOrg } from '../oa/seed.ts';

let engine: RunningEngine;
let connection: Connection;
const running: RunningSubgraph[] = [];
let schema: ReturnType<typeof buildSupergraphSchema>;

beforeAll(async () => {
  engine = await startEngine({ port: 0, dbPath: null });
  connection = await mongoose.createConnection(`${engine.uri}/gateway_supergraph`).asPromise();
  const logger = createLogger({ level: 'silent' });
  const oa = await createOaSubgraph({ connection, logger, internalSecret: SECRET, production: false, settings: { approvalThresholdFen: 500_000, timeZone: 'Asia/Shanghai' } });
  const archive = await createArchiveSubgraph({
    connection,
    logger,
    internalSecret: SECRET,
    production: false,
    directory: oaDirectory({ models: oaModels(connection) }),
    settings: { fonds: 'Q001', timeZone: 'Asia/Shanghai', ...DEFAULT_CHART, financeDepartmentId: null, unitHeadId: null, itDepartmentId: null },
  });
  running.push(await oa.subgraph.listen(0, '127.0.0.1'), await archive.subgraph.listen(0, '127.0.0.1'));
  schema = buildSupergraphSchema({ supergraphSdl: loadSupergraphSdl(), urls: { oa: running[0].url, archive: running[1].url }, internalSecret: SECRET, timeoutMs: 5000 });
});

afterAll(async () => {
  for (const r of running) await r.close();
  await connection?.close();
  await engine?.close();
});

const run = async (principal: Principal | null, source: string, variableValues?: Record<string, unknown>) =>
  (await graphql({ schema, source, variableValues, contextValue: { principal } })) as ExecutionResult<Record<string, unknown>>;

/** The oa subgraph through the gateway schema, as the test seeds use it. */
const viaGateway = {
  gql: async (who: Principal | null, query: string, variables?: Record<string, unknown>) => {
    const r = await run(who, query, variables);
    return { status: 200, data: r.data as never, errors: r.errors?.map((e) => ({ message: e.message, extensions: e.extensions as { code?: string } })) };
  },
};

describe('the executable supergraph', () => {
  it('resolves a claim with its voucher and archive record across both subgraphs', async () => {
    const org = await seedOrg(viaGateway as never, '-gw');
    const claim = ok(await viaGateway.gql(org.as.alice, CREATE_CLAIM, { input: { title: 'Gateway trip', category: 'TRAVEL', items: [item('120.50', 'GW-INV-1')] } })) as { createExpenseClaim: { id: string; claimNo: string } };
    const id = claim.createExpenseClaim.id;
    ok(await viaGateway.gql(org.as.alice, SUBMIT, { id }));
    ok(await viaGateway.gql(org.as.salesManager, DECIDE, { id, d: 'APPROVE' }));
    ok(await viaGateway.gql(org.as.accountant, DECIDE, { id, d: 'APPROVE' }));
    // The sync service's part, done by hand here: voucher and filing through the gateway with a service identity.
    const sync: Principal = { sub: 'sync-service', roles: [], departmentId: null, kind: 'service' };
    const voucher = ok(
      await viaGateway.gql(sync, 'mutation($c: ApprovedClaimInput!) { generateVoucher(claim: $c) { id voucherNo } }', {
        c: { claimId: id, claimNo: claim.createExpenseClaim.claimNo, title: 'Gateway trip', category: 'TRAVEL', applicantId: org.ids.alice, departmentId: org.sales, approvedAt: new Date().toISOString(), total: '120.50', items: [{ description: 'item', amount: '120.50', occurredOn: '2026-11-01', invoiceNo: 'GW-INV-1' }] },
      }),
    ) as { generateVoucher: { id: string; voucherNo: string } };
    ok(await viaGateway.gql(sync, 'mutation($v: ID!) { fileVoucher(voucherId: $v) { id } }', { v: voucher.generateVoucher.id }));

    const result = await run(org.as.accountant, `query($id: ID!) { expenseClaim(id: $id) {
      claimNo total status applicant { name department { code } }
      voucher { voucherNo debitTotal creditTotal entries { accountCode debit credit } }
      archiveRecord { archiveNo retention expiresOn voucher { voucherNo } }
    } }`, { id });
    expect(result.errors).toBeUndefined();
    expect(result.data!.expenseClaim).toEqual({
      claimNo: claim.createExpenseClaim.claimNo,
      total: '120.50',
      status: 'APPROVED',
      applicant: { name: 'Alice', department: { code: 'SALES-gw' } },
      voucher: {
        voucherNo: voucher.generateVoucher.voucherNo,
        debitTotal: '120.50',
        creditTotal: '120.50',
        entries: [
          { accountCode: '6602.01', debit: '120.50', credit: '0.00' },
          { accountCode: '2241', debit: '0.00', credit: '120.50' },
        ],
      },
      archiveRecord: { archiveNo: expect.stringMatching(/^Q001-\d{4}-D30-PZ-\d{5}$/), retention: 'Y30', expiresOn: expect.stringMatching(/^\d{4}-12-31$/), voucher: { voucherNo: voucher.generateVoucher.voucherNo } },
    });
  }, 60_000);

  it('carries no identity for an anonymous call, so the subgraphs refuse it', async () => {
    const result = await run(null, '{ departments { id } }');
    expect(result.data?.departments ?? null).toBeNull();
    expect(result.errors?.length).toBeGreaterThan(0);
  });
});

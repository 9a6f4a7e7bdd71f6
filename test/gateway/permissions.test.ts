// The unified permission model at the gateway: fail closed, role rules, sensitive fields full/masked/forbidden.
import { describe, expect, it } from 'vitest';
import { publicObjectTypes } from '../../gateway/permissions.ts';
import { buildSupergraphSchema, loadSupergraphSdl } from '../../gateway/supergraph.ts';
import type { Principal } from '../../platform/identity.ts';
import { ruleFor } from '../../schema/permissions.ts';
import { ok } from '../oa/fixture.ts';
import { seedOrg } from '../oa/seed.ts';
import { asOaClient, useGateway } from './fixture.ts';

const gw = useGateway('gateway_permissions');
const codesOf = (r: { errors?: ReadonlyArray<{ extensions: Record<string, unknown> }> }) => (r.errors ?? []).map((e) => e.extensions.code);

describe('fail closed', () => {
  it('has a rule for every field of every public type of the supergraph', () => {
    const schema = buildSupergraphSchema({ supergraphSdl: loadSupergraphSdl(), urls: {}, internalSecret: 'x'.repeat(40), timeoutMs: 1000 });
    const missing: string[] = [];
    let checked = 0;
    for (const type of publicObjectTypes(schema)) {
      for (const field of Object.keys(type.getFields())) {
        checked++;
        if (!ruleFor(type.name, field)) missing.push(`${type.name}.${field}`);
      }
    }
    expect(checked).toBeGreaterThan(200);
    expect(missing).toEqual([]);
  });
});

describe('sensitive fields and role rules through the gateway', () => {
  it('gives each role the full value, the last four characters, or FORBIDDEN', async () => {
    const org = await seedOrg(asOaClient(gw) as never, '-perm');
    const ADMIN: Principal = { sub: 'admin-bootstrap', roles: ['ADMIN'], departmentId: null, kind: 'user' };
    // Alice's sensitive data, set by ADMIN.
    const set = await gw.run(ADMIN, 'mutation($id: ID!) { updateEmployee(id: $id, input: { phone: "13800138000", bankAccount: "6222021234567890128", idNumber: "11010519491231002X" }) { id } }', { id: org.ids.alice });
    expect(set.errors).toBeUndefined();
    const Q = 'query($id: ID!) { employee(id: $id) { id name phone bankAccount idNumber } }';
    const read = async (who: Principal) => gw.run(who, Q, { id: org.ids.alice });

    const self = await read(org.as.alice);
    expect(self.data!.employee).toEqual({ id: org.ids.alice, name: 'Alice', phone: '13800138000', bankAccount: '6222021234567890128', idNumber: '11010519491231002X' });
    const accountant = await read(org.as.accountant);
    expect(accountant.data!.employee).toMatchObject({ bankAccount: '6222021234567890128' });
    expect(codesOf(accountant as never)).toEqual(['FORBIDDEN', 'FORBIDDEN']); // phone and idNumber
    const manager = await read(org.as.salesManager);
    expect(manager.errors).toBeUndefined();
    expect(manager.data!.employee).toMatchObject({ phone: '*******8000', bankAccount: '***************0128', idNumber: '**************002X' });
    const auditor = await read(org.as.auditor);
    expect(auditor.data!.employee).toMatchObject({ phone: '*******8000', bankAccount: '***************0128' });
    const colleague = await read(org.as.bob);
    expect(colleague.data!.employee).toMatchObject({ name: 'Alice', phone: null, bankAccount: null, idNumber: null });
    expect(codesOf(colleague as never)).toEqual(['FORBIDDEN', 'FORBIDDEN', 'FORBIDDEN']);
    const otherManager = await read(org.as.ceo); // a manager, but of head office
    expect(codesOf(otherManager as never)).toEqual(['FORBIDDEN', 'FORBIDDEN', 'FORBIDDEN']);
  }, 60_000);

  it('refuses the unauthenticated and gates role-only fields', async () => {
    expect(codesOf((await gw.run(null, '{ departments { id } }')) as never)).toEqual(['UNAUTHENTICATED']);
    const employee: Principal = { sub: 'emp-x', roles: ['EMPLOYEE'], departmentId: null, kind: 'user' };
    expect(codesOf((await gw.run(employee, '{ inboundEvents { totalCount } }')) as never)).toEqual(['FORBIDDEN']);
    expect(codesOf((await gw.run(employee, '{ verifyArchiveChain { ok } }')) as never)).toEqual(['FORBIDDEN']);
    expect(codesOf((await gw.run(employee, 'mutation { createDepartment(input: { code: "X", name: "X" }) { id } }')) as never)).toEqual(['FORBIDDEN']);
    const auditor: Principal = { sub: 'aud-x', roles: ['AUDITOR'], departmentId: null, kind: 'user' };
    const chain = await gw.run(auditor, '{ verifyArchiveChain { ok } }');
    expect(chain.errors).toBeUndefined();
    expect(chain.data!.verifyArchiveChain).toEqual({ ok: true });
    expect(ok({ status: 200, data: (await gw.run({ sub: 'adm', roles: ['ADMIN'], departmentId: null, kind: 'user' }, '{ inboundEvents { totalCount } }')).data })).toEqual({ inboundEvents: { totalCount: 0 } });
  }, 60_000);
});

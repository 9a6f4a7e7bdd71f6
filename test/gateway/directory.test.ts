// The gateway's directory lookups go to the oa subgraph with the gateway's own signed identity.
import { describe, expect, it } from 'vitest';
import { oaDirectoryLookup } from '../../gateway/directory.ts';
import { SECRET, useOaSubgraph } from '../oa/fixture.ts';
import { seedOrg } from '../oa/seed.ts';

const oa = useOaSubgraph('gateway_directory');

describe('directory lookup', () => {
  it('returns an employee\'s roles and department, null for an unknown subject, and fails on a wrong secret', async () => {
    const org = await seedOrg(oa, '-dir');
    const lookup = oaDirectoryLookup({ oaUrl: oa.url, internalSecret: SECRET, timeoutMs: 5000 });
    expect(await lookup(org.ids.accountant)).toEqual({ roles: ['EMPLOYEE', 'ACCOUNTANT'], departmentId: org.hq });
    expect(await lookup('sync-service')).toBeNull();
    const wrong = oaDirectoryLookup({ oaUrl: oa.url, internalSecret: 'another-internal-secret-0000000000000000', timeoutMs: 5000 });
    await expect(wrong(org.ids.accountant)).rejects.toThrow('directory lookup failed with HTTP 401');
  });
});

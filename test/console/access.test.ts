// The console shows views and buttons by role (console/src/access.ts); the gateway decides with
// schema/permissions.ts. The two must say the same, or the console shows buttons that fail (or hides what works).
import { describe, expect, it } from 'vitest';
import { CAPABILITIES, type Capability, accessOf, tokenRoles } from '../../console/src/access.ts';
import { ROW_SCOPES, rolesFor } from '../../schema/permissions.ts';
import { FILE_READERS } from '../../subgraphs/archive/originals/http.ts';

/** The fields each capability stands for: every one must allow exactly the capability's roles. */
const FIELDS: Record<Exclude<Capability, 'allExpenses' | 'downloadArchivedFiles'>, [type: string, field: string][]> = {
  watch: [['Query', 'systemStatus'], ['Query', 'systemStatusHistory'], ['Query', 'syncJobs'], ['Query', 'alerts'], ['Subscription', 'alerts']],
  operate: [['Mutation', 'retrySyncJob'], ['Mutation', 'acknowledgeAlert'], ['Mutation', 'resolveAlert'], ['Mutation', 'runAlertAction']],
  syncStatistics: [['Query', 'syncStatistics']],
  readFeedback: [['Query', 'feedback']],
  handleFeedback: [['Mutation', 'tagFeedback'], ['Mutation', 'closeFeedback'], ['Mutation', 'reopenFeedback']],
  periods: [['Query', 'accountingPeriods']],
};

const sorted = (roles: readonly string[]) => [...roles].sort();

describe('the console’s access table', () => {
  it('gives each capability the roles the permission model gives its fields', () => {
    for (const [capability, fields] of Object.entries(FIELDS)) {
      for (const [type, field] of fields) expect(sorted(rolesFor(type, field)), `${capability}: ${type}.${field}`).toEqual(sorted(CAPABILITIES[capability as Capability]));
    }
    // Expense figures over every claim: the roles that read every claim.
    expect(sorted(CAPABILITIES.allExpenses)).toEqual(sorted(ROW_SCOPES.ExpenseClaim.all));
    // The archive's copies of original documents: the roles the archive's file route serves by role.
    expect(sorted(CAPABILITIES.downloadArchivedFiles)).toEqual(sorted(FILE_READERS));
  });

  it('reads the roles a token names, and nothing from a token that is not one', () => {
    const payload = Buffer.from(JSON.stringify({ sub: 'x', roles: ['ADMIN', 7, 'AUDITOR'] })).toString('base64url');
    expect(tokenRoles(`eyJhbGciOiJIUzI1NiJ9.${payload}.sig`)).toEqual(['ADMIN', 'AUDITOR']);
    expect(tokenRoles('garbage')).toEqual([]);
    expect(tokenRoles('a.!!!.c')).toEqual([]);
    const auditor = accessOf(['EMPLOYEE', 'AUDITOR', 'AUDITOR']);
    expect(auditor.roles).toEqual(['EMPLOYEE', 'AUDITOR']);
    expect([auditor.can('watch'), auditor.can('operate'), auditor.can('allExpenses')]).toEqual([true, false, true]);
  });
});

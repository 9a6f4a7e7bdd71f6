// Filing a destroyed register as a DESTRUCTION_REGISTER record (kept permanently), after its destruction.
import { conflict } from '../../../../platform/graphql.ts';
import type { Principal } from '../../../../platform/identity.ts';
import { canonicalJson } from '../../../../platform/integration/canonical-json.ts';
import { rolesFor } from '../../../../schema/permissions.ts';
import { fileRecord } from '../../filing.ts';
import { createArchiveLoaders } from '../../loaders.ts';
import { requireRole } from '../guards.ts';
import { hexId } from '../records.ts';
import { type LifecycleServices, nowOf, todayOf } from '../services.ts';
import { type DestructionRegisterDoc, loadRegister, registerModel } from './register.ts';

/** Who files a register by hand: the model's rule (schema/permissions.ts). */
const REGISTER_FILERS = rolesFor('Mutation', 'fileDestructionRegister');

/** The identity the archive files its own registers under when the last signer is not an archivist. */
export const ARCHIVE_SYSTEM: Principal = { sub: 'archive-system', roles: [], departmentId: null, kind: 'service' };

/** The register as filed: what docs/domain.md asks it to list, and who signed. */
export function registerContent(r: DestructionRegisterDoc): string {
  return canonicalJson({
    registerNo: r.registerNo,
    reason: r.reason,
    proposedBy: r.proposedBy,
    proposedAt: r.proposedAt,
    handlerIds: r.handlerIds,
    electronic: r.electronic,
    lines: r.lines,
    signatures: r.signatures,
    destroyedAt: r.destroyedAt,
  });
}

/** Files the register as a record and links it; a failed filing is kept in `filingError` for a retry. */
export async function fileRegister(svc: LifecycleServices, principal: Principal, register: DestructionRegisterDoc): Promise<DestructionRegisterDoc> {
  let set: Partial<DestructionRegisterDoc>;
  try {
    const filed = await fileRecord(
      { ...svc, principal, loaders: createArchiveLoaders(svc, principal) },
      {
        kind: 'DESTRUCTION_REGISTER',
        title: `会计档案销毁清册 ${register.registerNo}`,
        fiscalYear: Number(todayOf(svc, register.destroyedAt ?? nowOf(svc)).slice(0, 4)),
        mediaType: 'application/json',
        content: registerContent(register),
      },
    );
    set = { registerRecordId: hexId(filed), filingError: null };
  } catch (err) {
    set = { filingError: err instanceof Error ? err.message.slice(0, 500) : 'filing failed' };
  }
  return (
    (await registerModel(svc.connection).findOneAndUpdate({ _id: register._id, registerRecordId: null }, { $set: set }, { returnDocument: 'after' }).lean<DestructionRegisterDoc>()) ??
    register
  );
}

/**
 * ARCHIVIST: files a destroyed register as a DESTRUCTION_REGISTER record (kept permanently). Done automatically
 * when an archivist gave the last signature; otherwise, or after a failed filing, an archivist calls this.
 */
export async function fileDestructionRegister(svc: LifecycleServices, principal: Principal, registerId: string): Promise<DestructionRegisterDoc> {
  requireRole(principal, REGISTER_FILERS, 'Filing a destruction register');
  const register = await loadRegister(svc, registerId);
  if (register.status !== 'DESTROYED') throw conflict(`register ${register.registerNo} is ${register.status}; only a register carried out is filed`);
  if (register.registerRecordId) return register;
  return fileRegister(svc, principal, register);
}

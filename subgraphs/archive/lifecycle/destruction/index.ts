// Destruction (销毁): an ARCHIVIST proposes a destruction register (销毁清册) of expired records that an appraisal
// found may be destroyed. docs/domain.md: the register lists each record (name, volume no., count, years, archive
// no., retention due and served, destruction time) and is signed by the unit head, the archive department head,
// the accounting department head and the handlers; for electronic archives the IT department also supervises.
//
// The organisational signatures run as the `archive-destruction` workflow (one stage, its steps in parallel, every
// step required): unit head (configured employee), archive department head (an ARCHIVIST other than the
// proposer), accounting department head (manager of the configured finance department; a FINANCE_DIRECTOR when the
// post is vacant) and, for electronic records, the manager of the configured IT department. The handlers (经办人:
// the proposing archivist and a second handler named in the proposal) sign on the register itself: a stored
// definition is the same for every register, and the handlers differ per register. A person signs once, in one
// capacity. The last signature destroys the records in the same transaction: every record is checked again, and
// one that may no longer be destroyed (a hold placed meanwhile, a loan) aborts the whole destruction (CONFLICT),
// the signature included. Metadata, fixity digests and the register stay; the content is removed.
//
// One concern per module: register.ts (the document and its storage), route.ts (the workflow route),
// eligibility.ts (whether a record may be destroyed), proposal.ts (propose, withdraw), signing.ts (sign, refuse),
// execution.ts (carry out), register-filing.ts (file the register as a record), reading.ts (queries).
export { type DestructionProposal, MAX_REGISTER_LINES, cancelDestruction, proposeDestruction } from './proposal.ts';
export { destructionRefusals } from './eligibility.ts';
export { registerContent, fileDestructionRegister } from './register-filing.ts';
export {
  type DestructionLineDoc,
  type DestructionRegisterDoc,
  type DestructionSignatureDoc,
  type DestructionStatus,
  type SignatoryCapacity,
  registerModel,
  yearsServed,
} from './register.ts';
export { REGISTER_READERS, getRegister, listRegisters, pendingSignatories, registersAwaiting } from './reading.ts';
export { DESTRUCTION_WORKFLOW, STEP_CAPACITY, destructionRoute, ensureDestructionRoute } from './route.ts';
export { signDestruction } from './signing.ts';

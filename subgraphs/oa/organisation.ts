// Departments and employees: created and changed by ADMIN only.
import { badInput, conflict, forbidden, notFound } from '../../platform/graphql.ts';
import { ROLES, type Role, hasAnyRole } from '../../platform/identity.ts';
import { rolesFor } from '../../schema/permissions.ts';
import type { Directory } from '../../platform/workflow/types.ts';
import type { OaContext, OaServices } from './context.ts';
import { toObjectId } from './loaders.ts';
import type { DepartmentDoc, EmployeeDoc } from './models.ts';
import { validBankAccount, validCode, validEmail, validIdNumber, validName, validPhone } from './validation.ts';

/** Who manages the organisation: the model's roles of createEmployee (every organisation mutation has the same). */
const ORGANISATION_ADMINS = rolesFor('Mutation', 'createEmployee');

const requireAdmin = (ctx: OaContext): void => {
  if (!hasAnyRole(ctx.principal, ORGANISATION_ADMINS)) throw forbidden('Only ADMIN manages the organisation');
};

const isDuplicateKey = (err: unknown): boolean => (err as { code?: number })?.code === 11000;

async function existingEmployee(ctx: OaContext, id: string, field: string): Promise<EmployeeDoc> {
  const e = await ctx.loaders.employee.load(id);
  if (!e) throw badInput(`${field}: no employee with id ${id}`, field);
  return e;
}

async function existingDepartment(ctx: OaContext, id: string, field: string): Promise<DepartmentDoc> {
  const d = toObjectId(id) ? await ctx.loaders.department.load(id) : null;
  if (!d) throw badInput(`${field}: no department with id ${id}`, field);
  return d;
}

export async function createDepartment(ctx: OaContext, input: { code: string; name: string; managerId?: string | null; parentId?: string | null }): Promise<DepartmentDoc> {
  requireAdmin(ctx);
  const code = validCode(input.code, 'code');
  const name = validName(input.name, 'name');
  if (input.managerId) await existingEmployee(ctx, input.managerId, 'managerId');
  if (input.parentId) await existingDepartment(ctx, input.parentId, 'parentId');
  try {
    const [doc] = await ctx.models.Department.create([{ code, name, managerId: input.managerId ?? null, parentId: input.parentId ?? null }]);
    return doc.toObject();
  } catch (err) {
    if (isDuplicateKey(err)) throw conflict(`A department with code ${code} already exists`);
    throw err;
  }
}

export async function createEmployee(
  ctx: OaContext,
  input: { employeeNo: string; name: string; departmentId: string; roles?: Role[] | null; email?: string | null; phone?: string | null; bankAccount?: string | null; idNumber?: string | null },
): Promise<EmployeeDoc> {
  requireAdmin(ctx);
  const employeeNo = validCode(input.employeeNo, 'employeeNo');
  const name = validName(input.name, 'name');
  await existingDepartment(ctx, input.departmentId, 'departmentId');
  const roles = [...new Set<Role>(['EMPLOYEE', ...(input.roles ?? [])])];
  for (const r of roles) if (!ROLES.includes(r)) throw badInput(`unknown role ${r}`, 'roles');
  const doc = {
    employeeNo,
    name,
    departmentId: input.departmentId,
    roles,
    email: input.email ? validEmail(input.email) : null,
    phone: input.phone ? validPhone(input.phone) : null,
    bankAccount: input.bankAccount ? validBankAccount(input.bankAccount) : null,
    idNumber: input.idNumber ? validIdNumber(input.idNumber) : null,
  };
  try {
    const [created] = await ctx.models.Employee.create([doc]);
    return created.toObject();
  } catch (err) {
    if (isDuplicateKey(err)) throw conflict(`An employee with number ${employeeNo} already exists`);
    throw err;
  }
}

export async function setDepartmentManager(ctx: OaContext, departmentId: string, employeeId: string): Promise<DepartmentDoc> {
  requireAdmin(ctx);
  await existingDepartment(ctx, departmentId, 'departmentId');
  await existingEmployee(ctx, employeeId, 'employeeId');
  const updated = await ctx.models.Department.findByIdAndUpdate(departmentId, { $set: { managerId: employeeId } }, { returnDocument: 'after' }).lean<DepartmentDoc>();
  if (!updated) throw notFound('Department');
  ctx.loaders.department.clear(departmentId);
  return updated;
}

const has = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

export async function updateEmployee(
  ctx: OaContext,
  id: string,
  input: { name?: string | null; departmentId?: string | null; roles?: Role[] | null; email?: string | null; phone?: string | null; bankAccount?: string | null; idNumber?: string | null },
): Promise<EmployeeDoc> {
  requireAdmin(ctx);
  if (!toObjectId(id) || !(await ctx.loaders.employee.load(id))) throw notFound('Employee');
  const set: Partial<EmployeeDoc> = {};
  if (has(input, 'name')) set.name = validName(input.name ?? '', 'name');
  if (has(input, 'departmentId')) {
    if (!input.departmentId) throw badInput('departmentId cannot be cleared: every employee belongs to a department', 'departmentId');
    await existingDepartment(ctx, input.departmentId, 'departmentId');
    set.departmentId = input.departmentId;
  }
  if (has(input, 'roles')) {
    const roles = [...new Set<Role>(['EMPLOYEE', ...(input.roles ?? [])])];
    for (const r of roles) if (!ROLES.includes(r)) throw badInput(`unknown role ${r}`, 'roles');
    set.roles = roles;
  }
  if (has(input, 'email')) set.email = input.email ? validEmail(input.email) : null;
  if (has(input, 'phone')) set.phone = input.phone ? validPhone(input.phone) : null;
  if (has(input, 'bankAccount')) set.bankAccount = input.bankAccount ? validBankAccount(input.bankAccount) : null;
  if (has(input, 'idNumber')) set.idNumber = input.idNumber ? validIdNumber(input.idNumber) : null;
  const updated = await ctx.models.Employee.findByIdAndUpdate(id, { $set: set }, { returnDocument: 'after' }).lean<EmployeeDoc>();
  ctx.loaders.employee.clear(id);
  return updated!;
}

export async function updateDepartment(ctx: OaContext, id: string, input: { name?: string | null; parentId?: string | null }): Promise<DepartmentDoc> {
  requireAdmin(ctx);
  await existingDepartment(ctx, id, 'id');
  const set: Partial<DepartmentDoc> = {};
  if (has(input, 'name')) set.name = validName(input.name ?? '', 'name');
  if (has(input, 'parentId')) {
    if (input.parentId) {
      // The parent chain feeds approval routes ("the manager's manager"): it must not loop.
      let depth = 0;
      for (let cur: string | null = input.parentId; cur; cur = (await existingDepartment(ctx, cur, 'parentId')).parentId) {
        if (cur === id || ++depth > 100) throw badInput('parentId would make the department its own ancestor', 'parentId');
      }
    }
    set.parentId = input.parentId ?? null;
  }
  const updated = await ctx.models.Department.findByIdAndUpdate(id, { $set: set }, { returnDocument: 'after' }).lean<DepartmentDoc>();
  ctx.loaders.department.clear(id);
  return updated!;
}

/** The organisation as the workflow engine reads it. */
export function oaDirectory(services: Pick<OaServices, 'models'>): Directory {
  const { Department, Employee } = services.models;
  const dept = async (id: string) => (toObjectId(id) ? Department.findById(id).lean<DepartmentDoc>() : null);
  return {
    managerOf: async (departmentId) => (await dept(departmentId))?.managerId ?? null,
    parentOf: async (departmentId) => (await dept(departmentId))?.parentId ?? null,
    departmentOf: async (employeeId) => (toObjectId(employeeId) ? ((await Employee.findById(employeeId).lean<EmployeeDoc>())?.departmentId ?? null) : null),
    employeesWithRole: async (role) => (await Employee.find({ roles: role }, { _id: 1 }).lean<Array<{ _id: EmployeeDoc['_id'] }>>()).map((e) => e._id.toHexString()),
  };
}

// Ids are ObjectIds stored, hex strings in the API; anything else is simply not found.
import { Types } from 'mongoose';

export const toObjectId = (id: string): Types.ObjectId | null => (/^[a-f\d]{24}$/i.test(id) ? new Types.ObjectId(id) : null);

export const toObjectIds = (ids: readonly string[]): Types.ObjectId[] => ids.map(toObjectId).filter((x): x is Types.ObjectId => x !== null);

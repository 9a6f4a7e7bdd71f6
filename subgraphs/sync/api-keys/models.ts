// Integrations' API keys (docs/api.md#api-keys). A key's secret is never stored: `hashes` hold base64url SHA-256 of
// the keys that are accepted (platform/api-key-token.ts), the current one and, for a while after a rotation, the one
// before it.
import type { Connection, Model, Types } from 'mongoose';
import { Schema } from 'mongoose';
import { API_SCOPES, type ApiScope } from '../../../schema/permissions.ts';

export interface ApiKeyHash {
  hash: string;
  createdAt: Date;
  /** null: the current key; a date: a previous key, accepted until then. */
  expiresAt: Date | null;
}

export interface ApiKeyDoc {
  _id: Types.ObjectId;
  name: string;
  scopes: ApiScope[];
  rateLimitPerMinute: number;
  hashes: ApiKeyHash[];
  createdAt: Date;
  createdBy: string;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  rotatedAt: Date | null;
  revokedAt: Date | null;
  revokedBy: string | null;
}

const hashSchema = new Schema<ApiKeyHash>(
  { hash: { type: String, required: true }, createdAt: { type: Date, required: true }, expiresAt: { type: Date, default: null } },
  { _id: false },
);

const apiKeySchema = new Schema<ApiKeyDoc>(
  {
    name: { type: String, required: true },
    scopes: { type: [String], required: true, enum: API_SCOPES },
    rateLimitPerMinute: { type: Number, required: true },
    hashes: { type: [hashSchema], required: true },
    createdAt: { type: Date, required: true },
    createdBy: { type: String, required: true },
    expiresAt: { type: Date, default: null },
    lastUsedAt: { type: Date, default: null },
    rotatedAt: { type: Date, default: null },
    revokedAt: { type: Date, default: null },
    revokedBy: { type: String, default: null },
  },
  { collection: 'api_keys', versionKey: false },
);
apiKeySchema.index({ createdAt: -1 });

export function apiKeyModel(connection: Connection): Model<ApiKeyDoc> {
  return (connection.models.ApiKey as Model<ApiKeyDoc> | undefined) ?? connection.model<ApiKeyDoc>('ApiKey', apiKeySchema);
}

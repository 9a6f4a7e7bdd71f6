// API keys for integrations (docs/api.md#api-keys): made, rotated and revoked by ADMIN through the sync subgraph, and
// checked for the gateway, which is shown the client's key and asks with its hash (apiKeyPrincipal). A key names
// its stored record, so a check is one read by _id; the hashes are compared in constant time.
import type { Model } from 'mongoose';
import { Types } from 'mongoose';
import { apiKeyHash, newApiKey, sameHash } from '../../../platform/api-key-token.ts';
import { badInput, notFound } from '../../../platform/graphql.ts';
import { TEXT_FIELDS, requiredText } from '../../../platform/text-policy.ts';
import { API_SCOPES, type ApiScope } from '../../../schema/permissions.ts';
import { type ApiKeyDoc, type ApiKeyHash, apiKeyModel } from './models.ts';
import type { Connection } from 'mongoose';

export const DEFAULT_RATE_LIMIT_PER_MINUTE = 600;
const MAX_RATE_LIMIT_PER_MINUTE = 100_000;
/** A rotation keeps the previous key for at most a week. */
export const MAX_OVERLAP_SECONDS = 7 * 86_400;
const MAX_LIFETIME_MS = 2 * 366 * 86_400_000;
/** lastUsedAt is written at most this often per key: a busy integration does not write at every check. */
const LAST_USED_RESOLUTION_MS = 60_000;

export interface ApiKeyView {
  id: string;
  name: string;
  scopes: ApiScope[];
  rateLimitPerMinute: number;
  createdAt: Date;
  createdBy: string;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  rotatedAt: Date | null;
  previousKeyExpiresAt: Date | null;
  revokedAt: Date | null;
  revokedBy: string | null;
  active: boolean;
}

/** What the gateway learns of an accepted key. */
export interface ApiKeyPrincipalView {
  id: string;
  name: string;
  scopes: ApiScope[];
  rateLimitPerMinute: number;
  expiresAt: Date | null;
}

export interface ApiKeyLogger {
  info(obj: object, msg?: string): void;
}

export interface CreateApiKeyInput {
  name: unknown;
  scopes: readonly string[];
  rateLimitPerMinute?: number | null;
  expiresAt?: Date | null;
}

const objectId = (id: string): Types.ObjectId | null => (Types.ObjectId.isValid(id) && /^[0-9a-f]{24}$/i.test(id) ? new Types.ObjectId(id) : null);

export class ApiKeyService {
  readonly model: Model<ApiKeyDoc>;

  constructor(
    connection: Connection,
    private readonly o: { logger: ApiKeyLogger; clock?: () => Date; defaultRateLimitPerMinute?: number },
  ) {
    this.model = apiKeyModel(connection);
  }

  private now(): Date {
    return this.o.clock?.() ?? new Date();
  }

  async init(): Promise<void> {
    await this.model.init();
    await this.model.createIndexes();
  }

  async create(input: CreateApiKeyInput, actor: string): Promise<{ apiKey: ApiKeyView; key: string }> {
    const name = requiredText(input.name, 'name', TEXT_FIELDS.integrationName);
    const scopes = this.scopesOf(input.scopes);
    const rate = input.rateLimitPerMinute ?? this.o.defaultRateLimitPerMinute ?? DEFAULT_RATE_LIMIT_PER_MINUTE;
    if (!Number.isInteger(rate) || rate < 1 || rate > MAX_RATE_LIMIT_PER_MINUTE) throw badInput(`rateLimitPerMinute must be 1 to ${MAX_RATE_LIMIT_PER_MINUTE.toLocaleString('en')}`, 'input.rateLimitPerMinute');
    const now = this.now();
    const expiresAt = input.expiresAt ?? null;
    if (expiresAt && (expiresAt.getTime() <= now.getTime() || expiresAt.getTime() - now.getTime() > MAX_LIFETIME_MS)) {
      throw badInput('expiresAt must be in the future and at most 2 years ahead', 'input.expiresAt');
    }
    const _id = new Types.ObjectId();
    const key = newApiKey(_id.toHexString());
    const [doc] = await this.model.create([
      { _id, name, scopes, rateLimitPerMinute: rate, hashes: [{ hash: apiKeyHash(key), createdAt: now, expiresAt: null }], createdAt: now, createdBy: actor, expiresAt },
    ]);
    this.o.logger.info({ apiKeyId: _id.toHexString(), scopes, actor }, 'API key created');
    return { apiKey: this.view(doc.toObject()), key };
  }

  async rotate(id: string, overlapSeconds: number, actor: string): Promise<{ apiKey: ApiKeyView; key: string }> {
    if (!Number.isInteger(overlapSeconds) || overlapSeconds < 0 || overlapSeconds > MAX_OVERLAP_SECONDS) {
      throw badInput(`overlapSeconds must be 0 to ${MAX_OVERLAP_SECONDS.toLocaleString('en')} (a week)`, 'overlapSeconds');
    }
    const _id = objectId(id);
    const current = _id && (await this.model.findById(_id).lean<ApiKeyDoc>());
    if (!current) throw notFound('ApiKey');
    if (!this.isActive(current, this.now())) throw badInput('a revoked or expired key cannot be rotated; create a new one', 'id');
    const now = this.now();
    const key = newApiKey(current._id.toHexString());
    const previous = current.hashes.find((h) => h.expiresAt === null);
    const hashes: ApiKeyHash[] = [{ hash: apiKeyHash(key), createdAt: now, expiresAt: null }];
    if (previous && overlapSeconds > 0) hashes.push({ hash: previous.hash, createdAt: previous.createdAt, expiresAt: new Date(now.getTime() + overlapSeconds * 1000) });
    // Only if nothing changed it meanwhile (another rotation, a revocation): the hashes read are the ones replaced.
    const doc = await this.model
      .findOneAndUpdate({ _id: current._id, revokedAt: null, rotatedAt: current.rotatedAt ?? null }, { $set: { hashes, rotatedAt: now } }, { returnDocument: 'after' })
      .lean<ApiKeyDoc>();
    if (!doc) throw badInput('the key changed meanwhile (rotated or revoked); read it again', 'id');
    this.o.logger.info({ apiKeyId: id, overlapSeconds, actor }, 'API key rotated');
    return { apiKey: this.view(doc), key };
  }

  async revoke(id: string, actor: string): Promise<ApiKeyView> {
    const _id = objectId(id);
    if (!_id) throw notFound('ApiKey');
    const now = this.now();
    const doc =
      (await this.model.findOneAndUpdate({ _id, revokedAt: null }, { $set: { revokedAt: now, revokedBy: actor } }, { returnDocument: 'after' }).lean<ApiKeyDoc>()) ??
      (await this.model.findById(_id).lean<ApiKeyDoc>());
    if (!doc) throw notFound('ApiKey');
    this.o.logger.info({ apiKeyId: id, actor }, 'API key revoked');
    return this.view(doc);
  }

  async list(includeRevoked: boolean): Promise<ApiKeyView[]> {
    const docs = await this.model.find(includeRevoked ? {} : { revokedAt: null }).sort({ createdAt: -1, _id: -1 }).limit(1000).lean<ApiKeyDoc[]>();
    return docs.map((d) => this.view(d));
  }

  /** The key `id` if `keyHash` is one of its accepted keys and it is active; its lastUsedAt is brought up to date. */
  async principal(id: string, keyHash: string): Promise<ApiKeyPrincipalView | null> {
    const _id = objectId(id);
    if (!_id || typeof keyHash !== 'string' || keyHash.length !== 43) return null;
    const doc = await this.model.findById(_id).lean<ApiKeyDoc>();
    const now = this.now();
    if (!doc || !this.isActive(doc, now)) return null;
    // Every accepted hash is compared, so the time taken does not tell which one matched.
    let match = false;
    for (const h of doc.hashes) if (sameHash(h.hash, keyHash) && (h.expiresAt === null || h.expiresAt.getTime() > now.getTime())) match = true;
    if (!match) return null;
    if (!doc.lastUsedAt || now.getTime() - doc.lastUsedAt.getTime() >= LAST_USED_RESOLUTION_MS) {
      await this.model.updateOne({ _id, $or: [{ lastUsedAt: null }, { lastUsedAt: { $lt: new Date(now.getTime() - LAST_USED_RESOLUTION_MS) } }] }, { $set: { lastUsedAt: now } });
    }
    return { id, name: doc.name, scopes: doc.scopes, rateLimitPerMinute: doc.rateLimitPerMinute, expiresAt: doc.expiresAt };
  }

  /** The scopes of key `id` when it is active (a webhook's selection runs as it); null when it is not. */
  async activeScopes(id: string): Promise<ApiScope[] | null> {
    const _id = objectId(id);
    const doc = _id && (await this.model.findById(_id, { scopes: 1, revokedAt: 1, expiresAt: 1 }).lean<ApiKeyDoc>());
    return doc && this.isActive(doc, this.now()) ? doc.scopes : null;
  }

  private scopesOf(scopes: readonly string[]): ApiScope[] {
    if (!Array.isArray(scopes) || scopes.length === 0) throw badInput('scopes must name at least one scope', 'input.scopes');
    const out = [...new Set(scopes)];
    const unknown = out.find((s) => !(API_SCOPES as readonly string[]).includes(s));
    if (unknown !== undefined) throw badInput(`unknown scope ${String(unknown).slice(0, 40)}`, 'input.scopes');
    return out as ApiScope[];
  }

  private isActive(doc: ApiKeyDoc, now: Date): boolean {
    return doc.revokedAt === null && (doc.expiresAt === null || doc.expiresAt.getTime() > now.getTime());
  }

  private view(doc: ApiKeyDoc): ApiKeyView {
    const now = this.now();
    const previous = doc.hashes.find((h) => h.expiresAt !== null && h.expiresAt.getTime() > now.getTime());
    return {
      id: doc._id.toHexString(),
      name: doc.name,
      scopes: doc.scopes,
      rateLimitPerMinute: doc.rateLimitPerMinute,
      createdAt: doc.createdAt,
      createdBy: doc.createdBy,
      expiresAt: doc.expiresAt ?? null,
      lastUsedAt: doc.lastUsedAt ?? null,
      rotatedAt: doc.rotatedAt ?? null,
      previousKeyExpiresAt: doc.revokedAt ? null : (previous?.expiresAt ?? null),
      revokedAt: doc.revokedAt ?? null,
      revokedBy: doc.revokedBy ?? null,
      active: this.isActive(doc, now),
    };
  }
}

// Users' feedback on the integration (issue 16 §5): any signed-in user sends it, naming at most a claim and an
// archive record they can read; operators list, tag, close and reopen it. A new item is stored with its
// FEEDBACK_RECEIVED event in one transaction, a closing with FEEDBACK_CLOSED, so subscribers, webhooks and OA plugins
// (API keys of scope feedback:read) hear of it through the event log like every other event (docs/architecture.md,
// decision 5). Who sees what: ROW_SCOPES.Feedback in schema/permissions.ts.
import type { Connection, Model } from 'mongoose';
import { badInput, conflict, forbidden, gqlError } from '../../../platform/graphql.ts';
import type { Principal } from '../../../platform/identity.ts';
import { toObjectId } from '../../../platform/ids.ts';
import type { EventLog, NewEvent } from '../../../platform/integration/events.ts';
import { transaction } from '../../../platform/integration/transactions.ts';
import { TEXT_FIELDS, optionalText, requiredText } from '../../../platform/text-policy.ts';
import { readsAllRows } from '../../../schema/permissions.ts';
import { type FeedbackConnectionModel, type FeedbackPageArgs, feedbackPage } from './paging.ts';
import { type FeedbackDoc, type FeedbackStatus, feedbackModel } from './models.ts';

/** Whose a claim or record is, as its owning subgraph answers; null: it does not exist or the caller may not read it. */
export interface ReferenceOwner {
  applicantId: string | null;
  departmentId: string | null;
}
/** oa's port (subgraphs/oa/ports.ts), handed in by whoever assembles the process. */
export interface ClaimVisibility {
  visibleTo(principal: Principal, claimId: string): Promise<ReferenceOwner | null>;
}
/** The archive's port (subgraphs/archive/ports.ts), handed in likewise. */
export interface RecordVisibility {
  visibleTo(principal: Principal, recordId: string): Promise<ReferenceOwner | null>;
}

export interface SendFeedbackInput {
  text: string;
  claimId?: string | null;
  archiveRecordId?: string | null;
  source?: { page?: string | null; client?: string | null } | null;
}

export interface FeedbackServiceOptions {
  connection: Connection;
  events: EventLog;
  visibility: { claims: ClaimVisibility; records: RecordVisibility };
  /** Feedback one user may send per rolling hour (default 20). */
  perHour?: number;
  clock?: () => Date;
}

const STATUSES: readonly FeedbackStatus[] = ['OPEN', 'CLOSED'];
const ID = /^[a-f\d]{24}$/i;
const CLIENT = /^[A-Za-z0-9][\w./ -]{0,49}$/;
const TAG = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;
const MAX_TAGS = 10;
const HOUR_MS = 3_600_000;

/** The same answer for a reference that does not exist and one the sender may not read: existence does not leak. */
const notFoundAt = (what: string, field: string) => gqlError('NOT_FOUND', `${what} not found`, { field });

function idOrNull(value: string | null | undefined, field: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || !ID.test(value)) throw badInput(`${field} must be an id as the API gives it (24 hexadecimal digits)`, field);
  return value.toLowerCase();
}

function clientOf(value: string | null | undefined): string | null {
  if (value === undefined || value === null) return null;
  const client = typeof value === 'string' ? value.trim() : '';
  if (!CLIENT.test(client)) throw badInput('input.source.client must be 1 to 50 letters, digits, dots, dashes, underscores, slashes or spaces', 'input.source.client');
  return client;
}

/** Tags as stored: lowercase slugs, unique, sorted; refused with the position of the first bad one. */
export function tagsOf(tags: readonly string[]): string[] {
  if (!Array.isArray(tags) || tags.length > MAX_TAGS) throw badInput(`tags: at most ${MAX_TAGS}`, 'tags');
  const out = new Set<string>();
  tags.forEach((t, i) => {
    const tag = typeof t === 'string' ? t.trim().toLowerCase() : '';
    if (!TAG.test(tag)) throw badInput(`tags[${i}] must be a slug of 1 to 32 characters: a-z, 0-9 and inner dashes`, `tags[${i}]`);
    out.add(tag);
  });
  return [...out].sort();
}

/** Where the event says it came from (detail): validated short strings, never the text (it may hold personal data). */
const detailOf = (f: Pick<FeedbackDoc, 'source'>): string | null => [f.source.client, f.source.page].filter(Boolean).join(' ') || null;

export class FeedbackService {
  readonly model: Model<FeedbackDoc>;
  private readonly clock: () => Date;
  private readonly perHour: number;

  constructor(private readonly o: FeedbackServiceOptions) {
    this.model = feedbackModel(o.connection);
    this.clock = o.clock ?? (() => new Date());
    this.perHour = o.perHour ?? 20;
  }

  async init(): Promise<void> {
    await this.model.init();
  }

  async send(principal: Principal, input: SendFeedbackInput): Promise<FeedbackDoc> {
    // API keys and services are not users: feedback has a person behind it.
    if (principal.kind !== 'user') throw forbidden('Only signed-in users send feedback');
    const text = requiredText(input.text, 'input.text', TEXT_FIELDS.feedbackText);
    const claimId = idOrNull(input.claimId, 'input.claimId');
    const archiveRecordId = idOrNull(input.archiveRecordId, 'input.archiveRecordId');
    const source = { page: optionalText(input.source?.page, 'input.source.page', TEXT_FIELDS.feedbackPage), client: clientOf(input.source?.client) };
    const now = this.clock();
    await this.withinRate(principal.sub, now);
    const claimOwner = claimId ? await this.o.visibility.claims.visibleTo(principal, claimId) : null;
    if (claimId && !claimOwner) throw notFoundAt('Expense claim', 'input.claimId');
    const recordOwner = archiveRecordId ? await this.o.visibility.records.visibleTo(principal, archiveRecordId) : null;
    if (archiveRecordId && !recordOwner) throw notFoundAt('Archive record', 'input.archiveRecordId');
    return transaction(this.o.connection, async (session) => {
      const [doc] = await this.model.create(
        [
          {
            text,
            senderId: principal.sub,
            claimId,
            archiveRecordId,
            claimOwner,
            recordOwner,
            source,
            createdAt: now,
            status: 'OPEN',
            tags: [],
            closedAt: null,
            closedBy: null,
            resolution: null,
            history: [{ kind: 'SENT', at: now, by: principal.sub }],
          },
        ],
        { session },
      );
      const feedback = doc.toObject() as FeedbackDoc;
      await this.o.events.append(session, this.eventOf('FEEDBACK_RECEIVED', feedback, principal.sub));
      return feedback;
    });
  }

  /**
   * At most `perHour` items per sender in any hour, counted in the database (every sync instance sees the same count;
   * two sends at the same instant may both pass the last place). Past it: RATE_LIMITED, with when to try again.
   */
  private async withinRate(senderId: string, now: Date): Promise<void> {
    const window = { senderId, createdAt: { $gt: new Date(now.getTime() - HOUR_MS) } };
    if ((await this.model.countDocuments(window)) < this.perHour) return;
    // Once the perHour-th newest leaves the window, one more may be sent.
    const [oldest] = await this.model.find(window, { createdAt: 1 }).sort({ createdAt: -1 }).skip(this.perHour - 1).limit(1).lean<Pick<FeedbackDoc, 'createdAt'>[]>();
    const retryAfterSeconds = Math.max(1, Math.ceil(((oldest?.createdAt.getTime() ?? now.getTime()) + HOUR_MS - now.getTime()) / 1000));
    throw gqlError('RATE_LIMITED', `At most ${this.perHour} feedback items an hour: try again in ${retryAfterSeconds} s`, { retryAfterSeconds });
  }

  /** Every item (operators), newest first, by status and tag. */
  async list(args: FeedbackPageArgs & { status?: FeedbackStatus | null; tag?: string | null }): Promise<FeedbackConnectionModel> {
    const filter: Record<string, unknown> = {};
    if (args.status) filter.status = statusOf(args.status);
    if (args.tag !== undefined && args.tag !== null) {
      const tag = args.tag.trim().toLowerCase();
      if (!TAG.test(tag)) throw badInput('tag must be a slug of 1 to 32 characters: a-z, 0-9 and inner dashes', 'tag');
      filter.tags = tag;
    }
    return feedbackPage(this.model, filter, args);
  }

  /** The caller's own items, newest first. */
  async mine(principal: Principal, args: FeedbackPageArgs & { status?: FeedbackStatus | null }): Promise<FeedbackConnectionModel> {
    const filter: Record<string, unknown> = { senderId: principal.kind === 'user' ? principal.sub : { $exists: false } };
    if (args.status) filter.status = statusOf(args.status);
    return feedbackPage(this.model, filter, args);
  }

  /** The item if the caller may read it (ROW_SCOPES.Feedback: every item, or their own); null otherwise. */
  async visible(principal: Principal, id: string): Promise<FeedbackDoc | null> {
    const doc = await this.find(id);
    if (!doc) return null;
    return readsAllRows(principal, 'Feedback') || (principal.kind === 'user' && doc.senderId === principal.sub) ? doc : null;
  }

  async tag(id: string, tags: readonly string[], by: string): Promise<FeedbackDoc> {
    const clean = tagsOf(tags);
    await this.existing(id);
    return this.update(id, {}, { $set: { tags: clean }, $push: { history: { kind: 'TAGGED', at: this.clock(), by, tags: clean } } });
  }

  /** Closes an open item, with FEEDBACK_CLOSED in the same transaction; a closed one is answered as it is. */
  async close(id: string, by: string, resolution?: string | null): Promise<FeedbackDoc> {
    const note = optionalText(resolution, 'resolution', TEXT_FIELDS.feedbackResolution);
    const current = await this.existing(id);
    if (current.status === 'CLOSED') return current;
    const now = this.clock();
    const closed = await transaction(this.o.connection, async (session) => {
      const doc = await this.model
        .findOneAndUpdate(
          { _id: current._id, status: 'OPEN' },
          { $set: { status: 'CLOSED', closedAt: now, closedBy: by, resolution: note }, $push: { history: { kind: 'CLOSED', at: now, by, resolution: note } } },
          { returnDocument: 'after', session },
        )
        .lean<FeedbackDoc>();
      if (doc) await this.o.events.append(session, this.eventOf('FEEDBACK_CLOSED', doc, by));
      return doc;
    });
    // Closed by another operator meanwhile: answered as it is now.
    return closed ?? this.existing(id);
  }

  async reopen(id: string, by: string): Promise<FeedbackDoc> {
    const current = await this.existing(id);
    if (current.status === 'OPEN') throw conflict('The feedback is open');
    return this.update(id, { status: 'CLOSED' }, { $set: { status: 'OPEN', closedAt: null, closedBy: null, resolution: null }, $push: { history: { kind: 'REOPENED', at: this.clock(), by } } });
  }

  /** The event, ids only: the sender (whose event it also is: eventScope), what it names and its owner, the source. */
  private eventOf(type: 'FEEDBACK_RECEIVED' | 'FEEDBACK_CLOSED', f: FeedbackDoc, actor: string): NewEvent {
    const id = f._id.toHexString();
    return {
      type,
      subject: { type: 'Feedback', id },
      actor,
      payload: {
        feedbackId: id,
        senderId: f.senderId,
        claimId: f.claimId,
        archiveRecordId: f.archiveRecordId,
        // Whose claim it names: SyncEvent's references are shown by it (subgraphs/sync/resolvers.ts, mayFollow).
        applicantId: (f.claimOwner ?? f.recordOwner)?.applicantId ?? null,
        departmentId: (f.claimOwner ?? f.recordOwner)?.departmentId ?? null,
        detail: detailOf(f),
      },
    };
  }

  private async update(id: string, when: Record<string, unknown>, change: Record<string, unknown>): Promise<FeedbackDoc> {
    const doc = await this.model.findOneAndUpdate({ _id: toObjectId(id), ...when }, change, { returnDocument: 'after' }).lean<FeedbackDoc>();
    return doc ?? this.existing(id);
  }

  private async find(id: string): Promise<FeedbackDoc | null> {
    const oid = typeof id === 'string' ? toObjectId(id) : null;
    return oid ? this.model.findById(oid).lean<FeedbackDoc>() : null;
  }

  private async existing(id: string): Promise<FeedbackDoc> {
    const doc = await this.find(id);
    if (!doc) throw gqlError('NOT_FOUND', 'Feedback not found', { field: 'id' });
    return doc;
  }
}

function statusOf(status: string): FeedbackStatus {
  if (!STATUSES.includes(status as FeedbackStatus)) throw badInput('unknown status', 'status');
  return status as FeedbackStatus;
}

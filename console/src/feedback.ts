// Feedback: every signed-in user sends it from here (sendFeedback, with the claim it concerns if any) and reads
// their own (myFeedback); operators read everyone's (feedback), and ADMIN tags, closes and reopens it. Lists page
// forwards with the connections' cursors.
import { describeErrors, gql } from './api.ts';
import type { ConsoleContext, View } from './context.ts';
import { badge, h, note, replace, when } from './dom.ts';
import { FEEDBACK_PAGE } from './page-sizes.ts';

const ITEM = 'id text status tags createdAt closedAt resolution claimId archiveRecordId sender { id } source { page client }';
const SEND = `mutation ConsoleSendFeedback($input: SendFeedbackInput!) { sendFeedback(input: $input) { ${ITEM} } }`;
const MINE = `query ConsoleMyFeedback($first: Int, $after: String) { myFeedback(first: $first, after: $after) { totalCount edges { node { ${ITEM} } } pageInfo { hasNextPage endCursor } } }`;
const INBOX = `query ConsoleFeedback($status: FeedbackStatus, $first: Int, $after: String) { feedback(status: $status, first: $first, after: $after) { totalCount edges { node { ${ITEM} } } pageInfo { hasNextPage endCursor } } }`;
const TAG = `mutation ConsoleTagFeedback($id: ID!, $tags: [String!]!) { tagFeedback(id: $id, tags: $tags) { ${ITEM} } }`;
const CLOSE = `mutation ConsoleCloseFeedback($id: ID!, $resolution: String) { closeFeedback(id: $id, resolution: $resolution) { ${ITEM} } }`;
const REOPEN = `mutation ConsoleReopenFeedback($id: ID!) { reopenFeedback(id: $id) { ${ITEM} } }`;

interface Feedback {
  id: string;
  text: string;
  status: 'OPEN' | 'CLOSED';
  tags: string[];
  createdAt: string;
  closedAt: string | null;
  resolution: string | null;
  claimId: string | null;
  archiveRecordId: string | null;
  sender: { id: string };
  source: { page: string | null; client: string | null };
}
interface Page {
  totalCount: number;
  edges: { node: Feedback }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

export function mountFeedback(root: HTMLElement, ctx: ConsoleContext): View {
  const text = h('textarea', { id: 'feedback-text', rows: 3, maxlength: 4000, required: true, 'aria-label': 'Your feedback', placeholder: 'What works, what does not, what you need…' });
  const claim = h('input', { type: 'text', id: 'feedback-claim', 'aria-label': 'Claim id (optional)', placeholder: 'claim id (optional)', maxlength: 24, pattern: '[a-fA-F0-9]{24}' });
  const sendMessage = h('div', { class: 'messages', id: 'feedback-send-message' });
  const mine = list('feedback-mine', 'Your feedback', MINE, () => ({}), false);
  const inbox = ctx.access.can('readFeedback') ? list('feedback-inbox', 'Everyone’s feedback', INBOX, () => ({ status: inboxStatus.value || null }), ctx.access.can('handleFeedback')) : null;
  const inboxStatus = h('select', { id: 'feedback-status', 'aria-label': 'Status', onchange: () => void inbox?.load() }, h('option', { value: 'OPEN' }, 'Open'), h('option', { value: 'CLOSED' }, 'Closed'), h('option', { value: '' }, 'All'));

  replace(
    root,
    h('div', { class: 'panel-head' }, h('h2', {}, 'Feedback')),
    h(
      'form',
      { id: 'feedback-form', class: 'feedback-form', onsubmit: (ev: Event) => (ev.preventDefault(), void send()) },
      h('label', { for: 'feedback-text' }, 'Tell the operators about the integration'),
      text,
      h('div', { class: 'inline-form' }, claim, h('button', { type: 'submit', id: 'feedback-send' }, 'Send feedback')),
    ),
    sendMessage,
    mine.root,
    inbox ? [h('div', { class: 'panel-head' }, h('h3', {}, 'Everyone’s feedback'), inboxStatus), inbox.root] : '',
  );

  async function send() {
    const input = { text: text.value, claimId: claim.value.trim() || null, source: { page: '/console#feedback', client: 'console' } };
    const r = await gql<{ sendFeedback: Feedback }>(SEND, { input });
    if (!r.data?.sendFeedback) {
      sendMessage.replaceChildren(note('error', describeErrors(r.errors)));
      return;
    }
    text.value = '';
    claim.value = '';
    sendMessage.replaceChildren(note('ok', 'Thank you: your feedback was sent to the operators.'));
    await Promise.all([mine.load(), inbox?.load()]);
  }

  /** A list read page by page (Next appends the following page). */
  function list(id: string, title: string, query: string, vars: () => Record<string, unknown>, handle: boolean) {
    const items = h('ul', { class: 'feedback-list', id });
    const count = h('span', { class: 'muted' });
    const message = h('div', { class: 'messages' });
    let cursor: string | null = null;
    const more = h('button', { type: 'button', class: 'secondary more', hidden: true, onclick: () => void read(false) }, 'More');
    const rootEl = h('div', { class: 'feedback-block' }, id === 'feedback-mine' ? h('h3', {}, title, ' ', count) : count, message, items, more);

    async function read(reset: boolean) {
      const r = await gql<Record<string, Page>>(query, { ...vars(), first: FEEDBACK_PAGE, after: reset ? null : cursor });
      const page = r.data ? Object.values(r.data)[0] : null;
      message.replaceChildren(...(r.errors.length ? [note('error', describeErrors(r.errors))] : []));
      if (!page) return;
      if (reset) items.replaceChildren();
      items.append(...page.edges.map((e) => row(e.node, handle)));
      if (!items.childElementCount) items.append(h('li', { class: 'muted empty' }, 'None yet.'));
      cursor = page.pageInfo.endCursor;
      more.hidden = !page.pageInfo.hasNextPage;
      count.textContent = `${page.totalCount} in all`;
    }
    return { root: rootEl, load: () => read(true) };
  }

  function row(f: Feedback, handle: boolean): HTMLElement {
    const outcome = h('span', { class: 'feedback-outcome' });
    const tags = h('input', { type: 'text', class: 'feedback-tags', value: f.tags.join(', '), 'aria-label': 'Tags', placeholder: 'tags, comma-separated' });
    const resolution = h('input', { type: 'text', class: 'feedback-resolution', 'aria-label': 'Resolution', placeholder: 'resolution (optional)', maxlength: 500 });
    const el = h(
      'li',
      { 'data-feedback-id': f.id, 'data-status': f.status },
      h('p', { class: 'feedback-text' }, f.text),
      h(
        'p',
        { class: 'muted small' },
        badge(f.status),
        ' ',
        when(f.createdAt),
        ` · from ${f.sender.id}`,
        f.claimId ? ` · claim ${f.claimId}` : '',
        f.source.client ? ` · via ${f.source.client}` : '',
        f.tags.length ? ` · tags: ${f.tags.join(', ')}` : '',
        f.resolution ? ` · resolution: ${f.resolution}` : '',
      ),
      handle
        ? h(
            'div',
            { class: 'actions' },
            tags,
            h('button', { type: 'button', class: 'tag', onclick: () => void act(TAG, { id: f.id, tags: tags.value.split(',').map((t) => t.trim()).filter(Boolean) }, 'Tagged') }, 'Save tags'),
            f.status === 'OPEN'
              ? [resolution, h('button', { type: 'button', class: 'close', onclick: () => void act(CLOSE, { id: f.id, resolution: resolution.value.trim() || null }, 'Closed') }, 'Close')]
              : h('button', { type: 'button', class: 'reopen', onclick: () => void act(REOPEN, { id: f.id }, 'Reopened') }, 'Reopen'),
            outcome,
          )
        : '',
    );

    async function act(mutation: string, variables: Record<string, unknown>, done: string) {
      const r = await gql<Record<string, Feedback>>(mutation, variables);
      const updated = r.data ? Object.values(r.data)[0] : null;
      if (!updated) {
        replace(outcome, note('error', describeErrors(r.errors)));
        return;
      }
      const fresh = row(updated, handle);
      fresh.querySelector('.feedback-outcome')?.append(note('ok', done));
      el.replaceWith(fresh);
    }
    return el;
  }

  void mine.load();
  void inbox?.load();
  return { stop() {} };
}

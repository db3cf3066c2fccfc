// The conversation list: the other person, the last message, unread badge,
// online dot, newest first, kept live by the store's events.

import { describe } from './api.js';
import { fill, h, reconcile, srOnly } from './dom.js';
import { displayName, listTime } from './format.js';
import * as store from './store.js';
import { avatar, emptyState, statusTick, statusWord } from './widgets.js';

export function mountConversationList(container) {
  const list = h('ul', { class: 'conv-list', 'aria-label': 'Conversations' });
  let frame = 0;
  const schedule = () => {
    if (!frame) frame = requestAnimationFrame(render);
  };
  /** user id → `{el, sig}`: each conversation's row and what it showed. */
  const rows = new Map();
  const offs = ['conversations', 'presence', 'typing', 'me', 'route', 'people', 'blocks'].map((t) => store.on(t, schedule));
  render();

  function render() {
    frame = 0;
    const conversations = store.sortedConversations();
    if (!store.state.conversationsLoaded && !store.state.conversationsError) {
      fill(container, h('p', { class: 'muted pad', text: 'Loading conversations…' }));
      return;
    }
    if (conversations.length === 0) {
      const error = store.state.conversationsError;
      fill(
        container,
        error
          ? emptyState('Your conversations could not be loaded.', describe(error), retryButton())
          : emptyState(
              'No conversations yet',
              'Find someone who catches your eye and say hello.',
              h('a', { class: 'button primary', href: '#/people', text: 'Find people' }),
            ),
      );
      return;
    }
    // A row is rebuilt only when what it shows changed, and rows move rather
    // than being replaced: the row under a pointer or with the focus stays
    // the same element while presence and typing come and go elsewhere.
    const focusedId = document.activeElement?.closest?.('.conv')?.dataset.id;
    const wanted = conversations.map(rowFor);
    const keep = new Set(conversations.map((c) => c.user.id));
    for (const id of rows.keys()) if (!keep.has(id)) rows.delete(id);
    reconcile(list, wanted);
    if (list.parentNode !== container) fill(container, list);
    if (focusedId && !list.contains(document.activeElement)) {
      list.querySelector(`.conv[data-id="${CSS.escape(focusedId)}"]`)?.focus();
    }
  }

  function rowFor(conv) {
    const id = conv.user.id;
    const last = conv.last_message;
    const sig = JSON.stringify([
      conv.user.display_name,
      conv.user.username,
      last?.id,
      last?.status,
      last ? listTime(new Date(last.created_at)) : null,
      conv.unread_count,
      store.shownOnline(id),
      store.isBlocked(id),
      store.isTyping(id),
      store.state.openChatId === id,
    ]);
    const known = rows.get(id);
    if (known && known.sig === sig) return known.el;
    const el = item(conv);
    if (known) known.el.replaceWith(el);
    rows.set(id, { el, sig });
    return el;
  }

  function retryButton() {
    return h('button', { type: 'button', text: 'Try again', on: { click: () => store.loadConversations() } });
  }

  function item(conv) {
    const { user, last_message: last, unread_count: unread } = conv;
    // null: blocked either way, so no presence (not even "offline").
    const online = store.shownOnline(user.id);
    const blocked = store.isBlocked(user.id);
    const name = displayName(user);
    const mine = last && last.sender_id === store.state.me.id;
    const typing = store.isTyping(user.id);
    const active = store.state.openChatId === user.id;
    const preview = typing
      ? h('span', { class: 'conv-preview typing', text: 'typing…' })
      : h(
          'span',
          { class: 'conv-preview' },
          mine ? statusTick(last.status) : null,
          mine ? 'You: ' : null,
          last ? h('bdi', { text: firstLine(last.content) }) : 'No messages yet',
        );
    const label = [
      name,
      online ? 'online' : null,
      blocked ? 'blocked' : null,
      unread ? `${unread} unread ${unread === 1 ? 'message' : 'messages'}` : null,
      typing ? 'typing' : last ? `${mine ? `you (${statusWord(last.status).toLowerCase()})` : name}: ${firstLine(last.content)}` : null,
    ]
      .filter(Boolean)
      .join(', ');
    return h(
      'li',
      null,
      h(
        'a',
        {
          class: `conv${unread ? ' unread' : ''}${active ? ' active' : ''}`,
          href: `#/chat/${user.id}`,
          'aria-current': active ? 'page' : null,
          'aria-label': label,
          dataset: { id: String(user.id) },
        },
        avatar(user, 'md', online),
        h(
          'span',
          { class: 'conv-body' },
          h(
            'span',
            { class: 'conv-top' },
            h('span', { class: 'conv-name' }, h('bdi', { text: name })),
            blocked ? h('span', { class: 'tag tag-quiet', text: 'Blocked' }) : null,
            last ? h('time', { class: 'conv-time', datetime: last.created_at, text: listTime(new Date(last.created_at)) }) : null,
          ),
          h(
            'span',
            { class: 'conv-bottom' },
            preview,
            unread ? h('span', { class: 'badge' }, String(unread > 99 ? '99+' : unread), srOnly(' unread')) : null,
          ),
        ),
      ),
    );
  }

  return () => {
    cancelAnimationFrame(frame);
    for (const off of offs) off();
  };
}

function firstLine(text) {
  const line = text.split('\n').find((l) => l.trim()) ?? text;
  const chars = Array.from(line);
  return chars.length > 140 ? `${chars.slice(0, 140).join('')}…` : line;
}

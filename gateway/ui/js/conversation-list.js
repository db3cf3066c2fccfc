// @ts-check
// The conversation list: the other person, the last message, unread badge,
// online dot, newest first, kept live by the store's events.

import { describe } from './api.js';
import { fill, h, reconcile, srOnly } from './dom.js';
import { displayName, listTime } from './format.js';
import * as store from './store.js';
import { avatar, emptyState, statusTick, statusWord } from './widgets.js';

/**
 * @typedef {import('./store.js').Conversation} Conversation
 * @typedef {Map<number, {el: HTMLLIElement, sig: string}>} Rows
 *   user id → each conversation's row and what it showed
 */

/** The store's events that can change a row. @type {(keyof import('./store.js').Events)[]} */
const EVENTS = ['conversations', 'presence', 'typing', 'me', 'route', 'people', 'blocks'];

/**
 * Shows my conversations in `container`; returns the function that ends it.
 * @param {HTMLElement} container
 * @returns {() => void}
 */
export function mountConversationList(container) {
  const list = h('ul', { class: 'conv-list', 'aria-label': 'Conversations' });
  let frame = 0;
  /** @type {Rows} */
  const rows = new Map();
  const render = () => {
    frame = 0;
    renderList(container, list, rows);
  };
  const schedule = () => {
    if (!frame) frame = requestAnimationFrame(render);
  };
  const offs = EVENTS.map((t) => store.on(t, schedule));
  render();
  return () => {
    cancelAnimationFrame(frame);
    for (const off of offs) off();
  };
}

/**
 * @param {HTMLElement} container
 * @param {HTMLUListElement} list
 * @param {Rows} rows
 */
function renderList(container, list, rows) {
  const conversations = store.sortedConversations();
  if (!store.state.conversationsLoaded && !store.state.conversationsError) {
    fill(container, h('p', { class: 'muted pad', text: 'Loading conversations…' }));
    return;
  }
  if (conversations.length === 0) {
    fill(container, noConversations());
    return;
  }
  // A row is rebuilt only when what it shows changed, and rows move rather
  // than being replaced: the row under a pointer or with the focus stays
  // the same element while presence and typing come and go elsewhere.
  const focused = document.activeElement?.closest?.('.conv');
  const focusedId = focused instanceof HTMLElement ? focused.dataset.id : undefined;
  const wanted = conversations.map((conv) => rowFor(rows, conv));
  const keep = new Set(conversations.map((c) => c.user.id));
  for (const id of rows.keys()) if (!keep.has(id)) rows.delete(id);
  reconcile(list, wanted);
  if (list.parentNode !== container) fill(container, list);
  if (focusedId && !list.contains(document.activeElement)) {
    const again = list.querySelector(`.conv[data-id="${CSS.escape(focusedId)}"]`);
    if (again instanceof HTMLElement) again.focus();
  }
}

/** The list is empty: none yet, or it could not be loaded. */
function noConversations() {
  const error = store.state.conversationsError;
  if (error) {
    const retry = h('button', { type: 'button', text: 'Try again', on: { click: () => store.loadConversations() } });
    return emptyState('Your conversations could not be loaded.', describe(error), retry);
  }
  return emptyState(
    'No conversations yet',
    'Find someone who catches your eye and say hello.',
    h('a', { class: 'button primary', href: '#/people', text: 'Find people' }),
  );
}

/**
 * A conversation's row: the one on screen while it shows the same, else a new one.
 * @param {Rows} rows
 * @param {Conversation} conv
 */
function rowFor(rows, conv) {
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

/**
 * What a row says to a screen reader, in one label.
 * @param {Conversation} conv
 */
function rowLabel(conv) {
  const { user, last_message: last, unread_count: unread } = conv;
  const name = displayName(user);
  const mine = last?.sender_id === store.state.me?.id;
  let about = null;
  if (store.isTyping(user.id)) about = 'typing';
  else if (last) about = `${mine ? `you (${statusWord(last.status).toLowerCase()})` : name}: ${firstLine(last.content)}`;
  return [
    name,
    store.shownOnline(user.id) ? 'online' : null,
    store.isBlocked(user.id) ? 'blocked' : null,
    unread ? `${unread} unread ${unread === 1 ? 'message' : 'messages'}` : null,
    about,
  ]
    .filter(Boolean)
    .join(', ');
}

/**
 * The last message (or typing…) under the name.
 * @param {Conversation} conv
 */
function preview(conv) {
  const last = conv.last_message;
  if (store.isTyping(conv.user.id)) return h('span', { class: 'conv-preview typing', text: 'typing…' });
  const mine = last && last.sender_id === store.state.me?.id;
  return h(
    'span',
    { class: 'conv-preview' },
    mine ? statusTick(last.status) : null,
    mine ? 'You: ' : null,
    last ? h('bdi', { text: firstLine(last.content) }) : 'No messages yet',
  );
}

/** @param {Conversation} conv */
function item(conv) {
  const { user, last_message: last, unread_count: unread } = conv;
  // null: blocked either way, so no presence (not even "offline").
  const online = store.shownOnline(user.id);
  const blocked = store.isBlocked(user.id);
  const active = store.state.openChatId === user.id;
  return h(
    'li',
    null,
    h(
      'a',
      {
        class: `conv${unread ? ' unread' : ''}${active ? ' active' : ''}`,
        href: `#/chat/${user.id}`,
        'aria-current': active ? 'page' : null,
        'aria-label': rowLabel(conv),
        dataset: { id: String(user.id) },
      },
      avatar(user, 'md', online),
      h(
        'span',
        { class: 'conv-body' },
        h(
          'span',
          { class: 'conv-top' },
          h('span', { class: 'conv-name' }, h('bdi', { text: displayName(user) })),
          blocked ? h('span', { class: 'tag tag-quiet', text: 'Blocked' }) : null,
          last ? h('time', { class: 'conv-time', datetime: last.created_at, text: listTime(new Date(last.created_at)) }) : null,
        ),
        h(
          'span',
          { class: 'conv-bottom' },
          preview(conv),
          unread ? h('span', { class: 'badge' }, String(unread > 99 ? '99+' : unread), srOnly(' unread')) : null,
        ),
      ),
    ),
  );
}

/** @param {string} text */
function firstLine(text) {
  const line = text.split('\n').find((l) => l.trim()) ?? text;
  const chars = Array.from(line);
  return chars.length > 140 ? `${chars.slice(0, 140).join('')}…` : line;
}

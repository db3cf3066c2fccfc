// @ts-check
// One conversation: history with paging on scroll-up, live messages, my
// messages' status (pending, sent ✓, delivered ✓✓, read), the composer with
// typing signals, and the partner's presence.
//
// Rendering is keyed: each message keeps its DOM node for the life of the
// view (mine by client_msg_id, so the pending bubble becomes the sent one in
// place), and only new nodes are inserted, so the list's live region
// announces new messages only and the scroll position holds.

import { api, describe, errorCode } from './api.js';
import { fill, h, icon, reconcile, srOnly } from './dom.js';
import { charCount, clock, dayLabel, displayName, fullDate, lastSeen } from './format.js';
import * as realtime from './realtime.js';
import * as store from './store.js';
import { avatar, busy, emptyState, statusTick, toast } from './widgets.js';

const MAX_CHARS = 4_000;
/** The counter shows from here on. */
const COUNTER_FROM = 3_500;
/** `typing:true` is repeated at most this often while typing. */
const TYPING_EVERY_MS = 2_000;
/** Typing stops counting after this long without a keystroke. */
const TYPING_IDLE_MS = 5_000;
/** Messages of one sender this close together form a group. */
const GROUP_GAP_MS = 5 * 60_000;
/** Closer than this to the bottom counts as "at the bottom". */
const BOTTOM_SLACK_PX = 80;
/** Closer than this to the top loads the page before. */
const TOP_SLACK_PX = 300;

/** While a partner is not available, their profile is asked again this often (they may unblock me). */
const RECHECK_EVERY_MS = 30_000;

/**
 * @typedef {import('./store.js').Message} Message
 * @typedef {import('./store.js').Pending} Pending
 * @typedef {import('./store.js').User} User
 * @typedef {{key: string, mine: boolean, at: Date, message: Message, pending?: undefined}
 *   | {key: string, mine: true, at: Date, pending: Pending, message?: undefined}} Item
 *   a message in the list: stored (from the server) or mine on its way
 * @typedef {{loaded?: boolean, older?: boolean, mine?: boolean, theirs?: boolean}} RenderFlags
 *   what happened since the last render: the first page, an older page, a message of mine or theirs
 */

/**
 * Shows the chat with `otherId` in `container`; returns the function that ends it.
 * @param {HTMLElement} container
 * @param {number} otherId
 * @returns {() => void}
 */
export function mountChat(container, otherId) {
  const view = new ChatView(otherId);
  fill(container, view.ui.view);
  return view.start();
}

/**
 * The chat's elements, built empty: the header, the message list, the composer.
 * @param {number} otherId
 */
function chatFrame(otherId) {
  const headAvatar = h('span', { class: 'chat-avatar' });
  const nameLink = h('a', { class: 'chat-name', href: `#/people/${otherId}`, id: `chat-title-${otherId}` });
  const statusLine = h('p', { class: 'chat-status' });
  const header = h(
    'header',
    { class: 'chat-head' },
    h('a', { class: 'icon-button back', href: '#/', title: 'Back to conversations' }, icon('back'), srOnly('Back to conversations')),
    headAvatar,
    h('div', { class: 'chat-title' }, h('h2', { class: 'chat-heading' }, nameLink), statusLine),
  );
  const topNote = h('div', { class: 'chat-top' });
  // A list of messages inside the live log (an <ol> cannot be a log and stay a list).
  const list = h('ol', { class: 'messages' });
  const log = h('div', { class: 'messages-log', role: 'log', 'aria-relevant': 'additions', 'aria-labelledby': nameLink.id }, list);
  const scroller = h('div', { class: 'chat-scroll', tabindex: '0', 'aria-label': 'Messages' }, topNote, log);
  const jump = h('button', { type: 'button', class: 'jump', hidden: true }, icon('down'), h('span', { text: 'New messages' }));
  const textarea = h('textarea', { rows: 1, placeholder: 'Write a message…', autocomplete: 'off' });
  const sendButton = h('button', { type: 'submit', class: 'send', title: 'Send' }, icon('send'), srOnly('Send'));
  const counter = h('p', { class: 'counter', hidden: true });
  const composerNote = h('p', { class: 'composer-note', role: 'alert', hidden: true });
  const form = h(
    'form',
    { class: 'composer' },
    h('label', { class: 'sr-only', for: `composer-${otherId}`, text: 'Message' }),
    h('div', { class: 'composer-row' }, textarea, sendButton),
    counter,
    composerNote,
  );
  textarea.id = `composer-${otherId}`;
  // In the composer's place while I block them: who, and the way back.
  const blockedBar = h('div', { class: 'blocked-bar', hidden: true });
  const view = h(
    'section',
    { class: 'chat', 'aria-labelledby': nameLink.id },
    header,
    h('div', { class: 'chat-body' }, scroller, jump),
    form,
    blockedBar,
  );
  return { view, headAvatar, nameLink, statusLine, topNote, list, scroller, jump, textarea, sendButton, counter, composerNote, form, blockedBar };
}

/** One open chat: what it shows, and what it has sent (typing) or is waiting for. */
class ChatView {
  /** @param {number} otherId */
  constructor(otherId) {
    this.otherId = otherId;
    this.me = /** @type {User} */ (store.state.me);
    this.chat = store.openChat(otherId);
    this.touch = matchMedia('(pointer: coarse)').matches;
    this.ui = chatFrame(otherId);
    this.unavailable = this.unavailableNow();
    /** The first message not read when the chat opened (0: none; null: not known yet). @type {number | null} */
    this.firstUnreadId = null;
    this.positioned = false;
    this.atBottom = true;
    this.loadingPerson = false;
    /** A message's key → its list item and what its meta showed. @type {Map<string, {el: HTMLLIElement, meta: HTMLElement, sig: string}>} */
    this.nodes = new Map();
    /** A separator's key (a day, the unread line) → its list item. @type {Map<string, HTMLLIElement>} */
    this.separators = new Map();
    this.frame = 0;
    /** @type {RenderFlags} */
    this.pendingFlags = {};
    this.typingOn = false;
    this.typingSentAt = 0;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.idleTimer = undefined;
  }

  // ---- the partner ----

  /** They blocked me or left (404 on their profile, or a send refused as `blocked`). */
  unavailableNow() {
    return store.state.unavailable.has(this.otherId) && !store.isBlocked(this.otherId);
  }

  /** @returns {User | null} */
  person() {
    const id = this.otherId;
    return store.state.people.get(id) ?? store.state.conversations.get(id)?.user ?? store.state.blocked.get(id) ?? null;
  }

  renderHeader() {
    const p = this.person();
    if (p) {
      // No presence at all for someone blocked either way.
      fill(this.ui.headAvatar, avatar(p, 'md', store.shownOnline(this.otherId)));
      fill(this.ui.nameLink, h('bdi', { text: displayName(p) }));
      this.ui.textarea.setAttribute('aria-label', `Message to ${displayName(p)}`);
    } else {
      this.ui.nameLink.textContent = this.unavailable ? 'Unavailable' : '…';
    }
    this.renderStatus();
  }

  renderStatus() {
    const presence = store.state.presence.get(this.otherId);
    const line = this.ui.statusLine;
    line.classList.remove('typing', 'online');
    if (store.isBlocked(this.otherId)) {
      line.textContent = 'blocked';
    } else if (this.unavailable) {
      line.textContent = 'not available';
    } else if (store.isTyping(this.otherId)) {
      line.textContent = 'typing…';
      line.classList.add('typing');
    } else if (presence?.online) {
      line.textContent = 'online';
      line.classList.add('online');
    } else {
      line.textContent = presence?.last_seen ? lastSeen(presence.last_seen) : '';
    }
  }

  async loadPerson() {
    if (this.loadingPerson) return;
    this.loadingPerson = true;
    try {
      const info = await api('GET', `/api/users/${this.otherId}`);
      store.rememberPerson(info.user, { online: info.online, last_seen: info.last_seen });
      store.setUnavailable(this.otherId, false);
    } catch (e) {
      // A 404 for someone I blocked is my own block, shown as such.
      if (errorCode(e) === 'not_found' && !store.isBlocked(this.otherId)) store.setUnavailable(this.otherId, true);
    } finally {
      this.loadingPerson = false;
    }
    this.applyAvailability();
  }

  /** The composer, the header and the top note for who they are to me now. */
  applyAvailability() {
    const wasUnavailable = this.unavailable;
    this.unavailable = this.unavailableNow();
    const blocked = store.isBlocked(this.otherId);
    this.ui.form.hidden = blocked;
    this.ui.blockedBar.hidden = !blocked;
    if (blocked) {
      this.renderBlockedBar();
    } else if (this.unavailable) {
      this.setComposerEnabled(false, 'This person is not available: you cannot message them.');
    } else if (wasUnavailable || this.ui.textarea.disabled) {
      this.setComposerEnabled(true);
    }
    this.renderHeader();
    this.schedule({});
  }

  renderBlockedBar() {
    const p = this.person();
    const name = p ? displayName(p) : 'this person';
    const unblock = h('button', { type: 'button', class: 'primary small', text: `Unblock ${name}` });
    unblock.addEventListener('click', () =>
      busy(unblock, async () => {
        try {
          await api('DELETE', `/api/users/${this.otherId}/block`);
        } catch (e) {
          toast(describe(e), 'error');
          return;
        }
        store.setBlocked(p ?? { id: this.otherId, username: '' }, false);
        store.refreshConversationsSoon();
        toast(`${name} is unblocked.`);
        this.loadPerson();
        this.ui.textarea.focus();
      }),
    );
    fill(
      this.ui.blockedBar,
      h('p', { class: 'blocked-text' }, 'You blocked ', h('bdi', { text: name }), '. Neither of you can message the other.'),
      unblock,
    );
  }

  /** They may have unblocked me: ask again (on focus, on a live sign of them, now and then). */
  recheck() {
    if (this.unavailable && document.visibilityState === 'visible') this.loadPerson();
  }

  // ---- messages ----

  /** @param {RenderFlags} flags */
  schedule(flags) {
    for (const [k, v] of Object.entries(flags)) if (v) this.pendingFlags[/** @type {keyof RenderFlags} */ (k)] = true;
    if (!this.frame) this.frame = requestAnimationFrame(() => this.render());
  }

  /** @param {Message} m */
  keyOf(m) {
    return m.sender_id === this.me.id && m.client_msg_id ? `c:${m.client_msg_id}` : `m:${m.id}`;
  }

  /** @returns {Item[]} the stored messages in id order, then mine still on their way */
  items() {
    const messages = [...this.chat.messages.values()].sort((a, b) => a.id - b.id);
    /** @type {Item[]} */
    const out = messages.map((m) => ({ key: this.keyOf(m), mine: m.sender_id === this.me.id, message: m, at: new Date(m.created_at) }));
    const acked = new Set(out.map((i) => i.key));
    for (const p of store.pendingFor(this.otherId)) {
      const key = `c:${p.client_msg_id}`;
      if (!acked.has(key)) out.push({ key, mine: true, pending: p, at: new Date(p.created_at) });
    }
    return out;
  }

  render() {
    this.frame = 0;
    const flags = this.pendingFlags;
    this.pendingFlags = {};
    const scroller = this.ui.scroller;
    // Measured before anything above the fold changes (the top note too).
    const before = { height: scroller.scrollHeight, top: scroller.scrollTop, atBottom: this.atBottom };
    if (flags.loaded && this.firstUnreadId === null) {
      const unread = [...this.chat.messages.values()]
        .filter((m) => m.sender_id === this.otherId && m.status !== 'read')
        .sort((a, b) => a.id - b.id);
      this.firstUnreadId = unread.length ? unread[0].id : 0;
    }
    this.renderTop();
    reconcile(this.ui.list, this.desiredNodes());
    for (const [key, { el }] of this.nodes) if (!el.isConnected) this.nodes.delete(key);
    for (const [key, el] of this.separators) if (!el.isConnected) this.separators.delete(key);
    this.position(flags, before);
    realtime.markRead(this.otherId);
    // Too few messages to scroll: load more now, or scrolling up never will.
    const chat = this.chat;
    if (chat.loaded && chat.hasOlder && !chat.loadingOlder && scroller.scrollHeight <= scroller.clientHeight + TOP_SLACK_PX) {
      store.loadOlder(chat);
    }
  }

  /** The list's items in order: day separators, the "New messages" line, the messages. */
  desiredNodes() {
    const all = this.items();
    /** @type {HTMLLIElement[]} */
    const desired = [];
    /** @type {Item | null} */
    let previous = null;
    all.forEach((item, i) => {
      const day = item.at.toDateString();
      if (!previous || previous.at.toDateString() !== day) desired.push(this.separator(`d:${day}`, dayLabel(item.at), 'day'));
      if (item.message && item.message.id === this.firstUnreadId) desired.push(this.separator('unread', 'New messages', 'unread-mark'));
      const next = all[i + 1];
      const joinsPrevious = previous !== null && this.sameGroup(previous, item);
      const joinsNext = next !== undefined && this.sameGroup(item, next);
      desired.push(this.messageNode(item, joinsPrevious, joinsNext));
      previous = item;
    });
    return desired;
  }

  /**
   * Where the list scrolls to after a render.
   * @param {RenderFlags} flags
   * @param {{height: number, top: number, atBottom: boolean}} before the scroll state before the render
   */
  position(flags, before) {
    const scroller = this.ui.scroller;
    if (!this.positioned && this.chat.loaded) {
      this.positioned = true;
      const mark = this.ui.list.querySelector('li.unread-mark');
      if (mark instanceof HTMLElement) {
        scroller.scrollTop = mark.offsetTop - 16;
        this.atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < BOTTOM_SLACK_PX;
      } else {
        this.scrollToBottom();
      }
    } else if (flags.older) {
      scroller.scrollTop = before.top + (scroller.scrollHeight - before.height);
    } else if (before.atBottom || flags.mine) {
      this.scrollToBottom();
    } else if (flags.theirs) {
      this.ui.jump.hidden = false;
    }
  }

  /**
   * @param {Item} a
   * @param {Item} b
   */
  sameGroup(a, b) {
    return (
      a.mine === b.mine &&
      a.at.toDateString() === b.at.toDateString() &&
      b.at.getTime() - a.at.getTime() < GROUP_GAP_MS &&
      !(b.message && b.message.id === this.firstUnreadId)
    );
  }

  /**
   * @param {string} key
   * @param {string} text
   * @param {string} className
   */
  separator(key, text, className) {
    const known = this.separators.get(key);
    if (known) return known;
    const el = h('li', { class: className }, h('span', { role: 'separator', 'aria-label': text, text }));
    this.separators.set(key, el);
    return el;
  }

  /**
   * A message's list item: the one it always had, its classes and meta brought up to date.
   * @param {Item} item
   * @param {boolean} joinsPrevious
   * @param {boolean} joinsNext
   */
  messageNode(item, joinsPrevious, joinsNext) {
    let entry = this.nodes.get(item.key);
    if (!entry) {
      const content = item.message ? item.message.content : item.pending.content;
      // Who wrote it is said before the text, outside it: inside, its Latin
      // letters would set the direction of a right-to-left message.
      const who = srOnly(item.mine ? 'You: ' : `${displayName(this.person())}: `);
      const text = h('p', { class: 'msg-text', dir: 'auto' }, content);
      // Its updates (sent → delivered → read) are not news to announce.
      const meta = h('span', { class: 'msg-meta', 'aria-live': 'off' });
      const el = h('li', { class: 'msg' }, h('div', { class: 'bubble' }, who, text, meta));
      entry = { el, meta, sig: '' };
      this.nodes.set(item.key, entry);
    }
    entry.el.className = [
      'msg',
      item.mine ? 'mine' : 'theirs',
      joinsPrevious ? 'joined-prev' : null,
      joinsNext ? 'joined-next' : null,
      item.pending ? `pending ${item.pending.state}` : null,
    ]
      .filter(Boolean)
      .join(' ');
    const connection = store.state.connection.status;
    const sig = item.message
      ? `m:${item.message.status}`
      : `p:${item.pending.state}:${item.pending.error}:${connection === 'online'}`;
    if (sig !== entry.sig) {
      entry.sig = sig;
      fill(entry.meta, this.metaOf(item, connection));
    }
    return entry.el;
  }

  /**
   * A message's time and tick, or what became of it on its way.
   * @param {Item} item
   * @param {import('./store.js').ConnectionStatus} connection
   */
  metaOf(item, connection) {
    const time = h('time', { datetime: item.at.toISOString(), title: fullDate(item.at), text: clock(item.at) });
    if (item.message) {
      if (!item.mine) {
        const href = `#/people/${this.otherId}/report/${item.message.id}`;
        return [time, h('a', { class: 'msg-report', href, 'aria-label': 'Report this message', text: 'Report' })];
      }
      return [time, statusTick(item.message.status)];
    }
    const p = item.pending;
    if (p.state === 'failed') {
      return h(
        'span',
        { class: 'failed-note' },
        h('span', { text: `Not sent: ${p.error}` }),
        h('button', { type: 'button', class: 'link', text: 'Retry', on: { click: () => this.retry(p.client_msg_id) } }),
        h('button', { type: 'button', class: 'link', text: 'Delete', on: { click: () => store.discardPending(p.client_msg_id) } }),
      );
    }
    return [time, h('span', { class: 'tick tick-pending', text: connection === 'online' ? 'Sending…' : 'Waiting for connection…' })];
  }

  /** @param {string} clientMsgId */
  retry(clientMsgId) {
    const p = store.retryPending(clientMsgId);
    if (p) realtime.sendMessage(p);
  }

  /** Above the messages: loading, a failure, the beginning of the conversation. */
  renderTop() {
    const { chat, ui } = this;
    if (!chat.loaded) {
      if (chat.error) {
        const again = h('button', { type: 'button', text: 'Try again', on: { click: () => this.reload() } });
        fill(ui.topNote, emptyState('This conversation could not be loaded.', describe(chat.error), again));
      } else {
        fill(ui.topNote, h('p', { class: 'muted', text: 'Loading messages…' }));
      }
      return;
    }
    const p = this.person();
    const name = p ? displayName(p) : 'this person';
    if (chat.loadingOlder) {
      fill(ui.topNote, h('p', { class: 'muted', text: 'Loading earlier messages…' }));
    } else if (chat.olderError) {
      const again = h('button', { type: 'button', class: 'link', text: 'Try again', on: { click: () => store.loadOlder(chat) } });
      fill(ui.topNote, h('p', { class: 'muted' }, `Earlier messages could not be loaded (${describe(chat.olderError)}) `, again));
    } else if (chat.hasOlder) {
      fill(ui.topNote);
    } else if (chat.messages.size === 0 && store.pendingFor(this.otherId).length === 0) {
      fill(ui.topNote, this.emptyNote(name));
    } else {
      fill(ui.topNote, h('p', { class: 'chat-start', text: `This is the beginning of your conversation with ${name}.` }));
    }
  }

  /**
   * Nothing said yet: why, and what to do.
   * @param {string} name
   */
  emptyNote(name) {
    if (store.isBlocked(this.otherId)) return emptyState(`You blocked ${name}.`, 'Unblock them below to talk again.');
    if (this.unavailable) {
      return emptyState(
        'This person is not available.',
        'They may have left, or one of you blocked the other.',
        h('a', { class: 'button', href: '#/', text: 'Back to conversations' }),
      );
    }
    return emptyState(`Say hello to ${name}`, 'A friendly first message goes a long way.');
  }

  reload() {
    this.chat.error = null;
    store.openChat(this.otherId);
    this.schedule({});
  }

  scrollToBottom() {
    this.ui.scroller.scrollTop = this.ui.scroller.scrollHeight;
    this.atBottom = true;
    this.ui.jump.hidden = true;
  }

  onScroll() {
    const scroller = this.ui.scroller;
    this.atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < BOTTOM_SLACK_PX;
    if (this.atBottom) this.ui.jump.hidden = true;
    if (scroller.scrollTop < TOP_SLACK_PX && this.chat.hasOlder) store.loadOlder(this.chat);
  }

  // ---- composer ----

  stopTyping() {
    clearTimeout(this.idleTimer);
    if (this.typingOn) realtime.sendTyping(this.otherId, false);
    this.typingOn = false;
    this.typingSentAt = 0;
  }

  autosize() {
    const textarea = this.ui.textarea;
    textarea.style.height = 'auto';
    textarea.style.height = `${Math.min(textarea.scrollHeight, 160)}px`;
  }

  updateCounter() {
    const n = charCount(this.ui.textarea.value);
    const counter = this.ui.counter;
    counter.hidden = n < COUNTER_FROM;
    counter.textContent = `${n.toLocaleString()} / ${MAX_CHARS.toLocaleString()}`;
    counter.classList.toggle('over', n > MAX_CHARS);
  }

  /**
   * @param {boolean} enabled
   * @param {string | null} [note] said under the composer
   */
  setComposerEnabled(enabled, note = null) {
    this.ui.textarea.disabled = !enabled;
    this.ui.sendButton.disabled = !enabled;
    this.ui.composerNote.hidden = !note;
    this.ui.composerNote.textContent = note ?? '';
  }

  onInput() {
    const { textarea, composerNote } = this.ui;
    if (textarea.value) store.state.drafts.set(this.otherId, textarea.value);
    else store.state.drafts.delete(this.otherId);
    this.autosize();
    this.updateCounter();
    if (!composerNote.hidden && !textarea.disabled) this.setComposerEnabled(true);
    if (!textarea.value.trim()) {
      this.stopTyping();
      return;
    }
    const now = Date.now();
    if (now - this.typingSentAt >= TYPING_EVERY_MS) {
      realtime.sendTyping(this.otherId, true);
      this.typingSentAt = now;
      this.typingOn = true;
    }
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  /** @param {KeyboardEvent} e */
  onKeydown(e) {
    // Enter sends, Shift+Enter adds a line; on touch screens the button sends.
    if (e.key === 'Enter' && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey && !e.isComposing && !this.touch) {
      e.preventDefault();
      this.ui.form.requestSubmit();
    }
  }

  /** @param {SubmitEvent} e */
  onSubmit(e) {
    e.preventDefault();
    const textarea = this.ui.textarea;
    const content = textarea.value;
    if (!content.trim() || textarea.disabled) return;
    if (charCount(content) > MAX_CHARS) {
      this.setComposerEnabled(true, `A message holds at most ${MAX_CHARS.toLocaleString()} characters.`);
      return;
    }
    this.stopTyping();
    // Replying is reading: the "New messages" line has done its job.
    this.firstUnreadId = 0;
    const pending = store.queueMessage(this.otherId, content);
    realtime.sendMessage(pending);
    textarea.value = '';
    store.state.drafts.delete(this.otherId);
    this.autosize();
    this.updateCounter();
    textarea.focus();
  }

  // ---- wiring ----

  /** The store's events this chat follows; returns the functions that stop them. */
  subscribe() {
    const otherId = this.otherId;
    return [
      store.on('chat', (d) => {
        if (d.otherId !== otherId) return;
        this.schedule({
          loaded: d.kind === 'loaded',
          // Content grows above what is on screen: keep what is on screen in place.
          older: d.kind === 'older' || d.kind === 'loading-older',
          mine: d.mine && (d.kind === 'pending' || d.kind === 'message'),
          theirs: d.kind === 'message' && !d.mine,
        });
      }),
      store.on('presence', () => this.renderHeader()),
      store.on('typing', (d) => d.userId === otherId && this.renderStatus()),
      store.on('conversations', () => this.renderHeader()),
      store.on('people', (d) => d.userId === otherId && this.renderHeader()),
      store.on('blocks', () => this.applyAvailability()),
      store.on('availability', (d) => {
        if (d.userId !== otherId) return;
        this.applyAvailability();
        // A live sign of them: fetch their card again (name, presence).
        if (!d.unavailable) this.loadPerson();
      }),
      store.on('connection', () => {
        this.schedule({});
        if (store.state.connection.status === 'online') this.recheck();
      }),
    ];
  }

  /** Listens, renders, loads; returns the function that undoes it all. */
  start() {
    const { ui, otherId } = this;
    ui.jump.addEventListener('click', () => this.scrollToBottom());
    ui.scroller.addEventListener('scroll', () => this.onScroll());
    ui.textarea.value = store.state.drafts.get(otherId) ?? '';
    ui.textarea.addEventListener('input', () => this.onInput());
    ui.textarea.addEventListener('blur', () => this.stopTyping());
    ui.textarea.addEventListener('keydown', (e) => this.onKeydown(e));
    ui.form.addEventListener('submit', (e) => this.onSubmit(e));
    const onVisible = () => {
      if (document.visibilityState !== 'visible') return;
      realtime.markRead(otherId);
      this.recheck();
    };
    const recheck = () => this.recheck();
    document.addEventListener('visibilitychange', onVisible);
    window.addEventListener('focus', recheck);
    const clockTimer = setInterval(() => this.renderStatus(), 30_000);
    const recheckTimer = setInterval(recheck, RECHECK_EVERY_MS);
    const offs = this.subscribe();

    this.renderHeader();
    this.updateCounter();
    this.autosize();
    this.applyAvailability();
    this.schedule({ loaded: this.chat.loaded });
    this.loadPerson();
    if (!this.touch) ui.textarea.focus();

    return () => {
      cancelAnimationFrame(this.frame);
      this.stopTyping();
      clearInterval(clockTimer);
      clearInterval(recheckTimer);
      document.removeEventListener('visibilitychange', onVisible);
      window.removeEventListener('focus', recheck);
      for (const off of offs) off();
    };
  }
}

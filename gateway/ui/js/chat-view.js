// One conversation: history with paging on scroll-up, live messages, my
// messages' status (pending, sent ✓, delivered ✓✓, read), the composer with
// typing signals, and the partner's presence.
//
// Rendering is keyed: each message keeps its DOM node for the life of the
// view (mine by client_msg_id, so the pending bubble becomes the sent one in
// place), and only new nodes are inserted, so the list's live region
// announces new messages only and the scroll position holds.

import { api, describe } from './api.js';
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

export function mountChat(container, otherId) {
  const me = store.state.me;
  const chat = store.openChat(otherId);
  const touch = matchMedia('(pointer: coarse)').matches;
  // They blocked me or left (404 on their profile, or a send refused as `blocked`).
  const unavailableNow = () => store.state.unavailable.has(otherId) && !store.isBlocked(otherId);
  let unavailable = unavailableNow();
  let firstUnreadId = null;
  let positioned = false;
  let atBottom = true;

  // ---- the frame ----
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
  const list = h('ol', { class: 'messages', role: 'log', 'aria-relevant': 'additions', 'aria-labelledby': nameLink.id });
  const scroller = h('div', { class: 'chat-scroll', tabindex: '0', 'aria-label': 'Messages' }, topNote, list);
  const jump = h(
    'button',
    { type: 'button', class: 'jump', hidden: true, on: { click: () => scrollToBottom() } },
    icon('down'),
    h('span', { text: 'New messages' }),
  );
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
  const view = h('section', { class: 'chat', 'aria-labelledby': nameLink.id }, header, h('div', { class: 'chat-body' }, scroller, jump), form, blockedBar);
  fill(container, view);

  // ---- the partner ----
  function person() {
    return (
      store.state.people.get(otherId) ??
      store.state.conversations.get(otherId)?.user ??
      store.state.blocked.get(otherId) ??
      null
    );
  }

  function renderHeader() {
    const p = person();
    if (p) {
      // No presence at all for someone blocked either way.
      fill(headAvatar, avatar(p, 'md', store.shownOnline(otherId)));
      fill(nameLink, h('bdi', { text: displayName(p) }));
      textarea.setAttribute('aria-label', `Message to ${displayName(p)}`);
    } else {
      nameLink.textContent = unavailable ? 'Unavailable' : '…';
    }
    renderStatus();
  }

  function renderStatus() {
    const presence = store.state.presence.get(otherId);
    statusLine.classList.remove('typing', 'online');
    if (store.isBlocked(otherId)) {
      statusLine.textContent = 'blocked';
    } else if (unavailable) {
      statusLine.textContent = 'not available';
    } else if (store.isTyping(otherId)) {
      statusLine.textContent = 'typing…';
      statusLine.classList.add('typing');
    } else if (presence?.online) {
      statusLine.textContent = 'online';
      statusLine.classList.add('online');
    } else {
      statusLine.textContent = presence?.last_seen ? lastSeen(presence.last_seen) : '';
    }
  }

  let loadingPerson = false;
  async function loadPerson() {
    if (loadingPerson) return;
    loadingPerson = true;
    try {
      const info = await api('GET', `/api/users/${otherId}`);
      store.rememberPerson(info.user, { online: info.online, last_seen: info.last_seen });
      store.setUnavailable(otherId, false);
    } catch (e) {
      // A 404 for someone I blocked is my own block, shown as such.
      if (e.code === 'not_found' && !store.isBlocked(otherId)) store.setUnavailable(otherId, true);
    } finally {
      loadingPerson = false;
    }
    applyAvailability();
  }

  /** The composer, the header and the top note for who they are to me now. */
  function applyAvailability() {
    const wasUnavailable = unavailable;
    unavailable = unavailableNow();
    const blocked = store.isBlocked(otherId);
    form.hidden = blocked;
    blockedBar.hidden = !blocked;
    if (blocked) {
      renderBlockedBar();
    } else if (unavailable) {
      setComposerEnabled(false, 'This person is not available: you cannot message them.');
    } else if (wasUnavailable || textarea.disabled) {
      setComposerEnabled(true);
    }
    renderHeader();
    schedule({});
  }

  function renderBlockedBar() {
    const p = person();
    const name = p ? displayName(p) : 'this person';
    const unblock = h('button', { type: 'button', class: 'primary small', text: `Unblock ${name}` });
    unblock.addEventListener('click', () =>
      busy(unblock, async () => {
        try {
          await api('DELETE', `/api/users/${otherId}/block`);
        } catch (e) {
          toast(describe(e), 'error');
          return;
        }
        store.setBlocked(p ?? { id: otherId }, false);
        store.refreshConversationsSoon();
        toast(`${name} is unblocked.`);
        loadPerson();
        textarea.focus();
      }),
    );
    fill(
      blockedBar,
      h('p', { class: 'blocked-text' }, 'You blocked ', h('bdi', { text: name }), '. Neither of you can message the other.'),
      unblock,
    );
  }

  /** They may have unblocked me: ask again (on focus, on a live sign of them, now and then). */
  function recheck() {
    if (unavailable && document.visibilityState === 'visible') loadPerson();
  }

  // ---- messages ----
  const nodes = new Map(); // key → {el, sig}
  let frame = 0;
  let pendingFlags = {};

  function schedule(flags) {
    for (const [k, v] of Object.entries(flags)) if (v) pendingFlags[k] = true;
    if (!frame) frame = requestAnimationFrame(render);
  }

  function keyOf(m) {
    return m.sender_id === me.id && m.client_msg_id ? `c:${m.client_msg_id}` : `m:${m.id}`;
  }

  function items() {
    const messages = [...chat.messages.values()].sort((a, b) => a.id - b.id);
    const out = messages.map((m) => ({ key: keyOf(m), mine: m.sender_id === me.id, message: m, at: new Date(m.created_at) }));
    const acked = new Set(out.map((i) => i.key));
    for (const p of store.pendingFor(otherId)) {
      const key = `c:${p.client_msg_id}`;
      if (!acked.has(key)) out.push({ key, mine: true, pending: p, at: new Date(p.created_at) });
    }
    return out;
  }

  function render() {
    frame = 0;
    const flags = pendingFlags;
    pendingFlags = {};
    // Measured before anything above the fold changes (the top note too).
    const before = { height: scroller.scrollHeight, top: scroller.scrollTop, atBottom };
    if (flags.loaded && firstUnreadId === null) {
      const unread = [...chat.messages.values()]
        .filter((m) => m.sender_id === otherId && m.status !== 'read')
        .sort((a, b) => a.id - b.id);
      firstUnreadId = unread.length ? unread[0].id : 0;
    }
    renderTop();
    const all = items();
    const desired = [];
    let previous = null;
    all.forEach((item, i) => {
      const day = item.at.toDateString();
      if (!previous || previous.at.toDateString() !== day) desired.push(separator(`d:${day}`, dayLabel(item.at), 'day'));
      if (item.message && item.message.id === firstUnreadId) desired.push(separator('unread', 'New messages', 'unread-mark'));
      const next = all[i + 1];
      const joinsPrevious = previous && sameGroup(previous, item);
      const joinsNext = next && sameGroup(item, next);
      desired.push(messageNode(item, joinsPrevious, joinsNext));
      previous = item;
    });

    reconcile(list, desired);
    for (const [key, { el }] of nodes) if (!el.isConnected) nodes.delete(key);

    if (!positioned && chat.loaded) {
      positioned = true;
      const mark = list.querySelector('.unread-mark');
      if (mark) {
        scroller.scrollTop = mark.offsetTop - 16;
        atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < BOTTOM_SLACK_PX;
      } else {
        scrollToBottom();
      }
    } else if (flags.older) {
      scroller.scrollTop = before.top + (scroller.scrollHeight - before.height);
    } else if (before.atBottom || flags.mine) {
      scrollToBottom();
    } else if (flags.theirs) {
      jump.hidden = false;
    }
    realtime.markRead(otherId);
    // Too few messages to scroll: load more now, or scrolling up never will.
    if (chat.loaded && chat.hasOlder && !chat.loadingOlder && scroller.scrollHeight <= scroller.clientHeight + TOP_SLACK_PX) {
      store.loadOlder(chat);
    }
  }

  function sameGroup(a, b) {
    return (
      a.mine === b.mine &&
      a.at.toDateString() === b.at.toDateString() &&
      b.at - a.at < GROUP_GAP_MS &&
      !(b.message && b.message.id === firstUnreadId)
    );
  }

  function separator(key, text, className) {
    const known = nodes.get(key);
    if (known) return known.el;
    const el = h('li', { class: className, role: 'separator', 'aria-label': text }, h('span', { text }));
    nodes.set(key, { el, sig: '' });
    return el;
  }

  function messageNode(item, joinsPrevious, joinsNext) {
    let entry = nodes.get(item.key);
    if (!entry) {
      const content = item.message?.content ?? item.pending.content;
      // Who wrote it is said before the text, outside it: inside, its Latin
      // letters would set the direction of a right-to-left message.
      const who = srOnly(item.mine ? 'You: ' : `${displayName(person())}: `);
      const text = h('p', { class: 'msg-text', dir: 'auto' }, content);
      // Its updates (sent → delivered → read) are not news to announce.
      const meta = h('span', { class: 'msg-meta', 'aria-live': 'off' });
      const el = h('li', { class: 'msg' }, h('div', { class: 'bubble' }, who, text, meta));
      entry = { el, meta, sig: '' };
      nodes.set(item.key, entry);
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
      fill(entry.meta, meta(item, connection));
    }
    return entry.el;
  }

  function meta(item, connection) {
    const time = h('time', { datetime: item.at.toISOString(), title: fullDate(item.at), text: clock(item.at) });
    if (item.message) {
      if (!item.mine) return time;
      return [time, statusTick(item.message.status)];
    }
    const p = item.pending;
    if (p.state === 'failed') {
      return h(
        'span',
        { class: 'failed-note' },
        h('span', { text: `Not sent: ${p.error}` }),
        h('button', { type: 'button', class: 'link', text: 'Retry', on: { click: () => retry(p.client_msg_id) } }),
        h('button', { type: 'button', class: 'link', text: 'Delete', on: { click: () => store.discardPending(p.client_msg_id) } }),
      );
    }
    return [time, h('span', { class: 'tick tick-pending', text: connection === 'online' ? 'Sending…' : 'Waiting for connection…' })];
  }

  function retry(clientMsgId) {
    const p = store.retryPending(clientMsgId);
    if (p) realtime.sendMessage(p);
  }

  function renderTop() {
    if (!chat.loaded) {
      if (chat.error) {
        fill(
          topNote,
          emptyState(
            'This conversation could not be loaded.',
            describe(chat.error),
            h('button', { type: 'button', text: 'Try again', on: { click: reload } }),
          ),
        );
      } else {
        fill(topNote, h('p', { class: 'muted', text: 'Loading messages…' }));
      }
      return;
    }
    const p = person();
    const name = p ? displayName(p) : 'this person';
    if (chat.loadingOlder) {
      fill(topNote, h('p', { class: 'muted', text: 'Loading earlier messages…' }));
    } else if (chat.olderError) {
      fill(
        topNote,
        h('p', { class: 'muted' }, `Earlier messages could not be loaded (${describe(chat.olderError)}) `, h('button', { type: 'button', class: 'link', text: 'Try again', on: { click: () => store.loadOlder(chat) } })),
      );
    } else if (chat.hasOlder) {
      fill(topNote);
    } else if (chat.messages.size === 0 && store.pendingFor(otherId).length === 0) {
      let note;
      if (store.isBlocked(otherId)) note = emptyState(`You blocked ${name}.`, 'Unblock them below to talk again.');
      else if (unavailable) note = emptyState('This person is not available.', 'They may have left, or one of you blocked the other.', h('a', { class: 'button', href: '#/', text: 'Back to conversations' }));
      else note = emptyState(`Say hello to ${name}`, 'A friendly first message goes a long way.');
      fill(topNote, note);
    } else {
      fill(topNote, h('p', { class: 'chat-start', text: `This is the beginning of your conversation with ${name}.` }));
    }
  }

  function reload() {
    chat.error = null;
    store.openChat(otherId);
    schedule({});
  }

  function scrollToBottom() {
    scroller.scrollTop = scroller.scrollHeight;
    atBottom = true;
    jump.hidden = true;
  }

  scroller.addEventListener('scroll', () => {
    atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < BOTTOM_SLACK_PX;
    if (atBottom) jump.hidden = true;
    if (scroller.scrollTop < TOP_SLACK_PX && chat.hasOlder) store.loadOlder(chat);
  });

  // ---- composer ----
  let typingOn = false;
  let typingSentAt = 0;
  let idleTimer = null;

  function stopTyping() {
    clearTimeout(idleTimer);
    if (typingOn) realtime.sendTyping(otherId, false);
    typingOn = false;
    typingSentAt = 0;
  }

  function autosize() {
    textarea.style.height = 'auto';
    textarea.style.height = `${Math.min(textarea.scrollHeight, 160)}px`;
  }

  function updateCounter() {
    const n = charCount(textarea.value);
    counter.hidden = n < COUNTER_FROM;
    counter.textContent = `${n.toLocaleString()} / ${MAX_CHARS.toLocaleString()}`;
    counter.classList.toggle('over', n > MAX_CHARS);
  }

  function setComposerEnabled(enabled, note = null) {
    textarea.disabled = !enabled;
    sendButton.disabled = !enabled;
    composerNote.hidden = !note;
    composerNote.textContent = note ?? '';
  }

  textarea.value = store.state.drafts.get(otherId) ?? '';
  textarea.addEventListener('input', () => {
    if (textarea.value) store.state.drafts.set(otherId, textarea.value);
    else store.state.drafts.delete(otherId);
    autosize();
    updateCounter();
    if (!composerNote.hidden && !textarea.disabled) setComposerEnabled(true);
    if (!textarea.value.trim()) {
      stopTyping();
      return;
    }
    const now = Date.now();
    if (now - typingSentAt >= TYPING_EVERY_MS) {
      realtime.sendTyping(otherId, true);
      typingSentAt = now;
      typingOn = true;
    }
    clearTimeout(idleTimer);
    idleTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
  });
  textarea.addEventListener('blur', stopTyping);
  textarea.addEventListener('keydown', (e) => {
    // Enter sends, Shift+Enter adds a line; on touch screens the button sends.
    if (e.key === 'Enter' && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey && !e.isComposing && !touch) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const content = textarea.value;
    if (!content.trim() || textarea.disabled) return;
    if (charCount(content) > MAX_CHARS) {
      setComposerEnabled(true, `A message holds at most ${MAX_CHARS.toLocaleString()} characters.`);
      return;
    }
    stopTyping();
    // Replying is reading: the "New messages" line has done its job.
    firstUnreadId = 0;
    const pending = store.queueMessage(otherId, content);
    realtime.sendMessage(pending);
    textarea.value = '';
    store.state.drafts.delete(otherId);
    autosize();
    updateCounter();
    textarea.focus();
  });

  // ---- wiring ----
  const onVisible = () => {
    if (document.visibilityState !== 'visible') return;
    realtime.markRead(otherId);
    recheck();
  };
  document.addEventListener('visibilitychange', onVisible);
  window.addEventListener('focus', recheck);
  const clockTimer = setInterval(renderStatus, 30_000);
  const recheckTimer = setInterval(recheck, RECHECK_EVERY_MS);
  const offs = [
    store.on('chat', (d) => {
      if (d.otherId !== otherId) return;
      schedule({
        loaded: d.kind === 'loaded',
        // Content grows above what is on screen: keep what is on screen in place.
        older: d.kind === 'older' || d.kind === 'loading-older',
        mine: d.mine && (d.kind === 'pending' || d.kind === 'message'),
        theirs: d.kind === 'message' && !d.mine,
      });
    }),
    store.on('presence', renderHeader),
    store.on('typing', (d) => d.userId === otherId && renderStatus()),
    store.on('conversations', renderHeader),
    store.on('people', (d) => d.userId === otherId && renderHeader()),
    store.on('blocks', () => applyAvailability()),
    store.on('availability', (d) => {
      if (d.userId !== otherId) return;
      applyAvailability();
      // A live sign of them: fetch their card again (name, presence).
      if (!d.unavailable) loadPerson();
    }),
    store.on('connection', () => {
      schedule({});
      if (store.state.connection.status === 'online') recheck();
    }),
  ];

  renderHeader();
  updateCounter();
  autosize();
  applyAvailability();
  schedule({ loaded: chat.loaded });
  loadPerson();
  if (!touch) textarea.focus();

  return () => {
    cancelAnimationFrame(frame);
    stopTyping();
    clearInterval(clockTimer);
    clearInterval(recheckTimer);
    document.removeEventListener('visibilitychange', onVisible);
    window.removeEventListener('focus', recheck);
    for (const off of offs) off();
  };
}

// @ts-check
// What the page knows: me, my conversations, the chats I opened, who is
// online or typing, and my messages not yet acknowledged. Views read it and
// subscribe to its events; the REST calls and socket events feed it.
//
// Messages are keyed by id everywhere, so the same message arriving twice
// (history, a live event, a sync replay) is stored once.

import { api, friendly } from './api.js';
import { uuid } from './format.js';

// The API's objects as the page holds them (docs/API.md).
/**
 * @typedef {{id: number, username: string, display_name?: string | null, email?: string, avatar_url?: string | null}} User
 * @typedef {{
 *   display_name?: string | null, bio?: string | null, birthdate?: string | null,
 *   gender?: string | null, location?: string | null, avatar_url?: string | null,
 * }} Profile
 * @typedef {'sent' | 'delivered' | 'read'} MessageStatus
 * @typedef {{
 *   id: number, sender_id: number, receiver_id: number, content: string,
 *   created_at: string, status: MessageStatus, client_msg_id?: string | null,
 * }} Message
 * @typedef {{user: User, last_message: Message | null, unread_count: number, online: boolean}} Conversation
 * @typedef {{online: boolean, last_seen: string | null}} Presence
 * @typedef {{
 *   client_msg_id: string, to: number, content: string, created_at: string,
 *   state: 'pending' | 'failed', error: string | null, sentAt: number,
 * }} Pending a message of mine waiting for its `sent` ack
 * @typedef {{
 *   otherId: number, messages: Map<number, Message>, loaded: boolean,
 *   loading: Promise<void> | null, error: unknown, hasOlder: boolean,
 *   loadingOlder: boolean, olderError: unknown, readUpTo: number,
 * }} Chat one conversation's messages, as far as they are loaded
 * @typedef {'connecting' | 'online' | 'offline'} ConnectionStatus
 * @typedef {{
 *   otherId: number, kind: 'loaded' | 'loading-older' | 'older' | 'message' | 'status' | 'pending',
 *   message?: Message, mine?: boolean,
 * }} ChatEvent
 * @typedef {{user: User, profile: Profile | null}} Me `/api/me`'s answer
 */

/**
 * The events views subscribe to, and what each carries (null: everyone, or nobody in particular).
 * @typedef {{
 *   chat: ChatEvent, conversations: null, presence: {userId: number} | null, typing: {userId: number},
 *   people: {userId: number}, blocks: {userId: number} | null,
 *   availability: {userId: number, unavailable: boolean},
 *   me: null, route: null, connection: null,
 * }} Events
 */

/** A typing indicator lapses by itself after this long without a repeat. */
const TYPING_LAPSE_MS = 6_000;

const bus = new EventTarget();

/**
 * Subscribes to a store event; returns the function that unsubscribes.
 * @template {keyof Events} T
 * @param {T} type
 * @param {(detail: Events[T]) => unknown} handler
 * @returns {() => void}
 */
export function on(type, handler) {
  /** @param {Event} e */
  const listener = (e) => handler(/** @type {CustomEvent<Events[T]>} */ (e).detail);
  bus.addEventListener(type, listener);
  return () => bus.removeEventListener(type, listener);
}

/**
 * @template {keyof Events} T
 * @param {T} type
 * @param {Events[T] | null} [detail]
 */
function emit(type, detail = null) {
  bus.dispatchEvent(new CustomEvent(type, { detail }));
}

/**
 * @typedef {{
 *   me: User | null,
 *   profile: Profile | null,
 *   conversations: Map<number, Conversation>,
 *   conversationsLoaded: boolean,
 *   conversationsError: unknown,
 *   people: Map<number, User>,
 *   presence: Map<number, Presence>,
 *   blocked: Map<number, User>,
 *   unavailable: Set<number>,
 *   typing: Map<number, ReturnType<typeof setTimeout>>,
 *   chats: Map<number, Chat>,
 *   outbox: Map<string, Pending>,
 *   drafts: Map<number, string>,
 *   listUpTo: number,
 *   openChatId: number | null,
 *   connection: {status: ConnectionStatus, retryAt: number | null},
 * }} State
 */

/** @type {State} */
export const state = {
  /** `{id, username, display_name, email}` */
  me: null,
  profile: null,
  /** other user id → `{user, last_message, unread_count, online}` */
  conversations: new Map(),
  /** Whether the conversation list has been loaded once (the baseline for `sync`). */
  conversationsLoaded: false,
  conversationsError: null,
  /** user id → `user` cards met anywhere (search, profiles, conversations) */
  people: new Map(),
  /** user id → `{online, last_seen}` */
  presence: new Map(),
  /** user id → `user`: the people I blocked (their presence is not shown). */
  blocked: new Map(),
  /** Ids whose profile answered 404 or whose messages were refused as
   *  `blocked`: they blocked me, or left. No presence is shown for them. */
  unavailable: new Set(),
  /** user id → timer that ends their typing indicator */
  typing: new Map(),
  /** other user id → chat (see newChat) */
  chats: new Map(),
  /** client_msg_id → my message waiting for its `sent` ack, in the order written */
  outbox: new Map(),
  /** other user id → unsent text in the composer */
  drafts: new Map(),
  /** The newest message id in the last conversation list (the first `sync` starts there). */
  listUpTo: 0,
  /** The chat on screen, if any (its incoming messages are read, not unread). */
  openChatId: null,
  /** `connecting`, `online` or `offline` (with `retryAt`, ms since epoch). */
  connection: { status: 'connecting', retryAt: null },
};

/**
 * The signed-in person, from `/api/me`.
 * @param {Me} me
 */
export function signIn({ user, profile }) {
  state.me = user;
  state.profile = profile;
  state.people.set(user.id, user);
}

/** Forgets everything (logout, or the session ended). */
export function signOut() {
  for (const timer of state.typing.values()) clearTimeout(timer);
  Object.assign(state, {
    me: null,
    profile: null,
    conversations: new Map(),
    conversationsLoaded: false,
    conversationsError: null,
    people: new Map(),
    presence: new Map(),
    blocked: new Map(),
    unavailable: new Set(),
    typing: new Map(),
    chats: new Map(),
    outbox: new Map(),
    drafts: new Map(),
    listUpTo: 0,
    openChatId: null,
    connection: { status: 'connecting', retryAt: null },
  });
}

/**
 * The page now shows the chat with `otherId` (or no chat: null).
 * @param {number | null} otherId
 */
export function setOpenChat(otherId) {
  state.openChatId = otherId;
  emit('route');
}

/**
 * @param {ConnectionStatus} status
 * @param {number | null} [retryAt] when the next attempt is due (ms since epoch)
 */
export function setConnection(status, retryAt = null) {
  state.connection = { status, retryAt };
  emit('connection');
}

/**
 * My own card or profile changed (saved from the settings).
 * @param {Partial<User> | null} user
 * @param {Profile | null} [profile]
 */
export function updateMe(user, profile) {
  const me = state.me;
  if (!me) return;
  state.me = user ? { ...me, ...user } : me;
  if (profile) state.profile = profile;
  state.people.set(state.me.id, state.me);
  emit('me');
}

/**
 * A person's card, fresh from the server (a profile, a search hit). A new
 * name (they renamed themselves) reaches every view showing them.
 * @param {User} user
 * @param {{online: boolean, last_seen?: string | null} | null} [presence]
 */
export function rememberPerson(user, presence = null) {
  const known = state.people.get(user.id) ?? state.conversations.get(user.id)?.user;
  const renamed = known && (known.display_name !== user.display_name || known.username !== user.username);
  state.people.set(user.id, user);
  const conv = state.conversations.get(user.id);
  if (conv) conv.user = user;
  if (state.blocked.has(user.id)) state.blocked.set(user.id, user);
  if (presence) setPresence(user.id, presence.online, presence.last_seen, { quiet: true });
  if (renamed) emit('people', { userId: user.id });
}

// ---- blocks and people who are not available ----------------------------------------

/** Loads whom I blocked (their presence is hidden; their chat offers Unblock). */
export async function loadBlocks() {
  try {
    /** @type {{users: User[]}} */
    const { users } = await api('GET', '/api/blocks');
    state.blocked = new Map(users.map((u) => [u.id, u]));
    emit('blocks');
    emit('presence');
  } catch {
    // Not fatal: blocking from here still updates the set.
  }
}

/**
 * I blocked (or unblocked) `user` from this page.
 * @param {User} user
 * @param {boolean} blocked
 */
export function setBlocked(user, blocked) {
  if (blocked) {
    state.blocked.set(user.id, user);
    setTyping(user.id, false);
  } else {
    state.blocked.delete(user.id);
  }
  emit('blocks', { userId: user.id });
  emit('presence', { userId: user.id });
}

/**
 * I blocked (or unblocked) `userId` on another page or device: this page follows.
 * @param {number} userId
 * @param {boolean} blocked
 */
export async function blockedElsewhere(userId, blocked) {
  if (blocked === state.blocked.has(userId)) return;
  if (!blocked) {
    setBlocked({ id: userId, username: '' }, false);
    return;
  }
  let user = state.people.get(userId) ?? state.conversations.get(userId)?.user;
  if (!user) {
    try {
      user = (await api('GET', `/api/users/${userId}`)).user;
    } catch {
      user = { id: userId, username: '' };
    }
  }
  if (user) setBlocked(user, true);
}

/**
 * Someone's public card changed (a rename), told live: every view showing
 * them follows, my own included.
 * @param {User} user
 */
export function profileChanged(user) {
  if (state.me && user.id === state.me.id) {
    updateMe({ username: user.username, display_name: user.display_name ?? null });
    return;
  }
  rememberPerson(user);
}

/** @param {number} userId */
export function isBlocked(userId) {
  return state.blocked.has(userId);
}

/**
 * `userId` is not available to me (404, or a send refused as `blocked`), or is again.
 * @param {number} userId
 * @param {boolean} unavailable
 */
export function setUnavailable(userId, unavailable) {
  if (unavailable === state.unavailable.has(userId)) return;
  if (unavailable) {
    state.unavailable.add(userId);
    setTyping(userId, false);
  } else {
    state.unavailable.delete(userId);
  }
  emit('availability', { userId, unavailable });
  emit('presence', { userId });
}

/**
 * Something live from `userId` (a message, typing, presence) proves they can reach me again.
 * @param {number} userId
 */
function heardFrom(userId) {
  if (state.unavailable.has(userId)) setUnavailable(userId, false);
}

/**
 * Whether to show `userId` as online: true or false, or null for nobody's
 * business (someone I blocked, or who is not available to me): no dot at all.
 * @param {number} userId
 * @returns {boolean | null}
 */
export function shownOnline(userId) {
  if (state.blocked.has(userId) || state.unavailable.has(userId)) return null;
  return state.presence.get(userId)?.online ?? state.conversations.get(userId)?.online ?? false;
}

// ---- conversations ------------------------------------------------------------

/** Loads the conversation list; the newest message in it is where `sync` starts. */
export async function loadConversations() {
  try {
    /** @type {{conversations: Conversation[]}} */
    const { conversations } = await api('GET', '/api/conversations');
    /** @type {Map<number, Conversation>} */
    const fresh = new Map();
    let upTo = 0;
    for (const c of conversations) {
      const local = state.conversations.get(c.user.id);
      // A message that arrived while the list was on its way is newer than
      // what the server counted: keep what the page already knows.
      const keepLocal = local?.last_message && (!c.last_message || local.last_message.id > c.last_message.id);
      const conv = keepLocal ? { ...local, user: c.user, online: c.online } : { ...c };
      if (state.openChatId === c.user.id && document.visibilityState === 'visible') conv.unread_count = 0;
      fresh.set(c.user.id, conv);
      state.people.set(c.user.id, c.user);
      const presence = state.presence.get(c.user.id);
      state.presence.set(c.user.id, { online: c.online, last_seen: presence?.last_seen ?? null });
      if (c.last_message) upTo = Math.max(upTo, c.last_message.id);
    }
    // Conversations started here and not yet in the server's answer stay.
    for (const [id, conv] of state.conversations) if (!fresh.has(id) && conv.last_message) fresh.set(id, conv);
    state.conversations = fresh;
    state.listUpTo = upTo;
    state.conversationsLoaded = true;
    state.conversationsError = null;
  } catch (e) {
    state.conversationsError = e;
  }
  emit('conversations');
  emit('presence');
}

/** @type {ReturnType<typeof setTimeout> | null} */
let refreshTimer = null;
/** Reloads the list soon, once, however many callers ask (a new partner appeared). */
export function refreshConversationsSoon() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    if (state.me) loadConversations();
  }, 400);
}

/** Conversations, newest activity first (ids grow in commit order). */
export function sortedConversations() {
  return [...state.conversations.values()].sort(
    (a, b) => (b.last_message?.id ?? 0) - (a.last_message?.id ?? 0),
  );
}

export function totalUnread() {
  let n = 0;
  for (const c of state.conversations.values()) n += c.unread_count;
  return n;
}

// ---- chats and messages ---------------------------------------------------------

/** @type {Record<string, number | undefined>} */
const STATUS_RANK = { sent: 0, delivered: 1, read: 2 };

/**
 * @param {MessageStatus} status
 * @returns {number}
 */
function rank(status) {
  return STATUS_RANK[status] ?? 0;
}

/**
 * @param {number} otherId
 * @returns {Chat}
 */
function newChat(otherId) {
  return {
    otherId,
    /** id → message */
    messages: new Map(),
    loaded: false,
    loading: null,
    error: null,
    /** More messages lie before the oldest loaded one. */
    hasOlder: false,
    loadingOlder: false,
    olderError: null,
    /** The highest incoming id we told the server is read. */
    readUpTo: 0,
  };
}

/**
 * The chat with a person, loading its latest page the first time.
 * @param {number} otherId
 */
export function openChat(otherId) {
  let chat = state.chats.get(otherId);
  if (!chat) {
    chat = newChat(otherId);
    state.chats.set(otherId, chat);
  }
  if (!chat.loaded && !chat.loading) chat.loading = loadLatest(chat);
  return chat;
}

/**
 * The answer of `GET /api/messages/{me}/{other}`.
 * @typedef {{messages: Message[], has_more: boolean}} HistoryPage
 */

/** @param {Chat} chat */
async function loadLatest(chat) {
  try {
    /** @type {HistoryPage} */
    const page = await api('GET', `/api/messages/${myId()}/${chat.otherId}?limit=50`);
    for (const m of page.messages) storeMessage(chat, m);
    chat.hasOlder = page.has_more;
    chat.loaded = true;
    chat.error = null;
  } catch (e) {
    chat.error = e;
  } finally {
    chat.loading = null;
  }
  emit('chat', { otherId: chat.otherId, kind: 'loaded' });
}

/**
 * Loads the page before the oldest loaded message (scrolling up).
 * @param {Chat} chat
 */
export async function loadOlder(chat) {
  if (!chat.loaded || !chat.hasOlder || chat.loadingOlder) return;
  const oldest = Math.min(...chat.messages.keys());
  chat.loadingOlder = true;
  emit('chat', { otherId: chat.otherId, kind: 'loading-older' });
  try {
    /** @type {HistoryPage} */
    const page = await api('GET', `/api/messages/${myId()}/${chat.otherId}?before=${oldest}&limit=50`);
    for (const m of page.messages) storeMessage(chat, m);
    chat.hasOlder = page.has_more;
    chat.olderError = null;
  } catch (e) {
    chat.olderError = e;
  } finally {
    chat.loadingOlder = false;
  }
  emit('chat', { otherId: chat.otherId, kind: 'older' });
}

/**
 * Stores a message in a chat; a known id only ever moves its status forward.
 * @param {Chat} chat
 * @param {Message} m
 */
function storeMessage(chat, m) {
  const known = chat.messages.get(m.id);
  if (!known) {
    chat.messages.set(m.id, { ...m });
  } else if (rank(m.status) > rank(known.status)) {
    known.status = m.status;
  }
}

/** My id (0 when signed out: no message is from or to 0). */
function myId() {
  return state.me?.id ?? 0;
}

/** @param {Message} m */
function otherOf(m) {
  return m.sender_id === myId() ? m.receiver_id : m.sender_id;
}

/**
 * True when the chat with this person is on screen and the page is visible.
 * @param {number} otherId
 */
export function chatVisible(otherId) {
  return state.openChatId === otherId && document.visibilityState === 'visible';
}

/**
 * A message from the server (live, replayed by `sync`, or the ack of my
 * own send): stored once, my pending copy replaced, the conversation updated.
 * @param {Message} m
 */
export function receiveMessage(m) {
  if (!state.me) return;
  const otherId = otherOf(m);
  const mine = m.sender_id === state.me.id;
  if (mine) state.outbox.delete(m.client_msg_id ?? '');
  else heardFrom(otherId);
  const chat = state.chats.get(otherId);
  if (chat) storeMessage(chat, m);

  const conv = state.conversations.get(otherId);
  if (conv) {
    if (!conv.last_message || m.id > conv.last_message.id) {
      conv.last_message = { ...m };
      if (!mine && !chatVisible(otherId)) conv.unread_count += 1;
    }
  } else {
    const user = state.people.get(otherId);
    if (user) {
      const presence = state.presence.get(otherId);
      state.conversations.set(otherId, {
        user,
        last_message: { ...m },
        unread_count: !mine && !chatVisible(otherId) ? 1 : 0,
        online: presence?.online ?? false,
      });
    }
    // The server knows their card and unread count: ask it.
    refreshConversationsSoon();
  }
  if (!mine) setTyping(otherId, false);
  emit('chat', { otherId, kind: 'message', message: m, mine });
  emit('conversations');
}

/**
 * `status`: my messages to `with` up to `up_to_id` are now delivered or read.
 * @param {{with: number, up_to_id: number, status: MessageStatus}} frame
 */
export function applyStatus({ with: otherId, up_to_id: upTo, status }) {
  const wanted = STATUS_RANK[status];
  if (wanted === undefined) return;
  /** @param {Message} m */
  const raise = (m) => {
    if (m.sender_id === myId() && m.id <= upTo && rank(m.status) < wanted) m.status = status;
  };
  const chat = state.chats.get(otherId);
  if (chat) for (const m of chat.messages.values()) raise(m);
  const conv = state.conversations.get(otherId);
  if (conv?.last_message) raise(conv.last_message);
  emit('chat', { otherId, kind: 'status' });
  emit('conversations');
}

/**
 * When the chat is on screen: the highest incoming message not yet marked
 * read, to send in a `read` frame (or null). Marks them read locally.
 * @param {number} otherId
 */
export function takeReadMark(otherId) {
  const chat = state.chats.get(otherId);
  if (!chat?.loaded || !chatVisible(otherId)) return null;
  let upTo = 0;
  let unread = false;
  for (const m of chat.messages.values()) {
    if (m.sender_id !== otherId) continue;
    if (m.id > upTo) upTo = m.id;
    if (m.status !== 'read') unread = true;
  }
  const conv = state.conversations.get(otherId);
  if (conv && conv.unread_count > 0) {
    conv.unread_count = 0;
    unread = true;
    emit('conversations');
  }
  if (!unread || upTo <= chat.readUpTo) return null;
  chat.readUpTo = upTo;
  for (const m of chat.messages.values()) if (m.sender_id === otherId && m.id <= upTo) m.status = 'read';
  return upTo;
}

// ---- my messages on their way ------------------------------------------------------

/**
 * Queues a message (shown at once as pending); the socket sends it.
 * @param {number} to
 * @param {string} content
 */
export function queueMessage(to, content) {
  /** @type {Pending} */
  const pending = {
    client_msg_id: uuid(),
    to,
    content,
    created_at: new Date().toISOString(),
    state: 'pending',
    error: null,
    sentAt: 0,
  };
  state.outbox.set(pending.client_msg_id, pending);
  emit('chat', { otherId: to, kind: 'pending', mine: true });
  return pending;
}

/** @param {number} otherId */
export function pendingFor(otherId) {
  return [...state.outbox.values()].filter((p) => p.to === otherId);
}

/**
 * The server refused a send (`error` with its client_msg_id): show why.
 * @param {string} clientMsgId
 * @param {string} code
 * @param {string} message
 */
export function failPending(clientMsgId, code, message) {
  const p = state.outbox.get(clientMsgId);
  if (!p) return;
  p.state = 'failed';
  p.error = friendly(code, message);
  emit('chat', { otherId: p.to, kind: 'pending' });
  if (code === 'blocked' && !state.blocked.has(p.to)) setUnavailable(p.to, true);
}

/**
 * Puts a failed message back in line, with the same client_msg_id.
 * @param {string} clientMsgId
 */
export function retryPending(clientMsgId) {
  const p = state.outbox.get(clientMsgId);
  if (!p) return null;
  p.state = 'pending';
  p.error = null;
  p.sentAt = 0;
  emit('chat', { otherId: p.to, kind: 'pending' });
  return p;
}

/** @param {string} clientMsgId */
export function discardPending(clientMsgId) {
  const p = state.outbox.get(clientMsgId);
  if (!p) return;
  state.outbox.delete(clientMsgId);
  emit('chat', { otherId: p.to, kind: 'pending' });
}

// ---- presence and typing ----------------------------------------------------------

/**
 * @param {number} userId
 * @param {boolean} online
 * @param {string | null | undefined} lastSeen
 * @param {{quiet?: boolean}} [options] `quiet`: no event, and no proof they can reach me
 */
export function setPresence(userId, online, lastSeen, { quiet = false } = {}) {
  if (!quiet) heardFrom(userId);
  const known = state.presence.get(userId);
  state.presence.set(userId, { online, last_seen: lastSeen ?? known?.last_seen ?? null });
  const conv = state.conversations.get(userId);
  if (conv) conv.online = online;
  if (!online) setTyping(userId, false);
  if (!quiet) emit('presence', { userId });
}

/** @param {number} userId */
export function isTyping(userId) {
  return state.typing.has(userId);
}

/**
 * @param {number} userId
 * @param {boolean} typing
 */
export function setTyping(userId, typing) {
  if (typing) heardFrom(userId);
  const timer = state.typing.get(userId);
  if (timer) clearTimeout(timer);
  if (typing) {
    state.typing.set(
      userId,
      setTimeout(() => setTyping(userId, false), TYPING_LAPSE_MS),
    );
  } else {
    state.typing.delete(userId);
  }
  if (typing || timer) emit('typing', { userId });
}

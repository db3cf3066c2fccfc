// @ts-check
// The real-time socket (`/ws`, authenticated by the same session cookie).
//
// The socket is allowed to fail: it reconnects with backoff, and after each
// `ready` it asks the server to replay (`sync`) everything after the highest
// message id the page has seen, then re-sends every message still waiting
// for its ack with the same client_msg_id, so nothing is lost and nothing is
// stored twice. The store drops duplicates by id.
//
// "Seen" means seen on the stream: `message` events arrive in id order, so
// everything up to the highest of them has arrived. Ids met elsewhere (a
// history page fetched while the socket was down, a `sent` ack, which is not
// ordered with the stream) do not count: they could jump over a message of
// another conversation that the socket never delivered.

import { api, errorCode } from './api.js';
import * as store from './store.js';

const PING_EVERY_MS = 25_000;
/** No frame at all this long after a ping: the connection is dead. */
const PONG_WITHIN_MS = 10_000;
/** A send still unacknowledged this long on a live socket is sent again (idempotent). */
const RESEND_AFTER_MS = 15_000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;

/** @type {WebSocket | null} */
let ws = null;
let ready = false;
/** Where the next `sync` starts: the highest id seen on the stream (see above). */
let resumeFrom = 0;
let stopped = true;
let everReady = false;
let attempts = 0;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let reconnectTimer;
/** @type {ReturnType<typeof setInterval> | undefined} */
let pingTimer;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let pongTimer;

/** Opens the socket and keeps it open until `stop`. */
export function start() {
  stopped = false;
  everReady = false;
  attempts = 0;
  resumeFrom = 0;
  window.addEventListener('online', reconnectNow);
  document.addEventListener('visibilitychange', onVisibility);
  connect();
}

export function stop() {
  stopped = true;
  window.removeEventListener('online', reconnectNow);
  document.removeEventListener('visibilitychange', onVisibility);
  clearTimeout(reconnectTimer);
  reconnectTimer = undefined;
  drop();
}

/** Skips the backoff wait (the "Retry now" button, the network coming back). */
export function reconnectNow() {
  if (stopped || ws) return;
  connect();
}

function onVisibility() {
  if (document.visibilityState === 'visible') reconnectNow();
}

function connect() {
  clearTimeout(reconnectTimer);
  reconnectTimer = undefined;
  drop();
  store.setConnection('connecting');
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const socket = new WebSocket(`${scheme}://${location.host}/ws`);
  ws = socket;
  // Events of a socket we already gave up on are ignored.
  socket.addEventListener('message', (e) => {
    if (ws === socket) onFrame(e.data);
  });
  socket.addEventListener('close', () => {
    if (ws === socket) onClosed();
  });
}

/** Forgets the current socket (closing it if it is still open). */
function drop() {
  const old = ws;
  ws = null;
  ready = false;
  clearInterval(pingTimer);
  clearTimeout(pongTimer);
  if (old && old.readyState <= WebSocket.OPEN) {
    try {
      old.close(1000);
    } catch {
      // Already closing.
    }
  }
}

async function onClosed() {
  const wasReady = ready;
  drop();
  if (stopped) return;
  if (!wasReady) {
    // Refused before `ready`: the upgrade may have been a 401 (session
    // ended elsewhere). The API tells; a 401 there signs the page out.
    try {
      await api('GET', '/api/me');
    } catch (e) {
      if (errorCode(e) === 'unauthorized') return;
    }
    if (stopped || ws) return;
  }
  scheduleReconnect();
}

function scheduleReconnect() {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempts);
  // Jitter, so a restarted server is not met by every browser at once.
  const delay = attempts === 0 ? BACKOFF_MIN_MS : ceiling / 2 + (Math.random() * ceiling) / 2;
  attempts += 1;
  store.setConnection('offline', Date.now() + delay);
  reconnectTimer = setTimeout(connect, delay);
}

/**
 * A frame to the server (docs/API.md, WebSocket).
 * @typedef {{type: 'ping'}
 *   | {type: 'sync', after: number}
 *   | {type: 'send', to: number, content: string, client_msg_id: string}
 *   | {type: 'typing', to: number, typing: boolean}
 *   | {type: 'read', with: number, up_to_id: number}} OutFrame
 */

/**
 * A frame from the server.
 * @typedef {{type: 'ready'}
 *   | {type: 'message' | 'sent', message: import('./store.js').Message}
 *   | {type: 'status', with: number, up_to_id: number, status: import('./store.js').MessageStatus}
 *   | {type: 'presence', user_id: number, online: boolean, last_seen?: string | null}
 *   | {type: 'typing', user_id: number, typing: boolean}
 *   | {type: 'sync_done', up_to_id: number, more: boolean}
 *   | {type: 'blocks', user_id: number, blocked: boolean}
 *   | {type: 'availability', user_id: number, available: boolean}
 *   | {type: 'profile', user: import('./store.js').User}
 *   | {type: 'error', code: string, message: string, client_msg_id?: string}
 *   | {type: 'pong'}} InFrame
 */

/**
 * Sends a frame on a ready socket; false when there is none.
 * @param {OutFrame} frame
 */
function send(frame) {
  if (!ready || !ws) return false;
  ws.send(JSON.stringify(frame));
  return true;
}

/** @param {unknown} data */
function onFrame(data) {
  /** @type {InFrame} */
  let frame;
  try {
    frame = JSON.parse(String(data));
  } catch {
    return;
  }
  // Any frame proves the connection alive.
  clearTimeout(pongTimer);
  switch (frame.type) {
    case 'ready':
      onReady();
      break;
    case 'message':
      resumeFrom = Math.max(resumeFrom, frame.message.id);
      store.receiveMessage(frame.message);
      break;
    case 'sent':
      store.receiveMessage(frame.message);
      break;
    case 'status':
      store.applyStatus(frame);
      break;
    case 'presence':
      store.setPresence(frame.user_id, frame.online, frame.last_seen);
      break;
    case 'typing':
      store.setTyping(frame.user_id, frame.typing);
      break;
    case 'sync_done':
      resumeFrom = Math.max(resumeFrom, frame.up_to_id);
      if (frame.more) send({ type: 'sync', after: frame.up_to_id });
      break;
    case 'blocks':
      store.blockedElsewhere(frame.user_id, frame.blocked);
      break;
    case 'availability':
      store.setUnavailable(frame.user_id, !frame.available);
      break;
    case 'profile':
      store.profileChanged(frame.user);
      break;
    case 'error':
      if (frame.client_msg_id) store.failPending(frame.client_msg_id, frame.code, frame.message);
      else console.warn('The server refused a frame:', frame.code, frame.message);
      break;
    default:
      break;
  }
}

async function onReady() {
  ready = true;
  attempts = 0;
  const reconnected = everReady;
  everReady = true;
  store.setConnection('online');
  clearInterval(pingTimer);
  pingTimer = setInterval(heartbeat, PING_EVERY_MS);
  const socket = ws;
  if (!reconnected) {
    // The first socket: the conversation list is the baseline (loaded now if
    // it failed before); anything newer comes from the sync or live.
    if (!store.state.conversationsLoaded) await store.loadConversations();
    if (ws !== socket || !ready) return;
    if (!store.state.conversationsLoaded) {
      // No baseline: a sync from 0 would replay all history. Live events
      // still flow; the next `ready` tries the baseline again.
      everReady = false;
      flushOutbox();
      return;
    }
    resumeFrom = Math.max(resumeFrom, store.state.listUpTo);
  }
  send({ type: 'sync', after: resumeFrom });
  flushOutbox();
  // Presence and unread counts may have changed while the socket was away.
  if (reconnected) await store.loadConversations();
  if (ws !== socket || !ready) return;
  for (const otherId of store.state.chats.keys()) markRead(otherId);
}

function heartbeat() {
  send({ type: 'ping' });
  clearTimeout(pongTimer);
  pongTimer = setTimeout(() => {
    // Silence: the connection is gone without a close. Start over.
    drop();
    if (!stopped) scheduleReconnect();
  }, PONG_WITHIN_MS);
  flushOutbox(RESEND_AFTER_MS);
}

/**
 * Sends every pending message not sent in the last `olderThan` ms.
 * @param {number} [olderThan]
 */
function flushOutbox(olderThan = 0) {
  const now = Date.now();
  for (const p of store.state.outbox.values()) {
    if (p.state === 'pending' && now - p.sentAt >= olderThan) sendMessage(p);
  }
}

/**
 * Sends a queued message now if the socket is up (else on the next `ready`).
 * @param {import('./store.js').Pending} pending
 */
export function sendMessage(pending) {
  const ok = send({ type: 'send', to: pending.to, content: pending.content, client_msg_id: pending.client_msg_id });
  if (ok) pending.sentAt = Date.now();
}

/**
 * @param {number} to
 * @param {boolean} typing
 */
export function sendTyping(to, typing) {
  send({ type: 'typing', to, typing });
}

/**
 * Tells the server the chat with `otherId` is read, when it is on screen.
 * @param {number} otherId
 */
export function markRead(otherId) {
  const upTo = store.takeReadMark(otherId);
  if (!upTo) return;
  if (!send({ type: 'read', with: otherId, up_to_id: upTo })) {
    api('POST', '/api/messages/read', { with: otherId, up_to_id: upTo }).catch(() => {
      // Not fatal: it is sent again the next time the chat is seen.
      const chat = store.state.chats.get(otherId);
      if (chat) chat.readUpTo = 0;
    });
  }
}

// @ts-check
// Desktop notifications: a new message while this tab is hidden shows one
// (per conversation, replaced by the next), clicking it opens the chat. The
// browser's permission is asked only when the person presses the button in
// their settings; they can turn notifications off here without going into
// the browser's settings.

import { api } from './api.js';
import { displayName } from './format.js';
import * as store from './store.js';

/** This browser's choice (not the session's: it is not a secret). */
const PREF_KEY = 'totilove.notifications';
/** Older messages (a `sync` replay after a long time away) are not news. */
const FRESH_MS = 2 * 60_000;
const PREVIEW_CHARS = 120;

export function supported() {
  return typeof Notification === 'function';
}

/** `granted`, `denied`, `default`, or `unsupported`. */
export function permission() {
  return supported() ? Notification.permission : 'unsupported';
}

function preference() {
  try {
    return localStorage.getItem(PREF_KEY);
  } catch {
    return null;
  }
}

/** Whether a hidden tab shows new messages as notifications. */
export function enabled() {
  return permission() === 'granted' && preference() !== 'off';
}

/** @param {boolean} on */
export function setEnabled(on) {
  try {
    localStorage.setItem(PREF_KEY, on ? 'on' : 'off');
  } catch {
    // Storage refused (a private window): the choice lasts for this page only.
  }
}

/** Asks the browser for permission; call it from a click. */
export async function ask() {
  if (!supported()) return 'unsupported';
  const answer = await Notification.requestPermission();
  if (answer === 'granted') setEnabled(true);
  return answer;
}

/** conversation partner id → the notification showing their latest message */
/** @type {Map<number, Notification>} */
const open = new Map();
/** @type {(() => void) | null} */
let offChat = null;

export function start() {
  stop();
  offChat = store.on('chat', onChat);
  document.addEventListener('visibilitychange', onVisibility);
}

export function stop() {
  offChat?.();
  offChat = null;
  document.removeEventListener('visibilitychange', onVisibility);
  closeAll();
}

/**
 * Their card: known here, or (someone writing for the first time) asked for.
 * @param {number} otherId
 * @returns {Promise<import('./store.js').User | null>}
 */
async function sender(otherId) {
  const known = store.state.people.get(otherId) ?? store.state.conversations.get(otherId)?.user;
  if (known) return known;
  try {
    const info = await api('GET', `/api/users/${otherId}`);
    store.rememberPerson(info.user);
    return info.user;
  } catch {
    return null;
  }
}

/** @param {import('./store.js').ChatEvent} d */
async function onChat(d) {
  if (d.kind !== 'message' || d.mine || !d.message) return;
  if (document.visibilityState !== 'hidden' || !enabled()) return;
  if (store.isBlocked(d.otherId)) return;
  if (Date.now() - Date.parse(d.message.created_at) > FRESH_MS) return;
  const user = await sender(d.otherId);
  if (document.visibilityState !== 'hidden' || !offChat) return;
  const chars = Array.from(d.message.content.trim());
  const body = chars.length > PREVIEW_CHARS ? `${chars.slice(0, PREVIEW_CHARS).join('')}…` : chars.join('');
  let note;
  try {
    // The tag makes the next message from the same person replace this one.
    note = new Notification(user ? displayName(user) : 'New message', { body, tag: `totilove-chat-${d.otherId}`, icon: '/icon.svg' });
  } catch {
    return; // Some browsers (Android) only notify from a service worker.
  }
  open.get(d.otherId)?.close();
  open.set(d.otherId, note);
  note.addEventListener('click', () => {
    window.focus();
    location.hash = `#/chat/${d.otherId}`;
    note.close();
  });
  note.addEventListener('close', () => {
    if (open.get(d.otherId) === note) open.delete(d.otherId);
  });
}

/** Back on the tab: the messages are on screen, their notifications are old news. */
function onVisibility() {
  if (document.visibilityState === 'visible') closeAll();
}

function closeAll() {
  for (const note of open.values()) note.close();
  open.clear();
}

// @ts-check
// Desktop notifications: a new message while this tab is hidden shows one
// (per conversation, replaced by the next), clicking it opens the chat. The
// browser's permission is asked only when the person presses the button in
// their settings; they can turn notifications off here without going into
// the browser's settings, hide who wrote and what (previews), and have a
// sound play. With no tab open, Web Push takes over (push.js, /sw.js).

import { api } from './api.js';
import { displayName } from './format.js';
import * as store from './store.js';

/** This browser's choices (not the session's: they are not secrets). */
const PREF_KEY = 'totilove.notifications';
const PREVIEWS_KEY = 'totilove.notifications.previews';
const SOUND_KEY = 'totilove.notifications.sound';
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

/** @param {string} key */
function preference(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

/**
 * @param {string} key
 * @param {boolean} on
 */
function remember(key, on) {
  try {
    localStorage.setItem(key, on ? 'on' : 'off');
  } catch {
    // Storage refused (a private window): the choice lasts for this page only.
  }
}

/** Whether a hidden tab shows new messages as notifications. */
export function enabled() {
  return permission() === 'granted' && preference(PREF_KEY) !== 'off';
}

/** @param {boolean} on */
export function setEnabled(on) {
  remember(PREF_KEY, on);
}

/** Whether notifications show who wrote and what (on until turned off). */
export function previews() {
  return preference(PREVIEWS_KEY) !== 'off';
}

/** @param {boolean} on */
export function setPreviews(on) {
  remember(PREVIEWS_KEY, on);
}

/** Whether a notification plays a sound (off until turned on). */
export function sound() {
  return preference(SOUND_KEY) === 'on';
}

/** @param {boolean} on */
export function setSound(on) {
  remember(SOUND_KEY, on);
  if (on) chime(); // From the click: lets the browser play later ones too.
}

/** @type {AudioContext | null} */
let audio = null;

/** A short two-note chime, made here (no file to fetch). */
function chime() {
  try {
    audio ??= new AudioContext();
    const at = audio.currentTime;
    for (const [i, freq] of [880, 1320].entries()) {
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = freq;
      gain.gain.setValueAtTime(0.12, at + i * 0.12);
      gain.gain.exponentialRampToValueAtTime(0.001, at + i * 0.12 + 0.25);
      tone.connect(gain).connect(audio.destination);
      tone.start(at + i * 0.12);
      tone.stop(at + i * 0.12 + 0.25);
    }
  } catch {
    // No audio here: the notification still shows.
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
  const shown = previews();
  const user = shown ? await sender(d.otherId) : null;
  if (document.visibilityState !== 'hidden' || !offChat) return;
  const chars = Array.from(d.message.content.trim());
  const text = chars.length > PREVIEW_CHARS ? `${chars.slice(0, PREVIEW_CHARS).join('')}…` : chars.join('');
  const title = shown && user ? displayName(user) : 'New message';
  let note;
  try {
    // The tag makes the next message from the same person replace this one.
    note = new Notification(title, { body: shown ? text : '', tag: `totilove-chat-${d.otherId}`, icon: '/icon.svg' });
  } catch {
    return; // Some browsers (Android) only notify from a service worker.
  }
  if (sound()) chime();
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

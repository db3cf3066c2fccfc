// @ts-check
// Web Push: notifications while no tab of Totilove is open. The service
// worker (/sw.js) shows them; this module subscribes the browser with the
// server's key and hands the subscription to the current session, which is
// where the server keeps it (it ends with the session: signing in again
// hands it over again, see `resume`).

import { api } from './api.js';
import * as store from './store.js';

/** A reason, worded for people, why pushes could not be turned on. */
export class PushError extends Error {}

/**
 * The choice of the person signed in, in this browser: 'on' once they
 * turned it on, until they turn it off. Per person, so that someone else
 * signing in on this browser never inherits it.
 */
function prefKey() {
  return `totilove.push.${store.state.me?.id ?? 0}`;
}

export function supported() {
  return window.isSecureContext && 'serviceWorker' in navigator && 'PushManager' in window && typeof Notification === 'function';
}

/** The service worker, registered on every visit (it caches nothing). */
export function register() {
  if (!('serviceWorker' in navigator) || !window.isSecureContext) return;
  navigator.serviceWorker.register('/sw.js').catch(() => {
    // Refused (a private window, say): the page works without it.
  });
}

function preference() {
  try {
    return localStorage.getItem(prefKey());
  } catch {
    return null;
  }
}

/** @param {'on' | 'off'} value */
function remember(value) {
  try {
    localStorage.setItem(prefKey(), value);
  } catch {
    // A private window: the choice lasts for this page only.
  }
}

/** Whether pushes were turned on in this browser. */
export function wanted() {
  return preference() === 'on';
}

/**
 * The key's bytes, from base64url.
 * @param {string} text
 * @returns {Uint8Array<ArrayBuffer>}
 */
function bytes(text) {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const raw = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  const out = new Uint8Array(new ArrayBuffer(raw.length));
  for (let i = 0; i < raw.length; i += 1) out[i] = raw.charCodeAt(i);
  return out;
}

/**
 * Whether `subscription` was made with `key` (a server whose key changed
 * needs a new one).
 * @param {PushSubscription} subscription
 * @param {Uint8Array<ArrayBuffer>} key
 */
function madeWith(subscription, key) {
  const own = subscription.options.applicationServerKey;
  if (!own) return false;
  const a = new Uint8Array(own);
  return a.length === key.length && a.every((b, i) => b === key[i]);
}

/**
 * Subscribes this browser (asking for the permission if need be: call it
 * from a click) and gives the subscription to this session.
 * @param {boolean} previews whether pushes may show who wrote and what
 */
export async function turnOn(previews) {
  const answer = await api('GET', '/api/push/key');
  const key = answer?.public_key;
  if (!key) throw new PushError('This server does not send notifications while Totilove is closed.');
  if ((await Notification.requestPermission()) !== 'granted') {
    throw new PushError('Notifications are blocked for Totilove in this browser’s settings.');
  }
  const subscription = await subscribed(bytes(key));
  await api('PUT', '/api/push/subscription', { ...subscription.toJSON(), previews });
  remember('on');
}

/**
 * This browser's subscription made with `serverKey`, made now if need be.
 * @param {Uint8Array<ArrayBuffer>} serverKey
 */
async function subscribed(serverKey) {
  try {
    const registration = await navigator.serviceWorker.ready;
    const existing = await registration.pushManager.getSubscription();
    if (existing && madeWith(existing, serverKey)) return existing;
    await existing?.unsubscribe();
    return await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: serverKey });
  } catch {
    throw new PushError('This browser’s push service cannot be reached right now. Please try again later.');
  }
}

/** No more pushes to this browser. */
export async function turnOff() {
  remember('off');
  await api('DELETE', '/api/push/subscription', undefined, { quiet: true }).catch(() => null);
  const registration = await navigator.serviceWorker.getRegistration();
  const subscription = await registration?.pushManager.getSubscription();
  await subscription?.unsubscribe();
}

/**
 * After signing in, or when previews change: this session gets the
 * browser's subscription, if pushes are on here. Quiet when it cannot.
 * @param {boolean} previews
 */
export async function resume(previews) {
  if (!supported() || !wanted() || Notification.permission !== 'granted') return;
  try {
    await turnOn(previews);
  } catch {
    // The push service or the server is away: the next visit tries again.
  }
}

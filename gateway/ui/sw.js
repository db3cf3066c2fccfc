// @ts-check
/// <reference lib="webworker" />
// The service worker: shows the Web Push notifications the message service
// sends while no tab of Totilove is open (docs/API.md, Web Push), and opens
// the conversation when one is clicked. It caches nothing: the page always
// comes from the gateway.

const sw = /** @type {ServiceWorkerGlobalScope} */ (/** @type {unknown} */ (self));

/**
 * What the message service pushes: the sender and a preview only when the
 * person allowed previews.
 * @typedef {{ type: string, message_id?: number, sender_id?: number, sender_name?: string, preview?: string }} Push
 */

sw.addEventListener('install', () => {
  sw.skipWaiting();
});

sw.addEventListener('activate', (event) => {
  event.waitUntil(sw.clients.claim());
});

sw.addEventListener('push', (event) => {
  /** @type {Push} */
  let push = { type: 'message' };
  try {
    push = event.data ? event.data.json() : push;
  } catch {
    // Not ours or unreadable: still a notification (browsers demand one).
  }
  const withPreview = typeof push.sender_id === 'number';
  const title = withPreview ? push.sender_name || 'New message' : 'New message on Totilove';
  // One notification per conversation (or one in all without previews),
  // replaced by the next; `renotify` so the replacement still alerts.
  const tag = withPreview ? `totilove-chat-${push.sender_id}` : 'totilove-messages';
  event.waitUntil(
    sw.registration.showNotification(title, {
      body: withPreview ? push.preview || '' : 'Open Totilove to read it.',
      tag,
      icon: '/icon.svg',
      data: { senderId: withPreview ? push.sender_id : null },
    }),
  );
});

sw.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const senderId = event.notification.data?.senderId;
  const target = typeof senderId === 'number' ? `/#/chat/${senderId}` : '/';
  event.waitUntil(show(target));
});

/**
 * Focuses a tab of ours showing `target`, or opens one.
 * @param {string} target
 */
async function show(target) {
  const tabs = await sw.clients.matchAll({ type: 'window', includeUncontrolled: true });
  for (const tab of tabs) {
    if (new URL(tab.url).origin === sw.location.origin) {
      await tab.navigate(target).catch(() => null);
      await tab.focus();
      return;
    }
  }
  await sw.clients.openWindow(target);
}

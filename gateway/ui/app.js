// @ts-check
// Totilove's web UI: the entry point. Finds out whether this browser has a
// session (the HttpOnly cookie), then shows either the sign-in screen or the
// app, and goes back to sign-in whenever the session ends.

import { api, describe, errorCode, setUnauthorizedHandler } from './js/api.js';
import { fill, h } from './js/dom.js';
import { mountAuth } from './js/auth-view.js';
import * as notify from './js/notify.js';
import * as push from './js/push.js';
import * as realtime from './js/realtime.js';
import { mountShell } from './js/shell.js';
import * as store from './js/store.js';
import { emptyState } from './js/widgets.js';

const root = /** @type {HTMLElement} */ (document.getElementById('app'));
let unmount = () => {};

/** @param {string | null} [notice] why the sign-in screen shows (the session ended) */
function showAuth(notice = null) {
  unmount();
  unmount = () => {};
  if (location.hash) history.replaceState(null, '', location.pathname);
  mountAuth(root, { notice, onSignedIn: enter });
}

/**
 * Signed in: the app, its conversation list, then the live socket.
 * @param {import('./js/store.js').Me} me
 */
async function enter(me) {
  unmount();
  store.signIn(me);
  const unmountShell = mountShell(root, { onLogout: logout });
  notify.start();
  // This session gets the browser's push subscription, if this person turned pushes on here.
  push.resume(notify.previews());
  unmount = () => {
    notify.stop();
    realtime.stop();
    unmountShell();
  };
  await Promise.all([store.loadConversations(), store.loadBlocks()]);
  if (store.state.me) realtime.start();
}

/** Ends this session on the server, then forgets everything here. */
async function logout() {
  try {
    await api('POST', '/api/auth/logout', undefined, { quiet: true });
  } catch {
    // Already ended, or the server is away: this browser forgets it anyway
    // (the cookie is HttpOnly, so only the server can clear it; it expires).
  }
  leave('You are logged out.');
}

/** @param {string} notice */
function leave(notice) {
  unmount();
  unmount = () => {};
  store.signOut();
  showAuth(notice);
}

// Messages still waiting for their ack live only in this page: say so before it goes.
window.addEventListener('beforeunload', (e) => {
  if (store.state.outbox.size > 0) e.preventDefault();
});

setUnauthorizedHandler(() => {
  if (store.state.me) leave('Your session has ended. Please log in again.');
});

async function boot() {
  root.setAttribute('aria-busy', 'true');
  try {
    const me = await api('GET', '/api/me', undefined, { quiet: true });
    await enter(me);
  } catch (e) {
    if (errorCode(e) === 'unauthorized') {
      showAuth();
    } else {
      fill(
        root,
        h(
          'div',
          { class: 'auth' },
          h('main', { class: 'auth-card' }, emptyState('Totilove cannot be reached right now.', describe(e), h('button', { type: 'button', class: 'primary', text: 'Try again', on: { click: boot } }))),
        ),
      );
    }
  } finally {
    root.removeAttribute('aria-busy');
  }
}

push.register();
boot();

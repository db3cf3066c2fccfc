// @ts-check
// The signed-in page: a sidebar (me, the connection state, my
// conversations) and a main pane chosen by the address's hash:
//   #/            nothing open          #/chat/12     the chat with person 12
//   #/people      people search         #/people/12   person 12's profile
//   #/me          my profile, sessions and blocks
// On a narrow screen only one of the two panes shows at a time.

import { fill, h, icon, srOnly } from './dom.js';
import { displayName } from './format.js';
import { mountChat } from './chat-view.js';
import { mountConversationList } from './conversation-list.js';
import { mountProfile, mountSearch } from './people-view.js';
import * as realtime from './realtime.js';
import { mountSettings } from './settings-view.js';
import * as store from './store.js';
import { avatar, emptyState } from './widgets.js';

/** The conversation list is asked again on focus at most this often. */
const LIST_REFRESH_MS = 30_000;

/**
 * What the address shows.
 * @typedef {{name: 'home' | 'people' | 'me'} | {name: 'chat', id: number} | {name: 'profile', id: number, report?: number}} Route
 */

/**
 * @param {string} hash
 * @returns {Route}
 */
function parseRoute(hash) {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean);
  const id = /^[1-9]\d{0,15}$/.test(parts[1] ?? '') ? Number(parts[1]) : null;
  // A chat with oneself is not a thing: show one's own profile instead.
  if (parts[0] === 'chat' && id) return id === store.state.me?.id ? { name: 'profile', id } : { name: 'chat', id };
  // `#/people/12/report/345`: reporting message 345 (from its chat).
  const reported = parts[2] === 'report' && /^[1-9]\d{0,15}$/.test(parts[3] ?? '') ? Number(parts[3]) : undefined;
  if (parts[0] === 'people' && id) return { name: 'profile', id, report: reported };
  if (parts[0] === 'people' && parts.length === 1) return { name: 'people' };
  if (parts[0] === 'me' && parts.length === 1) return { name: 'me' };
  return { name: 'home' };
}

/**
 * Shows the signed-in page in `root`; returns the function that ends it.
 * @param {HTMLElement} root
 * @param {{onLogout: () => Promise<void>}} options
 * @returns {() => void}
 */
export function mountShell(root, { onLogout }) {
  const meButton = h('a', { class: 'me-link', href: '#/me' });
  const peopleButton = h('a', { class: 'icon-button', href: '#/people', title: 'Find people' }, icon('search'), srOnly('Find people'));
  const banner = connectionBanner();
  const listArea = h('nav', { class: 'conv-area', 'aria-label': 'Your conversations' });
  const sidebar = h(
    'aside',
    { class: 'sidebar' },
    h('header', { class: 'sidebar-head' }, meButton, h('div', { class: 'head-actions' }, peopleButton)),
    banner.el,
    h('h1', { class: 'sidebar-title', text: 'Messages' }),
    listArea,
  );
  const main = h('main', { class: 'main', id: 'main', tabindex: '-1' });
  const shell = h('div', { class: 'shell' }, sidebar, main);
  fill(root, shell);

  const unmountList = mountConversationList(listArea);
  let unmountView = () => {};
  let routeKey = '';
  const route = () => {
    const r = parseRoute(location.hash);
    const key = `${r.name}:${'id' in r ? r.id : ''}`;
    if (key === routeKey) return;
    routeKey = key;
    unmountView();
    unmountView = () => {};
    shell.dataset.pane = r.name === 'home' ? 'list' : 'main';
    store.setOpenChat(r.name === 'chat' ? r.id : null);
    main.replaceChildren();
    unmountView = showRoute(main, r, onLogout);
  };

  const renderMe = () => {
    const me = /** @type {import('./store.js').User} */ (store.state.me);
    fill(meButton, avatar(me, 'sm'), h('span', { class: 'me-name' }, h('bdi', { text: displayName(me) })));
    // The name shown comes whole in the label (for people who speak their clicks).
    meButton.setAttribute('aria-label', `Your profile and settings: ${displayName(me)}`);
  };
  const offs = [store.on('me', renderMe), store.on('connection', banner.render), store.on('conversations', renderTitle)];
  renderMe();
  banner.render();
  renderTitle();
  window.addEventListener('hashchange', route);
  // Coming back to the tab: presence and blocks may have changed unseen
  // (a block sends no event), so the list is asked again, at most every 30 s.
  let listAskedAt = Date.now();
  const onFocus = () => {
    if (Date.now() - listAskedAt < LIST_REFRESH_MS) return;
    listAskedAt = Date.now();
    store.refreshConversationsSoon();
  };
  window.addEventListener('focus', onFocus);
  route();

  return () => {
    window.removeEventListener('hashchange', route);
    window.removeEventListener('focus', onFocus);
    banner.stop();
    for (const off of offs) off();
    unmountView();
    unmountList();
    document.title = 'Totilove';
  };
}

/**
 * Mounts the main pane's view for a route; returns the function that ends it.
 * @param {HTMLElement} main
 * @param {Route} r
 * @param {() => Promise<void>} onLogout
 * @returns {() => void}
 */
function showRoute(main, r, onLogout) {
  switch (r.name) {
    case 'chat':
      return mountChat(main, r.id);
    case 'people':
      return mountSearch(main);
    case 'profile': {
      const unmount = mountProfile(main, r.id, r.report);
      main.focus({ preventScroll: true });
      return unmount;
    }
    case 'me': {
      const unmount = mountSettings(main, { onLogout });
      main.focus({ preventScroll: true });
      return unmount;
    }
    default:
      fill(
        main,
        h(
          'div',
          { class: 'welcome' },
          icon('chat', 'welcome-mark'),
          emptyState(
            'Pick a conversation',
            'Choose someone on the left, or find someone new to talk to.',
            h('a', { class: 'button primary', href: '#/people', text: 'Find people' }),
          ),
        ),
      );
      return () => {};
  }
}

function renderTitle() {
  const unread = store.totalUnread();
  document.title = unread ? `(${unread}) Totilove` : 'Totilove';
}

/** The banner that says the socket is offline (and when it tries again), or a slow connect. */
function connectionBanner() {
  const el = h('div', { class: 'connection', role: 'status', 'aria-live': 'polite' });
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let countdown;
  const stop = () => {
    clearInterval(countdown);
    clearTimeout(countdown);
  };
  const render = () => {
    stop();
    const { status, retryAt } = store.state.connection;
    el.dataset.status = status;
    if (status === 'online') {
      el.replaceChildren();
      return;
    }
    if (status === 'connecting') {
      // Usually over in milliseconds: only a slow connection is worth a banner.
      el.replaceChildren();
      countdown = setTimeout(() => fill(el, h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Connecting…'), 1_500);
      return;
    }
    const text = h('span');
    const tick = () => {
      const seconds = Math.max(0, Math.ceil(((retryAt ?? 0) - Date.now()) / 1000));
      text.textContent = seconds > 0 ? `Offline. Reconnecting in ${seconds} s…` : 'Offline. Reconnecting…';
    };
    tick();
    countdown = setInterval(tick, 1000);
    fill(el, text, h('button', { type: 'button', class: 'link', text: 'Retry now', on: { click: realtime.reconnectNow } }));
  };
  return { el, render, stop };
}

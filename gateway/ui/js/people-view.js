// Finding people (search by name) and a person's profile, with block/unblock.

import { api, describe } from './api.js';
import { fill, h, icon, srOnly } from './dom.js';
import { age, displayName, lastSeen } from './format.js';
import * as store from './store.js';
import { avatar, busy, emptyState, errorLine, toast } from './widgets.js';

const SEARCH_DELAY_MS = 250;

function pageHeader(title, backHref = '#/') {
  return h(
    'header',
    { class: 'page-head' },
    h('a', { class: 'icon-button back', href: backHref, title: 'Back' }, icon('back'), srOnly('Back')),
    h('h2', { text: title }),
  );
}

export function mountSearch(container) {
  const input = h('input', { type: 'search', id: 'people-q', autocomplete: 'off', spellcheck: 'false', placeholder: 'Name or username' });
  const status = h('p', { class: 'muted search-status', role: 'status' });
  const results = h('ul', { class: 'people', 'aria-label': 'People' });
  const more = h('button', { type: 'button', class: 'more', text: 'Show more', hidden: true });
  const form = h(
    'form',
    { role: 'search', class: 'search', on: { submit: (e) => e.preventDefault() } },
    h('label', { for: input.id, text: 'Search people by name or username' }),
    h('div', { class: 'search-row' }, icon('search', 'icon search-icon'), input),
  );
  fill(container, h('section', { class: 'page' }, pageHeader('Find people'), form, status, results, more));

  let query = '';
  let cursor = null;
  let sequence = 0;
  let timer = null;

  async function search(append = false) {
    const mine = ++sequence;
    const params = new URLSearchParams({ q: query, limit: '20' });
    if (append && cursor) params.set('cursor', cursor);
    if (!append) status.textContent = 'Searching…';
    try {
      const page = await api('GET', `/api/users?${params}`);
      if (mine !== sequence) return; // a newer search is on its way
      cursor = page.next_cursor;
      const people = page.users.filter((hit) => hit.user.id !== store.state.me.id);
      for (const hit of people) store.rememberPerson(hit.user);
      const rows = people.map(row);
      if (append) results.append(...rows);
      else fill(results, rows);
      more.hidden = !cursor;
      const shown = results.children.length;
      status.textContent = shown
        ? `${shown} ${shown === 1 ? 'person' : 'people'}${cursor ? ' so far' : ''}`
        : query
          ? `Nobody found for “${query}”.`
          : 'Nobody here yet.';
    } catch (e) {
      if (mine !== sequence) return;
      status.textContent = describe(e);
    }
  }

  function row({ user, online }) {
    const name = displayName(user);
    return h(
      'li',
      { class: 'person' },
      h(
        'a',
        { class: 'person-link', href: `#/people/${user.id}` },
        avatar(user, 'md', online),
        h('span', { class: 'person-names' }, h('span', { class: 'person-name' }, h('bdi', { text: name })), h('span', { class: 'person-username', text: `@${user.username}` })),
      ),
      h('a', { class: 'button small', href: `#/chat/${user.id}`, 'aria-label': `Message ${name}`, text: 'Message' }),
    );
  }

  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      query = input.value.trim();
      cursor = null;
      search();
    }, SEARCH_DELAY_MS);
  });
  more.addEventListener('click', () => busy(more, () => search(true)));
  search();
  input.focus();

  return () => clearTimeout(timer);
}

export function mountProfile(container, userId) {
  const section = h('section', { class: 'page' });
  fill(container, section);
  let blockedHere = null; // the card of someone blocked from this page
  let gone = false;

  async function load() {
    fill(section, pageHeader('Profile', '#/people'), h('p', { class: 'muted pad', text: 'Loading…' }));
    try {
      const info = await api('GET', `/api/users/${userId}`);
      if (gone) return;
      store.rememberPerson(info.user, { online: info.online, last_seen: info.last_seen });
      render(info);
    } catch (e) {
      if (gone) return;
      if (blockedHere) return renderBlocked(blockedHere);
      fill(
        section,
        pageHeader('Profile', '#/people'),
        e.code === 'not_found'
          ? emptyState('This person is not available.', 'They may have left, or one of you blocked the other.')
          : emptyState('This profile could not be loaded.', describe(e), h('button', { type: 'button', text: 'Try again', on: { click: load } })),
      );
    }
  }

  function render({ user, profile, online, last_seen: seen }) {
    const name = displayName(user);
    const itsMe = user.id === store.state.me.id;
    const years = age(profile.birthdate);
    const facts = [profile.gender, profile.location].filter(Boolean);
    const error = errorLine();
    const actions = itsMe
      ? h('div', { class: 'actions' }, h('a', { class: 'button primary', href: '#/me', text: 'Edit your profile' }))
      : h(
          'div',
          { class: 'actions' },
          h('a', { class: 'button primary', href: `#/chat/${user.id}` }, icon('chat'), h('span', { text: 'Send a message' })),
          h('button', { type: 'button', class: 'danger-quiet', text: 'Block', on: { click: () => confirmBlock(user, actions, error) } }),
        );
    fill(
      section,
      pageHeader('Profile', '#/people'),
      h(
        'article',
        { class: 'profile-card' },
        avatar(user, 'xl'),
        h(
          'h3',
          { class: 'profile-name' },
          h('bdi', { text: name }),
          years !== null ? h('span', { class: 'profile-age', text: `, ${years}` }) : null,
        ),
        h('p', { class: 'person-username', text: `@${user.username}` }),
        h('p', { class: `profile-presence${online ? ' online' : ''}`, text: itsMe ? 'This is you' : online ? 'online' : seen ? lastSeen(seen) : 'offline' }),
        facts.length ? h('p', { class: 'profile-facts', dir: 'auto', text: facts.join(' · ') }) : null,
        profile.bio
          ? h('p', { class: 'profile-bio', dir: 'auto', text: profile.bio })
          : h('p', { class: 'muted', text: itsMe ? 'You have not written a bio yet.' : `${name} has not written a bio yet.` }),
        actions,
        error.el,
      ),
    );
  }

  function confirmBlock(user, actions, error) {
    const name = displayName(user);
    const yes = h('button', { type: 'button', class: 'danger', text: `Block ${name}` });
    const no = h('button', { type: 'button', text: 'Cancel', on: { click: load } });
    fill(
      actions,
      h('p', { class: 'confirm-text', text: `Block ${name}? Neither of you will be able to message the other or see the other's profile. You can unblock them later in your settings.` }),
      h('div', { class: 'confirm-buttons' }, yes, no),
    );
    yes.focus();
    yes.addEventListener('click', () =>
      busy(yes, async () => {
        try {
          await api('POST', `/api/users/${user.id}/block`);
          blockedHere = user;
          store.refreshConversationsSoon();
          toast(`${name} is blocked.`);
          renderBlocked(user);
        } catch (e) {
          error.show(e);
        }
      }),
    );
  }

  function renderBlocked(user) {
    const name = displayName(user);
    const error = errorLine();
    const unblock = h('button', { type: 'button', text: `Unblock ${name}` });
    unblock.addEventListener('click', () =>
      busy(unblock, async () => {
        try {
          await api('DELETE', `/api/users/${user.id}/block`);
          blockedHere = null;
          store.refreshConversationsSoon();
          toast(`${name} is unblocked.`);
          load();
        } catch (e) {
          error.show(e);
        }
      }),
    );
    fill(
      section,
      pageHeader('Profile', '#/people'),
      h(
        'article',
        { class: 'profile-card' },
        icon('shield', 'blocked-mark'),
        h('h3', { class: 'profile-name' }, 'You blocked ', h('bdi', { text: name })),
        h('p', { class: 'muted', text: 'You will not see each other’s messages, profiles or online status.' }),
        h('div', { class: 'actions' }, unblock),
        error.el,
      ),
    );
  }

  load();
  return () => {
    gone = true;
  };
}

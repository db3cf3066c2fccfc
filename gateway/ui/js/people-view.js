// @ts-check
// Finding people (search by name) and a person's profile, with block/unblock
// and reporting.

import { api, describe, errorCode } from './api.js';
import { fill, h, icon, reconcile, srOnly } from './dom.js';
import { age, displayName, lastSeen } from './format.js';
import * as store from './store.js';
import { avatar, busy, emptyState, errorLine, toast } from './widgets.js';

/**
 * @typedef {import('./store.js').User} User
 * @typedef {{user: User, online: boolean}} Hit a search result
 * @typedef {Map<number, {el: HTMLLIElement, sig: string}>} Rows
 */

const SEARCH_DELAY_MS = 250;

/**
 * @param {string} title
 * @param {string} [backHref]
 */
function pageHeader(title, backHref = '#/') {
  return h(
    'header',
    { class: 'page-head' },
    h('a', { class: 'icon-button back', href: backHref, title: 'Back' }, icon('back'), srOnly('Back')),
    h('h2', { text: title }),
  );
}

/**
 * People search in `container`; returns the function that ends it.
 * @param {HTMLElement} container
 * @returns {() => void}
 */
export function mountSearch(container) {
  const input = h('input', { type: 'search', id: 'people-q', autocomplete: 'off', spellcheck: 'false', placeholder: 'Name or username' });
  const status = h('p', { class: 'muted search-status', role: 'status' });
  const results = h('ul', { class: 'people', 'aria-label': 'People' });
  const more = h('button', { type: 'button', class: 'more', text: 'Show more', hidden: true });
  const form = h(
    'form',
    { role: 'search', class: 'search', on: { submit: (/** @type {Event} */ e) => e.preventDefault() } },
    h('label', { for: input.id, text: 'Search people by name or username' }),
    h('div', { class: 'search-row' }, icon('search', 'icon search-icon'), input),
  );
  fill(container, h('section', { class: 'page' }, pageHeader('Find people'), form, status, results, more));

  let query = '';
  /** The query whose answer is on screen (a repeat is not searched again). @type {string | null} */
  let shownQuery = null;
  /** @type {string | null} */
  let cursor = null;
  let sequence = 0;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  /** Words typed whose search has not started yet (the delay runs). */
  let typing = false;
  /** user id → its row, kept while that person stays in the results, so a
   *  fresh answer never swaps the row under a pointer about to click it. @type {Rows} */
  const rows = new Map();

  async function search(append = false) {
    const mine = ++sequence;
    const params = new URLSearchParams({ q: query, limit: '20' });
    if (append && cursor) params.set('cursor', cursor);
    if (!append) status.textContent = 'Searching…';
    try {
      /** @type {{users: Hit[], next_cursor: string | null}} */
      const page = await api('GET', `/api/users?${params}`);
      if (mine !== sequence) return; // a newer search is on its way
      cursor = page.next_cursor;
      const people = page.users.filter((hit) => hit.user.id !== store.state.me?.id);
      for (const hit of people) store.rememberPerson(hit.user);
      shownQuery = query;
      const wanted = people.map((hit) => rowFor(rows, hit));
      if (append) {
        results.append(...wanted.filter((el) => !el.isConnected));
      } else {
        const keep = new Set(people.map((hit) => hit.user.id));
        for (const id of rows.keys()) if (!keep.has(id)) rows.delete(id);
        reconcile(results, wanted);
      }
      more.hidden = !cursor;
      status.textContent = searchStatus(results.children.length, query, Boolean(cursor));
    } catch (e) {
      if (mine !== sequence) return;
      status.textContent = describe(e);
    } finally {
      if (mine === sequence && !typing) results.removeAttribute('aria-busy');
    }
  }

  input.addEventListener('input', () => {
    clearTimeout(timer);
    // Until the answer for these words is in, the results are not final.
    results.setAttribute('aria-busy', 'true');
    typing = true;
    timer = setTimeout(() => {
      typing = false;
      const wanted = input.value.trim();
      // The same words (a space added, a letter typed and erased): nothing to redo.
      if (wanted === query && shownQuery === wanted) {
        results.removeAttribute('aria-busy');
        return;
      }
      query = wanted;
      cursor = null;
      search();
    }, SEARCH_DELAY_MS);
  });
  more.addEventListener('click', () => busy(more, () => search(true)));
  search();
  input.focus();

  return () => clearTimeout(timer);
}

/**
 * What the search found, in words.
 * @param {number} shown
 * @param {string} query
 * @param {boolean} hasMore
 */
function searchStatus(shown, query, hasMore) {
  if (shown) return `${shown} ${shown === 1 ? 'person' : 'people'}${hasMore ? ' so far' : ''}`;
  return query ? `Nobody found for “${query}”.` : 'Nobody here yet.';
}

/**
 * The row of a hit: the one on screen when it shows the same card, else a new one.
 * @param {Rows} rows
 * @param {Hit} hit
 */
function rowFor(rows, hit) {
  const sig = JSON.stringify([hit.user.display_name, hit.user.username, store.shownOnline(hit.user.id) === null ? null : hit.online]);
  const known = rows.get(hit.user.id);
  if (known && known.sig === sig) return known.el;
  const el = row(hit);
  rows.set(hit.user.id, { el, sig });
  return el;
}

/** @param {Hit} hit */
function row({ user, online }) {
  const name = displayName(user);
  return h(
    'li',
    { class: 'person' },
    h(
      'a',
      { class: 'person-link', href: `#/people/${user.id}` },
      avatar(user, 'md', store.shownOnline(user.id) === null ? null : online),
      h('span', { class: 'person-names' }, h('span', { class: 'person-name' }, h('bdi', { text: name })), h('span', { class: 'person-username', text: `@${user.username}` })),
    ),
    h('a', { class: 'button small', href: `#/chat/${user.id}`, 'aria-label': `Message ${name}`, text: 'Message' }),
  );
}

const REPORT_REASONS = [
  ['spam', 'Spam'],
  ['harassment', 'Harassment or bullying'],
  ['inappropriate', 'Inappropriate messages or profile'],
  ['scam', 'A scam or asking for money'],
  ['underage', 'They seem to be under 18'],
  ['other', 'Something else'],
];
const NOTE_MAX = 1_000;
/** The API takes at most this many messages in a report. */
const REPORT_MESSAGES_MAX = 50;

/**
 * A profile page and what it is showing.
 * @typedef {{
 *   section: HTMLElement,
 *   userId: number,
 *   reportMessage: number | null,
 *   blockedHere: User | null,
 *   gone: boolean,
 * }} ProfilePage
 *   `reportMessage`: the message this page was opened to report (from its chat);
 *   `blockedHere`: the card of someone blocked from this page; `gone`: the page was left
 * @typedef {import('./widgets.js').ErrorLine} ErrorLine
 */

/**
 * Person `userId`'s profile in `container`; returns the function that ends it.
 * @param {HTMLElement} container
 * @param {number} userId
 * @param {number} [reportMessage] opened from a message's Report: its report form, with it
 * @returns {() => void}
 */
export function mountProfile(container, userId, reportMessage) {
  /** @type {ProfilePage} */
  const page = { section: h('section', { class: 'page' }), userId, reportMessage: reportMessage ?? null, blockedHere: null, gone: false };
  fill(container, page.section);
  load(page);
  return () => {
    page.gone = true;
  };
}

/** @param {ProfilePage} page */
async function load(page) {
  const { section, userId } = page;
  fill(section, pageHeader('Profile', '#/people'), h('p', { class: 'muted pad', text: 'Loading…' }));
  try {
    const info = await api('GET', `/api/users/${userId}`);
    if (page.gone) return;
    store.rememberPerson(info.user, { online: info.online, last_seen: info.last_seen });
    store.setUnavailable(userId, false);
    renderProfile(page, info);
  } catch (e) {
    if (page.gone) return;
    if (page.blockedHere) return renderBlocked(page, page.blockedHere);
    // My own block hides their profile from me too: say so, with the way back.
    const blocked = store.state.blocked.get(userId);
    const notFound = errorCode(e) === 'not_found';
    if (notFound && blocked) return renderBlocked(page, blocked);
    if (notFound) store.setUnavailable(userId, true);
    fill(
      section,
      pageHeader('Profile', '#/people'),
      notFound
        ? emptyState('This person is not available.', 'They may have left, or one of you blocked the other.')
        : emptyState('This profile could not be loaded.', describe(e), h('button', { type: 'button', text: 'Try again', on: { click: () => load(page) } })),
    );
  }
}

/**
 * @param {ProfilePage} page
 * @param {{user: User, profile: import('./store.js').Profile, online: boolean, last_seen: string | null}} info
 */
function renderProfile(page, { user, profile, online, last_seen: seen }) {
  const name = displayName(user);
  const itsMe = user.id === store.state.me?.id;
  const years = age(profile.birthdate);
  const facts = [profile.gender, profile.location].filter(Boolean);
  const error = errorLine();
  const actions = h('div', { class: 'actions' });
  if (itsMe) {
    fill(actions, h('a', { class: 'button primary', href: '#/me', text: 'Edit your profile' }));
  } else {
    fill(
      actions,
      h('a', { class: 'button primary', href: `#/chat/${user.id}` }, icon('chat'), h('span', { text: 'Send a message' })),
      h('button', { type: 'button', class: 'danger-quiet', text: 'Report', on: { click: () => reportForm(page, user, actions, error) } }),
      h('button', { type: 'button', class: 'danger-quiet', text: 'Block', on: { click: () => confirmBlock(page, user, actions, error) } }),
    );
  }
  fill(
    page.section,
    pageHeader('Profile', '#/people'),
    h(
      'article',
      { class: 'profile-card' },
      avatar(user, 'xl'),
      h('h3', { class: 'profile-name' }, h('bdi', { text: name }), years !== null ? h('span', { class: 'profile-age', text: `, ${years}` }) : null),
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
  if (!itsMe && page.reportMessage) reportForm(page, user, actions, error);
}

/**
 * Blocking asks first, in place of the actions.
 * @param {ProfilePage} page
 * @param {User} user
 * @param {HTMLElement} actions
 * @param {ErrorLine} error
 */
function confirmBlock(page, user, actions, error) {
  const name = displayName(user);
  const yes = h('button', { type: 'button', class: 'danger', text: `Block ${name}` });
  const no = h('button', { type: 'button', text: 'Cancel', on: { click: () => load(page) } });
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
        page.blockedHere = user;
        store.setBlocked(user, true);
        store.refreshConversationsSoon();
        toast(`${name} is blocked.`);
        renderBlocked(page, user);
      } catch (e) {
        error.show(e);
      }
    }),
  );
}

/**
 * @param {ProfilePage} page
 * @param {User} user
 */
function renderBlocked(page, user) {
  const name = displayName(user);
  const error = errorLine();
  const unblock = h('button', { type: 'button', text: `Unblock ${name}` });
  unblock.addEventListener('click', () =>
    busy(unblock, async () => {
      try {
        await api('DELETE', `/api/users/${user.id}/block`);
        page.blockedHere = null;
        store.setBlocked(user, false);
        store.refreshConversationsSoon();
        toast(`${name} is unblocked.`);
        load(page);
      } catch (e) {
        error.show(e);
      }
    }),
  );
  fill(
    page.section,
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

/**
 * Their messages to me that this page holds, newest first: what moderators need to see.
 * @param {number} userId
 */
function evidence(userId) {
  return [...(store.state.chats.get(userId)?.messages.values() ?? [])]
    .filter((m) => m.sender_id === userId)
    .sort((a, b) => b.id - a.id)
    .slice(0, REPORT_MESSAGES_MAX)
    .map((m) => m.id);
}

/**
 * The message of theirs this page was opened to report, if it is known here.
 * @param {ProfilePage} page
 * @param {number} userId
 */
function chosenMessage(page, userId) {
  if (!page.reportMessage) return null;
  const message = store.state.chats.get(userId)?.messages.get(page.reportMessage);
  return message && message.sender_id === userId ? message : null;
}

/**
 * At most a line of a message, for quoting it.
 * @param {string} text
 */
function excerpt(text) {
  const chars = Array.from(text.trim());
  return chars.length > 80 ? `${chars.slice(0, 80).join('')}…` : chars.join('');
}

/**
 * Reporting, in place of the actions: a reason, a note, and their recent messages as evidence.
 * @param {ProfilePage} page
 * @param {User} user
 * @param {HTMLElement} actions
 * @param {ErrorLine} error
 */
function reportForm(page, user, actions, error) {
  const name = displayName(user);
  error.clear();
  const reason = h(
    'select',
    { id: `report-reason-${user.id}`, required: true },
    h('option', { value: '', text: 'Choose a reason' }),
    REPORT_REASONS.map(([value, text]) => h('option', { value, text })),
  );
  const note = h('textarea', { id: `report-note-${user.id}`, rows: 3, maxlength: NOTE_MAX, dir: 'auto' });
  const chosen = chosenMessage(page, user.id);
  const theirs = evidence(user.id).filter((id) => id !== chosen?.id);
  const includeChosen = h('input', { type: 'checkbox', checked: true });
  // From a message: that one, and the rest only if asked for.
  const include = h('input', { type: 'checkbox', checked: theirs.length > 0 && !chosen });
  const send = h('button', { type: 'submit', class: 'danger', text: 'Send report' });
  const cancel = h('button', { type: 'button', text: 'Cancel', on: { click: () => load(page) } });
  const form = h(
    'form',
    { class: 'report-form', novalidate: true, 'aria-label': `Report ${name}` },
    h('p', { class: 'confirm-text', text: `Report ${name} to Totilove's moderators. They will not know it was you. Reporting does not block them.` }),
    h('div', { class: 'field' }, h('label', { for: reason.id, text: 'Reason' }), reason),
    h('div', { class: 'field' }, h('label', { for: note.id, text: 'Anything to add? (optional)' }), note),
    chosen ? h('label', { class: 'check' }, includeChosen, ' Include this message: ', h('q', { dir: 'auto', text: excerpt(chosen.content) })) : null,
    theirs.length
      ? h('label', { class: 'check' }, include, ` Include their ${chosen ? 'other ' : ''}last ${theirs.length === 1 ? 'message' : `${theirs.length} messages`}`)
      : null,
    h('div', { class: 'confirm-buttons' }, send, cancel),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!reason.value) {
      error.show('Please choose a reason.');
      reason.focus();
      return;
    }
    busy(send, async () => {
      /** @type {{reason: string, note?: string, message_ids?: number[]}} */
      const body = { reason: reason.value };
      if (note.value.trim()) body.note = note.value.trim();
      const ids = [...(chosen && includeChosen.checked ? [chosen.id] : []), ...(include.checked ? theirs : [])];
      if (ids.length) body.message_ids = ids.slice(0, REPORT_MESSAGES_MAX);
      try {
        await api('POST', `/api/users/${user.id}/report`, body);
      } catch (err) {
        error.show(err);
        return;
      }
      toast('Thank you. Your report was sent to the moderators.');
      reported(page, user, actions, error);
    });
  });
  fill(actions, form);
  reason.focus();
}

/**
 * After a report: thanks, and blocking offered (a report does not block).
 * @param {ProfilePage} page
 * @param {User} user
 * @param {HTMLElement} actions
 * @param {ErrorLine} error
 */
function reported(page, user, actions, error) {
  const name = displayName(user);
  const block = h('button', { type: 'button', class: 'danger-quiet', text: `Block ${name}`, on: { click: () => confirmBlock(page, user, actions, error) } });
  fill(
    actions,
    h('p', { class: 'confirm-text', role: 'status', text: `Thank you: your report about ${name} was sent. You can also block them, so that neither of you can message the other.` }),
    h('div', { class: 'confirm-buttons' }, block, h('button', { type: 'button', text: 'Done', on: { click: () => load(page) } })),
  );
}

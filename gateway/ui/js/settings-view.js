// @ts-check
// My side: the profile others see, my privacy, where I am logged in, whom I
// blocked, and logging out.

import { api, describe, errorCode } from './api.js';
import { fill, h, icon, srOnly } from './dom.js';
import { ago, charCount, deviceName, displayName, fullDate } from './format.js';
import * as notify from './notify.js';
import * as push from './push.js';
import * as store from './store.js';
import { avatar, busy, emptyState, errorLine, field, showFormError, toast } from './widgets.js';

/**
 * @typedef {import('./store.js').User} User
 * @typedef {import('./widgets.js').Field<HTMLInputElement | HTMLTextAreaElement>} AnyField
 * @typedef {{show_online: boolean, send_read_receipts: boolean}} Privacy
 * @typedef {{id: string, current: boolean, user_agent?: string | null, ip?: string | null,
 *   created_at?: string | null, last_activity?: string | null}} Session
 */

const PROFILE_LIMITS = { display_name: 50, bio: 500, gender: 50, location: 100, avatar_url: 500 };

/**
 * My settings in `container`; returns the function that ends it.
 * @param {HTMLElement} container
 * @param {{onLogout: () => Promise<void>}} options
 * @returns {() => void}
 */
export function mountSettings(container, { onLogout }) {
  const privacyBox = h('div', { class: 'settings-list' });
  const notifyBox = h('div', { class: 'settings-list' });
  const sessionsBox = h('div', { class: 'settings-list' });
  const blocksBox = h('div', { class: 'settings-list' });
  const logout = h('button', { type: 'button', class: 'danger-quiet' }, icon('logout'), h('span', { text: 'Log out' }));
  logout.addEventListener('click', () => busy(logout, onLogout));
  const header = h(
    'header',
    { class: 'page-head' },
    h('a', { class: 'icon-button back', href: '#/', title: 'Back' }, icon('back'), srOnly('Back')),
    h('h2', { text: 'You' }),
  );
  const identity = h('div', { class: 'identity' });
  renderIdentity(identity);
  const offMe = store.on('me', () => renderIdentity(identity));
  /**
   * @param {string} id
   * @param {string} title
   * @param {HTMLElement} content
   */
  const card = (id, title, content) => h('section', { class: 'card', 'aria-labelledby': id }, h('h3', { id, text: title }), content);
  fill(
    container,
    h(
      'section',
      { class: 'page settings' },
      header,
      identity,
      card('profile-h', 'Your profile', profileForm(/** @type {User} */ (store.state.me))),
      card('privacy-h', 'Privacy', privacyBox),
      card('notify-h', 'Notifications', notifyBox),
      card('sessions-h', 'Where you are logged in', sessionsBox),
      card('blocks-h', 'Blocked people', blocksBox),
      h('div', { class: 'logout-row' }, logout),
    ),
  );
  loadPrivacy(privacyBox);
  renderNotifications(notifyBox);
  loadSessions(sessionsBox);
  loadBlocks(blocksBox);
  return offMe;
}

/** @param {HTMLElement} identity */
function renderIdentity(identity) {
  const current = /** @type {User} */ (store.state.me);
  fill(
    identity,
    avatar(current, 'lg'),
    h(
      'div',
      null,
      h('p', { class: 'identity-name' }, h('bdi', { text: displayName(current) })),
      h('p', { class: 'muted', text: `@${current.username}${current.email ? ` · ${current.email}` : ''}` }),
    ),
    h('a', { class: 'button small', href: `#/people/${current.id}`, text: 'See your profile' }),
  );
}

// ---- profile ----

/**
 * The profile's fields, filled with what is saved.
 * @param {User} me
 */
function profileFields(me) {
  /** @type {Record<string, string | null | undefined>} */
  const p = { ...store.state.profile };
  /**
   * @param {string} name
   * @param {string} label
   * @param {Record<string, string>} [attrs]
   * @param {string | null} [hint]
   */
  const text = (name, label, attrs = {}, hint = null) =>
    field({ label, name, hint, control: h('input', { type: 'text', value: p[name] ?? '', ...attrs }) });
  const displayNameField = text('display_name', 'Display name', { autocomplete: 'nickname' }, `Shown instead of @${me.username}. Up to 50 characters.`);
  const bio = field({
    label: 'About you',
    name: 'bio',
    hint: 'Up to 500 characters.',
    control: h('textarea', { rows: 4, value: p.bio ?? '', dir: 'auto' }),
  });
  const bioCount = h('p', { class: 'counter' });
  const countBio = () => {
    const n = charCount(bio.control.value);
    bioCount.textContent = `${n} / ${PROFILE_LIMITS.bio}`;
    bioCount.classList.toggle('over', n > PROFILE_LIMITS.bio);
  };
  bio.control.addEventListener('input', countBio);
  countBio();
  bio.el.append(bioCount);
  const adult = new Date();
  adult.setFullYear(adult.getFullYear() - 18);
  const birthdate = field({
    label: 'Birthdate',
    name: 'birthdate',
    hint: 'Only your age is shown. You must be 18 or older.',
    control: h('input', { type: 'date', value: p.birthdate ?? '', max: adult.toISOString().slice(0, 10), min: '1900-01-01' }),
  });
  const gender = text('gender', 'Gender', { list: 'gender-options' });
  const location = text('location', 'Location', { autocomplete: 'address-level2' });
  const avatarUrl = field({
    label: 'Photo link',
    name: 'avatar_url',
    hint: 'An https:// address. Totilove shows initials for now, not the photo itself.',
    control: h('input', { type: 'url', value: p.avatar_url ?? '', inputmode: 'url', placeholder: 'https://' }),
  });
  return { displayNameField, bio, birthdate, gender, location, avatarUrl };
}

/** @param {User} me */
function profileForm(me) {
  const f = profileFields(me);
  /** @type {AnyField[]} */
  const fields = [f.displayNameField, f.bio, f.birthdate, f.gender, f.location, f.avatarUrl];
  const genderOptions = h('datalist', { id: 'gender-options' }, ['woman', 'man', 'non-binary'].map((g) => h('option', { value: g })));
  const formError = errorLine();
  const save = h('button', { type: 'submit', class: 'primary', text: 'Save profile' });
  const form = h(
    'form',
    { class: 'profile-form', novalidate: true },
    f.displayNameField.el,
    f.bio.el,
    h('div', { class: 'field-row' }, f.birthdate.el, f.gender.el),
    genderOptions,
    f.location.el,
    f.avatarUrl.el,
    formError.el,
    h('div', { class: 'actions' }, save),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(save, async () => {
      save.textContent = 'Saving…';
      for (const one of fields) one.clearError();
      formError.clear();
      // Every field is sent: an emptied one is cleared (`null`).
      /** @type {Record<string, string | null>} */
      const body = {};
      for (const one of fields) {
        const value = one.name === 'bio' ? one.control.value : one.control.value.trim();
        body[one.name] = value.trim() ? value : null;
      }
      try {
        const { profile } = await api('PUT', '/api/me/profile', body);
        store.updateMe({ display_name: profile.display_name }, profile);
        toast('Your profile is saved.');
      } catch (err) {
        showFormError(err, fields, formError);
      }
    });
  });
  return form;
}

// ---- privacy ----

/** @param {HTMLElement} privacyBox */
async function loadPrivacy(privacyBox) {
  fill(privacyBox, h('p', { class: 'muted', text: 'Loading…' }));
  /** @type {Privacy} */
  let privacy;
  try {
    ({ privacy } = await api('GET', '/api/me/privacy'));
  } catch (e) {
    fill(privacyBox, h('p', { class: 'form-error', role: 'alert', text: describe(e) }));
    return;
  }
  const error = errorLine();
  // Each box saves itself alone (absent fields are kept by the server).
  /**
   * @param {keyof Privacy} name
   * @param {string} label
   * @param {string} hint
   */
  const setting = (name, label, hint) => {
    const box = h('input', { type: 'checkbox', checked: privacy[name] });
    box.addEventListener('change', async () => {
      const wanted = box.checked;
      box.disabled = true;
      error.clear();
      try {
        ({ privacy } = await api('PUT', '/api/me/privacy', { [name]: wanted }));
        toast('Your privacy settings are saved.');
      } catch (e) {
        error.show(e);
      }
      box.checked = privacy[name];
      box.disabled = false;
    });
    return h('div', { class: 'field privacy-setting' }, h('label', { class: 'check' }, box, ` ${label}`), h('p', { class: 'hint', text: hint }));
  };
  fill(
    privacyBox,
    setting('show_online', 'Show when I am online', 'Off: everyone sees you offline, with no “last seen”.'),
    setting('send_read_receipts', 'Send read receipts', 'Off: people see their messages to you as delivered, never read.'),
    error.el,
  );
}

// ---- notifications (this browser's, asked for on a click) ----

/** @param {HTMLElement} notifyBox */
function renderNotifications(notifyBox) {
  const permission = notify.permission();
  if (permission === 'unsupported') {
    fill(notifyBox, h('p', { class: 'muted', text: 'This browser cannot show notifications.' }));
    return;
  }
  if (permission === 'denied') {
    fill(notifyBox, h('p', { class: 'muted', text: 'Notifications are blocked for Totilove in this browser’s settings. Allow them there to get them here.' }));
    return;
  }
  if (permission === 'default') {
    const turnOn = h('button', { type: 'button', text: 'Turn on notifications' });
    turnOn.addEventListener('click', () =>
      busy(turnOn, async () => {
        const answer = await notify.ask();
        if (answer === 'granted') toast('You will be notified of new messages while Totilove is in the background.');
        renderNotifications(notifyBox);
      }),
    );
    fill(notifyBox, h('p', { class: 'hint', text: 'Get a notification when a message arrives while Totilove is in the background.' }), turnOn);
    return;
  }
  const error = errorLine();
  fill(
    notifyBox,
    toggle('Notify me of new messages', 'While Totilove is in the background, on this browser.', notify.enabled(), notify.setEnabled),
    toggle('Show who wrote and what', 'Off: a notification says only that a message came.', notify.previews(), (on) => {
      notify.setPreviews(on);
      push.resume(on);
    }),
    toggle('Play a sound', 'A short chime with each notification.', notify.sound(), notify.setSound),
    push.supported() ? pushToggle(error) : h('p', { class: 'hint', text: 'This browser cannot be notified while Totilove is closed.' }),
    error.el,
  );
}

/**
 * A checkbox setting of this browser's.
 * @param {string} label
 * @param {string} hint
 * @param {boolean} checked
 * @param {(on: boolean) => void} onChange
 */
function toggle(label, hint, checked, onChange) {
  const box = h('input', { type: 'checkbox', checked });
  box.addEventListener('change', () => onChange(box.checked));
  return h('div', { class: 'field privacy-setting' }, h('label', { class: 'check' }, box, ` ${label}`), h('p', { class: 'hint', text: hint }));
}

/**
 * Web Push on this browser: subscribes or unsubscribes, and undoes the
 * switch when that fails.
 * @param {import('./widgets.js').ErrorLine} error
 */
function pushToggle(error) {
  const setting = toggle('Also when Totilove is closed', 'Through this browser’s push service, on this device, until you log out here.', push.wanted(), async (on) => {
    error.clear();
    try {
      if (on) {
        await push.turnOn(notify.previews());
        toast('You will be notified of new messages even with Totilove closed.');
      } else {
        await push.turnOff();
      }
    } catch (e) {
      const box = setting.querySelector('input');
      if (box) box.checked = !on;
      error.show(e instanceof push.PushError ? e.message : e);
    }
  });
  return setting;
}

// ---- sessions ----

/**
 * Logs out one of my sessions.
 * @param {Session} s
 */
function endSession(s) {
  return api('DELETE', `/api/sessions/${encodeURIComponent(s.id)}`);
}

/**
 * One session's row: the device, where and when, and its Log out button.
 * @param {Session} s
 * @param {HTMLElement} sessionsBox
 * @param {import('./widgets.js').ErrorLine} error
 */
function sessionRow(s, sessionsBox, error) {
  const end = s.current
    ? h('span', { class: 'tag', text: 'This device' })
    : h('button', { type: 'button', class: 'small', text: 'Log out', 'aria-label': `Log out ${deviceName(s.user_agent)}` });
  if (end instanceof HTMLButtonElement) {
    end.addEventListener('click', () =>
      busy(end, async () => {
        try {
          await endSession(s);
          toast('That session is logged out.');
          loadSessions(sessionsBox);
        } catch (e) {
          error.show(e);
        }
      }),
    );
  }
  return h(
    'li',
    { class: 'session' },
    h(
      'div',
      null,
      h('p', { class: 'session-device', title: s.user_agent || null, text: deviceName(s.user_agent) }),
      h('p', {
        class: 'muted small-text',
        title: s.created_at ? `Logged in ${fullDate(new Date(s.created_at))}` : null,
        text: [s.ip || null, `active ${ago(s.last_activity)}`].filter(Boolean).join(' · '),
      }),
    ),
    end,
  );
}

/** @param {HTMLElement} sessionsBox */
async function loadSessions(sessionsBox) {
  fill(sessionsBox, h('p', { class: 'muted', text: 'Loading…' }));
  /** @type {Session[]} */
  let sessions;
  try {
    ({ sessions } = await api('GET', '/api/sessions'));
  } catch (e) {
    fill(sessionsBox, h('p', { class: 'form-error', role: 'alert', text: describe(e) }));
    return;
  }
  sessions.sort((a, b) => Number(b.current) - Number(a.current) || (b.last_activity ?? '').localeCompare(a.last_activity ?? ''));
  const others = sessions.filter((s) => !s.current);
  const error = errorLine();
  const rows = sessions.map((s) => sessionRow(s, sessionsBox, error));
  const all = others.length
    ? h('button', { type: 'button', class: 'link', text: `Log out everywhere else (${others.length})` })
    : null;
  all?.addEventListener('click', () =>
    busy(all, async () => {
      try {
        // All at once; a session that already ended (404) is fine.
        await Promise.all(
          others.map((s) =>
            endSession(s).catch((e) => {
              if (errorCode(e) !== 'not_found') throw e;
            }),
          ),
        );
        toast('You are logged out everywhere else.');
        loadSessions(sessionsBox);
      } catch (e) {
        error.show(e);
      }
    }),
  );
  fill(sessionsBox, h('ul', { class: 'sessions' }, rows), error.el, all);
}

// ---- blocks ----

/** @param {HTMLElement} blocksBox */
async function loadBlocks(blocksBox) {
  fill(blocksBox, h('p', { class: 'muted', text: 'Loading…' }));
  /** @type {User[]} */
  let users;
  try {
    ({ users } = await api('GET', '/api/blocks'));
  } catch (e) {
    fill(blocksBox, h('p', { class: 'form-error', role: 'alert', text: describe(e) }));
    return;
  }
  if (users.length === 0) {
    fill(blocksBox, emptyState('You have not blocked anyone.'));
    return;
  }
  const error = errorLine();
  const rows = users.map((user) => {
    const name = displayName(user);
    const unblock = h('button', { type: 'button', class: 'small', text: 'Unblock', 'aria-label': `Unblock ${name}` });
    unblock.addEventListener('click', () =>
      busy(unblock, async () => {
        try {
          await api('DELETE', `/api/users/${user.id}/block`);
          store.setBlocked(user, false);
          toast(`${name} is unblocked.`);
          store.refreshConversationsSoon();
          loadBlocks(blocksBox);
        } catch (e) {
          error.show(e);
        }
      }),
    );
    return h(
      'li',
      { class: 'session' },
      h('div', { class: 'blocked-person' }, avatar(user, 'sm'), h('div', null, h('p', { class: 'session-device' }, h('bdi', { text: name })), h('p', { class: 'muted small-text', text: `@${user.username}` }))),
      unblock,
    );
  });
  fill(blocksBox, h('ul', { class: 'sessions' }, rows), error.el);
}

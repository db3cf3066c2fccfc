// My side: the profile others see, my privacy, where I am logged in, whom I
// blocked, and logging out.

import { api, describe } from './api.js';
import { fill, h, icon, srOnly } from './dom.js';
import { ago, charCount, deviceName, displayName, fullDate } from './format.js';
import * as notify from './notify.js';
import * as store from './store.js';
import { avatar, busy, emptyState, errorLine, field, showFormError, toast } from './widgets.js';

const PROFILE_LIMITS = { display_name: 50, bio: 500, gender: 50, location: 100, avatar_url: 500 };

export function mountSettings(container, { onLogout }) {
  const me = store.state.me;
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
  const renderIdentity = () => {
    const current = store.state.me;
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
  };
  renderIdentity();
  const offMe = store.on('me', renderIdentity);
  fill(
    container,
    h(
      'section',
      { class: 'page settings' },
      header,
      identity,
      h('section', { class: 'card', 'aria-labelledby': 'profile-h' }, h('h3', { id: 'profile-h', text: 'Your profile' }), profileForm()),
      h('section', { class: 'card', 'aria-labelledby': 'privacy-h' }, h('h3', { id: 'privacy-h', text: 'Privacy' }), privacyBox),
      h('section', { class: 'card', 'aria-labelledby': 'notify-h' }, h('h3', { id: 'notify-h', text: 'Notifications' }), notifyBox),
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'sessions-h' },
        h('h3', { id: 'sessions-h', text: 'Where you are logged in' }),
        sessionsBox,
      ),
      h('section', { class: 'card', 'aria-labelledby': 'blocks-h' }, h('h3', { id: 'blocks-h', text: 'Blocked people' }), blocksBox),
      h('div', { class: 'logout-row' }, logout),
    ),
  );
  loadPrivacy();
  renderNotifications();
  loadSessions();
  loadBlocks();

  // ---- profile ----
  function profileForm() {
    const p = store.state.profile ?? {};
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
    const genderOptions = h('datalist', { id: 'gender-options' }, ['woman', 'man', 'non-binary'].map((g) => h('option', { value: g })));
    const location = text('location', 'Location', { autocomplete: 'address-level2' });
    const avatarUrl = field({
      label: 'Photo link',
      name: 'avatar_url',
      hint: 'An https:// address. Totilove shows initials for now, not the photo itself.',
      control: h('input', { type: 'url', value: p.avatar_url ?? '', inputmode: 'url', placeholder: 'https://' }),
    });
    const fields = [displayNameField, bio, birthdate, gender, location, avatarUrl];
    const formError = errorLine();
    const save = h('button', { type: 'submit', class: 'primary', text: 'Save profile' });
    const form = h(
      'form',
      { class: 'profile-form', novalidate: true },
      displayNameField.el,
      bio.el,
      h('div', { class: 'field-row' }, birthdate.el, gender.el),
      genderOptions,
      location.el,
      avatarUrl.el,
      formError.el,
      h('div', { class: 'actions' }, save),
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      busy(save, async () => {
        save.textContent = 'Saving…';
        for (const f of fields) f.clearError();
        formError.clear();
        // Every field is sent: an emptied one is cleared (`null`).
        const body = {};
        for (const f of fields) {
          const value = f.name === 'bio' ? f.control.value : f.control.value.trim();
          body[f.name] = value.trim() ? value : null;
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
  async function loadPrivacy() {
    fill(privacyBox, h('p', { class: 'muted', text: 'Loading…' }));
    let privacy;
    try {
      ({ privacy } = await api('GET', '/api/me/privacy'));
    } catch (e) {
      fill(privacyBox, h('p', { class: 'form-error', role: 'alert', text: describe(e) }));
      return;
    }
    const error = errorLine();
    // Each box saves itself alone (absent fields are kept by the server).
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
  function renderNotifications() {
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
          renderNotifications();
        }),
      );
      fill(notifyBox, h('p', { class: 'hint', text: 'Get a notification when a message arrives while Totilove is in the background.' }), turnOn);
      return;
    }
    const box = h('input', { type: 'checkbox', checked: notify.enabled() });
    box.addEventListener('change', () => notify.setEnabled(box.checked));
    fill(
      notifyBox,
      h(
        'div',
        { class: 'field privacy-setting' },
        h('label', { class: 'check' }, box, ' Notify me of new messages'),
        h('p', { class: 'hint', text: 'While Totilove is in the background, on this browser.' }),
      ),
    );
  }

  // ---- sessions ----
  async function loadSessions() {
    fill(sessionsBox, h('p', { class: 'muted', text: 'Loading…' }));
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
    const rows = sessions.map((s) => {
      const end = s.current
        ? h('span', { class: 'tag', text: 'This device' })
        : h('button', { type: 'button', class: 'small', text: 'Log out', 'aria-label': `Log out ${deviceName(s.user_agent)}` });
      if (!s.current) {
        end.addEventListener('click', () =>
          busy(end, async () => {
            try {
              await api('DELETE', `/api/sessions/${encodeURIComponent(s.id)}`);
              toast('That session is logged out.');
              loadSessions();
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
    });
    const all = others.length
      ? h('button', { type: 'button', class: 'link', text: `Log out everywhere else (${others.length})` })
      : null;
    all?.addEventListener('click', () =>
      busy(all, async () => {
        try {
          // All at once; a session that already ended (404) is fine.
          await Promise.all(
            others.map((s) =>
              api('DELETE', `/api/sessions/${encodeURIComponent(s.id)}`).catch((e) => {
                if (e.code !== 'not_found') throw e;
              }),
            ),
          );
          toast('You are logged out everywhere else.');
          loadSessions();
        } catch (e) {
          error.show(e);
        }
      }),
    );
    fill(sessionsBox, h('ul', { class: 'sessions' }, rows), error.el, all);
  }

  // ---- blocks ----
  async function loadBlocks() {
    fill(blocksBox, h('p', { class: 'muted', text: 'Loading…' }));
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
            loadBlocks();
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

  return offMe;
}

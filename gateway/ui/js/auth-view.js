// @ts-check
// Log in and create an account. The API validates; its messages are shown
// next to the field they name.

import { api, describe } from './api.js';
import { fill, h, icon } from './dom.js';
import { busy, errorLine, field, showFormError } from './widgets.js';

/**
 * The sign-in screen: which form shows, and why we are here.
 * @typedef {{
 *   card: HTMLElement,
 *   mode: 'login' | 'register',
 *   notice: string | null,
 *   onSignedIn: (me: import('./store.js').Me) => void,
 * }} AuthScreen
 */

/**
 * Shows the sign-in screen in `root`. `notice`: why we are here (the session
 * ended). `onSignedIn(me)` gets the `/api/me` answer once logged in.
 * @param {HTMLElement} root
 * @param {{notice?: string | null, onSignedIn: AuthScreen['onSignedIn']}} options
 */
export function mountAuth(root, { notice = null, onSignedIn }) {
  /** @type {AuthScreen} */
  const screen = { card: h('main', { class: 'auth-card', 'aria-labelledby': 'auth-title' }), mode: 'login', notice, onSignedIn };
  fill(root, h('div', { class: 'auth' }, screen.card));
  render(screen);
}

/** @param {AuthScreen} screen */
function render(screen) {
  const registering = screen.mode === 'register';
  const title = h('h1', { id: 'auth-title', text: registering ? 'Create your account' : 'Welcome back' });
  const form = registering ? registerForm(screen) : loginForm(screen);
  const switcher = h(
    'p',
    { class: 'auth-switch' },
    registering ? 'Already have an account? ' : 'New here? ',
    h('button', {
      type: 'button',
      class: 'link',
      text: registering ? 'Log in' : 'Create an account',
      on: {
        click: () => {
          screen.mode = registering ? 'login' : 'register';
          screen.notice = null;
          render(screen);
          screen.card.querySelector('input')?.focus();
        },
      },
    }),
  );
  fill(
    screen.card,
    h('div', { class: 'brand' }, icon('heart', 'brand-mark'), h('span', { text: 'Totilove' })),
    h('p', { class: 'tagline', text: 'Real conversations, at your own pace.' }),
    screen.notice ? h('p', { class: 'notice', role: 'status', text: screen.notice }) : null,
    title,
    form,
    switcher,
  );
}

/** @param {HTMLInputElement} input */
function passwordToggle(input) {
  const box = h('input', { type: 'checkbox' });
  box.addEventListener('change', () => {
    input.type = box.checked ? 'text' : 'password';
  });
  return h('label', { class: 'check' }, box, ' Show password');
}

/** @param {AuthScreen} screen */
function loginForm(screen) {
  const login = field({
    label: 'Username or email',
    name: 'login',
    control: h('input', { type: 'text', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' }),
  });
  const password = field({
    label: 'Password',
    name: 'password',
    control: h('input', { type: 'password', autocomplete: 'current-password', required: true }),
  });
  const formError = errorLine();
  const submit = h('button', { type: 'submit', class: 'primary wide', text: 'Log in' });
  const form = h('form', { novalidate: true }, login.el, password.el, passwordToggle(password.control), formError.el, submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    await busy(submit, async () => {
      submit.textContent = 'Logging in…';
      try {
        await signIn(screen, login.control.value.trim(), password.control.value);
      } catch (err) {
        showFormError(err, [login, password], formError);
      }
    });
  });
  return form;
}

/** @param {AuthScreen} screen */
function registerForm(screen) {
  const username = field({
    label: 'Username',
    name: 'username',
    hint: '3 to 32 letters, digits, dots, dashes or underscores. People find you by it.',
    control: h('input', { type: 'text', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false', maxlength: 32 }),
  });
  const email = field({
    label: 'Email',
    name: 'email',
    control: h('input', { type: 'email', autocomplete: 'email', required: true, maxlength: 100 }),
  });
  const password = field({
    label: 'Password',
    name: 'password',
    hint: 'At least 8 characters.',
    control: h('input', { type: 'password', autocomplete: 'new-password', required: true, maxlength: 128 }),
  });
  const formError = errorLine();
  const submit = h('button', { type: 'submit', class: 'primary wide', text: 'Create account' });
  const form = h('form', { novalidate: true }, username.el, email.el, password.el, passwordToggle(password.control), formError.el, submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    await busy(submit, async () => {
      submit.textContent = 'Creating your account…';
      const name = username.control.value.trim();
      try {
        await api('POST', '/api/auth/register', {
          username: name,
          email: email.control.value.trim(),
          password: password.control.value,
        });
      } catch (err) {
        showFormError(err, [username, email, password], formError);
        return;
      }
      try {
        await signIn(screen, name, password.control.value);
      } catch (err) {
        // The account exists; only the login failed (throttled, or the backend).
        screen.mode = 'login';
        screen.notice = `Your account is ready, but logging in failed: ${describe(err)}`;
        render(screen);
      }
    });
  });
  return form;
}

/**
 * @param {AuthScreen} screen
 * @param {string} login
 * @param {string} password
 */
async function signIn(screen, login, password) {
  await api('POST', '/api/auth/login', { login, password });
  const me = await api('GET', '/api/me');
  screen.onSignedIn(me);
}

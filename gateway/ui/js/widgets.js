// @ts-check
// Small pieces shared by the views: avatars, presence dots, form fields with
// the API's validation messages, busy buttons, toasts.

import { ApiError, describe } from './api.js';
import { h } from './dom.js';
import { displayName, hue, initials } from './format.js';

/**
 * A person's avatar: their initials on a colour of their own. Photos from
 * `avatar_url` are not loaded: an image from any address a member chooses
 * would tell that address who looks at the profile (their IP address), and
 * the page's CSP keeps images to this origin anyway.
 * @param {import('./store.js').User} user
 * @param {'sm' | 'md' | 'lg' | 'xl'} [size]
 * @param {boolean | null} [online] null: no presence dot at all
 */
export function avatar(user, size = 'md', online = null) {
  // The initials are drawn by CSS (`content: attr(data-initials)`): a picture,
  // not text, so they are no part of the visible label of a link holding them.
  const el = h('span', { class: `avatar avatar-${size}`, 'aria-hidden': 'true', dataset: { initials: initials(displayName(user)) } });
  el.style.setProperty('--hue', String(hue(user.id)));
  if (online === null) return el;
  return h('span', { class: 'avatar-wrap' }, el, presenceDot(online));
}

/** @param {boolean} online */
export function presenceDot(online) {
  const label = online ? 'Online' : 'Offline';
  return h('span', { class: online ? 'dot dot-online' : 'dot', role: 'img', 'aria-label': label, title: label });
}

// A message's way to the other person. Read differs from delivered by shape
// (a filled badge), not only by colour, and each says its word to screen
// readers and in a tooltip.
/** @type {Record<string, string | undefined>} */
const TICKS = { sent: '✓', delivered: '✓✓', read: '✓✓' };
/** @type {Record<string, string | undefined>} */
const TICK_LABELS = { sent: 'Sent', delivered: 'Delivered', read: 'Read' };

/**
 * The tick of one of my messages: `sent`, `delivered` or `read`.
 * @param {import('./store.js').MessageStatus} status
 */
export function statusTick(status) {
  const label = TICK_LABELS[status] ?? 'Sent';
  return h('span', { class: `tick tick-${status}`, role: 'img', 'aria-label': label, title: label, text: TICKS[status] ?? TICKS.sent });
}

/** @param {import('./store.js').MessageStatus} status */
export function statusWord(status) {
  return TICK_LABELS[status] ?? 'Sent';
}

/**
 * A form-level error line, announced when it appears.
 * @typedef {{el: HTMLElement, show(err: unknown): void, clear(): void}} ErrorLine
 * @returns {ErrorLine}
 */
export function errorLine() {
  const el = h('p', { class: 'form-error', role: 'alert', hidden: true });
  return {
    el,
    /** @param {unknown} err a sentence, or an error to describe */
    show(err) {
      el.textContent = typeof err === 'string' ? err : describe(err);
      el.hidden = false;
    },
    clear() {
      el.textContent = '';
      el.hidden = true;
    },
  };
}

let fieldCount = 0;

/**
 * A labelled form control with an optional hint and its own error line.
 * `name` is the API's field name: a 400 whose message names it lands here.
 * @template {HTMLInputElement | HTMLTextAreaElement} C
 * @typedef {{el: HTMLElement, name: string, control: C, showError(message: string): void, clearError(): void}} Field
 */

/**
 * @template {HTMLInputElement | HTMLTextAreaElement} C
 * @param {{label: string, name: string, control: C, hint?: string | null}} spec
 * @returns {Field<C>}
 */
export function field({ label, name, control, hint = null }) {
  fieldCount += 1;
  const id = `f-${name}-${fieldCount}`;
  control.id = id;
  control.name = name;
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint`, text: hint }) : null;
  const errorEl = h('p', { class: 'field-error', id: `${id}-error`, hidden: true });
  control.setAttribute('aria-describedby', [hintEl?.id, errorEl.id].filter(Boolean).join(' '));
  const el = h('div', { class: 'field' }, h('label', { for: id, text: label }), control, hintEl, errorEl);
  return {
    el,
    name,
    control,
    /** @param {string} message */
    showError(message) {
      errorEl.textContent = message;
      errorEl.hidden = false;
      control.setAttribute('aria-invalid', 'true');
    },
    clearError() {
      errorEl.textContent = '';
      errorEl.hidden = true;
      control.removeAttribute('aria-invalid');
    },
  };
}

/**
 * Shows an API error on the form: next to the field its message names
 * (focusing it), otherwise on the form's error line.
 * @param {unknown} err
 * @param {Field<HTMLInputElement | HTMLTextAreaElement>[]} fields
 * @param {ErrorLine} formError
 */
export function showFormError(err, fields, formError) {
  for (const f of fields) f.clearError();
  formError.clear();
  if (err instanceof ApiError && (err.code === 'invalid_request' || err.code === 'conflict')) {
    const text = err.message.toLowerCase();
    const target = fields.find((f) => new RegExp(`\\b${f.name}\\b`).test(text));
    if (target) {
      target.showError(describe(err));
      target.control.focus();
      return;
    }
  }
  formError.show(err);
}

/**
 * Runs `task` with the button disabled and saying it is busy.
 * @template T
 * @param {HTMLButtonElement} button
 * @param {() => Promise<T>} task
 * @returns {Promise<T>}
 */
export async function busy(button, task) {
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await task();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    button.textContent = label;
  }
}

/**
 * A short message at the bottom of the screen (announced politely).
 * @param {string} text
 * @param {'info' | 'error'} [kind]
 */
export function toast(text, kind = 'info') {
  const region = document.getElementById('toasts');
  if (!region) return;
  const el = h('p', { class: `toast toast-${kind}`, text });
  region.append(el);
  setTimeout(() => el.classList.add('toast-out'), 3_500);
  setTimeout(() => el.remove(), 4_000);
}

/**
 * A calm placeholder for empty or failed areas.
 * @param {string} title
 * @param {string | null} [text]
 * @param {...HTMLElement} actions
 */
export function emptyState(title, text = null, ...actions) {
  return h(
    'div',
    { class: 'empty' },
    h('p', { class: 'empty-title', text: title }),
    text ? h('p', { class: 'empty-text', text }) : null,
    actions.length ? h('div', { class: 'empty-actions' }, actions) : null,
  );
}

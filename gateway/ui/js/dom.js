// @ts-check
// Building the page without ever parsing HTML: every string a caller passes
// becomes a text node or an attribute value, so user content (messages,
// names, bios) can hold `<script>` and still shows as the characters typed.

/**
 * What an element may hold: nodes, text (strings, numbers), arrays of them;
 * `null`, `undefined` and `false` stand for nothing.
 * @typedef {Node | string | number | null | undefined | false | ChildList} Child
 * @typedef {Array<Child>} ChildList
 */

/**
 * An element's properties for `h()`: `class`, `text` (textContent), `on`
 * ({event: handler}), `dataset`, `value`/`checked` (properties); anything
 * else is an attribute (`true` → present, `false`/`null` → absent).
 * @typedef {{
 *   class?: string | null,
 *   text?: string | null,
 *   on?: Record<string, (event: any) => unknown>,
 *   dataset?: Record<string, string>,
 *   value?: string,
 *   checked?: boolean,
 *   [attribute: string]: unknown,
 * }} Props
 */

/**
 * Creates an element with `props` (see Props) and `children` (see Child).
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Props | null} [props]
 * @param {...Child} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, props = null, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  append(el, children);
  return el;
}

/**
 * @param {HTMLElement} el
 * @param {Props | null} props
 */
function setProps(el, props) {
  if (!props) return;
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    switch (key) {
      case 'class':
        el.className = String(value);
        break;
      case 'text':
        el.textContent = String(value);
        break;
      case 'on':
        for (const [event, handler] of Object.entries(/** @type {NonNullable<Props['on']>} */ (value))) {
          el.addEventListener(event, handler);
        }
        break;
      case 'dataset':
        Object.assign(el.dataset, value);
        break;
      case 'value':
        /** @type {HTMLInputElement} */ (el).value = String(value);
        break;
      case 'checked':
        /** @type {HTMLInputElement} */ (el).checked = Boolean(value);
        break;
      default:
        el.setAttribute(key, value === true ? '' : String(value));
    }
  }
}

/**
 * Appends children (nodes or text, arrays of them in order) to `el`.
 * @template {Element} E
 * @param {E} el
 * @param {Child[]} children
 * @returns {E}
 */
export function append(el, children) {
  for (const child of children) {
    if (Array.isArray(child)) append(el, child);
    else if (child !== null && child !== undefined && child !== false) {
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return el;
}

/**
 * Replaces every child of `el`.
 * @template {Element} E
 * @param {E} el
 * @param {...Child} children
 * @returns {E}
 */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/**
 * Makes `parent`'s children exactly `desired`, moving as few nodes as
 * possible: nodes kept across renders stay the same elements (focus, hover
 * and a click on its way are not lost).
 */
/**
 * @param {Element} parent
 * @param {Node[]} desired
 */
export function reconcile(parent, desired) {
  let cursor = parent.firstChild;
  for (const node of desired) {
    if (node === cursor) {
      cursor = cursor.nextSibling;
    } else {
      parent.insertBefore(node, cursor);
    }
  }
  while (cursor) {
    const next = cursor.nextSibling;
    cursor.remove();
    cursor = next;
  }
}

/**
 * Visually hidden text for screen readers.
 * @param {string} text
 */
export function srOnly(text) {
  return h('span', { class: 'sr-only', text });
}

// Stroke icons (24×24, drawn with currentColor). Fixed path data, never user input.
/** @type {Record<string, string[]>} */
const ICONS = {
  back: ['M15 18l-6-6 6-6'],
  send: ['M22 2L11 13', 'M22 2l-7 20-4-9-9-4 20-7z'],
  search: ['M11 19a8 8 0 1 0 0-16 8 8 0 0 0 0 16z', 'M21 21l-4.35-4.35'],
  user: ['M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8z', 'M4 21v-1a7 7 0 0 1 16 0v1'],
  down: ['M12 5v14', 'M19 12l-7 7-7-7'],
  compose: ['M12 20h9', 'M16.5 3.5a2.12 2.12 0 0 1 3 3L7 19l-4 1 1-4z'],
  logout: ['M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4', 'M16 17l5-5-5-5', 'M21 12H9'],
  chat: ['M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z'],
  shield: ['M12 22s8-4 8-10V5l-8-3-8 3v7c0 6 8 10 8 10z'],
  heart: [
    'M20.8 4.6a5.5 5.5 0 0 0-7.8 0L12 5.7l-1-1.1a5.5 5.5 0 0 0-7.8 7.8l1 1.1L12 21.2l7.8-7.7 1-1.1a5.5 5.5 0 0 0 0-7.8z',
  ],
};

const SVG = 'http://www.w3.org/2000/svg';

/**
 * An inline icon, hidden from assistive technology (its button carries the label).
 * @param {keyof typeof ICONS} name
 * @param {string} [className]
 */
export function icon(name, className = 'icon') {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', className);
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  for (const d of ICONS[name] ?? []) {
    const path = document.createElementNS(SVG, 'path');
    path.setAttribute('d', d);
    svg.append(path);
  }
  return svg;
}

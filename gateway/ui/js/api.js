// @ts-check
// The REST side of the API. Authentication is the HttpOnly session cookie set
// by login: same-origin requests carry it, and the token never sits in
// JavaScript or in storage where a script could read it.

/** The API's `{"error": {"code", "message"}}`, plus the HTTP status. */
export class ApiError extends Error {
  /**
   * @param {number} status the HTTP status, 0 when there was no answer
   * @param {string} code the API's error code (`not_found`, `rate_limited`, …)
   * @param {string} message
   * @param {number | null} [retryAfter] seconds to wait (429)
   */
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/** The server promises an answer within 10 s; give up a little later. */
const TIMEOUT_MS = 15_000;

/** @type {(err: ApiError) => void} */
let onUnauthorized = () => {};

/**
 * Called once when any request finds the session gone (401 `unauthorized`).
 * @param {(err: ApiError) => void} handler
 */
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

/**
 * The code of an error the API (or the network) gave, else null.
 * @param {unknown} err
 * @returns {string | null}
 */
export function errorCode(err) {
  return err instanceof ApiError ? err.code : null;
}

/**
 * Calls the API and returns the parsed JSON body (null for 204): its shape
 * is the route's answer in docs/API.md, which the caller knows.
 * Throws an ApiError: the server's own, or `network` / `timeout` when there
 * was no answer. `quiet` skips the session-ended handler (for the boot check).
 * @param {'GET' | 'POST' | 'PUT' | 'DELETE'} method
 * @param {string} path
 * @param {unknown} [body] sent as JSON
 * @param {{quiet?: boolean}} [options]
 * @returns {Promise<any>}
 */
export async function api(method, path, body, { quiet = false } = {}) {
  /** @type {Record<string, string>} */
  const headers = { Accept: 'application/json' };
  /** @type {RequestInit} */
  const init = {
    method,
    credentials: 'same-origin',
    headers,
    signal: AbortSignal.timeout(TIMEOUT_MS),
  };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    if (e instanceof DOMException && e.name === 'TimeoutError') {
      throw new ApiError(0, 'timeout', 'Totilove took too long to answer. Please try again.');
    }
    throw new ApiError(0, 'network', 'Totilove cannot be reached. Check your connection and try again.');
  }
  if (res.status === 204) return null;
  const text = await res.text().catch(() => '');
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (res.ok) return data;
  const error = data?.error;
  const retryAfter = Number(res.headers.get('Retry-After')) || null;
  const err = new ApiError(
    res.status,
    typeof error?.code === 'string' ? error.code : `http_${res.status}`,
    typeof error?.message === 'string' ? error.message : `Something went wrong (HTTP ${res.status}).`,
    retryAfter,
  );
  if (err.code === 'unauthorized' && !quiet) onUnauthorized(err);
  throw err;
}

/**
 * What a person reads for an error code. The server's own messages are for
 * developers (terse, lowercase); these are for people. Codes not listed
 * (validation, conflicts) keep the server's message, which names the field,
 * as a sentence.
 */
/** @type {Record<string, string>} */
const FRIENDLY = {
  invalid_credentials: 'That username or email and password do not match. Please check them and try again.',
  unauthorized: 'Your session has ended. Please log in again.',
  blocked: 'You cannot message this person.',
  forbidden: 'You are not allowed to do that.',
  not_found: 'This is not available any more.',
  unavailable: 'Totilove is having trouble right now. Please try again in a moment.',
  payload_too_large: 'That is too long to send.',
  rate_limited: 'That was a lot in a short time.',
  frame_too_large: 'That message is too long to send.',
};

/** API field names as the forms call them. */
/** @type {Record<string, string>} */
const FIELD_WORDS = { display_name: 'display name', avatar_url: 'photo link', message_ids: 'messages', client_msg_id: 'message id' };

/**
 * The server's message as a sentence: field names in words, a capital first letter, a full stop.
 * @param {string | null | undefined} text
 */
function sentence(text) {
  const t = String(text ?? '')
    .trim()
    .replace(/\b(display_name|avatar_url|message_ids|client_msg_id)\b/g, (f) => FIELD_WORDS[f]);
  if (!t) return 'Something went wrong. Please try again.';
  const first = t[0].toLocaleUpperCase() + t.slice(1);
  return /[.!?…]$/.test(first) ? first : `${first}.`;
}

/**
 * The sentence to show for an error `code` with the server's `message`.
 * @param {string} code
 * @param {string} message
 */
export function friendly(code, message) {
  if (code === 'conflict' && /\busername\b/.test(message)) return 'That username is taken. Please choose another one.';
  if (code === 'conflict' && /\bemail\b/.test(message)) return 'An account with this email already exists. Log in instead?';
  return FRIENDLY[code] ?? sentence(message);
}

/**
 * The sentence to show a person for an error, with the wait for 429s.
 * @param {unknown} err
 */
export function describe(err) {
  if (!(err instanceof ApiError)) return 'Something went wrong. Please try again.';
  // Our own wording for network trouble is already for people.
  if (err.status === 0) return err.message;
  const text = friendly(err.code, err.message);
  if (err.code === 'rate_limited' && err.retryAfter) {
    const wait = err.retryAfter === 1 ? '1 second' : `${err.retryAfter} seconds`;
    return `${text} Please try again in ${wait}.`;
  }
  return text;
}

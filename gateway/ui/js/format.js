// @ts-check
// Names, initials, times and ids as people read them, in their own locale.

/**
 * The name to show for a `user`: the display name, else the username.
 * @param {{display_name?: string | null, username?: string} | null | undefined} user
 */
export function displayName(user) {
  const name = user?.display_name?.trim();
  return name || user?.username || 'Someone';
}

const graphemes =
  typeof Intl.Segmenter === 'function' ? new Intl.Segmenter(undefined, { granularity: 'grapheme' }) : null;

/** @param {string} word */
function firstGrapheme(word) {
  if (graphemes) {
    for (const { segment } of graphemes.segment(word)) return segment;
    return '';
  }
  return Array.from(word)[0] ?? '';
}

/**
 * What stands for a name in an avatar: the first letters of its first two
 * words in scripts with capitals ("Camille Laurent" → "CL"), else its first
 * letter (joining scripts such as Arabic read badly as pairs), else its
 * first character (a name of emoji).
 * @param {string} name
 */
export function initials(name) {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const firsts = words.map(firstGrapheme).filter((g) => /^\p{L}/u.test(g));
  if (firsts.length >= 2 && firsts.slice(0, 2).every((g) => /^[\p{Lu}\p{Ll}\p{Lt}]/u.test(g))) {
    return firsts.slice(0, 2).join('').toLocaleUpperCase();
  }
  if (firsts.length) return firsts[0].toLocaleUpperCase();
  return firstGrapheme(name.trim()) || '?';
}

/**
 * A stable hue per person, so their avatar keeps its colour everywhere.
 * @param {number} id
 */
export function hue(id) {
  return Math.round((Number(id) * 137.508) % 360);
}

/**
 * Length in Unicode code points, as the API counts characters.
 * @param {string} text
 */
export function charCount(text) {
  let n = 0;
  for (const _ of text) n += 1;
  return n;
}

/** A v4 UUID; `crypto.randomUUID` exists only on secure origins (HTTPS or localhost). */
export function uuid() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const clockFmt = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const weekdayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long' });
const weekdayShortFmt = new Intl.DateTimeFormat(undefined, { weekday: 'short' });
const dayMonthFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'long' });
const dayMonthYearFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'long', year: 'numeric' });
const shortDateFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const shortDateYearFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', year: 'numeric' });
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'short' });
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

/** @param {Date} date the day's midnight, local time, in ms */
function startOfDay(date) {
  const d = new Date(date);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

/**
 * Whole calendar days between `date` and today (0 = today, 1 = yesterday).
 * @param {Date} date
 * @param {Date} [now]
 */
export function daysAgo(date, now = new Date()) {
  return Math.round((startOfDay(now) - startOfDay(date)) / 86_400_000);
}

/** @param {Date} date */
export const clock = (date) => clockFmt.format(date);
/** @param {Date} date */
export const fullDate = (date) => fullFmt.format(date);

/**
 * The label of a day separator in a chat.
 * @param {Date} date
 */
export function dayLabel(date) {
  const days = daysAgo(date);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  if (days > 1 && days < 7) return weekdayFmt.format(date);
  return date.getFullYear() === new Date().getFullYear()
    ? dayMonthFmt.format(date)
    : dayMonthYearFmt.format(date);
}

/**
 * A short time for a conversation list: 14:05, Tue, 3 Mar.
 * @param {Date} date
 */
export function listTime(date) {
  const days = daysAgo(date);
  if (days === 0) return clock(date);
  if (days > 0 && days < 7) return weekdayShortFmt.format(date);
  return date.getFullYear() === new Date().getFullYear()
    ? shortDateFmt.format(date)
    : shortDateYearFmt.format(date);
}

/**
 * "last seen 5 minutes ago", "last seen yesterday at 21:10", …
 * @param {string | null | undefined} iso
 */
export function lastSeen(iso) {
  if (!iso) return 'offline';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return 'offline';
  const seconds = (Date.now() - date.getTime()) / 1000;
  if (seconds < 60) return 'last seen just now';
  if (seconds < 3600) return `last seen ${relative.format(-Math.floor(seconds / 60), 'minute')}`;
  const days = daysAgo(date);
  if (days === 0) return `last seen today at ${clock(date)}`;
  if (days === 1) return `last seen yesterday at ${clock(date)}`;
  return `last seen ${listTime(date)}`;
}

/**
 * "5 minutes ago" for session lists.
 * @param {string | null | undefined} iso
 */
export function ago(iso) {
  if (!iso) return 'unknown';
  const date = new Date(iso);
  const seconds = (Date.now() - date.getTime()) / 1000;
  if (seconds < 60) return 'just now';
  if (seconds < 3600) return relative.format(-Math.floor(seconds / 60), 'minute');
  if (seconds < 86_400) return relative.format(-Math.floor(seconds / 3600), 'hour');
  if (seconds < 30 * 86_400) return relative.format(-Math.floor(seconds / 86_400), 'day');
  return listTime(date);
}

/**
 * Age in whole years from a `YYYY-MM-DD` birthdate, or null.
 * @param {string | null | undefined} birthdate
 */
export function age(birthdate) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(birthdate ?? '');
  if (!m) return null;
  const now = new Date();
  let years = now.getFullYear() - Number(m[1]);
  const beforeBirthday =
    now.getMonth() + 1 < Number(m[2]) || (now.getMonth() + 1 === Number(m[2]) && now.getDate() < Number(m[3]));
  if (beforeBirthday) years -= 1;
  return years;
}

/** @type {[RegExp, string][]} User-Agent marks, the first that matches wins. */
const BROWSERS = [
  [/Edg\//, 'Edge'],
  [/OPR\//, 'Opera'],
  [/Firefox\//, 'Firefox'],
  [/Chrom(e|ium)\//, 'Chrome'],
  [/Safari\//, 'Safari'],
];
/** @type {[RegExp, string][]} */
const SYSTEMS = [
  [/Android/, 'Android'],
  [/iPhone|iPad|iPod/, 'iOS'],
  [/Windows/, 'Windows'],
  [/Mac OS X|Macintosh/, 'macOS'],
  [/CrOS/, 'ChromeOS'],
  [/Linux/, 'Linux'],
];

/**
 * The name of the first mark `ua` matches, else null.
 * @param {string} ua
 * @param {[RegExp, string][]} marks
 */
function firstMatch(ua, marks) {
  return marks.find(([pattern]) => pattern.test(ua))?.[1] ?? null;
}

/**
 * "Chrome on Linux" from a User-Agent string (best effort; the full string goes in a tooltip).
 * @param {string | null | undefined} userAgent
 */
export function deviceName(userAgent) {
  const ua = userAgent ?? '';
  const browser = firstMatch(ua, BROWSERS);
  const os = firstMatch(ua, SYSTEMS);
  if (browser && os) return `${browser} on ${os}`;
  if (browser || os) return browser || os;
  return ua ? ua.split(/[\s/]/)[0] : 'Unknown device';
}

// Numbers and times as a person reads them: money to the cent with its currency, percentages,
// bytes in GiB, ages as "12 s ago", times in the viewer's zone (and New York's for the market).

export const EXCHANGE_ZONE = 'America/New_York';
const moneyFormats = new Map();

export function money(value, currency = 'USD', signed = false) {
  if (value === null || value === undefined || value === '') return '—';
  const key = `${currency}${signed}`;
  if (!moneyFormats.has(key)) {
    moneyFormats.set(key, new Intl.NumberFormat(undefined, {
      style: 'currency', currency, minimumFractionDigits: 2, maximumFractionDigits: 2,
      signDisplay: signed ? 'exceptZero' : 'auto',
    }));
  }
  return moneyFormats.get(key).format(Number(value));
}

export function number(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return '—';
  return Number(value).toLocaleString(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

const compactFormat = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 2 });

/** A number of any size, short: 2.7B, 91.5, 0.03. */
export function compact(value) {
  return value === null || value === undefined ? '—' : compactFormat.format(Number(value));
}

/** `value` is already in percent (42.5 → "42.5 %"). */
export function percent(value, digits = 1, signed = false) {
  if (value === null || value === undefined || value === '') return '—';
  const n = Number(value);
  const sign = signed && n > 0 ? '+' : '';
  return `${sign}${n.toLocaleString(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits })} %`;
}

/** `value` is a 0–1 ratio. */
export function ratio(value, digits = 1) {
  return value === null || value === undefined ? '—' : percent(Number(value) * 100, digits);
}

export function gib(bytes, digits = 1) {
  if (bytes === null || bytes === undefined) return '—';
  return `${number(Number(bytes) / 2 ** 30, digits)} GiB`;
}

export function bytes(value) {
  if (value === null || value === undefined) return '—';
  const n = Number(value);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return `${number(v, i === 0 ? 0 : 1)} ${units[i]}`;
}

export function watts(value) {
  return value === null || value === undefined ? '—' : `${number(value, 0)} W`;
}

export function celsius(value) {
  return value === null || value === undefined ? '—' : `${number(value, 0)} °C`;
}

/** Seconds as a short duration: "12 s", "4 min", "3 h", "2 d". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  const s = Math.max(0, Number(seconds));
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86400) return `${(s / 3600).toFixed(s < 36000 ? 1 : 0)} h`;
  return `${(s / 86400).toFixed(s < 864000 ? 1 : 0)} d`;
}

/** "12 s ago" from a timestamp (ISO text or Date). */
export function ago(time) {
  if (!time) return '—';
  const seconds = (Date.now() - new Date(time).getTime()) / 1000;
  return seconds < 1 ? 'just now' : `${duration(seconds)} ago`;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const exchangeFormat = new Intl.DateTimeFormat(undefined, { timeZone: EXCHANGE_ZONE, hour: '2-digit', minute: '2-digit', timeZoneName: 'short' });
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });

/** A time in the viewer's zone. */
export function time(value) {
  return value ? timeFormat.format(new Date(value)) : '—';
}

/** A time in the viewer's zone with New York's beside it (for trades and the market). */
export function exchangeTime(value) {
  if (!value) return '—';
  const d = new Date(value);
  return `${timeFormat.format(d)} (${exchangeFormat.format(d)})`;
}

/** A calendar date (YYYY-MM-DD, the exchange's day) as the viewer writes dates. */
export function date(value) {
  if (!value) return '—';
  const [y, m, d] = String(value).split('-').map(Number);
  return dateFormat.format(new Date(Date.UTC(y, m - 1, d, 12)));
}

/** Class for the sign of a money or number value. */
export function signClass(value) {
  const n = Number(value);
  return n > 0 ? 'pos' : n < 0 ? 'neg' : '';
}

/** Today's date in the exchange's zone, YYYY-MM-DD. */
export function exchangeToday() {
  return new Intl.DateTimeFormat('en-CA', { timeZone: EXCHANGE_ZONE }).format(new Date());
}

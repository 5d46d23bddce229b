// What every view shares: the signed-in session (name, scope, expiry), whether it may act
// (admin scope), and the toast that reports the outcome of an action.

import { explain } from './api.js';

export const session = { current: null };

/** Whether the signed-in key may acknowledge and silence (admin scope). */
export function canAct() {
  return session.current?.scope === 'admin';
}

let toastTimer = null;

export function toast(message, bad = false) {
  const el = document.getElementById('toast');
  el.textContent = message;
  el.classList.toggle('bad', bad);
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, bad ? 6000 : 3000);
}

/** Runs `action` (a promise-returning function) for a button: disabled meanwhile, toast after. */
export async function act(button, action, done) {
  button.disabled = true;
  try {
    await action();
    if (done) toast(done);
    return true;
  } catch (err) {
    toast(explain(err), true);
    button.disabled = false;
    return false;
  }
}

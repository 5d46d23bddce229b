// The sign-in form: the API key goes once into a password field and is exchanged for a session
// cookie (HttpOnly: this page never sees it). The key is never stored: the field is cleared as
// soon as it is sent, and nothing is written to cookies or web storage.

import { api, explain } from '../api.js';
import { h, replace } from '../dom.js';

export function render(root, { onSignedIn, message }) {
  const input = h('input', {
    type: 'password', name: 'key', autocomplete: 'off', required: true, id: 'key',
    placeholder: 'API key', spellcheck: 'false', autocapitalize: 'off',
  });
  const error = h('p.error', { role: 'alert' });
  const button = h('button.primary', { type: 'submit' }, 'Sign in');
  const form = h('form.card.signin', {
    onsubmit: async (event) => {
      event.preventDefault();
      const key = input.value;
      input.value = '';
      button.disabled = true;
      error.textContent = '';
      try {
        onSignedIn(await api('/session', { method: 'POST', body: { key } }));
      } catch (err) {
        error.textContent = err.status === 401 ? 'That key was not accepted.' : explain(err);
        button.disabled = false;
        input.focus();
      }
    },
  },
  h('h2', 'Sign in'),
  h('label', { for: 'key' }, 'The exporter\'s API key (read or admin)'),
  input,
  button,
  message ? h('p.muted', message) : null,
  error,
  h('p.muted.small', 'The key is exchanged for a session that ends when you sign out, when it expires or when the key is revoked. It is not stored in this browser.'));
  replace(root, form);
  input.focus();
}

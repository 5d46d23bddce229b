// The dashboard's entry point: checks the session, shows the sign-in form or the view named by
// the hash (#/overview, #/history, #/trading, #/market, #/logs, #/alerts), opens the live
// streams. Views are modules loaded on first visit; each returns a function that stops it.

import { api, onSignedOut } from './api.js';
import { h, replace } from './dom.js';
import * as live from './live.js';
import { session } from './ui.js';

const views = ['overview', 'history', 'trading', 'market', 'logs', 'alerts'];
const main = document.getElementById('main');
const nav = document.getElementById('nav');
const signoutButton = document.getElementById('signout');
let stopView = null;
let renderId = 0;

function parseHash() {
  const [path, query] = location.hash.replace(/^#\/?/, '').split('?');
  const [view, ...rest] = path.split('/');
  return {
    view: views.includes(view) ? view : 'overview',
    path: rest.map(decodeURIComponent),
    params: new URLSearchParams(query || ''),
  };
}

async function route() {
  if (!session.current) return;
  const id = ++renderId;
  const { view, path, params } = parseHash();
  for (const link of nav.querySelectorAll('a')) link.classList.toggle('on', link.dataset.view === view);
  if (stopView) stopView();
  stopView = null;
  const started = performance.now();
  try {
    const module = await import(`./views/${view}.js`);
    if (id !== renderId) return;
    const root = h('div');
    replace(main, root);
    stopView = (await module.render(root, { path, params })) || null;
    if (id !== renderId && stopView) stopView();
    document.title = `${view[0].toUpperCase()}${view.slice(1)} · GH200 exporter`;
    document.documentElement.dataset.view = view;
    document.documentElement.dataset.rendered = String(Math.round(performance.now() - started));
  } catch (err) {
    console.warn(err);
    replace(main, h('p.error', `This view failed to load: ${err.message}`));
  }
}

function signedIn(info) {
  session.current = info;
  nav.hidden = false;
  signoutButton.hidden = false;
  document.getElementById('host').textContent = `${info.name} · ${info.scope}`;
  live.start(document.getElementById('live'), () => api('/session').catch(() => {}));
  route();
}

function signedOut(message) {
  session.current = null;
  live.stop();
  if (stopView) stopView();
  stopView = null;
  nav.hidden = true;
  signoutButton.hidden = true;
  document.getElementById('host').textContent = '';
  document.documentElement.dataset.view = 'signin';
  import('./views/signin.js').then(({ render }) => render(main, { onSignedIn: signedIn, message }));
}

signoutButton.addEventListener('click', async () => {
  try {
    await api('/session', { method: 'DELETE' });
  } catch {
    // Signed out on the server or not, the page forgets the session.
  }
  signedOut('Signed out.');
});

onSignedOut(() => {
  if (session.current) signedOut('Your session ended (expired, signed out elsewhere or its key was revoked). Sign in again.');
});
window.addEventListener('hashchange', route);

api('/session').then(signedIn, () => signedOut());

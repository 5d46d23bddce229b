// Alerts: the open ones (acknowledge), the recent ones, and silences: create one from an
// alert (its labels as matchers), see the current ones, expire one. Alert changes arrive live.

import { api, explain, url } from '../api.js';
import { card, h, replace, segmented, table } from '../dom.js';
import * as f from '../fmt.js';
import { subscribe } from '../live.js';
import { act, canAct, toast } from '../ui.js';
import { alertItem, alertTitle } from './alert-item.js';

const STATES = [['open', 'Open'], ['firing', 'Firing'], ['pending', 'Pending'], ['resolved', 'Resolved'], ['all', 'All']];

function silenceForm(alert, done) {
  const matchers = Object.entries(alert.labels || {}).filter(([k]) => ['alertname', 'host', 'gpu', 'symbol', 'strategy', 'mount_point'].includes(k));
  const boxes = matchers.map(([name, value]) => h('label.small', h('input', { type: 'checkbox', checked: true, dataset: { name, value } }), ` ${name} = ${value}`));
  const duration = h('select', { name: 'duration' }, [['1h', '1 hour'], ['2h', '2 hours'], ['4h', '4 hours'], ['12h', '12 hours'], ['1d', '1 day'], ['7d', '7 days']].map(([v, l]) => h('option', { value: v }, l)));
  const comment = h('input', { name: 'comment', required: true, maxlength: 1000, placeholder: 'Why (required)', value: '' });
  const submit = h('button.primary', { type: 'submit' }, 'Create silence');
  return card(`Silence ${alertTitle(alert)}`,
    h('form.silence', {
      onsubmit: async (event) => {
        event.preventDefault();
        const chosen = boxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => ({ name: i.dataset.name, value: i.dataset.value }));
        if (!chosen.length) { toast('Keep at least one matcher.', true); return; }
        if (await act(submit, () => api('/silences', { method: 'POST', body: { matchers: chosen, duration: duration.value, comment: comment.value } }), 'Silence created')) {
          done();
        }
      },
    }, h('p.small.muted', 'Alerts matching every checked label send no notification while the silence lasts.'), boxes, duration, comment, submit));
}

export async function render(root, { params }) {
  let state = 'open';
  const list = h('div');
  const silences = h('div');
  const form = h('div');
  replace(root, h('div.grid', form,
    card('Alerts', segmented(STATES, state, (s) => { state = s; loadAlerts(); }), list),
    h('div', { class: 'silences' }, silences)));

  async function loadAlerts() {
    const query = state === 'open' ? { state: 'firing,pending' } : state === 'all' ? {} : { state };
    try {
      const page = await api(url('/alerts', { ...query, limit: 100 }));
      replace(list, page.alerts.length ? page.alerts.map((a) => alertItem(a, loadAlerts)) : h('p.muted', 'No alert in this state.'),
        page.total > page.alerts.length ? h('p.muted.small', `${page.alerts.length} of ${page.total} shown`) : null);
    } catch (err) {
      replace(list, h('p.error', explain(err)));
    }
  }
  async function loadSilences() {
    try {
      const page = await api('/silences?state=current&limit=100');
      replace(silences, card('Silences', table([
        ['Matchers', (s) => s.matchers.map((m) => `${m.name}${m.is_equal === false ? '!' : ''}${m.is_regex ? '=~' : '='}${m.value}`).join(', ')],
        ['Until', (s) => h('span', { title: f.time(s.ends_at) }, `${f.time(s.ends_at)}${s.state === 'pending' ? ' (not started)' : ''}`)],
        ['Comment', (s) => `${s.comment} — ${s.created_by}`],
        ['', (s) => (canAct() ? expireButton(s) : '')],
      ], page.silences, 'No current silence.')));
    } catch (err) {
      replace(silences, card('Silences', h('p.error', explain(err))));
    }
  }
  function expireButton(s) {
    const button = h('button.danger.expire', { type: 'button' }, 'Expire');
    button.addEventListener('click', async () => {
      if (await act(button, () => api(`/silences/${encodeURIComponent(s.id)}`, { method: 'DELETE' }), 'Silence expired')) loadSilences();
    });
    return button;
  }

  const silenceId = params.get('silence');
  if (silenceId && canAct()) {
    try {
      const detail = await api(`/alerts/${encodeURIComponent(silenceId)}`);
      replace(form, silenceForm(detail, () => { replace(form); location.hash = '#/alerts'; loadSilences(); }));
    } catch (err) {
      replace(form, card('Silence', h('p.error', explain(err))));
    }
  }
  await Promise.all([loadAlerts(), loadSilences()]);
  let timer = null;
  const off = subscribe('alert', () => { clearTimeout(timer); timer = setTimeout(loadAlerts, 300); });
  const offResumed = subscribe('resumed', loadAlerts);
  return () => { off(); offResumed(); clearTimeout(timer); };
}

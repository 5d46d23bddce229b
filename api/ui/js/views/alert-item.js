// One alert as a card line: what fires, where, since when, and its actions (acknowledge,
// silence). Shared by the overview and the alerts view. The actions are hidden for a
// read-scope session; a 403 if it happens anyway is shown, not swallowed.

import { api } from '../api.js';
import { h } from '../dom.js';
import * as f from '../fmt.js';
import { act, canAct } from '../ui.js';

export function alertTitle(a) {
  return a.annotations?.summary || a.rule;
}

export function alertItem(a, changed) {
  const labels = Object.entries(a.labels || {}).filter(([k]) => k !== 'alertname');
  const ack = a.acknowledged_at
    ? h('span.muted.small.acked', `acknowledged by ${a.acknowledged_by || 'someone'} ${f.ago(a.acknowledged_at)}`)
    : null;
  const actions = h('div.actions');
  if (!a.acknowledged_at && (a.state === 'firing' || a.state === 'pending')) {
    const button = h('button.primary.ack', { type: 'button', dataset: { id: a.id } }, 'Acknowledge');
    button.addEventListener('click', async () => {
      if (await act(button, () => api(`/alerts/${encodeURIComponent(a.id)}/acknowledge`, { method: 'POST' }), `Acknowledged ${a.rule}`)) {
        changed?.();
      }
    });
    if (canAct()) actions.append(button);
  }
  if (canAct() && a.state !== 'resolved' && a.state !== 'inactive') {
    actions.append(h('a', { href: `#/alerts?silence=${encodeURIComponent(a.id)}`, class: 'silence-link' }, 'Silence…'));
  }
  if (!canAct()) actions.append(h('span.muted.small.read-only', 'read-only key: cannot acknowledge or silence'));
  return h(`div.alert.${a.severity}`, { dataset: { id: a.id, state: a.state } },
    h('div.title', h(`span.badge.${a.state}`, a.state), ' ', alertTitle(a)),
    h('div.small.muted', `${a.rule} · ${a.severity} · ${a.category} · ${labels.map(([k, v]) => `${k}=${v}`).join(', ')}`),
    a.annotations?.description ? h('div.small', a.annotations.description) : null,
    h('div.small.muted', `since ${f.time(a.fired_at || a.started_at)} (${f.ago(a.fired_at || a.started_at)})${a.value !== null && a.value !== undefined ? ` · value ${f.compact(a.value)}` : ''}${a.silenced ? ' · silenced' : ''}`),
    ack,
    actions);
}

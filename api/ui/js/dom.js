// Building elements without innerHTML: every text from the API goes in as a text node, so
// nothing it says can become markup or script.

/** h('div.card', {onclick}, child, ...): an element with classes, attributes and children. */
export function h(spec, attrs, ...children) {
  const [tag, ...classes] = spec.split('.');
  const el = document.createElement(tag || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className += (el.className ? ' ' : '') + value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key in el && typeof value !== 'string') el[key] = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** A card with a title. */
export function card(title, ...children) {
  return h('section.card', title ? h('h2', title) : null, ...children);
}

/** A definition list of [label, value] pairs (values may be nodes). */
export function kv(pairs) {
  return h('dl.kv', pairs.filter(Boolean).flatMap(([k, v]) => [h('dt', k), h('dd', v)]));
}

/** A table: columns are [header, cell(row), numeric?]. */
export function table(columns, rows, empty = 'Nothing here.') {
  if (!rows.length) return h('p.muted', empty);
  return h('div.scroll', h('table',
    h('thead', h('tr', columns.map(([head, , num]) => h(num ? 'th.num' : 'th', head)))),
    h('tbody', rows.map((row) => h('tr', columns.map(([, cell, num]) => h(num ? 'td.num' : 'td', cell(row))))))));
}

/** A labelled value tile, with an optional 0–100 bar. */
export function tile(label, value, percent, hot) {
  return h('div.tile', h('div.label', label), h('div.value', value),
    percent === undefined || percent === null ? null
      : h('div.bar', h(hot ? 'span.hot' : 'span', { dataset: { w: String(percent) } })));
}

/** Sets the widths of the bars tile() made (element.style from script: allowed by the CSP). */
export function sizeBars(root) {
  for (const bar of root.querySelectorAll('.bar > span[data-w]')) {
    bar.style.width = `${Math.max(0, Math.min(100, Number(bar.dataset.w)))}%`;
  }
}

/** Replaces the children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  sizeBars(el);
}

/** A row of toggle buttons; `onpick(value)` when one is chosen. */
export function segmented(options, current, onpick) {
  const wrap = h('div.seg');
  for (const [value, label] of options) {
    wrap.append(h(value === current ? 'button.on' : 'button', {
      type: 'button',
      onclick: (e) => {
        for (const b of wrap.children) b.classList.toggle('on', b === e.currentTarget);
        onpick(value);
      },
    }, label));
  }
  return wrap;
}

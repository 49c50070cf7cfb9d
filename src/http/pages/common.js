// Helpers shared by the portal and the dashboard. DOM text only ever goes
// through textContent: nothing from the API is parsed as HTML.
'use strict';

const keymint = (() => {
  const $ = (selector) => document.querySelector(selector);

  const show = (selector, visible) => { $(selector).hidden = !visible; };

  const date = (value) => (value ? new Date(value).toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' }) : 'Never');

  /** A JSON API call with a bearer token; resolves to { status, body }. */
  async function call(token, method, path, body) {
    const headers = { Authorization: `Bearer ${token}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  }

  function cell(row, text) {
    const td = document.createElement('td');
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function button(parent, label, onClick, className) {
    const element = document.createElement('button');
    element.type = 'button';
    element.textContent = label;
    if (className) element.className = className;
    element.addEventListener('click', onClick);
    parent.appendChild(element);
    return element;
  }

  /** Fills a table body with keys: Name, Key (start), Created, Last used, Usage, Expires, actions. */
  function renderKeys(tbody, keys, actions) {
    tbody.replaceChildren();
    for (const key of keys) {
      const row = document.createElement('tr');
      row.dataset.id = key.id;
      cell(row, key.name);
      const start = cell(row, '');
      const code = document.createElement('code');
      code.textContent = `${key.start}…`;
      start.appendChild(code);
      cell(row, date(key.created_at));
      cell(row, key.last_used_at ? date(key.last_used_at) : 'Never');
      cell(row, String(key.usage_count));
      cell(row, date(key.expires_at));
      const buttons = cell(row, '');
      buttons.className = 'actions';
      actions(buttons, key);
      tbody.appendChild(row);
    }
  }

  /** Shows a secret once, with a copy button. */
  function reveal(secret) {
    $('#secret').textContent = secret;
    show('#copied', false);
    show('#reveal', true);
  }

  function wireReveal() {
    $('#copy').addEventListener('click', async () => {
      // Copy inside the click itself: the synchronous path works in a
      // framed page that has no clipboard permission, and never waits on
      // a permission prompt.
      const range = document.createRange();
      range.selectNodeContents($('#secret'));
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      let copied = document.execCommand('copy');
      if (!copied && navigator.clipboard) {
        copied = await navigator.clipboard.writeText($('#secret').textContent).then(() => true, () => false);
      }
      $('#copied').textContent = copied ? 'Copied.' : 'Selected: press Ctrl+C (⌘C) to copy.';
      show('#copied', true);
    });
    $('#done').addEventListener('click', () => {
      $('#secret').textContent = '';
      show('#reveal', false);
    });
  }

  function error(message) {
    $('#error').textContent = message || '';
    show('#error', Boolean(message));
  }

  return { $, show, date, call, renderKeys, button, reveal, wireReveal, error };
})();

// The embedded portal: one customer's keys, with the session token from the
// URL fragment (#session=...), which never reaches a server log.
'use strict';

(() => {
  const { $, show, call, renderKeys, button, reveal, wireReveal, error } = keymint;
  const match = /(?:^|[#&])session=([^&]+)/.exec(location.hash);
  const token = match ? decodeURIComponent(match[1]) : null;

  function expired() {
    show('#app', false);
    show('#expired', true);
  }

  async function request(method, path, body) {
    const result = await call(token, method, path, body);
    if (result.status === 401) {
      expired();
      throw new Error('expired');
    }
    if (result.status >= 400) {
      error(result.body && result.body.detail ? result.body.detail : 'Something went wrong.');
      throw new Error(String(result.status));
    }
    error('');
    return result.body;
  }

  async function load() {
    const page = await request('GET', '/portal/api/keys?limit=100');
    renderKeys($('#keys tbody'), page.data, (cell, key) => {
      button(cell, 'Rotate', async () => {
        if (!confirm(`Rotate "${key.name}"? The current key stops working immediately.`)) return;
        const rotated = await request('POST', `/portal/api/keys/${encodeURIComponent(key.id)}/rotate`);
        reveal(rotated.secret);
        await load();
      });
      button(cell, 'Revoke', async () => {
        if (!confirm(`Revoke "${key.name}"? Anything using it stops working immediately.`)) return;
        await request('DELETE', `/portal/api/keys/${encodeURIComponent(key.id)}`);
        await load();
      }, 'danger');
    });
    show('#empty', page.data.length === 0);
  }

  $('#create').addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = event.target;
    const days = form.expires.value;
    const created = await request('POST', '/portal/api/keys', {
      name: form.name.value,
      expires_in_days: days ? Number(days) : null,
    });
    form.reset();
    reveal(created.secret);
    await load();
  });

  wireReveal();
  if (!token) {
    show('#missing', true);
  } else {
    show('#app', true);
    load().catch(() => {});
  }
})();

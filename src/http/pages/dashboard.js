// The members' dashboard: log in, then Settings and API Tokens (personal
// tokens), and, for admins, the workspace's keys and trust policies. The login token lives in
// sessionStorage: gone when the tab closes.
'use strict';

(() => {
  const { $, show, call, renderKeys, button, reveal, wireReveal, error } = keymint;
  const STORAGE = 'keymint.session';
  let token = sessionStorage.getItem(STORAGE);
  let me = null;

  function loggedOut() {
    token = null;
    sessionStorage.removeItem(STORAGE);
    show('#app', false);
    show('#login', true);
  }

  async function request(method, path, body) {
    const result = await call(token, method, path, body);
    if (result.status === 401) {
      loggedOut();
      throw new Error('logged out');
    }
    if (result.status >= 400) {
      error(result.body && result.body.detail ? result.body.detail : 'Something went wrong.');
      throw new Error(String(result.status));
    }
    error('');
    return result.body;
  }

  function select(tab) {
    for (const element of document.querySelectorAll('[role="tab"]')) {
      const selected = element.dataset.tab === tab;
      element.setAttribute('aria-selected', String(selected));
      show(`#${element.dataset.tab}`, selected);
    }
    if (tab === 'workspace-keys') loadWorkspaceKeys().catch(() => {});
    if (tab === 'trust-policies') loadPolicies().catch(() => {});
  }

  const words = (text) => text.split(/[\s,]+/).filter(Boolean);

  // "name=pattern" pairs, separated by commas or spaces.
  function claimPatterns(text) {
    const claims = {};
    for (const pair of words(text)) {
      const at = pair.indexOf('=');
      if (at > 0) claims[pair.slice(0, at)] = pair.slice(at + 1);
    }
    return claims;
  }

  function cell(row, text) {
    const td = document.createElement('td');
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function policiesPath() {
    return `/api/v1/workspaces/${encodeURIComponent($('#policy-workspace').value)}/trust-policies`;
  }

  async function loadPolicies() {
    if (!$('#policy-workspace').value) return;
    const page = await request('GET', `${policiesPath()}?limit=100`);
    const rows = $('#policies tbody');
    rows.replaceChildren();
    for (const policy of page.data) {
      const row = document.createElement('tr');
      row.dataset.id = policy.id;
      cell(row, policy.name);
      const id = document.createElement('code');
      id.textContent = policy.id;
      cell(row, '').appendChild(id);
      cell(row, policy.issuer).className = 'wrap';
      const claims = Object.entries(policy.claims).map(([name, pattern]) => `${name}=${pattern}`);
      cell(row, [policy.subject, ...claims].filter(Boolean).join(', ')).className = 'wrap';
      cell(row, policy.scopes.join(' '));
      const actions = cell(row, '');
      actions.className = 'actions';
      button(actions, 'Delete', async () => {
        if (!confirm(`Delete "${policy.name}"? Its workloads cannot exchange tokens any more, and their tokens stop at introspection.`)) return;
        await request('DELETE', `${policiesPath()}/${encodeURIComponent(policy.id)}`);
        await loadPolicies();
      }, 'danger');
      rows.appendChild(row);
    }
    show('#no-policies', page.data.length === 0);
  }

  function fill(selectElement, workspaces) {
    selectElement.replaceChildren();
    for (const workspace of workspaces) {
      const option = document.createElement('option');
      option.value = workspace.id;
      option.textContent = workspace.name;
      selectElement.appendChild(option);
    }
  }

  async function loadTokens() {
    const page = await request('GET', '/api/v1/users/me/api-keys?limit=100');
    renderKeys($('#personal tbody'), page.data, (cell, key) => {
      button(cell, 'Delete', async () => {
        if (!confirm(`Delete "${key.name}"? Anything using it stops working immediately.`)) return;
        await request('DELETE', `/api/v1/users/me/api-keys/${encodeURIComponent(key.id)}`);
        await loadTokens();
      }, 'danger');
    });
    show('#no-tokens', page.data.length === 0);
  }

  async function loadWorkspaceKeys() {
    const workspace = $('#admin-workspace').value;
    if (!workspace) return;
    const page = await request('GET', `/api/v1/workspaces/${encodeURIComponent(workspace)}/keys?limit=100`);
    const keyPath = (key) => `/api/v1/workspaces/${encodeURIComponent(workspace)}/keys/${encodeURIComponent(key.id)}`;
    renderKeys($('#wskeys tbody'), page.data, (cell, key) => {
      // DPoP: the key's exchanges need a proof of the client's own key pair,
      // so its tokens are useless to whoever copies them.
      const dpop = button(cell, key.dpop_required ? 'Stop requiring DPoP' : 'Require DPoP', async () => {
        await request('PATCH', keyPath(key), { dpop_required: !key.dpop_required });
        await loadWorkspaceKeys();
      });
      dpop.className = 'dpop';
      dpop.setAttribute('aria-pressed', String(key.dpop_required));
      button(cell, 'Revoke', async () => {
        if (!confirm(`Revoke "${key.name}"? Anything using it stops working immediately.`)) return;
        await request('DELETE', keyPath(key));
        await loadWorkspaceKeys();
      }, 'danger');
    });
  }

  async function start() {
    me = await request('GET', '/api/v1/me');
    $('#email').textContent = me.user ? me.user.email : '';
    const rows = $('#workspaces tbody');
    rows.replaceChildren();
    for (const workspace of me.workspaces) {
      const row = document.createElement('tr');
      for (const text of [workspace.name, workspace.slug, workspace.role || '']) {
        const td = document.createElement('td');
        td.textContent = text;
        row.appendChild(td);
      }
      rows.appendChild(row);
    }
    fill($('#create').workspace, me.workspaces);
    const administered = me.workspaces.filter((w) => w.scopes.includes('keys:write'));
    fill($('#admin-workspace'), administered);
    fill($('#policy-workspace'), administered);
    document.querySelector('[data-tab="workspace-keys"]').hidden = administered.length === 0;
    document.querySelector('[data-tab="trust-policies"]').hidden = administered.length === 0;
    show('#login', false);
    show('#app', true);
    select('tokens');
    await loadTokens();
  }

  $('#login').addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = event.target;
    const result = await call('', 'POST', '/auth/login', { email: form.email.value, password: form.password.value });
    if (result.status !== 200) {
      error(result.body && result.body.detail ? result.body.detail : 'Login failed.');
      return;
    }
    token = result.body.access_token;
    sessionStorage.setItem(STORAGE, token);
    form.reset();
    await start();
  });

  $('#accept').addEventListener('submit', async (event) => {
    event.preventDefault();
    const invite = /(?:^|[#&])invite=([^&]+)/.exec(location.hash);
    const result = await call('', 'POST', '/auth/accept-invite', { token: decodeURIComponent(invite[1]), password: event.target.password.value });
    if (result.status !== 200) {
      error(result.body && result.body.detail ? result.body.detail : 'The invitation could not be accepted.');
      return;
    }
    history.replaceState(null, '', location.pathname);
    show('#accept', false);
    $('#login').email.value = result.body.user.email;
    show('#login', true);
  });

  $('#create').addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = event.target;
    const days = form.expires.value;
    const created = await request('POST', '/api/v1/users/me/api-keys', {
      name: form.name.value,
      workspace: form.workspace.value,
      expires_in_days: days ? Number(days) : null,
    });
    form.name.value = '';
    reveal(created.secret);
    await loadTokens();
  });

  $('#create-policy').addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = event.target;
    const optional = (value) => (value.trim() ? value.trim() : undefined);
    const number = (value) => (value ? Number(value) : undefined);
    await request('POST', policiesPath(), {
      name: form.name.value,
      issuer: form.issuer.value.trim(),
      audiences: words(form.audiences.value),
      subject: optional(form.subject.value),
      claims: claimPatterns(form.claims.value),
      scopes: words(form.scopes.value),
      environment: optional(form.environment.value),
      jwks_uri: optional(form.jwks_uri.value),
      max_ttl_seconds: number(form.max_ttl_seconds.value),
      rate_limit: number(form.rate_limit.value),
    });
    form.reset();
    await loadPolicies();
  });

  for (const tab of document.querySelectorAll('[role="tab"]')) {
    tab.addEventListener('click', () => select(tab.dataset.tab));
  }
  $('#admin-workspace').addEventListener('change', () => loadWorkspaceKeys().catch(() => {}));
  $('#policy-workspace').addEventListener('change', () => loadPolicies().catch(() => {}));
  $('#logout').addEventListener('click', loggedOut);
  wireReveal();

  if (/(?:^|[#&])invite=/.test(location.hash)) {
    show('#accept', true);
  } else if (token) {
    start().catch(() => {});
  } else {
    show('#login', true);
  }
})();

// The portal and the dashboard in a real headless Chromium, driven by
// playwright-core. Prints one JSON report; on failure saves a screenshot.
// Run by tests/api/browser.rs, which starts keymint and the host pages.
//
// usage: node portal.mjs ALLOWED_HOST_URL DENIED_HOST_URL EXPIRED_PORTAL_URL DASHBOARD_URL SCREENSHOT_DIR
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';

const [allowedHost, deniedHost, expiredPortal, dashboardUrl, screenshots] = process.argv.slice(2);
mkdirSync(screenshots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.KEYMINT_TEST_BROWSER || '/usr/bin/chromium',
  // Without the networking flags Chromium keeps calling home, which this
  // machine's closed network refuses.
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const report = {};
const page = await browser.newPage({ viewport: { width: 1100, height: 640 } });
page.on('dialog', (dialog) => { report.lastConfirm = dialog.message(); return dialog.accept(); });

async function step(name, action) {
  try {
    return await action();
  } catch (error) {
    await page.screenshot({ path: `${screenshots}/failure-${name}.png` }).catch(() => {});
    console.error(`browser step "${name}" failed; screenshot in ${screenshots}`);
    await browser.close();
    throw error;
  }
}

const portal = page.frameLocator('#keymint');
await step('open', async () => {
  await page.goto(allowedHost);
  await portal.locator('#app').waitFor();
});
await step('create', async () => {
  await portal.locator('#create input[name=name]').fill('Browser test key');
  await portal.locator('#create select[name=expires]').selectOption('30');
  await portal.locator('#create button[type=submit]').click();
  await portal.locator('#reveal').waitFor();
  await portal.locator('#keys tbody tr').first().waitFor();
  report.secret = await portal.locator('#secret').textContent();
  report.warning = await portal.locator('#reveal strong').textContent();
  await portal.locator('#copy').click();
  await portal.locator('#copied').waitFor({ state: 'visible' });
  report.copied = await portal.locator('#copied').textContent();
  await page.screenshot({ path: `${screenshots}/portal.png` });
});
await step('reload', async () => {
  await page.reload();
  await portal.locator('#keys tbody tr').first().waitFor();
  report.revealAfterReload = await portal.locator('#reveal').isVisible();
  report.startAfterReload = await portal.locator('#keys tbody tr code').first().textContent();
  report.textAfterReload = await portal.locator('body').textContent();
  report.columns = await portal.locator('#keys thead th').allTextContents();
});
await step('revoke', async () => {
  await portal.locator('#keys tbody tr button.danger').first().click();
  await portal.locator('#empty').waitFor({ state: 'visible' });
  report.rowsAfterRevoke = await portal.locator('#keys tbody tr').count();
});
await step('denied', async () => {
  const denied = await browser.newPage();
  await denied.goto(deniedHost, { waitUntil: 'load' });
  const frame = await (await denied.$('#keymint')).contentFrame();
  report.deniedFrameRendered = (await frame.locator('#portal').count()) > 0;
  await denied.close();
});
await step('expired', async () => {
  const expired = await browser.newPage();
  await expired.goto(expiredPortal);
  await expired.locator('#expired').waitFor({ state: 'visible' });
  report.expiredMessage = (await expired.locator('#expired').textContent()).trim();
  await expired.close();
});
await step('dashboard', async () => {
  const dashboard = await browser.newPage({ viewport: { width: 1100, height: 640 } });
  dashboard.on('dialog', (dialog) => dialog.accept());
  await dashboard.goto(dashboardUrl);
  await dashboard.fill('#login input[name=email]', process.env.KEYMINT_TEST_EMAIL);
  await dashboard.fill('#login input[name=password]', process.env.KEYMINT_TEST_PASSWORD);
  await dashboard.click('#login button[type=submit]');
  await dashboard.locator('#tokens').waitFor();
  await dashboard.fill('#create input[name=name]', 'CI pipeline');
  await dashboard.click('#create button[type=submit]');
  await dashboard.locator('#personal tbody tr').first().waitFor();
  report.dashboardSecret = await dashboard.locator('#secret').textContent();
  report.dashboardColumns = await dashboard.locator('#personal thead th').allTextContents();
  report.workspaceKeysTab = await dashboard.locator('[data-tab="workspace-keys"]').isVisible();
  await dashboard.screenshot({ path: `${screenshots}/dashboard.png` });
  await dashboard.click('[data-tab="workspace-keys"]');
  const row = `#wskeys tbody tr[data-id="${process.env.KEYMINT_TEST_KEY_ID}"]`;
  const dpop = dashboard.locator(`${row} button.dpop`);
  await dpop.waitFor();
  report.dpopBefore = await dpop.textContent();
  await dpop.click();
  await dashboard.locator(`${row} button.dpop[aria-pressed="true"]`).waitFor();
  report.dpopAfter = await dashboard.locator(`${row} button.dpop`).textContent();
  await dashboard.screenshot({ path: `${screenshots}/dashboard-workspace-keys.png` });
  // A trust policy for GitHub Actions, made and deleted from the page.
  await dashboard.click('[data-tab="trust-policies"]');
  await dashboard.fill('#create-policy input[name=name]', 'deploy from main');
  await dashboard.fill('#create-policy input[name=issuer]', 'https://token.actions.githubusercontent.com');
  await dashboard.fill('#create-policy input[name=audiences]', 'https://keymint.example.com');
  await dashboard.fill('#create-policy input[name=subject]', 'repo:acme/api:ref:refs/heads/main');
  await dashboard.fill('#create-policy input[name=claims]', 'job_workflow_ref=acme/api/.github/workflows/*');
  await dashboard.fill('#create-policy input[name=scopes]', 'deploy');
  await dashboard.click('#create-policy button[type=submit]');
  const policy = dashboard.locator('#policies tbody tr').first();
  await policy.waitFor();
  report.policyCells = await policy.locator('td').allTextContents();
  await dashboard.screenshot({ path: `${screenshots}/dashboard-trust-policies.png`, fullPage: true });
  await policy.locator('button.danger').click();
  await dashboard.locator('#no-policies').waitFor({ state: 'visible' });
  report.policiesAfterDelete = await dashboard.locator('#policies tbody tr').count();
  await dashboard.click('[data-tab="tokens"]');
  await dashboard.locator('#personal tbody tr button.danger').first().click();
  await dashboard.locator('#no-tokens').waitFor({ state: 'visible' });
  report.dashboardRowsAfterDelete = await dashboard.locator('#personal tbody tr').count();
  await dashboard.close();
});

await browser.close();
console.log(JSON.stringify(report));

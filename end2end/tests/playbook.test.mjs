// The playbook in a real browser: conclude a stopped experiment through the form, find the entry by a word of its
// learning, read it as a viewer, and open it through a share link without an account.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, launch, newPage, signIn, waitHydrated } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('conclude an experiment, find it in the playbook, read it as a viewer and through a share link', async () => {
  const page = await newPage(browser);
  await signIn(page);
  const stamp = Date.now();
  const key = `e2e-playbook-${stamp}`;
  const word = `zebrafabric${stamp}`;
  const created = await page.request.post(`${BASE_URL}/api/v1/experiments`, { data: {
    key, name: 'Fabric swatches on product pages', seed: 'e2e-playbook',
    variations: [{ key: 'control' }, { key: 'swatches' }], metrics: { primary: 'purchase' },
    hypothesis: { change: 'Show fabric swatches next to the size guide', segment: 'Mobile shoppers',
      primary_metric: 'Purchase conversion', direction: 'increase', mde: 0.05, rationale: 'Size-guide users hesitate over fabric' },
  } });
  assert.equal(created.status(), 201);
  assert.equal((await page.request.post(`${BASE_URL}/api/v1/experiments/${key}/start`)).status(), 200);
  assert.equal((await page.request.post(`${BASE_URL}/api/v1/experiments/${key}/stop`)).status(), 200);

  // Conclude through the form on the experiment page.
  await page.goto(`${BASE_URL}/experiments/${key}`);
  await waitHydrated(page);
  await page.locator('[data-testid="conclude"]').waitFor();
  await page.selectOption('[data-testid="conclude-decision"]', 'iterate');
  await page.fill('[data-testid="conclude-summary"]', `Shoppers asked for ${word} samples; swatches alone did not move purchases.`);
  await page.check('[data-testid="conclude-signal-size-guide-viewed"]');
  await page.fill('[data-testid="segment-attribute-0"]', 'device');
  await page.fill('[data-testid="segment-value-0"]', 'mobile');
  await page.fill('[data-testid="conclude-tags"]', 'fabric, e2e');
  await page.click('[data-testid="conclude-submit"]');
  await page.waitForURL(/\/playbook\/\d+$/);
  const entryUrl = page.url();
  await page.locator('[data-testid="entry-learning"]').waitFor();
  assert.match(await page.locator('[data-testid="entry-learning"]').textContent(), new RegExp(word));
  assert.match(await page.locator('[data-testid="entry-hypothesis"]').textContent(), /Show fabric swatches next to the size guide/);
  assert.equal(await page.locator('[data-testid="entry-decision"]').textContent(), 'iterate');
  assert.match(await page.locator('[data-testid="entry-segments"]').textContent(), /device = mobile/);
  assert.equal(await page.locator('[data-testid="outcome"]').first().textContent(), 'inconclusive', 'no data, no claim');
  assert.ok(await page.locator('[data-testid="deviation"]').count() >= 1, 'the planned effect is not ruled out');
  if (process.env.E2E_SCREENSHOTS) await page.screenshot({ path: `${process.env.E2E_SCREENSHOTS}/playbook-entry.png`, fullPage: true });

  // Find it by a word of its learning.
  await page.goto(`${BASE_URL}/playbook`);
  await waitHydrated(page);
  await page.fill('[data-testid="playbook-search"]', word.slice(0, -3));
  await page.click('[data-testid="playbook-apply"]');
  await page.waitForURL(/q=zebrafabric/);
  await page.waitForFunction(() => document.querySelector('[data-testid="playbook-count"]')?.textContent === '1 entries');
  assert.match(await page.locator('[data-testid="playbook-entry"]').textContent(), /Fabric swatches on product pages/);
  await page.click('[data-testid="playbook-entry"] h2 a');
  await page.waitForURL(entryUrl);

  // A share link, opened by someone without an account.
  await waitHydrated(page);
  await page.click('[data-testid="share-entry"]');
  const link = page.locator('[data-testid="share-link"] a');
  await link.waitFor();
  const sharePath = await link.getAttribute('href');
  assert.match(sharePath, /^\/share\/ils_[0-9a-f]{64}$/);
  const stranger = await newPage(browser);
  await stranger.goto(`${BASE_URL}${sharePath}`);
  await stranger.locator('[data-testid="entry-learning"]').waitFor();
  assert.match(await stranger.locator('[data-testid="entry-learning"]').textContent(), new RegExp(word));
  assert.equal(await stranger.locator('header.topbar nav').count(), 0, 'no navigation beyond the link');
  await stranger.goto(`${BASE_URL}/playbook`);
  await stranger.waitForURL(/\/login/);
  await stranger.goto(`${BASE_URL}/share/ils_not-a-real-token`);
  await stranger.locator('[role="alert"]').waitFor();
  assert.match(await stranger.locator('[role="alert"]').textContent(), /does not exist, has expired or was revoked/);

  // Revoking the link closes it.
  await page.goto(`${BASE_URL}/playbook/shares`);
  await waitHydrated(page);
  const entryId = entryUrl.split('/').pop();
  const row = page.locator('[data-testid="share-links"] tr', { hasText: `(#${entryId})` });
  await row.locator('button').click();
  await row.getByText(/^revoked /).waitFor();
  await stranger.goto(`${BASE_URL}${sharePath}`);
  await stranger.locator('[role="alert"]').waitFor();
  assert.match(await stranger.locator('[role="alert"]').textContent(), /has expired or was revoked/);

  // A viewer reads the entry but gets none of the editing tools.
  const email = `viewer-${stamp}@example.com`;
  const made = await page.request.post(`${BASE_URL}/api/v1/users`, { data: { email, password: 'viewer-password-1', role: 'viewer' } });
  assert.equal(made.status(), 201);
  const viewer = await newPage(browser);
  await viewer.goto(`${BASE_URL}/login`);
  await waitHydrated(viewer);
  await viewer.fill('input[name="email"]', email);
  await viewer.fill('input[name="password"]', 'viewer-password-1');
  await viewer.click('button[type="submit"]');
  await viewer.waitForSelector('header.topbar .user-email');
  await viewer.goto(entryUrl);
  await viewer.locator('[data-testid="entry-learning"]').waitFor();
  assert.equal(await viewer.locator('[data-testid="follow-up"]').count(), 0);
  assert.equal(await viewer.locator('[data-testid="share-entry"]').count(), 0);

  assert.deepEqual(page.errors, []);
  assert.deepEqual(viewer.errors, []);
});

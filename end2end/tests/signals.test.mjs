// The signal library in the browser: the starter library, a new signal with live validation and a live preview
// fed by real ingested events, a rule change that makes a new version, deprecation; then the shopper's profile.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, createApiKey, launch, newPage, signIn, waitHydrated, navigate } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function ingest(page, secret, events) {
  const response = await page.request.post(`${BASE_URL}/api/v1/events`, { headers: { authorization: `Bearer ${secret}` }, data: { events } });
  assert.equal(response.status(), 200);
  return response.json();
}

test('marketers browse, create, version and deprecate signals with a live preview', async () => {
  const page = await newPage(browser);
  await signIn(page);
  const secret = await createApiKey(page, ['ingest', 'read']);
  const stamp = Date.now();
  const answer = await ingest(page, secret, [
    { message_id: `gw-${stamp}-1`, type: 'track', event: 'Gift Wrap Selected', anonymous_id: `wrapper-${stamp}`, properties: { premium: true }, context: { channel: 'web' } },
    { message_id: `gw-${stamp}-2`, type: 'track', event: 'Gift Wrap Selected', anonymous_id: `wrapper2-${stamp}`, properties: { premium: false }, context: { app: { name: 'Shop' } } },
  ]);
  assert.equal(answer.accepted, 2);

  await navigate(page, 'Signals');
  await page.waitForURL(/\/signals$/);
  const table = page.locator('[data-testid="signals-table"]');
  await table.waitFor();
  for (const name of ['Added to cart', 'Came back to the cart', 'Product video watched to 75 %', 'Price-drop alert subscribed']) {
    assert.match(await table.textContent(), new RegExp(name));
  }
  assert.match(await page.textContent('[data-testid="ingest-summary"]'), /accepted/);

  // Filters are in the URL.
  await page.goto(`${BASE_URL}/signals?stage=readiness`);
  await page.locator('[data-testid="signals-table"]').waitFor();
  assert.doesNotMatch(await page.textContent('[data-testid="signals-table"]'), /Product viewed/);
  assert.match(await page.textContent('[data-testid="signals-table"]'), /Checkout started/);

  await page.goto(`${BASE_URL}/signals/new`);
  await waitHydrated(page);
  const form = page.locator('[data-testid="signal-form"]');
  await form.getByLabel('Key', { exact: true }).fill('gift-wrap');
  await form.getByLabel('Name', { exact: true }).fill('Gift wrap chosen');
  await form.locator('select[name="stage"]').selectOption('readiness');
  await form.getByLabel('Event (or page name)', { exact: true }).fill('Gift Wrap Selected');
  // Live validation: an impossible weight blocks saving.
  await form.getByLabel('Weight (0–100)', { exact: true }).fill('500');
  await page.waitForSelector('[data-testid="form-problems"]');
  assert.match(await page.textContent('[data-testid="form-problems"]'), /weight must be between 0 and 100/);
  assert.ok(await form.locator('button[type="submit"]').isDisabled());
  await form.getByLabel('Weight (0–100)', { exact: true }).fill('3');
  await page.waitForSelector('[data-testid="form-problems"]', { state: 'detached' });
  // The preview counts the two shoppers who chose gift wrap; with a condition, one.
  await page.locator('[data-testid="preview-units"]', { hasText: '2' }).waitFor();
  await form.locator('textarea[name="conditions"]').fill('{"premium": true}');
  await page.locator('[data-testid="preview-units"]', { hasText: '1' }).waitFor();
  await form.locator('button[type="submit"]').click();
  await page.waitForURL(/\/signals\/gift-wrap$/);
  await page.locator('[data-testid="signal-version"]', { hasText: '1' }).waitFor();

  // A rule change is a new version.
  await waitHydrated(page);
  await page.locator('[data-testid="signal-form"] textarea[name="conditions"]').fill('');
  await page.locator('[data-testid="signal-form"] button[type="submit"]').click();
  await page.locator('[data-testid="signal-version"]', { hasText: '2' }).waitFor();
  assert.match(await page.textContent('[data-testid="signal-versions"]'), /v1/);

  await page.click('[data-testid="toggle-status"]');
  await page.locator('[data-testid="signal-status"]', { hasText: 'deprecated' }).waitFor();
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('a profile shows every id, the cross-channel timeline and the signals behind its stage', async () => {
  const page = await newPage(browser);
  await signIn(page);
  const secret = await createApiKey(page, ['ingest', 'read']);
  const stamp = Date.now();
  const web = `web-${stamp}`, app = `app-${stamp}`, user = `user-${stamp}`;
  await ingest(page, secret, [
    { message_id: `p-${stamp}-1`, type: 'track', event: 'Product Viewed', anonymous_id: web, context: { userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0' } },
    { message_id: `p-${stamp}-2`, type: 'track', event: 'Product Added', anonymous_id: app, context: { app: { name: 'Shop' }, device: { type: 'ios' } } },
    { message_id: `p-${stamp}-3`, type: 'identify', user_id: user, anonymous_id: web, traits: { email: `${user}@shop.example` } },
    { message_id: `p-${stamp}-4`, type: 'identify', user_id: user, anonymous_id: app },
  ]);

  await navigate(page, 'Profiles');
  await page.waitForURL(/\/profiles$/);
  await page.fill('input[name="q"]', `${user}@shop`);
  await page.click('[data-testid="profile-search"] button[type="submit"]');
  await page.waitForURL(/q=/);
  const row = page.locator('[data-testid="profiles-table"] a').first();
  await row.waitFor();
  await row.click();
  await page.waitForURL(/\/profiles\//);
  await page.locator('[data-testid="timeline-item"]').first().waitFor();
  assert.equal(await page.locator('[data-testid="timeline-item"]').count(), 4);
  const channels = await page.locator('[data-testid="timeline-item"] [data-testid="channel"]').allTextContents();
  assert.ok(channels.includes('web') && channels.includes('app'), channels.join(','));
  assert.match(await page.textContent('[data-testid="profile-ids"]'), new RegExp(`${web}.*|${app}`));
  assert.equal((await page.textContent('header [data-testid="stage"]')).trim(), 'consideration');
  assert.match(await page.locator('[data-testid="contribution"]').first().textContent(), /product-added/);

  await page.goto(`${BASE_URL}/profiles/nobody-${stamp}`);
  await page.waitForSelector('[data-testid="no-profile"]');
  await page.context().close();
});

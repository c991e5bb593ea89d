// Signing in, managing API keys as an admin, and what a viewer sees, in a real (headless) Chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, ADMIN_EMAIL, ADMIN_PASSWORD, launch, newPage, waitHydrated, navigate } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function signIn(page, email, password) {
  await page.goto(`${BASE_URL}/`);
  // Anonymous visitors land on the login page.
  await page.waitForURL(/\/login/);
  await waitHydrated(page);
  await page.fill('input[name="email"]', email);
  await page.fill('input[name="password"]', password);
  await page.click('button[type="submit"]');
  await page.waitForSelector('header.topbar .user-email');
}

test('an admin signs in, creates an API key, sees it listed, and logs out', async () => {
  const page = await newPage(browser);
  await signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  assert.equal(await page.textContent('.user-email'), ADMIN_EMAIL);

  await navigate(page, 'API keys');
  await page.waitForURL(/\/settings\/api-keys$/);
  await page.waitForSelector('[data-testid="create-key-form"]');
  await page.fill('[data-testid="create-key-form"] input[name="name"]', 'e2e-checkout');
  await page.check('input[name="scope_assign"]');
  await page.check('input[name="scope_ingest"]');
  await page.click('[data-testid="create-key-form"] button[type="submit"]');

  const secret = (await page.textContent('[data-testid="new-key-secret"]')).trim();
  assert.match(secret, /^il_[0-9a-f]{64}$/);
  const row = page.locator('[data-testid="keys-table"] tr', { hasText: 'e2e-checkout' });
  await row.waitFor();
  assert.match(await row.textContent(), /assign,ingest/);
  assert.match(await row.textContent(), /active/);

  // The key works against the API, and the secret is not in the list.
  const me = await page.request.get(`${BASE_URL}/api/v1/me`, { headers: { authorization: `Bearer ${secret}` } });
  assert.equal(me.status(), 200);
  assert.equal((await me.json()).name, 'e2e-checkout');
  assert.ok(!(await page.textContent('[data-testid="keys-table"]')).includes(secret.slice(3)));

  // Revoke it: the row says so and the key stops working.
  await row.locator('button', { hasText: 'Revoke' }).click();
  await page.locator('[data-testid="keys-table"] tr', { hasText: 'e2e-checkout' }).locator('text=revoked').waitFor();
  const revoked = await page.request.get(`${BASE_URL}/api/v1/me`, { headers: { authorization: `Bearer ${secret}` } });
  assert.equal(revoked.status(), 401);

  await page.click('[data-testid="logout"]');
  await page.waitForURL(/\/login/);
  await page.goto(`${BASE_URL}/settings/api-keys`);
  await page.waitForURL(/\/login\?next=/);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('an admin adds a viewer, who sees no write controls', async () => {
  const admin = await newPage(browser);
  await signIn(admin, ADMIN_EMAIL, ADMIN_PASSWORD);
  await navigate(admin, 'Users');
  await admin.waitForSelector('[data-testid="create-user-form"]');
  const email = `viewer-${Date.now()}@shop.example`;
  await admin.fill('[data-testid="create-user-form"] input[name="email"]', email);
  await admin.fill('[data-testid="create-user-form"] input[name="password"]', 'viewer password 1');
  await admin.selectOption('[data-testid="create-user-form"] select[name="role"]', 'viewer');
  await admin.click('[data-testid="create-user-form"] button[type="submit"]');
  await admin.locator('[data-testid="users-table"] tr', { hasText: email }).waitFor();
  assert.deepEqual(admin.errors, []);
  await admin.context().close();

  const viewer = await newPage(browser);
  await signIn(viewer, email, 'viewer password 1');
  assert.match(await viewer.textContent('header.topbar'), /Viewer/);
  assert.equal(await viewer.locator('nav.nav >> text=API keys').count(), 0, 'no admin navigation');
  assert.equal(await viewer.locator('nav.nav >> text=Users').count(), 0, 'no admin navigation');

  await viewer.goto(`${BASE_URL}/settings/api-keys`);
  await waitHydrated(viewer);
  await viewer.waitForSelector('.alert-error');
  assert.match(await viewer.textContent('.alert-error'), /needs the admin role/);
  assert.equal(await viewer.locator('form').filter({ hasText: 'Create key' }).count(), 0);
  assert.equal(await viewer.locator('button', { hasText: 'Revoke' }).count(), 0);
  await viewer.context().close();
});

test('a wrong password shows a readable error', async () => {
  const page = await newPage(browser);
  await page.goto(`${BASE_URL}/login`);
  await waitHydrated(page);
  await page.fill('input[name="email"]', ADMIN_EMAIL);
  await page.fill('input[name="password"]', 'definitely wrong');
  await page.click('button[type="submit"]');
  await page.waitForSelector('p.error');
  assert.match(await page.textContent('p.error'), /wrong email or password/);
  await page.context().close();
});

// Designing and starting an experiment in the browser, then asking the assignment API for a bucket.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, ADMIN_EMAIL, ADMIN_PASSWORD, launch, newPage, waitHydrated, navigate } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('an editor creates and starts an experiment, and the API assigns from it', async () => {
  const page = await newPage(browser);
  await page.goto(`${BASE_URL}/login`);
  await waitHydrated(page);
  await page.fill('input[name="email"]', ADMIN_EMAIL);
  await page.fill('input[name="password"]', ADMIN_PASSWORD);
  await page.click('button[type="submit"]');
  await page.waitForSelector('header.topbar .user-email');

  await navigate(page, 'Experiments');
  await page.waitForURL(/\/experiments$/);
  await page.click('text=New experiment');
  await page.waitForURL(/\/experiments\/new$/);
  await waitHydrated(page);

  const form = page.locator('[data-testid="experiment-form"]');
  await form.getByLabel('Key', { exact: true }).fill('size-guide-prompt');
  await form.getByLabel('Name', { exact: true }).fill('Size guide prompt');
  await form.getByLabel('Change', { exact: true }).fill('Show the size guide next to the size picker');
  await form.getByLabel('Primary metric', { exact: true }).fill('conversion');
  await form.locator('select[name="direction"]').selectOption('increase');
  await form.getByLabel('Minimum detectable effect (%)', { exact: true }).fill('5');
  // Measured by metrics from the library: purchase conversion first, AOV beside it, repeat purchase as a guardrail.
  await form.locator('[data-testid="metric-primary"]').selectOption('purchase');
  await form.locator('[data-testid="metrics-secondary"]').getByLabel('Average order value').check();
  await form.locator('[data-testid="metrics-guardrails"]').getByLabel('Repeat purchase', { exact: true }).check();

  // Live validation: weights must add up to 100 %.
  const weights = form.getByLabel('Variation weight', { exact: true });
  await weights.nth(1).fill('60');
  await page.waitForSelector('[data-testid="form-problems"]');
  assert.match(await page.textContent('[data-testid="form-problems"]'), /110 %/);
  assert.ok(await form.locator('button[type="submit"]').isDisabled());
  await weights.nth(1).fill('50');
  await page.waitForSelector('[data-testid="form-problems"]', { state: 'detached' });
  await form.getByLabel('Variation payload', { exact: true }).nth(1).fill('{"prompt": true}');

  await form.locator('button[type="submit"]').click();
  await page.waitForURL(/\/experiments\/size-guide-prompt$/);
  await page.waitForSelector('[data-testid="hypothesis"]');
  assert.match(await page.textContent('[data-testid="hypothesis"]'), /Show the size guide next to the size picker/);
  assert.equal((await page.textContent('[data-testid="measured-by"]')).trim(), 'purchase (primary), aov, repeat-purchase (guardrail)');
  assert.equal((await page.textContent('[data-testid="status"]')).trim(), 'draft');

  page.once('dialog', (dialog) => dialog.accept());
  await page.click('[data-testid="start"]');
  await page.locator('[data-testid="status"]', { hasText: 'running' }).waitFor();
  assert.match(await page.textContent('[data-testid="history"]'), /started by/);

  // A backend asks for a bucket with a key made in the UI's API keys page... or, here, through the API.
  const key = await page.request.post(`${BASE_URL}/api/v1/api-keys`, { data: { name: 'e2e-assign', scopes: ['assign'] } });
  assert.equal(key.status(), 201);
  const secret = (await key.json()).secret;
  const response = await page.request.post(`${BASE_URL}/api/v1/assign`, {
    headers: { authorization: `Bearer ${secret}` },
    data: { unit_id: 'shopper-1', experiments: ['size-guide-prompt'] },
  });
  assert.equal(response.status(), 200);
  const assignment = (await response.json()).assignments[0];
  assert.equal(assignment.reason, 'assigned');
  assert.ok(['control', 'treatment'].includes(assignment.variation));

  // The experiment page counts the exposure once the exposure writer has stored it (off the request path, so
  // the page is reloaded until it shows, for at most 15 s).
  let shown = false;
  for (let attempt = 0; attempt < 30 && !shown; attempt++) {
    await page.reload();
    await page.waitForSelector('[data-testid="variations-table"]');
    shown = /1 units exposed/.test(await page.textContent('body'));
    if (!shown) await page.waitForTimeout(500);
  }
  assert.ok(shown, 'the exposure is counted on the experiment page');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

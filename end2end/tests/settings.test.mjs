// Settings: an admin sets the global holdout in the browser; the API and the assignment snapshot follow.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, launch, newPage, signIn, waitHydrated, navigate } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('an admin sets the global holdout, and a bad value gets a readable error', async () => {
  const page = await newPage(browser);
  await signIn(page);
  await navigate(page, 'Settings');
  await page.waitForURL(/\/settings$/);
  await waitHydrated(page);
  assert.match(await page.locator('[data-testid="stages-table"]').textContent(), /curiosity/);

  const form = page.locator('[data-testid="holdout-form"]');
  await form.locator('input[name="percent"]').fill('10');
  await form.locator('button[type="submit"]').click();
  await page.waitForFunction(() => /Now: 10 % of units are held out/.test(document.querySelector('[data-testid="holdout-current"]').textContent));
  const settings = await (await page.request.get(`${BASE_URL}/api/v1/settings`)).json();
  assert.equal(settings.global_holdout, 0.1);

  await form.locator('input[name="percent"]').fill('80');
  await form.locator('button[type="submit"]').click();
  await page.waitForFunction(() => /between 0 and 0.5/.test(document.body.textContent));
  await form.locator('input[name="percent"]').fill('a lot');
  await form.locator('button[type="submit"]').click();
  await page.waitForFunction(() => /percentage of traffic/.test(document.body.textContent));

  // Back to no holdout: the other browser tests assign units and expect everyone in.
  await form.locator('input[name="percent"]').fill('0');
  await form.locator('button[type="submit"]').click();
  await page.waitForFunction(() => /Now: 0 % of units are held out/.test(document.querySelector('[data-testid="holdout-current"]').textContent));
  assert.equal((await (await page.request.get(`${BASE_URL}/api/v1/settings`)).json()).global_holdout, 0);
  assert.deepEqual(page.errors.filter((e) => !/400/.test(e)), []);
});

// The metric library in the browser: the starter metrics, and an editor adding and changing a micro-conversion
// metric.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, signIn, waitHydrated, navigate } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('editors add a micro-conversion metric to the library and change it', async () => {
  const page = await newPage(browser);
  await signIn(page);
  await navigate(page, 'Metrics');
  await page.waitForURL(/\/metrics$/);
  await waitHydrated(page);
  const table = page.locator('[data-testid="metrics-table"]');
  for (const name of ['Purchase conversion', 'Average order value', 'Lifetime value, 90 days']) {
    assert.match(await table.textContent(), new RegExp(name));
  }

  const form = page.locator('[data-testid="metric-form"]');
  const key = `cart-adds-${Date.now()}`;
  await form.locator('input[name="metric[key]"]').fill(key);
  await form.locator('input[name="metric[name]"]').fill('Added to cart after exposure');
  await form.locator('input[name="metric[window_days]"]').fill('7');
  await page.selectOption('[data-testid="metric-measure"]', 'signal');
  await page.selectOption('[data-testid="metric-signal"]', 'product-added');
  await form.locator('button[type="submit"]').click();
  await page.locator('[data-testid="metric-saved"]').waitFor();
  await page.waitForFunction((k) => document.querySelector('[data-testid="metrics-table"]').textContent.includes(k), key);
  assert.match(await table.textContent(), /share of units with the signal “Added to cart”, within 7 days of exposure/);

  // The same key again is refused with a readable message.
  await form.locator('input[name="metric[key]"]').fill(key);
  await form.locator('input[name="metric[name]"]').fill('A second metric with that key');
  await form.locator('button[type="submit"]').click();
  await page.waitForFunction(() => /exists already/.test(document.body.textContent));

  // Changing it: the form opens with its definition, the key stays, the table shows the new window.
  await page.click(`[data-testid="edit-metric-${key}"]`);
  await page.waitForFunction(() => /Change metric/.test(document.querySelector('[data-testid="metric-form-card"]').textContent));
  assert.equal(await form.locator('input[name="metric[window_days]"]').inputValue(), '7');
  assert.equal(await form.locator('input[name="metric[key]"]').inputValue(), key);
  assert.equal(await page.locator('[data-testid="metric-signal"]').inputValue(), 'product-added');
  await form.locator('input[name="metric[window_days]"]').fill('10');
  await form.locator('button[type="submit"]').click();
  await page.waitForFunction(() => /“Added to cart”, within 10 days of exposure/.test(document.querySelector('[data-testid="metrics-table"]').textContent));
  await page.waitForFunction(() => /Add a metric/.test(document.querySelector('[data-testid="metric-form-card"]').textContent));
  assert.doesNotMatch(await table.textContent(), /within 7 days of exposure/);
  assert.deepEqual(page.errors.filter((e) => !/409/.test(e)), []);
});

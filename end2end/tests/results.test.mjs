// An experiment's results page: units assigned through the API, orders sent through the events API, and the
// page showing the verdict, the forest plot, the cumulative effect and the tables, with the method switch in the URL.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, createApiKey, launch, newPage, signIn, waitHydrated } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('a results page shows the verdict, the forest plot and every metric', async () => {
  const page = await newPage(browser);
  await signIn(page);
  const key = `e2e-results-${Date.now()}`;
  const created = await page.request.post(`${BASE_URL}/api/v1/experiments`, { data: {
    // A fixed seed and fixed unit ids make the split the same on every run (a random one fails the sample-ratio
    // check one run in a thousand, as it should).
    key, name: 'Express checkout button', variations: [{ key: 'control' }, { key: 'express' }], seed: 'e2e-results',
    metrics: { primary: 'purchase', secondary: ['aov'] },
  } });
  assert.equal(created.status(), 201);
  assert.equal((await page.request.post(`${BASE_URL}/api/v1/experiments/${key}/start`)).status(), 200);

  // 300 shoppers get a bucket; those in "express" order three times as often.
  const assignKey = await createApiKey(page, ['assign']);
  const ingestKey = await createApiKey(page, ['ingest']);
  const events = [];
  const counts = { control: 0, express: 0 };
  for (let i = 0; i < 300; i++) {
    const unit = `e2e-results-shopper-${i}`;
    const answer = await page.request.post(`${BASE_URL}/api/v1/assign`, {
      headers: { authorization: `Bearer ${assignKey}` }, data: { unit_id: unit, experiments: [key] },
    });
    const variation = (await answer.json()).assignments[0].variation;
    counts[variation] += 1;
    const orders = variation === 'express' ? i % 10 < 6 : i % 10 < 2;
    events.push({ message_id: `${key}-${i}-visit`, type: 'page', user_id: unit });
    if (orders) {
      events.push({ message_id: `${key}-${i}-order`, type: 'track', event: 'Order Completed', user_id: unit,
        properties: { order_id: `${key}-${i}`, revenue: 40 + (i % 7) } });
    }
  }
  const sent = await page.request.post(`${BASE_URL}/api/v1/events`, { headers: { authorization: `Bearer ${ingestKey}` }, data: { events } });
  assert.equal(sent.status(), 200);

  await page.goto(`${BASE_URL}/experiments/${key}`);
  await waitHydrated(page);
  await page.click('[data-testid="open-results"]');
  await page.waitForURL(new RegExp(`/experiments/${key}/results`));
  // Exposures are written in batches within a fraction of a second; reload until all 300 are in.
  for (let attempt = 0; attempt < 20; attempt++) {
    const summary = await page.locator('[data-testid="results-summary"]').textContent();
    if (summary.includes('300 units')) break;
    await page.waitForTimeout(500);
    await page.reload();
  }
  assert.match(await page.locator('[data-testid="results-summary"]').textContent(), /300 units/);
  const summary = await page.locator('[data-testid="results-summary"]').textContent();
  assert.match(summary, new RegExp(`control ${counts.control} · express ${counts.express}`), 'the page counts what the API assigned');
  assert.match(await page.locator('[data-testid="results-verdict"]').textContent(), /express on Purchase conversion: Treatment raised Purchase conversion by/, summary);
  assert.equal(await page.locator('[data-testid="forest-plot"] circle').count(), 2, 'purchase and AOV, one treatment each');
  assert.ok(await page.locator('[data-testid="cumulative-chart"] circle.estimate').count() >= 1, 'the cumulative effect so far has a point');
  assert.equal(await page.locator('[data-testid="srm-banner"]').count(), 0);
  await page.locator('[data-testid="metric-aov"]').waitFor();
  if (process.env.E2E_SCREENSHOTS) await page.screenshot({ path: `${process.env.E2E_SCREENSHOTS}/results.png`, fullPage: true });

  await waitHydrated(page);
  await page.selectOption('[data-testid="results-method"]', 'bayesian');
  await page.waitForURL(/method=bayesian/);
  await page.waitForFunction(() => /chance of beating control/.test(document.querySelector('[data-testid="results-verdict"]')?.textContent ?? ''));
  assert.deepEqual(page.errors, []);
});

// What `make run` serves reaches the browser small, compressed and cached for good: every page's first load of
// /pkg files stays within the budget, and a second visit fetches none of them again. Sizes apply to the release
// bundle only (bundle.json says whether wasm-opt ran); with a debug bundle the budget test says it was skipped.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BASE_URL, launch, signInContext, waitHydrated } from './helpers.mjs';

// The budget for a first visit: the framework, the layout and one section of pages, compressed.
const FIRST_LOAD_BUDGET_BYTES = 500_000;
const SITE = process.env.INTENTLAB_SITE_ROOT ?? fileURLToPath(new URL('../../target/site', import.meta.url));
const bundle = JSON.parse(readFileSync(`${SITE}/bundle.json`, 'utf8'));

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// The pages a newcomer reaches first, and the heaviest section of each part of the app.
const PAGES = ['/login', '/', '/experiments', '/experiments/new', '/playbook', '/signals', '/signals/new', '/calculator', '/profiles', '/settings'];

// Opens `path` in a new context (an empty cache) and returns what the browser fetched from /pkg.
async function firstVisit(path) {
  const context = await browser.newContext();
  context.setDefaultTimeout(20_000);
  if (path !== '/login') await signInContext(context);
  const page = await context.newPage();
  const errors = [];
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()); });
  page.on('pageerror', (err) => errors.push(String(err)));
  // The default buffer (250 entries) is smaller than a page's list of chunks.
  await page.addInitScript(() => performance.setResourceTimingBufferSize(5000));
  const encodings = new Map();
  page.on('response', async (response) => {
    if (response.url().includes('/pkg/')) encodings.set(response.url(), (await response.allHeaders())['content-encoding'] ?? 'none');
  });
  await page.goto(`${BASE_URL}${path}`);
  await waitHydrated(page);
  await page.waitForLoadState('networkidle');
  const resources = await page.evaluate(() => performance.getEntriesByType('resource')
    .filter((r) => r.name.includes('/pkg/'))
    .map((r) => ({ name: r.name, transferred: r.transferSize, body: r.encodedBodySize })));
  return { context, page, errors, resources, encodings };
}

test('every page hydrates cleanly from the bundle', async () => {
  for (const path of PAGES) {
    const visit = await firstVisit(path);
    assert.deepEqual(visit.errors, [], `${path}: console errors`);
    assert.ok(visit.resources.length > 0, `${path}: no bundle files fetched`);
    await visit.context.close();
  }
});

test('a first visit fetches at most 500 KB of compressed bundle files', { skip: !bundle.optimized && 'the site holds a debug bundle (make test builds the release one)' }, async () => {
  const report = [];
  for (const path of PAGES) {
    const visit = await firstVisit(path);
    const bytes = visit.resources.reduce((sum, r) => sum + r.body, 0);
    report.push(`${path}: ${(bytes / 1000).toFixed(0)} KB in ${visit.resources.length} files`);
    assert.ok(bytes <= FIRST_LOAD_BUDGET_BYTES, `${path} fetched ${bytes} bytes of /pkg files:\n${report.join('\n')}`);
    // Every WebAssembly and JavaScript file arrived compressed.
    const plain = [...visit.encodings].filter(([url, encoding]) => /\.(wasm|js)$/.test(url) && encoding === 'none');
    assert.deepEqual(plain, [], `${path}: sent uncompressed`);
    await visit.context.close();
  }
  console.log(report.join('\n'));
});

test('a second visit takes every bundle file from the browser cache', async () => {
  const visit = await firstVisit('/calculator');
  const again = await visit.context.newPage();
  await again.addInitScript(() => performance.setResourceTimingBufferSize(5000));
  await again.goto(`${BASE_URL}/calculator`);
  await waitHydrated(again);
  await again.waitForLoadState('networkidle');
  const fetched = await again.evaluate(() => performance.getEntriesByType('resource')
    .filter((r) => r.name.includes('/pkg/') && r.transferSize > 0)
    .map((r) => r.name));
  assert.deepEqual(fetched, [], 'fetched again instead of taken from the cache');
  // The calculator still reacts: the cached bundle is the working one.
  await again.fill('[data-testid="treatment-conversions"]', '520');
  await again.waitForFunction(() => /No significant difference/.test(document.querySelector('[data-testid="verdict"]').textContent));
  await visit.context.close();
});

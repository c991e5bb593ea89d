// The top bar: one row at a laptop's width and at a phone's, sections grouped into menus that open with the
// keyboard, close on Escape, a click elsewhere and navigation, and the current section marked.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, launch, signInContext, waitHydrated } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function signedInPage(width, height) {
  const context = await browser.newContext({ viewport: { width, height } });
  context.setDefaultTimeout(15_000);
  await signInContext(context);
  const page = await context.newPage();
  page.errors = [];
  page.on('console', (msg) => { if (msg.type() === 'error') page.errors.push(msg.text()); });
  page.on('pageerror', (err) => page.errors.push(String(err)));
  await page.goto(`${BASE_URL}/experiments`);
  await waitHydrated(page);
  return page;
}

// How the shown elements `selector` matches are laid out: their vertical centres' spread (a second row adds a
// line's height), and how much wider than the window the page is.
async function layout(page, selector) {
  return page.evaluate((selector) => {
    const shown = [...document.querySelectorAll(selector)].filter((e) => e.offsetParent !== null);
    const centres = shown.map((e) => { const r = e.getBoundingClientRect(); return (r.top + r.bottom) / 2; });
    return {
      items: shown.length,
      rows: Math.max(...centres) - Math.min(...centres) < 8 ? 1 : 2,
      overflow: document.documentElement.scrollWidth - window.innerWidth,
      headerHeight: document.querySelector('header.topbar').getBoundingClientRect().height,
    };
  }, selector);
}

test('at 1280 px the navigation is one row of sections and menus the keyboard can use', async () => {
  const page = await signedInPage(1280, 800);
  const row = await layout(page, 'header.topbar .brand, .nav > a, .nav > details > summary, .user-menu');
  assert.deepEqual({ rows: row.rows, overflow: row.overflow }, { rows: 1, overflow: 0 }, JSON.stringify(row));
  assert.ok(row.headerHeight < 70, `header is ${row.headerHeight}px high`);
  assert.equal(await page.locator('.nav > a[aria-current="page"]').textContent(), 'Experiments');

  // Keyboard: focus the Analyse menu, open it with Enter, Tab into it, Escape closes it and returns focus.
  const analyse = page.locator('details.nav-group', { has: page.locator('summary', { hasText: 'Analyse' }) });
  await analyse.locator('summary').focus();
  await page.keyboard.press('Enter');
  await analyse.locator('a', { hasText: 'Calculator' }).waitFor({ state: 'visible' });
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Metrics');
  await page.keyboard.press('Escape');
  await analyse.locator('.nav-menu').waitFor({ state: 'hidden' });
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Analyse');

  // A click elsewhere closes an open menu.
  await analyse.locator('summary').click();
  await analyse.locator('.nav-menu').waitFor({ state: 'visible' });
  await page.click('footer');
  await analyse.locator('.nav-menu').waitFor({ state: 'hidden' });

  // Choosing a page navigates, closes the menu and marks its group as the current section.
  await analyse.locator('summary').click();
  await analyse.locator('a', { hasText: 'Calculator' }).click();
  await page.waitForURL(/\/calculator$/);
  await analyse.locator('.nav-menu').waitFor({ state: 'hidden' });
  assert.equal(await page.locator('.nav-group:has(a[aria-current="page"]) > summary').textContent(), 'Analyse');
  assert.equal(await page.locator('.nav > a[aria-current="page"]').count(), 0);

  // Admin: Settings is current only on its own page, not on Users below it.
  const admin = page.locator('details.nav-group', { has: page.locator('summary', { hasText: 'Admin' }) });
  await admin.locator('summary').click();
  await admin.locator('a', { hasText: 'Users' }).click();
  await page.waitForURL(/\/settings\/users$/);
  assert.deepEqual(await admin.locator('a[aria-current="page"]').allTextContents(), ['Users']);

  assert.deepEqual(page.errors, []);
});

test('at 390 px the navigation folds behind one Menu button and nothing overflows', async () => {
  const page = await signedInPage(390, 844);
  const bar = await layout(page, 'header.topbar .brand, header.topbar .menu-button');
  assert.deepEqual({ items: bar.items, rows: bar.rows, overflow: bar.overflow }, { items: 2, rows: 1, overflow: 0 }, JSON.stringify(bar));
  assert.ok(bar.headerHeight < 70, `header is ${bar.headerHeight}px high`);
  assert.equal(await page.locator('.nav').isVisible(), false);

  const menu = page.locator('.menu-button');
  await menu.click();
  assert.equal(await menu.getAttribute('aria-expanded'), 'true');
  await page.locator('.nav >> text=Playbook').waitFor({ state: 'visible' });
  const open = await layout(page, '.nav > a, .nav > details > summary');
  assert.equal(open.overflow, 0, JSON.stringify(open));

  await page.locator('summary', { hasText: 'Analyse' }).click();
  await page.locator('.nav-menu >> text=Calculator').click();
  await page.waitForURL(/\/calculator$/);
  await page.locator('.nav').waitFor({ state: 'hidden' });
  assert.equal(await menu.getAttribute('aria-expanded'), 'false');
  assert.equal((await layout(page, 'main *')).overflow, 0);

  assert.deepEqual(page.errors, []);
});

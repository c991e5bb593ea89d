// Shared set-up for the end-to-end tests: where the server is, who the admin is, and a Chromium that works on a
// machine without internet (the system browser from Debian's `chromium` package, no background networking).
import { chromium } from 'playwright-core';

export const BASE_URL = process.env.BASE_URL ?? 'http://127.0.0.1:3000';
export const ADMIN_EMAIL = process.env.E2E_ADMIN_EMAIL ?? 'e2e-admin@example.com';
export const ADMIN_PASSWORD = process.env.E2E_ADMIN_PASSWORD ?? 'e2e-admin-password-1';

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
    ],
  });
}

// A fresh browser context (no cookies) and page; console errors and uncaught exceptions are collected in
// `page.errors` so a test can assert the page ran cleanly.
export async function newPage(browser) {
  const context = await browser.newContext();
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  page.errors = [];
  page.on('console', (msg) => { if (msg.type() === 'error') page.errors.push(msg.text()); });
  page.on('pageerror', (err) => page.errors.push(String(err)));
  return page;
}

// The app marks <body data-hydrated="true"> once the WebAssembly bundle has taken over the server-rendered page.
export async function waitHydrated(page) {
  await page.waitForFunction(() => document.body?.dataset.hydrated === 'true', null, { timeout: 30_000 });
}

// Signs the e2e admin in through the login form and waits for the signed-in layout.
export async function signIn(page) {
  await page.goto(`${BASE_URL}/login`);
  await waitHydrated(page);
  await page.fill('input[name="email"]', ADMIN_EMAIL);
  await page.fill('input[name="password"]', ADMIN_PASSWORD);
  await page.click('button[type="submit"]');
  await page.waitForSelector('header.topbar .user-email');
}

// A new API key with `scopes`, created through the API by the signed-in admin; returns its secret.
export async function createApiKey(page, scopes) {
  const response = await page.request.post(`${BASE_URL}/api/v1/api-keys`, { data: { name: `e2e-${scopes.join('-')}-${Date.now()}`, scopes } });
  if (response.status() !== 201) throw new Error(`creating an API key answered ${response.status()}`);
  return (await response.json()).secret;
}

// Signs the e2e admin in through the API, within `context` (its cookie then serves every page of the context).
export async function signInContext(context) {
  const response = await context.request.post(`${BASE_URL}/api/v1/auth/login`, { data: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } });
  if (response.status() !== 200) throw new Error(`signing in answered ${response.status()}`);
}

// Follows the navigation link `label`, opening the menu that holds it first when it sits in one.
export async function navigate(page, label) {
  const link = page.locator('nav.nav a', { hasText: label }).first();
  const group = page.locator('nav.nav details.nav-group', { has: page.locator('a', { hasText: label }) });
  if (await group.count() > 0 && !(await group.evaluate((g) => g.open))) await group.locator('summary').click();
  await link.click();
}

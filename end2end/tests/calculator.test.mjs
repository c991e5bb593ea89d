// The Calculator in the browser: answers are rendered on the server and follow the inputs once hydrated.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, launch, newPage, signIn, waitHydrated, navigate } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('the calculator compares variations, plans a test and corrects p-values as you type', async () => {
  const page = await newPage(browser);
  await signIn(page);
  await navigate(page, 'Calculator');
  await page.waitForURL(/\/calculator$/);
  await waitHydrated(page);

  // 500 of 10 000 against 580 of 10 000: +16 %, significant at 5 %.
  const verdict = page.locator('[data-testid="verdict"]');
  assert.match(await page.locator('[data-testid="relative-lift"]').textContent(), /\+16\.00%/);
  assert.match(await verdict.textContent(), /raised the metric by 16\.0%/);

  // Fewer conversions in treatment: the verdict must stop claiming an effect.
  await page.fill('[data-testid="treatment-conversions"]', '520');
  await page.waitForFunction(() => /No significant difference/.test(document.querySelector('[data-testid="verdict"]').textContent));

  // Bayesian reading of the same numbers.
  await page.selectOption('[data-testid="compare-method"]', 'bayesian');
  await page.waitForFunction(() => /chance/.test(document.querySelector('[data-testid="verdict"]').textContent));

  // Impossible input gets a readable message, not a crash.
  await page.fill('[data-testid="treatment-conversions"]', '20000');
  await page.waitForFunction(() => /between 0 and n/.test(document.querySelector('[data-testid="compare-error"]')?.textContent ?? ''));

  // Planning: a smaller effect needs more days.
  const plan = page.locator('[data-testid="plan-result"]');
  const days = async () => Number((await plan.textContent()).match(/about (\d+) days/)[1]);
  const before10 = await days();
  await page.fill('[data-testid="plan-effect"]', '5');
  await page.waitForFunction((d) => Number(document.querySelector('[data-testid="plan-result"]').textContent.match(/about (\d+) days/)[1]) > d, before10);

  // Holm on 0.01, 0.04, 0.03, 0.005 → 0.03, 0.06, 0.06, 0.02.
  const adjusted = await page.locator('[data-testid="adjust-result"] tbody tr td:nth-child(2)').allTextContents();
  assert.deepEqual(adjusted, ['0.0300', '0.0600', '0.0600', '0.0200']);

  assert.deepEqual(page.errors, []);
});

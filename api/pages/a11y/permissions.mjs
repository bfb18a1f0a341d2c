// permissions.mjs walks the screens of issue 14 in headless Chromium as an
// admin: the audit log (filtered, a bad date next to its field), a
// member's list roles, a campaign waiting for approval, and the two-factor
// enrolment. Every page is checked with axe-core (WCAG 2.1 A/AA and best
// practice) in light and dark under the pages' own CSP. Prints one JSON
// object on stdout for TestPermissionsInChromium.
//
// Environment: BASE_URL, CHROMIUM, SCREENSHOTS (optional directory),
// MEMBER_ID, CAMPAIGN_ID.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const base = process.env.BASE_URL;
const shots = process.env.SCREENSHOTS || '';
if (!base) {
  console.error('BASE_URL must be set');
  process.exit(2);
}
const password = 'ett långt lösenord';
const out = { pages: [], violations: [], csp: [], steps: [], errors: [] };
const step = (s) => out.steps.push(s);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'sv-SE' });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) out.csp.push(`${page.url()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => out.errors.push(`${page.url()}: ${e}`));

  async function check(name) {
    const lang = await page.getAttribute('html', 'lang');
    for (const scheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme: scheme });
      const has = await page.evaluate(() => typeof window.axe !== 'undefined');
      if (!has) await page.evaluate(axeSource);
      const r = await page.evaluate(() => window.axe.run(document, {
        runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
      }));
      out.pages.push({ name, scheme, lang, url: page.url().replace(base, ''), passes: r.passes.length, violations: r.violations.length });
      for (const v of r.violations) {
        out.violations.push({ page: name, scheme, id: v.id, impact: v.impact, help: v.help,
          nodes: v.nodes.map((n) => n.target.join(' ') + ': ' + n.failureSummary) });
      }
    }
    await page.emulateMedia({ colorScheme: 'light' });
  }
  async function shot(file, scheme = 'light') {
    if (!shots) return;
    await page.emulateMedia({ colorScheme: scheme });
    await page.screenshot({ path: path.join(shots, file), fullPage: true });
    await page.emulateMedia({ colorScheme: 'light' });
  }

  await page.goto(`${base}/admin/signin`);
  await page.fill('#email', 'chef@example.se');
  await page.fill('#password', password);
  await Promise.all([page.waitForNavigation(), page.press('#password', 'Enter')]);

  await page.goto(`${base}/admin/settings`);
  await Promise.all([page.waitForNavigation(), page.click('a[href="/admin/audit"]')]);
  step('audit rows: ' + (await page.locator('[data-audit-id]').count()));
  await check('audit');
  await shot('audit.png');

  await page.fill('#audit-action', 'auth.');
  await page.fill('#audit-since', '2001-02-03');
  await Promise.all([page.waitForNavigation(), page.click('main form button[type=submit]')]);
  step('audit filtered: ' + (await page.locator('[data-audit-id]').count()));
  await check('audit-filtered');
  await page.goto(`${base}/admin/audit?since=igar`);
  out.auditErrorShown = await page.locator('#since-error').count() === 1;
  await check('audit-errors');

  await page.goto(`${base}/admin/settings/users/${process.env.MEMBER_ID}/grants`);
  await check('grants');
  await shot('grants.png');

  await page.goto(`${base}/admin/campaigns/${process.env.CAMPAIGN_ID}`);
  out.approvalButtons = await page.locator('form[action$="/approve"] button').count();
  await check('campaign-approval');
  await shot('campaign-approval.png');

  await page.goto(`${base}/admin/account/twofactor`);
  out.qrLoaded = await page.evaluate(() => {
    const i = document.querySelector('img[data-qr]');
    return !!i && i.complete && i.naturalWidth > 0;
  });
  await check('twofactor');
  await shot('twofactor.png');
} catch (e) {
  out.errors.push(String(e && e.stack || e));
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));

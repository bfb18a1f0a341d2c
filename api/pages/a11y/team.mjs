// team.mjs walks, in headless Chromium, what the last part of issue 14
// added: the approval box of a waiting campaign (two forms, the comment
// box full width, the time asked for), an admin requiring two-factor
// sign-in on Settings, being held at the enrolment page until a code
// from the app is confirmed (the code is computed here, RFC 6238), and
// the account page with two-factor on. Every page is checked with
// axe-core in light and dark under the pages' own CSP. Prints one JSON
// object on stdout for TestTeamInChromium.
//
// Environment: BASE_URL, CHROMIUM, SCREENSHOTS (optional directory),
// CAMPAIGN_ID.
import { chromium } from 'playwright-core';
import crypto from 'node:crypto';
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

// totp is the 6-digit code of a base32 secret now (SHA-1, 30 s).
function totp(secret) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secret.replace(/=+$/, '')) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30)));
  const h = crypto.createHmac('sha1', key).update(msg).digest();
  const o = h[h.length - 1] & 0xf;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1000000).padStart(6, '0');
}

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

  // The approval box: the comment box as wide as its form.
  await page.goto(`${base}/admin/campaigns/${process.env.CAMPAIGN_ID}`);
  out.sendAtText = (await page.textContent('[data-field="send-at"]')).trim();
  out.commentWidthRatio = await page.evaluate(() => {
    const t = document.querySelector('#reject-comment');
    const f = t && t.closest('form');
    return t && f ? t.getBoundingClientRect().width / (f.clientWidth - 32) : 0;
  });
  await check('campaign-approval-box');
  await shot('campaign-approval-box.png');
  await shot('campaign-approval-box-dark.png', 'dark');

  // Settings: require two-factor sign-in.
  await page.goto(`${base}/admin/settings`);
  await check('settings-security');
  await page.check('#require_two_factor');
  await Promise.all([page.waitForNavigation(), page.click('form[action="/admin/settings/security"] button[type=submit]')]);
  step('saved: ' + page.url().replace(base, ''));

  // The admin has no second factor: every page leads to enrolment.
  await page.goto(`${base}/admin/lists`);
  out.heldAt = page.url().replace(base, '');
  out.requiredShown = await page.locator('[data-field="twofactor-required"]').count() === 1;
  await check('twofactor-required');
  await shot('twofactor-required.png');
  const secret = (await page.textContent('code[data-secret]')).trim();
  await page.fill('#code', totp(secret));
  await Promise.all([page.waitForNavigation(), page.click('main form button[type=submit]')]);
  out.recoveryCodes = await page.locator('[data-recovery-code]').count();
  await page.goto(`${base}/admin/lists`);
  out.freeAt = page.url().replace(base, '');

  await page.goto(`${base}/admin/account`);
  await check('account-twofactor-on');
  await shot('account-twofactor.png');
} catch (e) {
  out.errors.push(String(e && e.stack || e));
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));

// workspace.mjs drives the staff workspace in headless Chromium as a new
// admin would: open the first-run link, create the account, sign in, look
// at the overview, the account page and Settings → Users, invite a
// colleague, sign out, and try a wrong password. Scripts and styles run
// under the pages' own Content-Security-Policy (no bypass): a violation is
// reported. Every page is checked with axe-core (WCAG 2.1 A/AA) in light
// and dark. Prints one JSON object on stdout for TestWorkspaceInChromium.
//
// Environment: BASE_URL, SETUP_LINK (the first-run link), CHROMIUM,
// SCREENSHOTS (optional directory for the documentation's screenshots).
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const base = process.env.BASE_URL;
const setupLink = process.env.SETUP_LINK;
const shots = process.env.SCREENSHOTS || '';
if (!base || !setupLink) {
  console.error('BASE_URL and SETUP_LINK must be set');
  process.exit(2);
}

const out = { pages: [], violations: [], csp: [], steps: [], errors: [], focus: {} };
const step = (s) => out.steps.push(s);
const email = 'chef@example.se';
const password = 'ett långt lösenord';

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

  // axe is evaluated through the debugging protocol, which the page's CSP
  // does not govern, so the pages keep their real policy.
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
  async function submit(formSelector) {
    await Promise.all([page.waitForNavigation(), page.click(`${formSelector} button[type=submit]`)]);
  }

  // 1. The first-run link: create the first admin.
  await page.goto(setupLink);
  await check('setup');
  await page.fill('#email', email);
  await page.fill('#name', 'Karin Chef');
  await page.fill('#password', 'kort');
  await page.fill('#confirm', 'kort');
  await submit('form.card');
  out.setupErrorTied = await page.evaluate(() => {
    const e = document.getElementById('password');
    return e.getAttribute('aria-invalid') === 'true' && e.getAttribute('aria-describedby').split(' ').includes('password-error');
  });
  await check('setup-errors');
  await page.fill('#password', password);
  await page.fill('#confirm', password);
  await submit('form.card');
  step('account created: ' + (await page.textContent('.flash')));

  // 2. Sign in, by keyboard: the first Tab reaches the skip link.
  await check('signin');
  await shot('workspace-signin.png');
  await page.keyboard.press('Tab');
  out.focus = await page.evaluate(() => {
    const el = document.activeElement;
    const cs = getComputedStyle(el);
    return { cls: el.className, outline: cs.outlineStyle, width: cs.outlineWidth, top: el.getBoundingClientRect().top };
  });
  await page.fill('#password', password);
  await Promise.all([page.waitForNavigation(), page.press('#password', 'Enter')]);
  step('signed in: ' + (await page.textContent('h1')));

  // 3. The overview, the account page, settings.
  await check('overview');
  await shot('workspace-overview.png');
  await shot('workspace-overview-dark.png', 'dark');
  await page.click('header .me a');
  await page.waitForSelector('#h-sessions');
  await check('account');
  await page.click('nav a[href="/admin/settings"]');
  await check('settings');
  await page.click('a[href="/admin/settings/users"]');
  await check('users');

  // 4. Invite a colleague as a member (their lists are given on the grants page).
  await page.fill('#email', 'ny.kollega@example.se');
  await page.fill('#name', 'Ny Kollega');
  await page.check('#invite-role-member');
  await submit('section[aria-labelledby="h-invite"] form');
  step('invited: ' + (await page.textContent('.flash')));
  await check('users-invited');
  await shot('workspace-users.png');
  await page.click('nav a[href="/admin/lists"]');
  await check('lists');

  // 5. Deactivation asks first, on a page that names the person (no
  // script needed); cancelling changes nothing.
  await page.goto(`${base}/admin/settings/users`);
  await page.click('a[href$="/deactivate"]');
  await page.waitForSelector('#h-confirm');
  out.confirmText = await page.textContent('section[aria-labelledby="h-confirm"] p');
  await Promise.all([page.waitForNavigation(), page.click('section[aria-labelledby="h-confirm"] .actions a')]);
  out.afterDismiss = page.url().replace(base, '');

  // 6. Sign out; the old session is gone.
  await submit('header form');
  step('signed out: ' + (await page.textContent('.flash')));
  await check('signed-out');
  await page.goto(`${base}/admin/account`);
  out.afterSignOut = page.url().replace(base, '');

  // 7. Forgot password, with a mistake first; a wrong password.
  await page.goto(`${base}/admin/forgot`);
  await check('forgot');
  await page.fill('#email', 'inte-en-adress');
  await submit('form.card');
  await check('forgot-errors');
  await page.fill('#email', email);
  await submit('form.card');
  await check('forgot-sent');
  await page.goto(`${base}/admin/signin?lang=en`);
  await page.fill('#email', email);
  await page.fill('#password', 'fel lösenord');
  await submit('form.card');
  await check('signin-wrong-en');
} catch (e) {
  out.errors.push(String(e && e.stack || e));
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out) + '\n');

// flow.mjs drives utskick's public pages in headless Chromium the way a
// person would (keyboard and mouse, no shortcuts through the API):
// subscribe with a mistake, subscribe, confirm from the link in the real
// opt-in mail, change preferences, unsubscribe from everything, undo.
// Every page it reaches is checked with axe-core for WCAG 2.1 A/AA in both
// light and dark colour schemes. It prints one JSON object on stdout; the
// Go test TestPagesInChromium starts the server and judges the result.
//
// Environment: BASE_URL (the running server), CHROMIUM (default
// /usr/bin/chromium), SCREENSHOTS (optional directory for PNGs).
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const base = process.env.BASE_URL;
const shots = process.env.SCREENSHOTS || '';
if (!base) {
  console.error('BASE_URL is not set');
  process.exit(2);
}

const out = { pages: [], violations: [], steps: [], errors: [] };
const step = (s) => out.steps.push(s);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  // The pages keep their real Content-Security-Policy: axe is evaluated
  // through the debugging protocol, which the policy does not govern, and
  // anything the policy refuses (an inline style, say) is reported.
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  out.csp = [];
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) out.csp.push(`${page.url()}: ${m.text()}`);
  });

  async function check(name) {
    const lang = await page.getAttribute('html', 'lang');
    for (const scheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme: scheme });
      if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) await page.evaluate(axeSource);
      const r = await page.evaluate(() => window.axe.run(document, {
        runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
      }));
      out.pages.push({ name, scheme, lang, url: page.url().replace(base, ''), passes: r.passes.length,
        violations: r.violations.length, incomplete: r.incomplete.length });
      for (const v of r.violations) {
        out.violations.push({ page: name, scheme, id: v.id, impact: v.impact, help: v.help,
          nodes: v.nodes.map((n) => n.target.join(' ') + ': ' + n.failureSummary) });
      }
      if (shots) {
        await page.screenshot({ path: path.join(shots, `${name}-${scheme}.png`), fullPage: true });
      }
    }
    await page.emulateMedia({ colorScheme: 'light' });
  }

  const email = 'testa.person@example.se';

  // 1. The form for several lists, reached by keyboard.
  await page.goto(`${base}/subscribe?lists=bus,senaste-nytt`);
  await check('subscribe');
  await page.keyboard.press('Tab');
  const focus = await page.evaluate(() => {
    const el = document.activeElement;
    const cs = getComputedStyle(el);
    return { id: el.id, outline: cs.outlineStyle, width: cs.outlineWidth };
  });
  out.focus = focus;
  step(`first Tab focuses #${focus.id} with outline ${focus.outline} ${focus.width}`);

  // 2. Sending it without an address and with a control character in the
  // name (pasted from somewhere): errors tied to their fields.
  await page.fill('#name', 'Testa\u0007');
  await page.click('button[type=submit]');
  await page.waitForSelector('#email-error');
  out.errorsTied = await page.evaluate(() => {
    const e = document.getElementById('email');
    const n = document.getElementById('name');
    return e.getAttribute('aria-invalid') === 'true' &&
      e.getAttribute('aria-describedby').split(' ').includes('email-error') &&
      n.getAttribute('aria-invalid') === 'true' && n.getAttribute('aria-describedby') === 'name-error' &&
      !!document.getElementById('name-error') &&
      !!document.querySelector('fieldset[aria-describedby="lists-error"] #lists-error');
  });
  await check('subscribe-errors');

  // 3. Filled in properly.
  await page.fill('#email', email);
  await page.fill('#name', 'Testa');
  await page.check('#list-bus');
  await page.check('#list-senaste-nytt');
  await page.click('button[type=submit]');
  await page.waitForSelector('h1');
  step('subscribed: ' + (await page.textContent('h1')));
  await check('check-inbox');

  // 4. The confirmation link from the mail the worker sent.
  const res = await fetch(`${base}/__test/links?email=${encodeURIComponent(email)}`);
  if (!res.ok) throw new Error(`links: ${res.status} ${await res.text()}`);
  const links = await res.json();
  await page.goto(links.confirm);
  await check('confirm');
  await page.click('button[type=submit]');
  await page.waitForSelector('h1');
  step('confirmed: ' + (await page.textContent('h1')));
  await check('confirmed');

  // 5. Preferences: leave BUS, give a full name, switch to English.
  await page.goto(links.preferences);
  await check('preferences');
  await page.uncheck(`#list-${links.bus_id}`);
  await page.fill('#name', 'Testa Person');
  await page.selectOption('#language', 'en');
  await page.click('form:has(input[value="save"]) button[type=submit]');
  await page.waitForSelector('.notice');
  step('preferences saved');
  await check('preferences-saved');

  // 6. Unsubscribe from everything, then undo.
  await page.goto(links.unsubscribe);
  await check('unsubscribe');
  await page.click('form:has(input[value="unsubscribe_all"]) button');
  await page.waitForSelector('form:has(input[value="undo"])');
  step('unsubscribed from all: ' + (await page.textContent('h1')));
  await check('unsubscribed-all');
  await page.click('form:has(input[value="undo"]) button');
  await page.waitForSelector('h1');
  step('undone: ' + (await page.textContent('h1')));
  await check('undone');

  // 7. English, and a broken link.
  await page.goto(`${base}/subscribe/bus?lang=en`);
  await check('subscribe-en');
  await page.goto(`${base}/confirm/aaaaaaaaaaaaaaaaaaaaaaaaaaaa`);
  await check('invalid-link');
} catch (e) {
  out.errors.push(String(e && e.stack || e));
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out) + '\n');

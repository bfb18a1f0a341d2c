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
import { base, need, output, openPage, checker, run } from './harness.mjs';

need();
const out = output();
const step = (s) => out.steps.push(s);

await run(out, async (browser) => {
  // Playwright's default window and no locale: the pages choose Swedish
  // themselves, as for a subscriber whose browser asks for nothing.
  const { page } = await openPage(browser, out, { viewport: { width: 1280, height: 720 }, locale: undefined });
  const check = checker(page, out, { everyShot: true });

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
});

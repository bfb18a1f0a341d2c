// settings.mjs walks Settings in headless Chromium as an admin would:
// the sender identity (a mistake first, then saved), the sending domain,
// API tokens (created, its secret shown once, revoked through the
// confirm dialog), webhooks (a loopback address refused next to the
// field, then a real one added, its deliveries), the confirmation before
// deactivating a colleague, and a form error for an English-speaking
// admin. Scripts and styles run under the pages' own CSP (a violation is
// reported); every page is checked with axe-core (WCAG 2.1 A/AA) in light
// and dark. Prints one JSON object on stdout for TestSettingsInChromium.
//
// Environment: BASE_URL, CHROMIUM, SCREENSHOTS (optional directory).
import { base, need, output, openPage, checker, shooter, submitForm, signIn as signInAs, run } from './harness.mjs';

need();
const out = output();
const step = (s) => out.steps.push(s);

await run(out, async (browser) => {
  const { page } = await openPage(browser, out);
  const check = checker(page, out);
  const shot = shooter(page);
  const submit = (formSelector) => submitForm(page, formSelector);
  const signIn = (email) => signInAs(page, email);
  // tied: the field is marked invalid and described by its error message.
  const tied = (id) => page.evaluate((id) => {
    const e = document.getElementById(id);
    return e.getAttribute('aria-invalid') === 'true' &&
      (e.getAttribute('aria-describedby') || '').split(' ').includes(id + '-error') &&
      !!document.getElementById(id + '-error');
  }, id);

  await signIn('chef@example.se');
  await page.click('nav a[href="/admin/settings"]');
  await check('settings');
  await shot('settings.png');

  // 1. The sender identity: a wrong address first, then saved.
  await page.click('a[href="/admin/settings/sender"]');
  await check('sender');
  await page.focus('#postal_address');
  out.postalFocus = await page.evaluate(() => {
    const cs = getComputedStyle(document.activeElement);
    return { outline: cs.outlineStyle, width: cs.outlineWidth };
  });
  await page.fill('#from_name', 'Storsthlm nyhetsbrev');
  await page.fill('#from_address', 'nyheter@');
  await page.fill('#postal_address', 'Storsthlm, Box 38145, 100 64 Stockholm');
  await page.fill('#contact', 'Frågor? Ring 08-615 94 00 eller skriv till info@example.se');
  await submit('main form');
  out.senderErrorTied = await tied('from_address');
  await check('sender-errors');
  await shot('settings-sender-errors.png');
  await page.fill('#from_address', 'nyheter@example.se');
  await page.fill('#reply_to', 'Redaktionen <redaktionen@example.se>');
  await submit('main form');
  step('sender: ' + (await page.textContent('.flash')));
  await check('sender-saved');
  await shot('settings-sender.png');
  await shot('settings-sender-dark.png', 'dark');

  // 2. The sending domain: the DKIM record to publish, SPF and DMARC.
  await page.goto(`${base}/admin/settings/domain`);
  await check('domain');
  await shot('settings-domain.png');
  step('domain: ' + (await page.$$eval('[class^="check-"]', (ps) => ps.map((p) => p.className).join(' '))));

  // 3. API tokens: a mistake, a token made (its secret shown once), revoked.
  await page.goto(`${base}/admin/settings/tokens`);
  await check('tokens');
  await submit('section[aria-labelledby="h-new-token"] form');
  await check('tokens-errors');
  await page.fill('#name', 'CRM-synk');
  await page.check('#token-role-viewer');
  await submit('section[aria-labelledby="h-new-token"] form');
  out.tokenSecret = await page.inputValue('#secret');
  await check('tokens-created');
  await shot('settings-tokens.png');
  page.once('dialog', (d) => d.accept());
  await Promise.all([page.waitForNavigation(), page.click('tr:has-text("CRM-synk") button[data-confirm]')]);
  step('tokens: ' + (await page.textContent('.flash')));
  await check('tokens-revoked');

  // 4. Webhooks: a loopback address is refused next to the field.
  await page.goto(`${base}/admin/settings/webhooks`);
  await check('webhooks');
  await page.fill('#url', 'http://127.0.0.1:9000/hook');
  await page.check('#event-\\*');
  await submit('section[aria-labelledby="h-new-hook"] form');
  out.webhookErrorTied = await tied('url');
  await check('webhooks-errors');
  await page.fill('#url', 'https://crm.example.se/utskick');
  await page.uncheck('#event-\\*');
  await page.check('#event-subscriber\\.subscribed');
  await page.check('#event-subscriber\\.unsubscribed');
  await page.fill('#description', 'Medlemsregistret');
  await submit('section[aria-labelledby="h-new-hook"] form');
  step('webhooks: ' + (await page.textContent('.flash')));
  await check('webhooks-created');
  await shot('settings-webhooks.png');
  await page.click('a[href^="/admin/settings/webhooks/"]');
  await check('webhook-deliveries');

  // 5. Deactivating a colleague asks first, naming her.
  await page.goto(`${base}/admin/settings/users`);
  await page.click('tr:has-text("Anna Andersson") a[href$="/deactivate"]');
  await page.waitForSelector('#h-confirm');
  await check('user-deactivate');
  await shot('settings-user-deactivate.png');
  step('deactivate asks: ' + (await page.textContent('h1')));

  // 6. An English-speaking admin gets the errors in English.
  await submit('header form');
  await signIn('boss@example.se');
  await page.goto(`${base}/admin/settings/sender`);
  await page.fill('#from_address', 'not an address');
  await submit('main form');
  out.englishError = await page.textContent('#from_address-error');
  await check('sender-errors-en');
});

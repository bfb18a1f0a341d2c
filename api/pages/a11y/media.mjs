// media.mjs walks the media library in headless Chromium as an editor
// would: an upload (kept in the S3 bucket the Go test runs on loopback),
// the image's page (a rename with a mistake first, then saved with an alt
// text), the delete confirmation that names the draft using an image,
// the delete itself, and the refusal for an image a scheduled campaign
// uses. Every page is checked with axe-core (WCAG 2.1 A/AA) in light and
// dark under its real CSP. Prints one JSON object on stdout for
// TestMediaLibraryInChromium.
//
// Environment: BASE_URL, CHROMIUM, SCREENSHOTS (optional directory),
// IMAGE (a PNG file to upload), DRAFT_IMAGE and SENT_IMAGE (ids of
// images used by a draft and by a scheduled campaign).
import { base, need, output, openPage, checker, shooter, submitForm, clickAndWait, signIn, run } from './harness.mjs';

need('IMAGE', 'DRAFT_IMAGE', 'SENT_IMAGE');
const out = output({ uploadedURL: '', servedStatus: 0, titleErrorTied: false, renamedURL: '', draftNamed: false,
  deleteFlash: '', refusedStatus: 0, refusedNames: false, refusedHasButton: true });
const step = (s) => out.steps.push(s);

await run(out, async (browser) => {
  const { page } = await openPage(browser, out);
  const check = checker(page, out);
  const shot = shooter(page);

  await signIn(page, 'redaktor@example.se');
  await page.goto(`${base}/admin/media`);
  await check('media');

  // 1. An upload, which lands in the bucket and is served by the app.
  await page.setInputFiles('#file', process.env.IMAGE);
  await submitForm(page, 'section[aria-labelledby="h-upload"] form');
  step('upload: ' + (await page.textContent('.flash')));
  const first = page.locator('.media-grid li').first();
  out.uploadedURL = await first.locator('input').inputValue();
  const served = await page.request.get(out.uploadedURL);
  out.servedStatus = served.status();
  step(`served ${out.servedStatus} ${served.headers()['content-type']} ${served.headers()['cache-control']}`);
  await check('media-uploaded');

  // 2. The image's page: an empty name refused by the field, then a
  // rename with an alt text; the address stays.
  await clickAndWait(page, '.media-grid li:first-child a.name');
  await check('media-one');
  await page.fill('#title', '');
  await submitForm(page, 'main form[action^="/admin/media/"]');
  out.titleErrorTied = await page.evaluate(() => {
    const e = document.getElementById('title');
    return e.getAttribute('aria-invalid') === 'true' && (e.getAttribute('aria-describedby') || '').includes('title-error');
  });
  await check('media-one-errors');
  await page.fill('#title', 'Utsikt från Söder');
  await page.fill('#alt', 'Stockholm i kvällsljus sett från Södermalm');
  await submitForm(page, 'main form[action^="/admin/media/"]');
  step('rename: ' + (await page.textContent('.flash')));
  out.renamedURL = await page.inputValue('#url');
  await check('media-one-saved');
  await shot('media-image.png');
  await shot('media-image-dark.png', 'dark');

  // 3. Deleting an image a draft uses: the confirmation names the draft.
  await page.goto(`${base}/admin/media/${process.env.DRAFT_IMAGE}`);
  await clickAndWait(page, 'a[href$="/delete"]');
  out.draftNamed = (await page.textContent('main')).includes('Majutkast');
  await check('media-delete');
  await shot('media-delete.png');
  await submitForm(page, 'main form');
  out.deleteFlash = await page.textContent('.flash');
  step('delete: ' + out.deleteFlash);

  // 4. An image a scheduled campaign uses: why it stays, no button.
  const res = await page.goto(`${base}/admin/media/${process.env.SENT_IMAGE}/delete`);
  out.refusedStatus = res.status();
  out.refusedNames = (await page.textContent('main')).includes('Aprilnumret');
  out.refusedHasButton = (await page.locator('main button.danger').count()) > 0;
  await check('media-delete-refused');
  await shot('media-delete-refused.png');
});

/**
 * The viewer page in real headless Chromium: every camera shows a live picture, and a hidden
 * or closed page releases its streams.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { fetchMetrics, metricValue } from '@camrelay/clients';
import { spawnGateway } from '@camrelay/stack';
import type { Service } from '@camrelay/stack';
import { changedPixels, launchChromium, setVisibility, waitForPicture } from './harness/browser.js';
import { eventually } from './harness/eventually.js';
import { writeStillVideo } from './harness/still-video.js';

/** Page script that makes the document report a visibility state, as a tab switch would. */
/** What the browser refused under the page's Content-Security-Policy, as it reports it. */
function policyViolations(page: Page): string[] {
  const refused: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) refused.push(message.text());
  });
  return refused;
}

describe('viewer page in Chromium', () => {
  let gateway: Service;
  let browser: Browser;

  before(async () => {
    gateway = await spawnGateway({
      REDIS_URL: '',
      CAMERAS: 'left=pattern:320x240@15;right=pattern:320x240@15',
      FRAME_ANCESTORS: 'https://dash.example.com',
    });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await gateway?.stop();
  });

  const openStreams = async () => metricValue(await fetchMetrics(gateway.baseUrl), 'camrelay_open_streams');

  it('shows every camera live, and releases the streams when hidden or closed', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const blocked = policyViolations(page);
    const response = await page.goto(gateway.baseUrl);
    const headers = response?.headers() ?? {};
    assert.match(headers['content-security-policy'] ?? '', /default-src 'none'; script-src 'sha256-[^']+'; style-src 'sha256-[^']+'/);
    assert.match(headers['content-security-policy'] ?? '', /frame-ancestors https:\/\/dash\.example\.com$/, 'FRAME_ANCESTORS');
    assert.equal(headers['x-content-type-options'], 'nosniff');
    assert.equal(headers['referrer-policy'], 'no-referrer');
    for (const id of ['left', 'right']) {
      await waitForPicture(page, id, 320);
    }
    await eventually(async () => assert.equal(await openStreams(), 2));

    // The picture moves: two captures a second apart differ.
    const tile = page.locator('figure[data-id="left"] img');
    const first = await tile.screenshot();
    await sleep(1000); // the interval being compared, not a wait for an event
    const changed = await changedPixels(first, await tile.screenshot());
    assert.ok(changed > 200, `only ${changed} pixels changed in one second`);

    await setVisibility(page, 'hidden');
    await eventually(async () => assert.equal(await openStreams(), 0, 'a hidden page holds no stream'));

    await setVisibility(page, 'visible');
    await eventually(async () => assert.equal(await openStreams(), 2, 'a visible page streams again'));

    assert.deepEqual(blocked, [], 'the page does nothing its policy forbids');
    await page.close();
    await eventually(async () => assert.equal(await openStreams(), 0, 'a closed page holds no stream'));
  });
});

describe('viewer page on a browser slower than the stream, in Chromium', () => {
  let gateway: Service;
  let browser: Browser;

  before(async () => {
    gateway = await spawnGateway({ REDIS_URL: '', CAMERAS: 'fast=pattern:640x480@30', JPEG_QUALITY: '95' });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await gateway?.stop();
  });

  it('keeps the picture moving when parts come faster than the browser loads them: the ones between are dropped', async (t) => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(gateway.baseUrl);
    await waitForPicture(page, 'fast', 640);
    // A phone or a busy machine: the page's thread runs at a tenth of its speed.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: 10 });
    // Pictures the tile finished loading (shown), in 5 s. Each new src aborts a load under way:
    // with one per part, none would finish.
    const shown = await page.locator('figure[data-id="fast"] img').evaluate(
      (img) =>
        new Promise<number>((resolve) => {
          let loads = 0;
          (img as unknown as EventTarget).addEventListener('load', () => loads++);
          setTimeout(() => resolve(loads), 5000);
        }),
    );
    t.diagnostic(`${shown} pictures shown in 5 s`);
    assert.ok(shown >= 2, `the picture moves: ${shown} pictures shown in 5 s`);
    await page.close();
  });
});

describe('viewer page on a still camera, in Chromium', () => {
  let video: string;
  let gateway: Service;
  let browser: Browser;

  before(async () => {
    video = await writeStillVideo(320, 240, 15);
    gateway = await spawnGateway({ REDIS_URL: '', CAMERAS: `still=file:${video}` });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await gateway?.stop();
    if (video) rmSync(dirname(video), { recursive: true, force: true });
  });

  it('keeps one stream open on a picture that does not change: it watches parts arrive, not pixels', async () => {
    const page = await browser.newPage();
    await page.goto(gateway.baseUrl);
    await waitForPicture(page, 'still', 320);
    const opened = async () => metricValue(await fetchMetrics(gateway.baseUrl), 'camrelay_streams_opened_total');
    const before = await opened();
    // Three times the page's stall timeout (2.5 s): a page that took stillness for a stall reopens twice or more.
    await sleep(7500);
    assert.equal(await opened(), before, 'no stream reopened');
    assert.equal(metricValue(await fetchMetrics(gateway.baseUrl), 'camrelay_open_streams'), 1);
    await page.close();
  });
});

describe('viewer page with access control, in Chromium', () => {
  // "+" and "/": tokens made with `openssl rand -base64 24` hold them.
  const TOKEN = 'left+only/token+0123456789';
  let gateway: Service;
  let browser: Browser;

  before(async () => {
    gateway = await spawnGateway({
      REDIS_URL: '',
      AUTH: 'on',
      API_TOKENS: `${TOKEN}=left`,
      // The shortest lifetime: URLs expire while the page streams them.
      SIGNED_URL_TTL: '10',
      CAMERAS: 'left=pattern:320x240@15;right=pattern:320x240@15',
    });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await gateway?.stop();
  });

  it('takes the token from the link, streams the cameras it allows through signed URLs, and forgets the fragment', async () => {
    const page = await browser.newPage();
    const blocked = policyViolations(page);
    await page.goto(`${gateway.baseUrl}/#token=${TOKEN}`);
    await waitForPicture(page, 'left', 320);
    assert.equal(new URL(page.url()).hash, '', 'the token leaves the address bar');
    assert.equal(await page.locator('figure[data-id="right"]').count(), 0, 'a camera the token does not allow is not shown');
    assert.match(
      String(await page.locator('figure[data-id="left"]').getAttribute('data-stream')),
      /\/cameras\/left\/stream\.mjpg\?exp=\d+&sig=/,
    );
    assert.deepEqual(blocked, [], 'the page does nothing its policy forbids');
    await page.close();
  });

  it('keeps the picture moving across its URLs expiring: a fresh URL before the old one ends', async () => {
    const page = await browser.newPage();
    await page.goto(`${gateway.baseUrl}/#token=${TOKEN}`);
    await waitForPicture(page, 'left', 320);
    const tile = page.locator('figure[data-id="left"] img');
    const sources = new Set<string>();
    let previous = await tile.screenshot();
    let unchanged = 0;
    let longestUnchanged = 0;
    // 22 s: two expiries of 10 s URLs, sampled four times a second (the pattern moves at 15 fps).
    for (let i = 0; i < 88; i++) {
      await sleep(250); // the sampling interval, not a wait for an event
      const shot = await tile.screenshot();
      unchanged = (await changedPixels(previous, shot)) > 50 ? 0 : unchanged + 1;
      longestUnchanged = Math.max(longestUnchanged, unchanged);
      previous = shot;
      sources.add(String(await page.locator('figure[data-id="left"]').getAttribute('data-stream')));
    }
    assert.ok(sources.size >= 3, `the page swapped its stream URL ${sources.size - 1} times`);
    assert.ok(longestUnchanged <= 3, `the picture stood still for ${longestUnchanged} samples of 250 ms`);
    await page.close();
  });

  it('asks for a token when it has none, and shows the cameras once it is given', async () => {
    const page = await browser.newPage();
    await page.goto(gateway.baseUrl);
    await page.locator('#login input').waitFor({ state: 'visible' });
    await page.locator('#login input').fill(TOKEN);
    await page.locator('#login button').click();
    await waitForPicture(page, 'left', 320);
    await page.close();
  });
});

describe('viewer page as a wall of nine cameras, in Chromium', () => {
  const ids = Array.from({ length: 9 }, (_, i) => `wall${i + 1}`);
  let gateway: Service;
  let browser: Browser;

  before(async () => {
    gateway = await spawnGateway({ REDIS_URL: '', CAMERAS: ids.map((id) => `${id}=pattern:640x480@10`).join(';') });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await gateway?.stop();
  });

  const streamedUrls = (page: Page) =>
    page.$$eval('figure[data-stream]', (figures) =>
      figures.map((figure) => (figure as unknown as { dataset: { stream: string } }).dataset.stream),
    );

  it('moves every tile, each at the size its tile needs, and shows one camera at its own size in full screen', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(gateway.baseUrl);
    // Tiles of ~240 px: 320x240 fills them (the cameras' half size), 640x480 would be wasted.
    for (const id of ids) await waitForPicture(page, id, 320);
    const streamed = await streamedUrls(page);
    assert.equal(streamed.length, 4, 'four tiles stream (browsers open six connections per host)');
    for (const url of streamed) assert.match(url, /[?&]size=320x240(&|$)/);

    // Every tile moves: the five that do not stream refresh their snapshot, at their size, each second.
    const tile = (id: string) => page.locator(`figure[data-id="${id}"] img`);
    const first = await Promise.all(ids.map((id) => tile(id).screenshot()));
    await eventually(
      async () => {
        const changed = await Promise.all(ids.map(async (id, i) => changedPixels(first[i]!, await tile(id).screenshot())));
        assert.ok(
          changed.every((pixels) => pixels > 100),
          `pixels changed per tile: ${changed.join(', ')}`,
        );
      },
      10_000,
      250,
    );

    // Full screen on one tile: it alone streams, at the camera's own size; back to its tile size after.
    await page.locator('figure[data-id="wall5"]').dblclick();
    await waitForPicture(page, 'wall5', 640);
    await eventually(async () =>
      assert.deepEqual(
        (await streamedUrls(page)).map((url) => /size=/.test(url)),
        [false],
      ),
    );
    await page.evaluate(() => (globalThis as unknown as { document: { exitFullscreen(): Promise<void> } }).document.exitFullscreen());
    await waitForPicture(page, 'wall5', 320);
    await eventually(async () => assert.equal((await streamedUrls(page)).length, 4));
    await page.close();
  });
});

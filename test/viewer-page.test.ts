/**
 * The viewer page in real headless Chromium: every camera shows a live picture, and a hidden
 * or closed page releases its streams.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { fetchMetrics, metricValue } from '@camrelay/clients';
import { spawnGateway } from '@camrelay/stack';
import type { Service } from '@camrelay/stack';
import { changedPixels, launchChromium } from './harness/browser.js';
import { eventually } from './harness/eventually.js';

/** Page script that makes the document report a visibility state, as a tab switch would. */
function setVisibility(state: 'hidden' | 'visible'): string {
  return `Object.defineProperty(document, 'visibilityState', { value: '${state}', configurable: true });
    document.dispatchEvent(new Event('visibilitychange'));`;
}

describe('viewer page in Chromium', () => {
  let gateway: Service;
  let browser: Browser;

  before(async () => {
    gateway = await spawnGateway({ REDIS_URL: '', CAMERAS: 'left=pattern:320x240@15;right=pattern:320x240@15' });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await gateway?.stop();
  });

  const openStreams = async () => metricValue(await fetchMetrics(gateway.baseUrl), 'camrelay_open_streams');

  it('shows every camera live, and releases the streams when hidden or closed', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(gateway.baseUrl);
    for (const id of ['left', 'right']) {
      await page.waitForFunction(`document.querySelector('figure[data-id="${id}"] img')?.naturalWidth === 320`);
    }
    await eventually(async () => assert.equal(await openStreams(), 2));

    // The picture moves: two captures a second apart differ.
    const tile = page.locator('figure[data-id="left"] img');
    const first = await tile.screenshot();
    await sleep(1000); // the interval being compared, not a wait for an event
    const changed = await changedPixels(first, await tile.screenshot());
    assert.ok(changed > 200, `only ${changed} pixels changed in one second`);

    await page.evaluate(setVisibility('hidden'));
    await eventually(async () => assert.equal(await openStreams(), 0, 'a hidden page holds no stream'));

    await page.evaluate(setVisibility('visible'));
    await eventually(async () => assert.equal(await openStreams(), 2, 'a visible page streams again'));

    await page.close();
    await eventually(async () => assert.equal(await openStreams(), 0, 'a closed page holds no stream'));
  });
});

describe('viewer page with access control, in Chromium', () => {
  const TOKEN = 'left-only-token-0123456789';
  let gateway: Service;
  let browser: Browser;

  before(async () => {
    gateway = await spawnGateway({
      REDIS_URL: '',
      AUTH: 'on',
      API_TOKENS: `${TOKEN}=left`,
      CAMERAS: 'left=pattern:320x240@15;right=pattern:320x240@15',
    });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await gateway?.stop();
  });

  const liveTile = (id: string) => `document.querySelector('figure[data-id="${id}"] img')?.naturalWidth === 320`;

  it('takes the token from the link, streams the cameras it allows through signed URLs, and forgets the fragment', async () => {
    const page = await browser.newPage();
    await page.goto(`${gateway.baseUrl}/#token=${TOKEN}`);
    await page.waitForFunction(liveTile('left'));
    assert.equal(new URL(page.url()).hash, '', 'the token leaves the address bar');
    assert.equal(await page.locator('figure[data-id="right"]').count(), 0, 'a camera the token does not allow is not shown');
    assert.match(
      String(await page.locator('figure[data-id="left"] img').getAttribute('src')),
      /\/cameras\/left\/stream\.mjpg\?exp=\d+&sig=/,
    );
    await page.close();
  });

  it('asks for a token when it has none, and shows the cameras once it is given', async () => {
    const page = await browser.newPage();
    await page.goto(gateway.baseUrl);
    await page.locator('#login input').waitFor({ state: 'visible' });
    await page.locator('#login input').fill(TOKEN);
    await page.locator('#login button').click();
    await page.waitForFunction(liveTile('left'));
    await page.close();
  });
});

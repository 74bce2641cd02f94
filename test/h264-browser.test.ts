/**
 * The H.264 tier in Chromium (Debian's, which plays H.264 in MP4): the viewer page's H.264
 * button turns a tile into a <video> that plays, kept near the newest frame, through the load
 * balancer (HAProxy) and straight from a gateway, both on Redis; and a plain <video src> of
 * stream.mp4 plays too, as in a page of a user's own. "Plays" is read from the element:
 * its currentTime advances and getVideoPlaybackQuality() counts frames decoded.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OPEN_GATEWAY, startStack } from '@camrelay/clients';
import type { RunningStack } from '@camrelay/clients';
import { freePort } from '@camrelay/stack';
import type { Browser, Locator, Page } from 'playwright-core';
import { launchChromium } from './harness/browser.js';
import { eventually } from './harness/eventually.js';

interface Playback {
  /** Playing, not merely moved along: the page seeks ahead when playback falls behind, and a seek decodes frames too. */
  readonly paused: boolean;
  readonly currentTime: number;
  readonly frames: number;
  readonly behind: number;
}

/** What a <video> has played so far. Asked with a function: the page's policy forbids string evaluation. */
function playbackOf(video: Locator): Promise<Playback> {
  return video.evaluate((element) => {
    const v = element as unknown as {
      paused: boolean;
      currentTime: number;
      buffered: { length: number; end(i: number): number };
      getVideoPlaybackQuality(): { totalVideoFrames: number };
    };
    const end = v.buffered.length > 0 ? v.buffered.end(v.buffered.length - 1) : v.currentTime;
    return {
      paused: v.paused,
      currentTime: v.currentTime,
      frames: v.getVideoPlaybackQuality().totalVideoFrames,
      behind: end - v.currentTime,
    };
  });
}

/** Waits until the <video> has played `seconds` more and decoded frames meanwhile. */
async function playsOn(video: Locator, what: string, seconds = 2): Promise<Playback> {
  const start = await eventually(async () => {
    const now = await playbackOf(video);
    assert.ok(now.frames > 0, `${what}: a frame decoded`);
    return now;
  }, 30_000);
  return eventually(async () => {
    const now = await playbackOf(video);
    assert.ok(now.currentTime >= start.currentTime + seconds, `${what}: currentTime ${now.currentTime} went on from ${start.currentTime}`);
    assert.ok(now.frames > start.frames + 10, `${what}: ${now.frames - start.frames} more frames decoded`);
    assert.equal(now.paused, false, `${what}: playing`);
    return now;
  }, 30_000);
}

describe('the H.264 tier in Chromium', () => {
  let stack: RunningStack;
  let browser: Browser;

  before(async () => {
    stack = await startStack(1, {
      PORT: String(await freePort()),
      CAMERAS: 'lab=pattern:640x480@15;yard=pattern:320x240@15',
      ...OPEN_GATEWAY,
    });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  const openPage = async (origin: string): Promise<Page> => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(origin);
    return page;
  };

  for (const [where, origin] of [
    ['through HAProxy', () => stack.url],
    ['from a gateway', () => stack.gateways[0]!.baseUrl],
  ] as const) {
    it(`plays a tile in H.264 when its button is pressed, ${where}, and in motion JPEG again after`, async () => {
      const page = await openPage(origin());
      try {
        const tile = page.locator('figure[data-id="lab"]');
        const button = tile.locator('button.tier');
        await button.waitFor();
        assert.equal(await button.textContent(), 'MJPEG', 'a tile starts in motion JPEG on a fast connection');
        await button.click();
        assert.equal(await tile.getAttribute('data-tier'), 'h264');
        const played = await playsOn(tile.locator('video'), `the lab tile ${where}`);
        assert.ok(played.behind < 2, `playback ${played.behind.toFixed(2)} s behind the newest frame buffered`);
        assert.match((await tile.getAttribute('data-stream')) ?? '', /stream\.mp4/);
        assert.ok(await tile.locator('video').isVisible(), 'the video shows');
        assert.ok(!(await tile.locator('img').isVisible()), 'the picture is hidden');
        // The other camera's tile is untouched.
        assert.match((await page.locator('figure[data-id="yard"]').getAttribute('data-stream')) ?? '', /stream\.mjpg/);
        await button.click();
        await eventually(async () => assert.match((await tile.getAttribute('data-stream')) ?? '', /stream\.mjpg/), 10_000);
        assert.ok(await tile.locator('img').isVisible(), 'back in motion JPEG, the picture shows');
      } finally {
        await page.close();
      }
    });
  }

  it('starts tiles in H.264 where the browser reports a slow connection', async () => {
    const slow = await launchChromium({ connection: '3G' });
    try {
      const page = await slow.newPage({ viewport: { width: 1280, height: 900 } });
      await page.goto(stack.url);
      const reported = await page.evaluate(
        () => (globalThis as unknown as { navigator: { connection: { effectiveType: string } } }).navigator.connection.effectiveType,
      );
      assert.equal(reported, '3g');
      const tile = page.locator('figure[data-id="yard"]');
      assert.equal(await tile.locator('button.tier').textContent(), 'H.264');
      await playsOn(tile.locator('video'), 'the yard tile on a 3G link');
    } finally {
      await slow.close();
    }
  });

  it('keeps the choice per camera, and plays a plain <video src> of stream.mp4 (a page of your own)', async () => {
    const page = await openPage(stack.url);
    try {
      // Chosen in the test before, by the same browser (localStorage): motion JPEG again.
      assert.equal(await page.locator('figure[data-id="lab"] button.tier').textContent(), 'MJPEG');
      // Another document of the same origin, without the viewer page's policy (which allows blob: media only).
      await page.goto(`${stack.url}/api/cameras`);
      await page.locator('body').evaluate((body, src) => {
        const video = (
          body as unknown as { ownerDocument: { createElement(tag: string): Record<string, unknown> } }
        ).ownerDocument.createElement('video');
        Object.assign(video, { id: 'plain', muted: true, autoplay: true, src });
        (body as unknown as { append(node: unknown): void }).append(video);
      }, '/cameras/yard/stream.mp4');
      await playsOn(page.locator('#plain'), 'a plain <video src>');
    } finally {
      await page.close();
    }
  });
});

describe('the H.264 tier in Chromium, where a camera has none', () => {
  let stack: RunningStack;
  let bin: string;

  before(async () => {
    // The stack's own programs, and no ffmpeg: its capture lists its camera without the tier.
    bin = mkdtempSync(join(tmpdir(), 'camrelay-no-ffmpeg-'));
    for (const program of ['haproxy', 'redis-server', 'sh'])
      symlinkSync(execFileSync('which', [program], { encoding: 'utf8' }).trim(), join(bin, program));
    stack = await startStack(1, { PORT: String(await freePort()), CAMERAS: 'yard=pattern:320x240@15', PATH: bin, ...OPEN_GATEWAY });
  });

  after(async () => {
    await stack?.stop();
    if (bin) rmSync(bin, { recursive: true, force: true });
  });

  it('streams the camera in motion JPEG, without the H.264 button, even on a slow connection', async () => {
    const slow = await launchChromium({ connection: '3G' });
    try {
      const page = await slow.newPage({ viewport: { width: 1280, height: 900 } });
      await page.goto(stack.url);
      const tile = page.locator('figure[data-id="yard"]');
      await eventually(async () => assert.match((await tile.getAttribute('data-stream')) ?? '', /stream\.mjpg/), 30_000);
      assert.ok(!(await tile.locator('button.tier').isVisible()), 'no H.264 button');
      assert.ok(await tile.locator('img').isVisible(), 'the picture shows');
    } finally {
      await slow.close();
    }
  });
});

/** Debian's Chromium driven by playwright-core: no browser download, no calls home. */
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import type { Browser, Locator, Page } from 'playwright-core';
import { eventually } from './eventually.js';
import { spkiHash } from './https.js';
import { loadOpenCV } from '@camrelay/capture';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * `trust`: a certificate (PEM) Chromium accepts for HTTPS, as if a user had trusted it, and no
 * other; `http1`: without HTTP/2, as a browser or proxy that lacks it; `connection`: the
 * effective connection type it reports to pages (Network Information), e.g. '3G'.
 */
export function launchChromium({
  trust,
  http1 = false,
  connection,
}: { trust?: string; http1?: boolean; connection?: string } = {}): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--no-sandbox', // tests run as root in CI
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      ...(trust ? [`--ignore-certificate-errors-spki-list=${spkiHash(trust)}`] : []),
      ...(http1 ? ['--disable-http2'] : []),
      ...(connection ? [`--force-effective-connection-type=${connection}`] : []),
    ],
  });
}

/**
 * How many pixels differ clearly between two screenshots (PNG or JPEG bytes). Two shots of one
 * element can differ by a pixel in size (its box on a fractional position, after the layout
 * moved): they are compared on the area both cover, never scaled (a scaled picture would differ
 * everywhere, frozen or not), and never as they are, since OpenCV's absdiff of two sizes ends
 * the process (the binding lets its C++ exception through).
 */
export async function changedPixels(before: Buffer, after: Buffer): Promise<number> {
  const cv = await loadOpenCV(process.env);
  const [first, second] = [cv.imdecode(before), cv.imdecode(after)];
  const common = new cv.Rect(0, 0, Math.min(first.cols, second.cols), Math.min(first.rows, second.rows));
  const [a, b] = [first.getRegion(common), second.getRegion(common)];
  return a.absdiff(b).cvtColor(cv.COLOR_BGR2GRAY).threshold(16, 255, cv.THRESH_BINARY).countNonZero();
}

/**
 * Waits until a camera's tile shows a picture `width` pixels wide. Asked with a function, not
 * a string: the page's Content-Security-Policy forbids the eval that string predicates need.
 */
export async function waitForPicture(page: Page, cameraId: string, width: number, timeoutMs = 30_000): Promise<void> {
  const image = page.locator(`figure[data-id="${cameraId}"] img`);
  const shown = () => image.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth, undefined, { timeout: timeoutMs });
  await eventually(async () => assert.equal(await shown(), width, `the ${cameraId} tile shows a ${width} px picture`), timeoutMs, 100);
}

/**
 * Waits until an <img> has loaded another picture. On a busy machine Chromium paints and
 * answers late (seconds, under load): a test that compares pictures awaits this event rather
 * than a fixed time. Fails after timeoutMs: a picture that never changes.
 */
export async function nextPictureLoaded(image: Locator, timeoutMs = 30_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const loaded = image.evaluate(
    (img) => new Promise<void>((resolve) => (img as unknown as EventTarget).addEventListener('load', () => resolve(), { once: true })),
  );
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no new picture loaded within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([loaded, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Makes the page believe it was hidden or shown again (what a switched tab or a locked phone does). */
export async function setVisibility(page: Page, state: 'hidden' | 'visible'): Promise<void> {
  await page.evaluate((value) => {
    const doc = (globalThis as unknown as { document: EventTarget }).document;
    Object.defineProperty(doc, 'visibilityState', { value, configurable: true });
    doc.dispatchEvent(new Event('visibilitychange'));
  }, state);
}

/** Debian's Chromium driven by playwright-core: no browser download, no calls home. */
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { loadOpenCV } from '@camrelay/capture';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--no-sandbox', // tests run as root in CI
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** How many pixels differ clearly between two screenshots (PNG or JPEG bytes). */
export async function changedPixels(before: Buffer, after: Buffer): Promise<number> {
  const cv = await loadOpenCV();
  const a = cv.imdecode(before);
  const b = cv.imdecode(after);
  return a.absdiff(b).cvtColor(cv.COLOR_BGR2GRAY).threshold(16, 255, cv.THRESH_BINARY).countNonZero();
}

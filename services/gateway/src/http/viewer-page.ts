/**
 * The viewer page, served as one document. Its script, style and markup live in the page
 * project (services/gateway/page, built by `tsc -b` as a reference of the gateway); the
 * script's long comment says how the page behaves.
 *
 * The markup links its style and script as if they were files; here both are inlined in their
 * place, so a browser gets the page in one response and asks for nothing more. tsc copies no
 * HTML or CSS, so those are read from the page's sources, and the script from its output: both
 * are under services/, which the gateway image copies whole.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface ViewerPageParts {
  readonly html: string;
  readonly css: string;
  readonly script: string;
}

const STYLE_LINK = '<link rel="stylesheet" href="viewer.css" />';
const SCRIPT_TAG = '<script type="module" src="viewer.js"></script>';

/** The page's document with its style and script inlined; throws if the parts do not fit. */
export function assembleViewerPage({ html, css, script }: ViewerPageParts): string {
  // Inlined text ends its element at the first closing tag of that element, wherever it is; in
  // a script, "<!--" can also change where the parser thinks it ends.
  if (/<\/style/i.test(css)) throw new Error('viewer.css holds "</style", which would end the inlined style early');
  if (/<\/script|<!--/i.test(script)) throw new Error('viewer.js holds "</script" or "<!--", which would break the inlined script');
  return inlineOnce(
    inlineOnce(html, STYLE_LINK, `<style>${inlinedStyle(css)}</style>`),
    SCRIPT_TAG,
    `<script type="module">${inlinedScript(script)}</script>`,
  );
}

function inlineOnce(html: string, tag: string, replacement: string): string {
  const parts = html.split(tag);
  if (parts.length !== 2) throw new Error(`viewer.html must hold ${tag} exactly once, not ${parts.length - 1} times`);
  // Joined rather than String.replace, which would read "$&" and the like in the script as patterns.
  return parts.join(replacement);
}

export interface ViewerPage {
  readonly html: string;
  /** The headers `/` answers with: a Content-Security-Policy that allows exactly the inlined style and script. */
  readonly headers: Readonly<Record<string, string>>;
}

let cached: { html: string; style: string; script: string } | undefined;

/**
 * The page, read from disk once per process (at the first gateway's start, never per request),
 * with its headers. `frameAncestors` are the origins that may show the page in a frame
 * (FRAME_ANCESTORS); none by default.
 */
export function loadViewerPage(frameAncestors: readonly string[] = []): ViewerPage {
  cached ??= (() => {
    const css = readFileSync(new URL('../../page/src/viewer.css', import.meta.url), 'utf8');
    const script = readFileSync(new URL('../../page/dist/viewer.js', import.meta.url), 'utf8');
    const html = assembleViewerPage({ html: readFileSync(new URL('../../page/src/viewer.html', import.meta.url), 'utf8'), css, script });
    return { html, style: inlinedStyle(css), script: inlinedScript(script) };
  })();
  return { html: cached.html, headers: viewerPageHeaders(cached.style, cached.script, frameAncestors) };
}

/**
 * Nothing but the page's own inlined style and script runs; images (streams, snapshots) and
 * fetches go to this origin only; no plugin, base or form target; framing only by the
 * configured origins. The hashes cover the exact text between the tags.
 */
export function viewerPageHeaders(style: string, script: string, frameAncestors: readonly string[]): Record<string, string> {
  const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
  const ancestors = frameAncestors.length > 0 ? frameAncestors.join(' ') : "'none'";
  return {
    'Content-Security-Policy': [
      "default-src 'none'",
      `script-src ${hash(script)}`,
      `style-src ${hash(style)}`,
      // Snapshots from the gateway; live pictures are the stream's parts, shown as blob: URLs.
      "img-src 'self' blob:",
      // The H.264 tier plays through Media Source Extensions: the <video> shows a blob: URL.
      'media-src blob:',
      "connect-src 'self'",
      "base-uri 'none'",
      "form-action 'none'",
      `frame-ancestors ${ancestors}`,
    ].join('; '),
    'X-Content-Type-Options': 'nosniff',
    // Signed URLs are in the page's requests and <img> sources: no Referer carries them elsewhere.
    'Referrer-Policy': 'no-referrer',
    // For browsers without frame-ancestors; it has no way to name origins, so only with none.
    ...(frameAncestors.length === 0 ? { 'X-Frame-Options': 'DENY' } : {}),
  };
}

const inlinedStyle = (css: string) => `\n${css}`;
const inlinedScript = (script: string) => `\n${script}`;

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
  return inlineOnce(inlineOnce(html, STYLE_LINK, `<style>\n${css}</style>`), SCRIPT_TAG, `<script type="module">\n${script}</script>`);
}

function inlineOnce(html: string, tag: string, replacement: string): string {
  const parts = html.split(tag);
  if (parts.length !== 2) throw new Error(`viewer.html must hold ${tag} exactly once, not ${parts.length - 1} times`);
  // Joined rather than String.replace, which would read "$&" and the like in the script as patterns.
  return parts.join(replacement);
}

let cached: string | undefined;

/** Read from disk once per process, at the first gateway's start, never per request. */
export function loadViewerPage(): string {
  cached ??= assembleViewerPage({
    html: readFileSync(new URL('../page/src/viewer.html', import.meta.url), 'utf8'),
    css: readFileSync(new URL('../page/src/viewer.css', import.meta.url), 'utf8'),
    script: readFileSync(new URL('../page/dist/viewer.js', import.meta.url), 'utf8'),
  });
  return cached;
}

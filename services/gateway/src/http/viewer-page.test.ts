/**
 * The viewer page as the gateway serves it: one document with the page project's style and
 * compiled script inlined, nothing left for the browser to fetch. The page's behaviour in a
 * browser is test/viewer-page.test.ts's.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { assembleViewerPage, loadViewerPage } from './viewer-page.js';

const read = (path: string) => readFileSync(new URL(path, import.meta.url), 'utf8');

describe('viewer page', () => {
  const page = loadViewerPage().html;

  it('inlines the style and the compiled script, and leaves no placeholder', () => {
    const css = read('../../page/src/viewer.css');
    const script = read('../../page/dist/viewer.js');
    assert.ok(page.startsWith('<!doctype html>'));
    assert.ok(page.includes(`<style>\n${css}</style>`), 'the style is inlined');
    assert.ok(page.includes(`<script type="module">\n${script}</script>`), 'the compiled script is inlined');
    assert.match(script, /const MAX_LIVE = MULTIPLEXED \? 90 : 4;/, 'the script is the compiled viewer');
    assert.doesNotMatch(page, /href="viewer\.css"|src="viewer\.js"/, 'a placeholder is left');
    assert.equal(page.match(/<style\b/g)?.length, 1);
    assert.equal(page.match(/<script\b/g)?.length, 1);
    assert.doesNotMatch(page, /sourceMappingURL/, 'a source map would be fetched from a URL the gateway does not serve');
    for (const id of ['status', 'login', 'token', 'cameras']) assert.ok(page.includes(`id="${id}"`), `#${id} is in the page`);
  });

  it('is read once', () => {
    assert.equal(loadViewerPage().html, page);
  });

  it('allows exactly its own inlined style and script, and framing only by the configured origins', () => {
    const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
    const inlined = (tag: string) => new RegExp(`<${tag}[^>]*>([\\s\\S]*?)</${tag}>`).exec(page)?.[1] ?? '';
    const { headers } = loadViewerPage();
    const policy = headers['Content-Security-Policy'] ?? '';
    assert.ok(policy.includes(`script-src ${sha256(inlined('script'))};`), policy);
    assert.ok(policy.includes(`style-src ${sha256(inlined('style'))};`), policy);
    assert.match(policy, /default-src 'none'/);
    assert.match(policy, /frame-ancestors 'none'/);
    assert.equal(headers['X-Frame-Options'], 'DENY');
    assert.equal(headers['X-Content-Type-Options'], 'nosniff');
    assert.equal(headers['Referrer-Policy'], 'no-referrer');

    const framed = loadViewerPage(['https://dash.example.com', "'self'"]).headers;
    assert.match(framed['Content-Security-Policy'] ?? '', /frame-ancestors https:\/\/dash\.example\.com 'self'/);
    assert.equal(framed['X-Frame-Options'], undefined, 'X-Frame-Options cannot name origins');
  });

  it('refuses parts that do not fit', () => {
    const html = read('../../page/src/viewer.html');
    const parts = { html, css: 'body {}', script: 'void 0;' };
    assert.doesNotThrow(() => assembleViewerPage(parts));
    assert.throws(
      () => assembleViewerPage({ ...parts, html: html.replace('<script type="module" src="viewer.js"></script>', '') }),
      /exactly once/,
    );
    assert.throws(() => assembleViewerPage({ ...parts, script: 'const s = "</script>";' }), /<\/script/);
    assert.throws(() => assembleViewerPage({ ...parts, css: 'a::after { content: "</style>"; }' }), /<\/style/);
  });

  it('inlines a script with replacement patterns as it is', () => {
    const script = "const s = '$& $1 $$';\n";
    const html = read('../../page/src/viewer.html');
    assert.ok(assembleViewerPage({ html, css: '', script }).includes(script));
  });
});

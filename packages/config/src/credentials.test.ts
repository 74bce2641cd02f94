import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { hideCredentials } from './credentials.js';

describe('hideCredentials', () => {
  it('hides user info and credential query values, and keeps the rest', () => {
    const cases: Array<[string, string]> = [
      ['rtsp://admin:tiny-secret@127.0.0.1:9/x', 'rtsp://***@127.0.0.1:9/x'],
      ['redis://:pw@redis:6379/0', 'redis://***@redis:6379/0'],
      ['rediss://default:p@ss word@host:6380', 'rediss://***@host:6380'],
      ['http://cam/video.cgi?user=admin&pwd=s3cret&resolution=640x480', 'http://cam/video.cgi?user=admin&pwd=***&resolution=640x480'],
      ['http://cam/snap?Token=abc&KEY=def#frag', 'http://cam/snap?Token=***&KEY=***#frag'],
      [
        'a=pattern;b=rtsp://u:p1@cam1/s?channel=1;c=http://cam2/v?password=p2',
        'a=pattern;b=rtsp://***@cam1/s?channel=1;c=http://cam2/v?password=***',
      ],
      [
        'entry 2 ("a=rtsp://admin:tiny-secret@127.0.0.1:9/x"): camera id "a" appears twice',
        'entry 2 ("a=rtsp://***@127.0.0.1:9/x"): camera id "a" appears twice',
      ],
      ['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379'],
      ['file:/videos/a.mp4', 'file:/videos/a.mp4'],
    ];
    for (const [text, expected] of cases) assert.equal(hideCredentials(text), expected, text);
  });

  const secret = fc.stringMatching(/^[A-Za-z0-9._~!$()*+,=%:-]{6,20}$/).map((value) => `S3cr${value}`);
  const safe = fc.stringMatching(/^[a-z0-9]{1,10}$/);
  const credentialName = fc.constantFrom(
    'pwd',
    'pass',
    'passwd',
    'password',
    'token',
    'access_token',
    'auth',
    'key',
    'apikey',
    'api_key',
    'sig',
    'signature',
    'secret',
    'credentials',
  );
  const otherName = fc.constantFrom('user', 'channel', 'subtype', 'resolution', 'fps', 'camera');
  const casing = (name: string) => fc.constantFrom(name, name.toUpperCase(), name[0]!.toUpperCase() + name.slice(1));

  /** A camera or Redis URL with its secrets, and the parts that must stay readable. */
  const cameraUrl = fc
    .record({
      scheme: fc.constantFrom('rtsp', 'rtsps', 'http', 'https', 'redis', 'rediss'),
      user: fc.option(safe, { nil: undefined }),
      password: fc.option(secret, { nil: undefined }),
      host: fc.oneof(fc.ipV4(), fc.domain()),
      port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
      path: fc.array(safe, { maxLength: 3 }),
      query: fc.array(
        fc.oneof(
          fc.record({ name: credentialName.chain(casing), value: secret, isSecret: fc.constant(true) }),
          fc.record({ name: otherName, value: safe, isSecret: fc.constant(false) }),
        ),
        { maxLength: 4 },
      ),
    })
    .map(({ scheme, user, password, host, port, path, query }) => {
      const userInfo = user === undefined && password === undefined ? '' : `${user ?? ''}${password === undefined ? '' : `:${password}`}@`;
      const search = query.length === 0 ? '' : `?${query.map(({ name, value }) => `${name}=${value}`).join('&')}`;
      const url = `${scheme}://${userInfo}${host}${port === undefined ? '' : `:${port}`}/${path.join('/')}${search}`;
      const secrets = [...(password === undefined ? [] : [password]), ...query.filter((q) => q.isSecret).map((q) => q.value)];
      const kept = [host, ...path, ...query.filter((q) => !q.isSecret).map((q) => `${q.name}=${q.value}`)];
      return { url, secrets, kept };
    });

  it('leaves no secret of a generated URL, alone or in a CAMERAS list, and keeps its host, path and other parameters', () => {
    fc.assert(
      fc.property(fc.array(cameraUrl, { minLength: 1, maxLength: 4 }), (urls) => {
        const alone = urls.map(({ url }) => hideCredentials(url));
        const list = hideCredentials(urls.map(({ url }, index) => `cam${index}=${url}`).join(';'));
        for (const shown of [...alone, list]) {
          for (const { secrets } of urls) for (const value of secrets) assert.ok(!shown.includes(value), `${value} in ${shown}`);
        }
        urls.forEach(({ kept }, index) => {
          for (const part of kept) assert.ok(alone[index]!.includes(part), `${part} missing from ${alone[index]}`);
          assert.ok(list.includes(`cam${index}=`), `cam${index} missing from ${list}`);
        });
      }),
      { numRuns: 500 },
    );
  });

  it('is idempotent', () => {
    fc.assert(
      fc.property(cameraUrl, ({ url }) => {
        const once = hideCredentials(url);
        assert.equal(hideCredentials(once), once);
      }),
    );
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCameras } from './cameras.js';

describe('CAMERAS', () => {
  it('reads every source form', () => {
    assert.deepEqual(
      parseCameras(
        'a=device:0; b=file:/videos/shop floor.mp4;c=rtsp://user:pw@10.0.0.5/stream;d=http://cam.local/video;e=pattern:1280x720@25;f=auto;g=pattern',
      ),
      [
        { id: 'a', source: { kind: 'device', index: 0 } },
        { id: 'b', source: { kind: 'file', path: '/videos/shop floor.mp4' } },
        { id: 'c', source: { kind: 'url', url: 'rtsp://user:pw@10.0.0.5/stream' } },
        { id: 'd', source: { kind: 'url', url: 'http://cam.local/video' } },
        { id: 'e', source: { kind: 'pattern', width: 1280, height: 720, fps: 25 } },
        { id: 'f', source: { kind: 'auto' } },
        { id: 'g', source: { kind: 'pattern', width: 640, height: 480, fps: 30 } },
      ].map((camera) => ({ ...camera, publishUnchanged: false, alwaysOn: false, sizes: null })),
    );
  });

  it('takes options after the source, and only known ones off the end of a URL', () => {
    assert.deepEqual(
      parseCameras(
        'a=device:0,every-frame;b=http://cam.local/video?res=1,2;c=http://cam.local/v?x=1,every-frame;d=device:1,always,every-frame;e=pattern,always',
      ),
      [
        { id: 'a', source: { kind: 'device', index: 0 }, publishUnchanged: true, alwaysOn: false, sizes: null },
        { id: 'b', source: { kind: 'url', url: 'http://cam.local/video?res=1,2' }, publishUnchanged: false, alwaysOn: false, sizes: null },
        { id: 'c', source: { kind: 'url', url: 'http://cam.local/v?x=1' }, publishUnchanged: true, alwaysOn: false, sizes: null },
        { id: 'd', source: { kind: 'device', index: 1 }, publishUnchanged: true, alwaysOn: true, sizes: null },
        { id: 'e', source: { kind: 'pattern', width: 640, height: 480, fps: 30 }, publishUnchanged: false, alwaysOn: true, sizes: null },
      ],
    );
    assert.throws(
      () => parseCameras('a=pattern,sometimes'),
      /entry 1 .*unknown source.*options ,every-frame ,always ,sizes=WxH\+WxH\|none/,
    );
    assert.deepEqual(
      parseCameras('a=device:0,sizes=320x240+160x120,always;b=pattern,sizes=none').map(({ id, sizes, alwaysOn }) => ({
        id,
        sizes,
        alwaysOn,
      })),
      [
        {
          id: 'a',
          sizes: [
            { width: 320, height: 240 },
            { width: 160, height: 120 },
          ],
          alwaysOn: true,
        },
        { id: 'b', sizes: [], alwaysOn: false },
      ],
    );
    assert.throws(() => parseCameras('a=pattern,sizes=8x8'), /entry 1 .*size 8x8 is too small/);
    assert.throws(() => parseCameras('a=pattern,sizes=half'), /entry 1 .*unknown source/);
  });

  it('says which entry is wrong and why', () => {
    const cases: Array<[string, RegExp]> = [
      ['', /no cameras/],
      ['cam', /entry 1 \("cam"\) is not ID=SOURCE/],
      ['a=auto;b=webcam', /entry 2 \("b=webcam"\): unknown source; expected device:N/],
      ['a b=auto', /camera id must be/],
      ['a=auto;a=pattern', /appears twice/],
      ['a=pattern:640x480@0', /unknown source/],
      ['a=pattern:99999x480@30', /unknown source/],
      ['a=device:x', /unknown source/],
      ['a=file:', /unknown source/],
      ['a=ftp://x/y', /unknown source/],
    ];
    for (const [value, message] of cases) assert.throws(() => parseCameras(value), message, value);
  });
});

/** The built command, as `npm run capacity` runs it. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CAMERAS_PER_CAPTURE } from './inputs.js';

const main = fileURLToPath(new URL('./main.js', import.meta.url));
const docs = fileURLToPath(new URL('../../../docs/capacity.md', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', timeout: 30_000 });
const REQUIRED = ['--cameras', '20', '--viewers', '5000', '--fps', '30', '--size', '640x480'];
/** Capture instances for REQUIRED's 20 cameras at the measured figure. */
const CAPTURES = Math.ceil(20 / CAMERAS_PER_CAPTURE.value);

describe('npm run capacity', () => {
  it('prints the plan for the example of docs/capacity.md', () => {
    const result = run(...REQUIRED);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^Gateways: 11, bound by network \(NIC\)$/m);
    assert.match(result.stdout, /worst case {3}220 subscriptions/);
    assert.match(result.stdout, new RegExp(`^Capture: ${CAPTURES} instances?, up to ${CAMERAS_PER_CAPTURE.value} cameras? on each$`, 'm'));
    assert.match(result.stdout, /as npm run bench:capture measured \(640x480 at 30 fps/);
    assert.doesNotMatch(result.stdout, /note: measured with 640x480/);
    const json = JSON.parse(run(...REQUIRED, '--json').stdout) as {
      gateways: number;
      binding: string;
      captureInstances: number;
      inputs: object;
    };
    assert.equal(json.gateways, 11);
    assert.equal(json.binding, 'nic');
    assert.equal(json.captureInstances, CAPTURES);
    assert.ok('REDIS_SHARD_EGRESS_CEILING' in json.inputs);
    assert.ok('CAMERAS_PER_CAPTURE' in json.inputs);
  });

  it('plans capture instances from --cameras-per-capture, and says when the measured figure is for other cameras', () => {
    const given = run(...REQUIRED, '--cameras-per-capture', '6');
    assert.equal(given.status, 0, given.stderr);
    assert.match(given.stdout, /^Capture: 4 instances, up to 6 cameras on each$/m);
    assert.match(given.stdout, /cameras per instance from --cameras-per-capture/);
    const other = run('--cameras', '20', '--viewers', '5000', '--fps', '15', '--size', '1280x720');
    assert.match(other.stdout, /note: measured with 640x480 cameras at 30 fps; for 1280x720 at 15 fps, measure with npm run bench:capture/);
  });

  it('prints the same plan with --h264 0 as without it, and nothing of H.264', () => {
    const without = run(...REQUIRED);
    const zero = run(...REQUIRED, '--h264', '0');
    assert.equal(zero.status, 0, zero.stderr);
    assert.equal(zero.stdout, without.stdout);
    assert.doesNotMatch(zero.stdout, /H\.264|Tier mix/);
  });

  it('prints the tier mix with --h264 50: each tier, which fills the network, fewer gateways, fewer cameras per capture', () => {
    const result = run(...REQUIRED, '--h264', '50');
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^camrelay capacity: 20 cameras, 5000 viewers \(2500 in H\.264\), 640x480 at 30 fps$/m);
    assert.match(result.stdout, /^Tier mix: 50 % of the viewers in H\.264$/m);
    assert.match(result.stdout, /^ {2}motion JPEG +2500 viewers, 1\.75 MB\/s each, 4378 MB\/s in all: 84\.1 % of the gateways' bytes$/m);
    assert.match(result.stdout, /^ {2}H\.264 +2500 viewers, 0\.33 MB\/s each/m);
    assert.match(result.stdout, /^ {2}motion JPEG dominates the gateways' network: 84\.1 % of their bytes for 50 % of their viewers$/m);
    assert.match(result.stdout, /^Gateways: 6, bound by network \(NIC\)$/m);
    assert.match(result.stdout, /^Capture: 7 instances, up to 3 cameras on each$/m);
    assert.match(result.stdout, /derived, not measured/);
    assert.match(result.stdout, /worst case {3}240 subscriptions \(every gateway watches both tiers of every camera\)/);
    const json = JSON.parse(run(...REQUIRED, '--h264', '50', '--json').stdout) as {
      deployment: { h264Share: number };
      nicDominantTier: string;
      tiers: { mjpeg: { viewers: number; viewerMBps: number }; h264: { viewers: number; viewerMBps: number } };
      inputs: object;
    };
    assert.equal(json.deployment.h264Share, 0.5);
    assert.equal(json.nicDominantTier, 'mjpeg');
    assert.deepEqual([json.tiers.mjpeg.viewers, json.tiers.h264.viewers], [2500, 2500]);
    assert.ok(json.tiers.h264.viewerMBps < json.tiers.mjpeg.viewerMBps / 5);
    for (const input of ['H264_BYTES_RATIO', 'H264_GATEWAY_US_PER_FRAME', 'H264_ENCODE_MS_PER_FRAME', 'CAPTURE_MS_PER_FRAME'])
      assert.ok(input in json.inputs, input);
  });

  it('takes --h264-bytes as the H.264 frame', () => {
    const result = run(...REQUIRED, '--h264', '100', '--h264-bytes', '6000');
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^ {2}H\.264 {8}6000 bytes a frame \(--h264-bytes\)$/m);
    // 10^10 × 0.7 / 8 / (30 × 6000) = 4861 on the network; the CPU binds first.
    assert.match(result.stdout, /^ {4}network +4861 {2}/m);
  });

  it('takes --cameras-per-capture-h264 in place of the derived figure, with H.264 viewers only', () => {
    const given = run(...REQUIRED, '--h264', '50', '--cameras-per-capture-h264', '5');
    assert.equal(given.status, 0, given.stderr);
    assert.match(given.stdout, /^Capture: 4 instances, up to 5 cameras on each$/m);
    assert.match(given.stdout, /^ {2}with H\.264 watched, 5 per instance from --cameras-per-capture-h264$/m);
    assert.doesNotMatch(given.stdout, /derived/);
    const none = run(...REQUIRED, '--cameras-per-capture-h264', '5');
    assert.match(none.stdout, /^Capture: 2 instances, up to 16 cameras on each$/m);
  });

  it('prints what docs/capacity.md shows for its examples', () => {
    const text = readFileSync(docs, 'utf8');
    const examples = [...text.matchAll(/```sh\nnpm run capacity -- ([^\n]*)\n```\n\n```text\n([\s\S]*?)```/g)];
    assert.ok(examples.length >= 2, `${examples.length} examples`);
    for (const [, args, output] of examples) assert.equal(run(...args!.split(' ')).stdout, output, args);
  });

  it('prints its help', () => {
    const result = run('--help');
    assert.equal(result.status, 0);
    assert.match(result.stdout, /^Usage: npm run capacity -- --cameras C --viewers V --fps F --size WxH/);
  });

  for (const [args, flag] of [
    [['--fps', 'abc'], '--fps'],
    [['--fps', '0'], '--fps'],
    [['--size', '640'], '--size'],
    [['--size', '640x0'], '--size'],
    [['--cameras', '2.5'], '--cameras'],
    [['--viewers', '-3'], '--viewers'],
    [['--nic-gbps', 'fast'], '--nic-gbps'],
    [['--utilization', '150'], '--utilization'],
    [['--jpeg-bytes', '40k'], '--jpeg-bytes'],
    [['--gateway-cores', ''], '--gateway-cores'],
    [['--cameras-per-capture', '0'], '--cameras-per-capture'],
    [['--cameras-per-capture', '1.5'], '--cameras-per-capture'],
    [['--h264', '150'], '--h264'],
    [['--h264', '100.5'], '--h264'],
    [['--h264', 'half'], '--h264'],
    [['--h264', '-5'], '--h264'],
    [['--h264=-5'], '--h264'],
    [['--h264', ''], '--h264'],
    [['--h264-bytes', '50'], '--h264-bytes'],
    [['--cameras-per-capture-h264', '0'], '--cameras-per-capture-h264'],
    [['--h264-bytes', '6.5k'], '--h264-bytes'],
    [['--bogus', '1'], '--bogus'],
    [['--fps'], '--fps'],
  ] as const) {
    it(`exits 2 naming ${flag} for ${args.join(' ')}`, () => {
      const result = run(...REQUIRED, ...args);
      assert.equal(result.status, 2, result.stdout);
      assert.equal(result.stdout, '');
      assert.ok(result.stderr.startsWith(`capacity: ${flag}`), result.stderr);
      assert.match(result.stderr, /Run with --help/);
    });
  }

  it('refuses a stray word', () => {
    const result = run(...REQUIRED, 'extra');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /^capacity: unexpected "extra"/);
  });

  it('names a required flag that is missing', () => {
    const result = run('--cameras', '20', '--viewers', '5000', '--fps', '30');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /^capacity: --size is required/);
  });
});

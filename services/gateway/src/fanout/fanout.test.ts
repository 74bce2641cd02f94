import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sequenceOf } from '@camrelay/frame';
import type { Frame } from '@camrelay/frame';
import { Fanout } from './fanout.js';

const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xd9]);
const frame = (epoch: number, number: number): Frame => ({
  sequence: sequenceOf(epoch, number),
  capturedAt: Date.now(),
  width: 16,
  height: 16,
  jpeg: JPEG,
});

describe('a camera fanout judges capture instances by their fencing epochs', () => {
  it('drops frames of an older epoch while the newer one is live, and takes a new numbering after 5 s of silence, still rising', async () => {
    const fanout = new Fanout(2000);
    fanout.publish(frame(5, 10));
    fanout.publish(frame(4, 99_999)); // a paused holder's frame, numbered far ahead in its own epoch
    fanout.publish(frame(5, 10)); // the latest-frame copy racing the channel
    assert.equal(fanout.latestLive!.sequence, sequenceOf(5, 10));
    assert.equal(fanout.counters.fenced, 2);
    fanout.publish(frame(6, 0)); // a hand-over: the new holder counts from 0 under a higher epoch
    assert.equal(fanout.latestLive!.sequence, sequenceOf(6, 0));

    // Redis lost every epoch and every capture restarted: the new numbering starts low, and is
    // taken once the old one has been silent long enough, its viewers' numbers still rising.
    fanout.publish(frame(1, 0));
    assert.equal(fanout.latestLive!.sequence, sequenceOf(6, 0), 'fenced while the newest numbering is live');
    await sleep(5100);
    fanout.publish(frame(1, 1));
    assert.equal(fanout.latestLive!.sequence, sequenceOf(6, 0) + 1);
    fanout.publish(frame(1, 2));
    assert.equal(fanout.latestLive!.sequence, sequenceOf(6, 0) + 2);
  });
});

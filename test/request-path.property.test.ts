/**
 * The request path under generated traffic (fast-check): raw connections to live gateway
 * processes, one with access control and one without, both with small viewer limits, carrying
 * pipelined streams, snapshots, API calls, signed URLs, garbage and malformed heads, cut at
 * arbitrary offsets, trickled, half-closed and reset. After every sequence the process is
 * alive, answers /healthz, sent no 500, and its open streams, viewer slots, viewer addresses,
 * camera claims and connections are back where they were. The model lives in
 * harness/request-path.ts; `npm run fuzz` runs it for longer and replays failures.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { Coverage, Gateways, describeFailure, requestPathProperty } from './harness/request-path.js';

/** A few hundred sequences; the time limit keeps the file within the runner's 180 s on a busy machine. */
const RUNS = 250;
const TIME_LIMIT_MS = 110_000;

describe('request path (property)', () => {
  let gateways: Gateways;

  before(async () => {
    gateways = await Gateways.start();
  });

  after(async () => {
    await gateways?.stop();
  });

  it('survives any sequence of valid and invalid requests and returns to its baseline', async () => {
    const startedAt = Date.now();
    const coverage = new Coverage();
    const details = await fc.check(requestPathProperty(gateways, coverage), {
      numRuns: RUNS,
      // One failure is enough to report: shrinking restarts a gateway per step (npm run fuzz does it).
      endOnFailure: true,
      interruptAfterTimeLimit: TIME_LIMIT_MS,
      markInterruptAsFailure: false,
    });
    if (details.failed) assert.fail(describeFailure(details, gateways));
    const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
    console.log(`request path: ${details.numRuns} sequences in ${seconds} s (seed ${details.seed}); answers: ${coverage.summary()}`);
    assert.ok(details.numRuns >= 100, `only ${details.numRuns} sequences ran within ${TIME_LIMIT_MS / 1000} s`);
    // The paths the run exists for were taken: streams, refusals at both limits, access refused, bad requests.
    const expected = [
      'stream',
      'unauthorized',
      'forbidden',
      'expired',
      'too_many_viewers',
      'too_many_viewers_from_address',
      'bad_request',
      'headers_too_large',
    ];
    for (const answer of expected) {
      assert.ok(coverage.seen.has(answer), `no ${answer} answer in ${details.numRuns} sequences: ${coverage.summary()}`);
    }
  });
});

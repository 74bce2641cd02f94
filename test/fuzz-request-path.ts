/**
 * `npm run fuzz`: the request-path property of test/request-path.property.test.ts for longer,
 * with shrinking, and replays.
 *
 *   npm run fuzz -- --minutes 30            run for 30 minutes (default 5)
 *   npm run fuzz -- --seed=S --path=P       replay one failure, as printed by a failed run
 *
 * A failure prints fast-check's seed and path. Timing is part of each case (gaps, holds,
 * signed URLs signed afresh), so a replay is the same sequence, not always the same outcome.
 */
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { Gateways, describeFailure, requestPathProperty } from './harness/request-path.js';

const { values } = parseArgs({
  options: { minutes: { type: 'string', default: '5' }, seed: { type: 'string' }, path: { type: 'string' } },
});
const minutes = Number(values.minutes);
if (!(minutes > 0)) throw new Error(`--minutes must be a positive number, not ${values.minutes}`);
if (values.path !== undefined && values.seed === undefined) throw new Error('--path needs the --seed it came from');

const gateways = await Gateways.start();
const startedAt = Date.now();
const details = await fc.check(requestPathProperty(gateways), {
  ...(values.seed === undefined ? {} : { seed: Number(values.seed) }),
  // A replay runs the one sequence at the path (and shrinks it further if it fails again).
  ...(values.path === undefined ? { numRuns: Number.MAX_SAFE_INTEGER } : { path: values.path, numRuns: 1 }),
  interruptAfterTimeLimit: minutes * 60_000,
  markInterruptAsFailure: false,
});
await gateways.stop();
const seconds = ((Date.now() - startedAt) / 1000).toFixed(0);
if (details.failed) {
  console.error(describeFailure(details, gateways));
  process.exit(1);
}
console.log(`request path: ${details.numRuns} sequences in ${seconds} s, no failure (seed ${details.seed})`);

/**
 * Preloaded into a gateway by the churn test and benchmark (see gcProbeEnv in memory-probe.ts):
 * NODE_OPTIONS="--expose-gc --import …/gc-probe.js". On SIGUSR2 it runs a full garbage
 * collection and prints one line with what is still live:
 *
 *   gc-probe 3 {"heapUsed":…,"external":…,"arrayBuffers":…,"rss":…}
 *
 * Heap used read at a random moment is live data plus garbage not yet collected (tens of
 * MB of sawtooth under churn); after a full collection it is what the process retains, so
 * a leak of a few KB per connection stands out over a few thousand connections.
 * It changes nothing else in the process (one listener on `process`, constant).
 */
let probes = 0;

process.on('SIGUSR2', () => {
  const collect = globalThis.gc;
  probes++;
  if (!collect) {
    process.stdout.write(`gc-probe ${probes} {"error":"gc not exposed: start node with --expose-gc"}\n`);
    return;
  }
  // Twice: the first collection runs finalizers and weak callbacks whose targets the second frees.
  collect();
  collect();
  const { heapUsed, external, arrayBuffers, rss } = process.memoryUsage();
  process.stdout.write(`gc-probe ${probes} ${JSON.stringify({ heapUsed, external, arrayBuffers, rss })}\n`);
});

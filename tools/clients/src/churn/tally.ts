/** What the churn's visits counted, and the first few things the gateway got wrong. */
export class Tally {
  // What each one counts: ChurnResult, which reports them.
  connections = 0;
  requests = 0;
  completedStreams = 0;
  burstStreams = 0;
  frames = 0;
  frameBytes = 0;
  midPartCuts = 0;
  okRequests = 0;
  failures = 0;
  readonly failureExamples: string[] = [];

  fail(message: string): void {
    this.failures++;
    if (this.failureExamples.length < 10) this.failureExamples.push(message);
  }
}

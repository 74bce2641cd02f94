/** What one measurement of `npm run bench` found: written by run.ts, drawn by report.ts. */

/** The systems measured side by side: the raw-socket floor, camrelay's topologies, the classic design. */
export type SystemName =
  'floor' | 'camrelay' | 'camrelay-reencode' | 'camrelay-cluster' | 'camrelay-3gw-haproxy' | 'classic-threaded' | 'classic-gevent';

export interface Run {
  system: SystemName;
  size: string;
  viewers: number;
  slowFraction: number;
  load: {
    fps: { median: number | null; p10: number | null; min: number | null };
    firstFrameMs: { median: number | null; p99: number | null; max: number | null };
    /** From opening a viewer to its connection up, and to its response's head (bench/loadgen.c only). */
    connectedMs?: { median: number | null; p99: number | null };
    responseHeadMs?: { median: number | null; p99: number | null };
    latencyMs: { p50: number | null; p99: number | null };
    framesDelivered: number;
    sequenceGaps: number;
    /** Over the viewers (not the slow ones): the longest wait between two frames in the window. */
    longestWaitMs: { p99: number | null; max: number | null };
    invalid: number;
    errors: number;
    neverGotFrame: number;
    slowFps: { median: number | null } | null;
    loadgenCpuMsPerSecond: number;
    windowSeconds: number;
  };
  serverCpuUsPerFrame: number | null;
  serverCpuPercent: number;
  besideCpuPercent: number;
  /** Capture's CPU per source frame (FPS frames a second), µs; null where capture is not a process of its own. */
  captureCpuUsPerFrame: number | null;
  serverPeakRssMB: number;
}

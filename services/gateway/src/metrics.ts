import { busUpGauge, createRegistry, scrapedCounter, scrapedGauge } from '@camrelay/metrics';
import type { Registry } from '@camrelay/metrics';
import type { EventEmitter } from 'node:events';
import type { Server } from 'node:http';
import type { FrameBus } from '@camrelay/bus';
import { parseFeedId } from '@camrelay/frame';
import type { FanoutCounters } from './fanout/fanout.js';
import type { AnyFanout, Feeds } from './fanout/feeds.js';
import type { AccessControl } from './http/access.js';
import { onConnectionClose } from './http/stream-sockets.js';
import type { StreamSockets } from './http/stream-sockets.js';
import type { ViewerLimits } from './http/viewer-limits.js';
import { readUnsentLimit } from './unsent-limit.js';

/** The gateway's /metrics: read from the fanouts' plain counters when scraped. */
export function createMetrics(
  feeds: Feeds,
  bus: FrameBus,
  server: Server,
  limits: ViewerLimits,
  streams: StreamSockets,
  access: AccessControl,
): Registry {
  const registry = createRegistry();
  // A camera's smaller sizes and its H.264 feeds are feeds of their own: labelled with their size and tier as well.
  const labelsOf = (feed: string): Record<string, string> => {
    const { cameraId: camera, size, tier } = parseFeedId(feed);
    const labels: Record<string, string> = size === undefined ? { camera } : { camera, size };
    if (tier === 'h264') labels['tier'] = tier;
    return labels;
  };
  function* feedLabels() {
    for (const feed of feeds.all.keys()) yield [labelsOf(feed), feed] as const;
  }
  const perFeed = (read: (fanout: AnyFanout) => number) =>
    function* () {
      for (const [labels, feed] of feedLabels()) yield [labels, read(feeds.all.get(feed)!)] as const;
    };
  scrapedGauge(registry, {
    name: 'camrelay_viewers',
    help: 'Open streams per camera on this gateway.',
    labelNames: ['camera', 'size', 'tier'],
    read: perFeed((fanout) => fanout.viewerCount),
  });
  scrapedGauge(registry, {
    name: 'camrelay_viewer_queued_bytes_max',
    help: 'Largest number of bytes waiting in user space for one viewer.',
    labelNames: ['camera', 'size', 'tier'],
    read: perFeed((fanout) => fanout.maxQueuedBytes()),
  });

  const sum = (field: keyof FanoutCounters) => {
    let value = feeds.retired[field];
    for (const fanout of feeds.all.values()) value += fanout.counters[field];
    return value;
  };
  scrapedCounter(registry, { name: 'camrelay_frames_received_total', help: 'Frames received from the bus.', read: () => sum('received') });
  scrapedCounter(registry, {
    name: 'camrelay_frames_fenced_total',
    help: "Frames dropped for a sequence at or below the newest: a stale capture instance's (a lower fencing epoch), or a late copy.",
    read: () => sum('fenced'),
  });
  scrapedCounter(registry, { name: 'camrelay_frames_delivered_total', help: 'Frames written to viewers.', read: () => sum('delivered') });
  scrapedCounter(registry, {
    name: 'camrelay_frames_skipped_total',
    help: 'Frames a viewer skipped because its socket had not drained or it asked for a lower fps.',
    read: () => sum('skipped'),
  });
  scrapedCounter(registry, {
    name: 'camrelay_frames_coalesced_total',
    help: 'Frames replaced by a newer one before fan-out because this gateway was behind.',
    read: () => feeds.coalescedFrames,
  });
  scrapedCounter(registry, {
    name: 'camrelay_bus_messages_dropped_total',
    help: 'Bus messages dropped because they were not valid frame envelopes.',
    read: () => feeds.droppedMessages,
  });

  const openStreams = () => [...feeds.all.values()].reduce((viewers, fanout) => viewers + fanout.viewerCount, 0);
  scrapedGauge(registry, { name: 'camrelay_open_streams', help: 'Open streams on this gateway, all cameras.', read: openStreams });
  scrapedCounter(registry, {
    name: 'camrelay_streams_opened_total',
    help: 'Streams opened on this gateway, all cameras.',
    read: () => sum('opened'),
  });
  scrapedCounter(registry, {
    name: 'camrelay_signed_streams_opened_total',
    help: 'Streams opened on this gateway through a signed URL (no token), all cameras.',
    read: () => access.signedStreamsOpened,
  });
  scrapedGauge(registry, {
    name: 'camrelay_viewer_slots',
    help: 'Places taken under MAX_VIEWERS (streams open or opening).',
    read: () => limits.viewers,
  });
  scrapedGauge(registry, {
    name: 'camrelay_viewer_addresses',
    help: 'Client addresses with a stream open or opening (each one counted under MAX_VIEWERS_PER_ADDRESS).',
    read: () => limits.addresses,
  });
  scrapedCounter(registry, {
    name: 'camrelay_viewers_refused_total',
    help: 'Streams refused because the gateway or the client address was at its viewer limit, and connections refused because their address had too many open.',
    read: () => limits.refused,
  });
  scrapedCounter(registry, {
    name: 'camrelay_h264_fragments_unplayable_total',
    help: 'H.264 fragments not passed on because one before them never came (lost on the way, as over a Redis reconnect, or the first of another capture instance): their viewers waited for the next keyframe.',
    read: () => feeds.videoGaps,
  });
  scrapedGauge(registry, {
    name: 'camrelay_cameras_without_signal',
    help: 'Watched cameras whose viewers are being sent the NO SIGNAL picture.',
    read: () => [...feeds.all.values()].filter((fanout) => !fanout.hasSignal).length,
  });
  scrapedGauge(registry, {
    name: 'camrelay_camera_claims',
    help: 'Cameras (and sizes) this gateway claims on the bus for its viewers; capture keeps them open.',
    read: () => feeds.claimedFeeds,
  });
  scrapedCounter(registry, {
    name: 'camrelay_claim_failures_total',
    help: 'Claims on cameras that Redis did not record (claims, renewals, withdrawals): capture may close, or never open, cameras watched here.',
    read: () => feeds.claimFailures,
  });
  scrapedGauge(registry, {
    name: 'camrelay_camera_clock_skew_seconds',
    help: "How far the newest frame's capture time was ahead of this gateway's clock on arrival (a few ms below 0 is transit; above 2 s frames are dropped).",
    labelNames: ['camera', 'size', 'tier'],
    read: function* () {
      for (const [labels, feed] of feedLabels()) {
        const aheadMs = feeds.clockAheadOf(feed);
        if (aheadMs !== undefined) yield [labels, aheadMs / 1000] as const;
      }
    },
  });
  scrapedGauge(registry, {
    name: 'camrelay_subscriptions',
    help: 'Cameras this gateway is subscribed to on the bus.',
    read: () => feeds.all.size,
  });
  scrapedCounter(registry, {
    name: 'camrelay_subscriptions_ended_total',
    help: "Bus subscriptions this gateway ended, per camera: each time a camera's last viewer here left and the linger time passed.",
    labelNames: ['camera', 'size', 'tier'],
    read: function* () {
      for (const [feed, count] of feeds.subscriptionsEnded) yield [labelsOf(feed), count] as const;
    },
  });
  scrapedCounter(registry, {
    name: 'camrelay_streams_attached_total',
    help: 'Streams left attached to the HTTP server because this Node cannot hand them over (more heap per viewer).',
    read: () => streams.attached,
  });
  // Read when scraped: the setting can change while the gateway runs. Not Linux: no such setting, no metric.
  if (readUnsentLimit() !== null) {
    scrapedGauge(registry, {
      name: 'camrelay_tcp_notsent_lowat_bytes',
      help: "The kernel's net.ipv4.tcp_notsent_lowat where this gateway runs: bytes a viewer's socket may hold unsent before the viewer skips frames (4294967295, the default, is unbounded: seconds of video on a thin link).",
      read: () => readUnsentLimit() ?? 0,
    });
  }
  busUpGauge(registry, bus);
  // Both exist to show leaks: after viewers leave, connections and listeners return to where they were.
  let connections = 0;
  server.on('connection', (socket) => {
    connections++;
    onConnectionClose(socket, () => connections--);
  });
  scrapedGauge(registry, {
    name: 'camrelay_http_connections',
    help: 'Open HTTP connections (viewers, API calls, idle keep-alive).',
    read: () => connections,
  });
  scrapedGauge(registry, {
    name: 'camrelay_event_listeners',
    help: 'Listeners on the long-lived emitters (HTTP server, frame bus, process).',
    read: () => [server, bus, process].reduce((total, emitter: EventEmitter) => total + listenerTotal(emitter), 0),
  });
  return registry;
}

function listenerTotal(emitter: EventEmitter): number {
  return emitter.eventNames().reduce((total, event) => total + emitter.listenerCount(event), 0);
}

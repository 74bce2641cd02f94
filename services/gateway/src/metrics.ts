import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { FrameBus } from '@camrelay/bus';
import type { Feeds } from './feeds.js';

/**
 * Prometheus metrics. The hot path only bumps plain numbers on the fanouts; they are read
 * here when /metrics is scraped, so delivering a frame costs no metric call per viewer.
 */
export function createMetrics(feeds: Feeds, bus: FrameBus): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const perCamera = (name: string, help: string, read: (fanout: import('./fanout.js').Fanout) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['camera'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [camera, fanout] of feeds.all) this.set({ camera }, read(fanout));
      },
    });
  perCamera('camrelay_viewers', 'Open streams per camera on this gateway.', (fanout) => fanout.viewerCount);
  perCamera('camrelay_viewer_queued_bytes_max', 'Largest number of bytes waiting in user space for one viewer.', (fanout) => fanout.maxQueuedBytes());

  const total = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  const sum = (field: 'framesIn' | 'delivered' | 'skipped') => {
    let value = feeds.retired[field];
    for (const fanout of feeds.all.values()) value += field === 'framesIn' ? fanout.framesIn : fanout.counters[field];
    return value;
  };
  total('camrelay_frames_received_total', 'Frames received from the bus.', () => sum('framesIn'));
  total('camrelay_frames_delivered_total', 'Frames written to viewers.', () => sum('delivered'));
  total('camrelay_frames_skipped_total', 'Frames a viewer skipped because its socket had not drained or it asked for a lower fps.', () => sum('skipped'));
  total('camrelay_frames_coalesced_total', 'Frames replaced by a newer one before fan-out because this gateway was behind.', () => feeds.coalescedFrames);
  total('camrelay_bus_messages_dropped_total', 'Bus messages dropped because they were not valid frame envelopes.', () => feeds.droppedMessages);

  new Gauge({ name: 'camrelay_viewers_total', help: 'Open streams on this gateway, all cameras.', registers: [registry], collect() {
    let viewers = 0;
    for (const fanout of feeds.all.values()) viewers += fanout.viewerCount;
    this.set(viewers);
  } });
  new Gauge({ name: 'camrelay_subscriptions', help: 'Cameras this gateway is subscribed to on the bus.', registers: [registry], collect() {
    this.set(feeds.all.size);
  } });
  new Gauge({ name: 'camrelay_bus_up', help: '1 while the frame bus is connected.', registers: [registry], collect() {
    this.set(bus.isUp ? 1 : 0);
  } });
  return registry;
}

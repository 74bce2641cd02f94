/*
 * The load generator of bench/loadgen.ts in C, for where the Node one is the bottleneck: at
 * 2000 viewers and 1000 arrivals on two cores it took most of a core, and the floor itself left
 * newcomers without a frame. One thread, epoll, one read buffer for every socket, nothing copied
 * but a part's header block when it is split across reads.
 *
 *   bench/dist/loadgen-c --url http://127.0.0.1:P/path --viewers N --warmup-ms W --duration-ms D
 *     [--arrive-within-ms M]   open every viewer within M ms; by default 100 every 20 ms
 *     [--reconnect 1]          a viewer whose stream ends opens another at once, as the viewer
 *                              page does; the time from the end to the new stream's first frame
 *                              is reported (reconnectMs), and the longest waits of the viewers
 *                              never cut on their own (uncutLongestWaitMs)
 *
 * Same protocol as loadgen.ts: prints "arriving", "measuring" and "measured" on stderr, then
 * one JSON object on stdout with the same fields (no slow viewers, no chunked bodies: the
 * servers it measures, the floor and camrelay, send neither).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum phase { HTTP_HEAD, PART_HEAD, BODY };

/* A part's header block is ~100 bytes; a longer one is an error, as in loadgen.ts. */
#define MAX_HEAD 65536
#define BATCH 100
/* Where a block is pending, its end is looked for this far into the next read (then further). */
#define HEAD_SEARCH 4096

struct viewer {
  int fd;
  enum phase phase;
  char *pending; /* a header block split across reads */
  size_t pending_len;
  long remaining, body_length;
  int first_byte, last; /* the body's first two and last two bytes */
  long long sequence, last_sequence;
  double timestamp;
  double started_at, first_frame_at; /* monotonic ms */
  double connected_at, head_at;      /* monotonic ms: TCP connected, response head read */
  double last_frame_at;              /* wall ms */
  long window_frames, window_gaps;
  double longest_wait_ms;
  int closed;
  int streaming; /* this connection's response head came */
  double cut_at; /* wall ms its stream ended, while its next stream has sent no frame yet */
  int cut_ever;
};

static struct viewer *viewers;
static int viewer_count;
static int measuring;
static long invalid_parts, errors;
static int reconnect;
static long cuts;
static double *reconnects; /* ms from a stream's end to the next one's first frame */
static size_t reconnect_count, reconnect_cap;
static double *latencies;
static size_t latency_count, latency_cap;
static char request[2048];
static size_t request_len;
static struct sockaddr_storage address;
static socklen_t address_len;
static int epfd;
static unsigned char read_buffer[256 * 1024];

static double monotonic_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static double wall_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static double cpu_ms(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}

static void append(double **values, size_t *count, size_t *cap, double value) {
  if (*count == *cap) {
    *cap = *cap ? *cap * 2 : 1 << 16;
    *values = realloc(*values, *cap * sizeof **values);
    if (!*values) abort();
  }
  (*values)[(*count)++] = value;
}

static void record_latency(double ms) { append(&latencies, &latency_count, &latency_cap, ms); }

static void open_viewer(int index);

static void close_viewer(struct viewer *v, int failed) {
  if (v->closed) return;
  if (failed) errors++;
  v->closed = 1;
  close(v->fd);
  free(v->pending);
  v->pending = NULL;
  if (reconnect && v->streaming) {
    /* Its counts go on across streams; only the connection is new. A connection that fails
       before its stream begins is not retried (counted in errors and stillReconnecting). */
    struct viewer kept = *v;
    open_viewer((int)(v - viewers));
    v->window_frames = kept.window_frames;
    v->window_gaps = kept.window_gaps;
    v->longest_wait_ms = kept.longest_wait_ms;
    v->last_frame_at = kept.last_frame_at;
    v->last_sequence = kept.last_sequence;
    v->started_at = kept.started_at;
    v->first_frame_at = kept.first_frame_at;
    v->connected_at = kept.connected_at;
    v->head_at = kept.head_at;
    v->cut_at = kept.cut_at > 0 ? kept.cut_at : wall_ms();
    v->cut_ever = 1;
    cuts++;
  }
}

static void frame_done(struct viewer *v) {
  double now = wall_ms();
  if (v->body_length > 0 && (v->first_byte != 0xffd8 || (v->last & 0xffff) != 0xffd9)) invalid_parts++;
  if (v->first_frame_at == 0) v->first_frame_at = monotonic_ms();
  if (v->cut_at > 0) {
    append(&reconnects, &reconnect_count, &reconnect_cap, now - v->cut_at);
    v->cut_at = 0;
  }
  if (measuring) {
    if (v->last_frame_at > 0 && now - v->last_frame_at > v->longest_wait_ms) v->longest_wait_ms = now - v->last_frame_at;
    v->window_frames++;
    if (v->last_sequence >= 0 && v->sequence > v->last_sequence + 1) v->window_gaps += v->sequence - v->last_sequence - 1;
    record_latency(now - v->timestamp * 1000);
  }
  v->last_sequence = v->sequence;
  v->last_frame_at = now;
}

/* The value of a header in a block, or NULL (case-insensitive name, then optional spaces). */
static const char *header_value(const char *block, size_t len, const char *name) {
  size_t n = strlen(name);
  for (size_t i = 0; i + n < len; i++) {
    if ((i == 0 || block[i - 1] == '\n') && strncasecmp(block + i, name, n) == 0) {
      const char *p = block + i + n;
      while (*p == ' ') p++;
      return p;
    }
  }
  return NULL;
}

/* A complete header block (without its blank line): the HTTP head or a part's head. 0, or -1 to drop the viewer. */
static int on_block(struct viewer *v, const char *block, size_t len) {
  if (v->phase == HTTP_HEAD) {
    if (len < 12 || strncmp(block, "HTTP/1.", 7) != 0 || strncmp(block + 9, "200", 3) != 0) {
      if (errors < 3) fprintf(stderr, "viewer: HTTP status: %.*s\n", (int)(len < 60 ? len : 60), block);
      return -1;
    }
    v->phase = PART_HEAD;
    v->streaming = 1;
    if (v->head_at == 0) v->head_at = monotonic_ms();
    return 0;
  }
  const char *length = header_value(block, len, "Content-Length:");
  if (!length) {
    if (errors < 3) fprintf(stderr, "viewer: part without Content-Length\n");
    return -1;
  }
  v->body_length = v->remaining = strtol(length, NULL, 10);
  const char *sequence = header_value(block, len, "X-Sequence:");
  v->sequence = sequence ? strtoll(sequence, NULL, 10) : -1;
  const char *timestamp = header_value(block, len, "X-Timestamp:");
  v->timestamp = timestamp ? strtod(timestamp, NULL) : 0;
  v->first_byte = -1;
  v->last = 0;
  v->phase = BODY;
  return 0;
}

/* Looks for a header block's end in pending + data; returns the bytes of data used, or -1. */
static long read_head(struct viewer *v, const unsigned char *data, size_t len) {
  if (!v->pending) {
    const unsigned char *end = memmem(data, len, "\r\n\r\n", 4);
    if (end) {
      size_t block = (size_t)(end - data);
      if (on_block(v, (const char *)data, block) < 0) return -1;
      return (long)(block + 4);
    }
  }
  /* Split across reads: join with the start of this one, not the picture behind it (a block is ~100 bytes). */
  size_t take = len < HEAD_SEARCH ? len : HEAD_SEARCH;
  char *joined = realloc(v->pending, v->pending_len + take + 1);
  if (!joined) abort();
  memcpy(joined + v->pending_len, data, take);
  size_t old = v->pending_len;
  v->pending = joined;
  v->pending_len += take;
  char *end = memmem(joined, v->pending_len, "\r\n\r\n", 4);
  if (!end) {
    if (v->pending_len >= MAX_HEAD) return -1;
    return (long)take;
  }
  size_t block = (size_t)(end - joined);
  long used = (long)(block + 4 - old);
  int ok = on_block(v, joined, block);
  free(v->pending);
  v->pending = NULL;
  v->pending_len = 0;
  return ok < 0 ? -1 : used;
}

static int on_data(struct viewer *v, const unsigned char *data, size_t len) {
  size_t pos = 0;
  while (pos < len) {
    if (v->phase != BODY) {
      long used = read_head(v, data + pos, len - pos);
      if (used < 0) return -1;
      pos += (size_t)used;
      continue;
    }
    size_t take = (size_t)v->remaining < len - pos ? (size_t)v->remaining : len - pos;
    long at = v->body_length - v->remaining;
    if (at == 0) v->first_byte = data[pos] << 8;
    if (at <= 1 && at + (long)take >= 2) v->first_byte |= at == 0 ? data[pos + 1] : data[pos];
    if (take >= 2)
      v->last = (data[pos + take - 2] << 8) | data[pos + take - 1];
    else if (take == 1)
      v->last = ((v->last & 0xff) << 8) | data[pos];
    v->remaining -= (long)take;
    pos += take;
    if (v->remaining == 0) {
      v->phase = PART_HEAD;
      frame_done(v);
    }
  }
  return 0;
}

static void open_viewer(int index) {
  struct viewer *v = &viewers[index];
  memset(v, 0, sizeof *v);
  v->sequence = v->last_sequence = -1;
  v->started_at = monotonic_ms();
  v->fd = socket(address.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (v->fd < 0) {
    v->closed = 1;
    errors++;
    return;
  }
  int one = 1;
  setsockopt(v->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(v->fd, (struct sockaddr *)&address, address_len) < 0 && errno != EINPROGRESS) {
    close_viewer(v, 1);
    return;
  }
  struct epoll_event event = {.events = EPOLLOUT, .data.u32 = (uint32_t)index};
  epoll_ctl(epfd, EPOLL_CTL_ADD, v->fd, &event);
}

static void on_event(struct epoll_event *event) {
  struct viewer *v = &viewers[event->data.u32];
  if (v->closed) return;
  if (event->events & EPOLLOUT) {
    int error = 0;
    socklen_t size = sizeof error;
    getsockopt(v->fd, SOL_SOCKET, SO_ERROR, &error, &size);
    /* The request is ~100 bytes: one write to a fresh connection takes it whole. */
    if (error || write(v->fd, request, request_len) != (ssize_t)request_len) {
      close_viewer(v, 1);
      return;
    }
    v->connected_at = monotonic_ms();
    struct epoll_event in = {.events = EPOLLIN, .data.u32 = event->data.u32};
    epoll_ctl(epfd, EPOLL_CTL_MOD, v->fd, &in);
    return;
  }
  ssize_t n = read(v->fd, read_buffer, sizeof read_buffer);
  if (n > 0) {
    if (on_data(v, read_buffer, (size_t)n) < 0) close_viewer(v, 1);
  } else if (n == 0) {
    close_viewer(v, 0);
  } else if (errno != EAGAIN && errno != EINTR) {
    close_viewer(v, 1);
  }
}

/* Serves the sockets until the monotonic deadline. */
static void run_until(double deadline) {
  struct epoll_event events[512];
  for (;;) {
    double left = deadline - monotonic_ms();
    if (left <= 0) return;
    int n = epoll_wait(epfd, events, 512, (int)left + 1);
    for (int i = 0; i < n; i++) on_event(&events[i]);
  }
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void print_percentile(const char *name, double *sorted, size_t n, double p, const char *after) {
  if (n == 0)
    printf("\"%s\":null%s", name, after);
  else {
    size_t i = (size_t)(p / 100 * (double)n);
    printf("\"%s\":%.3f%s", name, sorted[i < n ? i : n - 1], after);
  }
}

static void usage(void) {
  fprintf(stderr, "usage: loadgen-c --url http://HOST:PORT/PATH --viewers N --warmup-ms W --duration-ms D [--arrive-within-ms M]\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *url = NULL;
  long warmup_ms = 3000, duration_ms = 5000, arrive_within_ms = -1;
  viewer_count = 100;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--url")) url = argv[i + 1];
    else if (!strcmp(argv[i], "--viewers")) viewer_count = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--warmup-ms")) warmup_ms = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--duration-ms")) duration_ms = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--arrive-within-ms")) arrive_within_ms = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--reconnect")) reconnect = atoi(argv[i + 1]);
    else usage();
  }
  char host[256], path[1024] = "/";
  int port = 80;
  if (!url || viewer_count <= 0 || sscanf(url, "http://%255[^:/]:%d%1023s", host, &port, path) < 2) usage();
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *found;
  char service[16];
  snprintf(service, sizeof service, "%d", port);
  if (getaddrinfo(host, service, &hints, &found) != 0) {
    fprintf(stderr, "loadgen-c: cannot resolve %s\n", host);
    return 2;
  }
  memcpy(&address, found->ai_addr, found->ai_addrlen);
  address_len = found->ai_addrlen;
  freeaddrinfo(found);
  /* HTTP/1.0: no server may answer with chunked framing, so the body on the wire is the multipart. */
  request_len = (size_t)snprintf(request, sizeof request, "GET %s HTTP/1.0\r\nHost: %s:%d\r\nUser-Agent: camrelay-loadgen\r\n\r\n", path, host, port);

  struct rlimit files;
  getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  setrlimit(RLIMIT_NOFILE, &files);
  viewers = calloc((size_t)viewer_count, sizeof *viewers);
  epfd = epoll_create1(0);
  if (!viewers || epfd < 0) abort();

  /* In batches, as loadgen.ts: thousands of SYNs at once overflow a listen backlog of 511. */
  int batches = (viewer_count + BATCH - 1) / BATCH;
  double batch_every_ms = arrive_within_ms < 0 ? 20 : (double)arrive_within_ms / batches;
  fprintf(stderr, "arriving\n");
  double at = monotonic_ms();
  for (int i = 0; i < viewer_count; i += BATCH) {
    for (int k = i; k < viewer_count && k < i + BATCH; k++) open_viewer(k);
    at += batch_every_ms;
    run_until(at);
  }
  run_until(monotonic_ms() + (double)warmup_ms);
  double cpu_before = cpu_ms(), window_start = monotonic_ms();
  measuring = 1;
  fprintf(stderr, "measuring\n");
  run_until(window_start + (double)duration_ms);
  measuring = 0;
  reconnect = 0;
  fprintf(stderr, "measured\n");
  double window_seconds = (monotonic_ms() - window_start) / 1000;
  double cpu = cpu_ms() - cpu_before;

  double *fps = malloc((size_t)viewer_count * sizeof *fps), *ttff = malloc((size_t)viewer_count * sizeof *ttff);
  double *waits = malloc((size_t)viewer_count * sizeof *waits), *uncut_waits = malloc((size_t)viewer_count * sizeof *uncut_waits);
  size_t uncut = 0;
  long pending_reconnects = 0;
  double *connects = malloc((size_t)viewer_count * sizeof *connects), *heads = malloc((size_t)viewer_count * sizeof *heads);
  size_t got = 0, connected = 0, headed = 0;
  long delivered = 0, gaps = 0, closed = 0;
  for (int i = 0; i < viewer_count; i++) {
    struct viewer *v = &viewers[i];
    fps[i] = (double)v->window_frames / window_seconds;
    waits[i] = v->longest_wait_ms;
    if (!v->cut_ever) uncut_waits[uncut++] = v->longest_wait_ms;
    if (v->cut_at > 0) pending_reconnects++;
    if (v->first_frame_at > 0) ttff[got++] = v->first_frame_at - v->started_at;
    if (v->connected_at > 0) connects[connected++] = v->connected_at - v->started_at;
    if (v->head_at > 0) heads[headed++] = v->head_at - v->started_at;
    delivered += v->window_frames;
    gaps += v->window_gaps;
    closed += v->closed;
  }
  qsort(fps, (size_t)viewer_count, sizeof *fps, compare_doubles);
  qsort(ttff, got, sizeof *ttff, compare_doubles);
  qsort(waits, (size_t)viewer_count, sizeof *waits, compare_doubles);
  qsort(latencies, latency_count, sizeof *latencies, compare_doubles);
  qsort(connects, connected, sizeof *connects, compare_doubles);
  qsort(heads, headed, sizeof *heads, compare_doubles);
  qsort(uncut_waits, uncut, sizeof *uncut_waits, compare_doubles);
  qsort(reconnects, reconnect_count, sizeof *reconnects, compare_doubles);

  printf("{\"viewers\":%d,\"slowViewers\":0,\"windowSeconds\":%.3f,\"framesDelivered\":%ld,", viewer_count, window_seconds, delivered);
  printf("\"fps\":{");
  print_percentile("median", fps, (size_t)viewer_count, 50, ",");
  print_percentile("p10", fps, (size_t)viewer_count, 10, ",");
  printf("\"min\":%.3f},\"slowFps\":null,\"firstFrameMs\":{", fps[0]);
  print_percentile("median", ttff, got, 50, ",");
  print_percentile("p99", ttff, got, 99, ",");
  if (got) printf("\"max\":%.3f},", ttff[got - 1]);
  else printf("\"max\":null},");
  /* Where a newcomer's wait goes: until its connection is up, then until the response's head. */
  printf("\"connectedMs\":{");
  print_percentile("median", connects, connected, 50, ",");
  print_percentile("p99", connects, connected, 99, "},");
  printf("\"responseHeadMs\":{");
  print_percentile("median", heads, headed, 50, ",");
  print_percentile("p99", heads, headed, 99, "},");
  printf("\"neverGotFrame\":%ld,\"latencyMs\":{", (long)viewer_count - (long)got);
  print_percentile("p50", latencies, latency_count, 50, ",");
  print_percentile("p99", latencies, latency_count, 99, "},");
  printf("\"sequenceGaps\":%ld,\"longestWaitMs\":{", gaps);
  print_percentile("p99", waits, (size_t)viewer_count, 99, ",");
  printf("\"max\":%.3f},", waits[viewer_count - 1]);
  printf("\"cuts\":%ld,\"stillReconnecting\":%ld,\"reconnectMs\":{", cuts, pending_reconnects);
  print_percentile("median", reconnects, reconnect_count, 50, ",");
  print_percentile("p99", reconnects, reconnect_count, 99, ",");
  print_percentile("max", reconnects, reconnect_count, 100, "},");
  printf("\"uncut\":%zu,\"uncutLongestWaitMs\":{", uncut);
  print_percentile("p99", uncut_waits, uncut, 99, ",");
  print_percentile("max", uncut_waits, uncut, 100, "},");
  printf("\"closed\":%ld,\"invalid\":%ld,\"errors\":%ld,\"loadgenCpuMsPerSecond\":%.3f}\n", closed, invalid_parts, errors, cpu / window_seconds);
  return 0;
}

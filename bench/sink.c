/*
 * The load generator's counting sink: many SSE connections over raw loopback TCP, each counting
 * its bytes, its frames ("\n\n") and its domain frames ("\nid: ") with memchr, and nothing else.
 * It does the work of bench/subscriber-worker.js for connections that are not sampled, at a
 * fraction of the CPU, so the generator does not become the bottleneck of a burst (B2): the
 * issue's own reference figures were taken with a C sink. Sampled connections (JSON, latency,
 * seq checks) stay in the Node workers.
 *
 * Driven by bench/lib/loadgen.js over stdin/stdout, one command per line, one reply per line:
 *   <id> open <concurrency> <n>     then n lines: <port> <target> <request-length>, each followed
 *                                   by that many bytes of HTTP request; replied to once every new
 *                                   connection has its response head (or failed)
 *   <id> stats [detail]             <id> {json}: the same fields as subscriber-worker.js
 *   <id> expect <all>               every connection's target
 *   <id> close                      closes every connection
 *   <id> exit
 * A gzip answer (Content-Encoding: gzip) is inflated per connection and counted in what it inflates
 * to; `bytes` stays what came over the wire.
 * Arguments: loopback source addresses (127.0.0.2 …) to spread the connections over, round-robin;
 * one address has ~28k ephemeral ports to a given server port (B7 opens 100,000). None: the kernel's choice.
 * Build: cc -O2 -o bench/.build/sink bench/sink.c -lz (bench/lib/loadgen.js does it when needed).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define TAIL 4                  /* strlen("\nid: ") - 1 */
#define READ_SIZE (1 << 20)
#define MAX_HEAD 65536
#define STDIN_TAG ((uint64_t)-1)

typedef struct {
  int fd;
  int port;
  int status;
  int head_done;
  int closed;
  int closed_by_us;
  int counted_settle;
  const char *error;
  char *head;
  size_t head_len;
  unsigned char tail[TAIL];
  int tail_len;
  long long ids, frames, bytes, target;
  double headers_at, done_at;
  char *request;
  size_t request_len, request_sent;
  int gzip;                     /* the answer is Content-Encoding: gzip: frames are counted in its inflated bytes */
  z_stream inflater;
} conn_t;

static conn_t *conns;
static size_t conn_count, conn_cap;
static int ep;
static struct in_addr *sources;
static int source_count;
static size_t started_count;
static unsigned char read_buf[TAIL + READ_SIZE];
static unsigned char inflate_buf[TAIL + READ_SIZE];

/* One pending `open`: replied to when every connection in [first, first+n) has settled. */
static struct {
  long id;
  size_t first, n, next, settled;
  int concurrency, active;
} opening;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)(ts.tv_nsec / 1000000);
}

static void settle(conn_t *c) {
  if (c->counted_settle || !opening.active) return;
  size_t index = (size_t)(c - conns);
  if (index < opening.first || index >= opening.first + opening.n) return;
  c->counted_settle = 1;
  opening.settled++;
}

static void close_conn(conn_t *c, const char *error) {
  if (c->closed) return;
  if (error && !c->error) c->error = error;
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->closed = 1;
  free(c->head);
  c->head = NULL;
  free(c->request);
  c->request = NULL;
  if (c->gzip) inflateEnd(&c->inflater);
  c->gzip = 0;
  settle(c);
}

/* Counts "\n\n" and "\nid: " that end in the `n` new bytes at data (the carried tail sits before it). */
static void count(conn_t *c, unsigned char *data, size_t n) {
  unsigned char *start = data - c->tail_len;
  memcpy(start, c->tail, (size_t)c->tail_len);
  unsigned char *end = data + n;
  unsigned char *p = start;
  while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
    if (p + 1 < end && p[1] == '\n' && p + 1 >= data) c->frames++;
    if (p + 4 < end && p[1] == 'i' && p[2] == 'd' && p[3] == ':' && p[4] == ' ' && p + 4 >= data) c->ids++;
    p++;
  }
  size_t have = (size_t)(end - start);
  size_t keep = have < TAIL ? have : TAIL;
  memcpy(c->tail, end - keep, keep);
  c->tail_len = (int)keep;
}

static void on_body(conn_t *c, unsigned char *data, size_t n, double now) {
  c->bytes += (long long)n;
  if (!c->gzip) {
    count(c, data, n);
  } else {
    c->inflater.next_in = data;
    c->inflater.avail_in = (uInt)n;
    do {
      c->inflater.next_out = inflate_buf + TAIL;
      c->inflater.avail_out = READ_SIZE;
      int rc = inflate(&c->inflater, Z_SYNC_FLUSH);
      size_t out = READ_SIZE - c->inflater.avail_out;
      if (out > 0) count(c, inflate_buf + TAIL, out);
      if (rc == Z_STREAM_END) break;
      if (rc != Z_OK && rc != Z_BUF_ERROR) {
        c->error = "gzip body failed to inflate";
        break;
      }
    } while (c->inflater.avail_out == 0);
  }
  if (c->target > 0 && c->done_at == 0 && c->ids >= c->target) c->done_at = now;
}

static void on_readable(conn_t *c) {
  unsigned char *data = read_buf + TAIL;
  for (;;) {
    ssize_t n = read(c->fd, data, READ_SIZE);
    if (n == 0) return close_conn(c, NULL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR) continue;
      return close_conn(c, errno == ECONNRESET ? "ECONNRESET" : "read failed");
    }
    double now = now_ms();
    if (!c->head_done) {
      c->head = realloc(c->head, c->head_len + (size_t)n + 1);
      memcpy(c->head + c->head_len, data, (size_t)n);
      c->head_len += (size_t)n;
      char *end = memmem(c->head, c->head_len, "\r\n\r\n", 4);
      if (!end) {
        if (c->head_len > MAX_HEAD) return close_conn(c, "head too large");
        continue;
      }
      c->head_done = 1;
      c->headers_at = now;
      c->head[c->head_len] = 0;
      c->status = c->head_len > 12 ? atoi(c->head + 9) : 0;
      settle(c);
      if (c->status != 200) return close_conn(c, NULL);
      /* A "\n" stands for the end of the head, so a first frame's "id: " counts; the body read
         with the head is counted where it lies (count() writes the tail just before it). */
      c->tail[0] = '\n';
      c->tail_len = 1;
      if (strcasestr(c->head, "\r\ncontent-encoding: gzip\r\n")) {
        memset(&c->inflater, 0, sizeof c->inflater);
        if (inflateInit2(&c->inflater, 16 + MAX_WBITS) != Z_OK) return close_conn(c, "inflateInit2 failed");
        c->gzip = 1;
      }
      size_t body_at = (size_t)(end - c->head) + 4;
      if (c->head_len > body_at) on_body(c, (unsigned char *)c->head + body_at, c->head_len - body_at, now);
      free(c->head);
      c->head = NULL;
      continue;
    }
    on_body(c, data, (size_t)n, now);
  }
}

static void flush_request(conn_t *c) {
  while (c->request_sent < c->request_len) {
    ssize_t n = write(c->fd, c->request + c->request_sent, c->request_len - c->request_sent);
    if (n < 0) {
      if (errno == EAGAIN) return;
      return close_conn(c, "ECONNREFUSED");
    }
    c->request_sent += (size_t)n;
  }
  free(c->request);
  c->request = NULL;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = (uint64_t)(c - conns)};
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void start_conn(conn_t *c) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    c->closed = 1;
    c->error = "EMFILE";
    settle(c);
    return;
  }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (source_count > 0) {
    /* The port is chosen at connect(), unique per 4-tuple, not per address: see IP_BIND_ADDRESS_NO_PORT. */
    setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in source = {.sin_family = AF_INET, .sin_addr = sources[started_count++ % (size_t)source_count]};
    if (bind(c->fd, (struct sockaddr *)&source, sizeof source) < 0) {
      close(c->fd);
      c->closed = 1;
      c->error = "bind to the source address failed";
      settle(c);
      return;
    }
  }
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.u64 = (uint64_t)(c - conns)};
  epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
  if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) close_conn(c, "ECONNREFUSED");
}

/* Starts connections of the pending open while fewer than `concurrency` wait for their head. */
static void launch(void) {
  while (opening.active && opening.next < opening.n &&
         (opening.concurrency <= 0 || opening.next - opening.settled < (size_t)opening.concurrency)) {
    size_t i = opening.first + opening.next++;
    start_conn(&conns[i]);
  }
}

static void reply(long id, const char *json) {
  printf("%ld %s\n", id, json);
  fflush(stdout);
}

static void finish_open_if_done(void) {
  if (!opening.active || opening.settled < opening.n) return;
  opening.active = 0;
  char text[64];
  snprintf(text, sizeof text, "{\"opened\":%zu}", opening.n);
  reply(opening.id, text);
}

/* Appends to a growing string. */
typedef struct {
  char *s;
  size_t len, cap;
} buf_t;
static void put(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(buf_t *b, const char *fmt, ...) {
  for (;;) {
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, args);
    va_end(args);
    if (n >= 0 && b->len + (size_t)n < b->cap) {
      b->len += (size_t)n;
      return;
    }
    b->cap = b->cap * 2 + (size_t)n + 64;
    b->s = realloc(b->s, b->cap);
  }
}

static void stats(long id, int detail) {
  long long ids = 0, frames = 0, bytes = 0, ok = 0, ready = 0, reached = 0, closed = 0, unexpected = 0, loss = 0, extra = 0;
  double max_done = 0, min_done = 0, max_headers = 0;
  int status_codes[16], status_counts[16], statuses = 0;
  const char *error_names[16];
  int error_counts[16], errors = 0;
  for (size_t i = 0; i < conn_count; i++) {
    conn_t *c = &conns[i];
    ids += c->ids;
    frames += c->frames;
    bytes += c->bytes;
    if (c->status) {
      int k = 0;
      while (k < statuses && status_codes[k] != c->status) k++;
      if (k == statuses && statuses < 16) status_codes[statuses] = c->status, status_counts[statuses++] = 0;
      if (k < statuses) status_counts[k]++;
    }
    if (c->error) {
      int k = 0;
      while (k < errors && strcmp(error_names[k], c->error) != 0) k++;
      if (k == errors && errors < 16) error_names[errors] = c->error, error_counts[errors++] = 0;
      if (k < errors) error_counts[k]++;
    }
    if (c->status == 200) ok++;
    if (c->status == 200 && c->frames >= 1 && c->ids >= c->target) ready++;
    if (c->ids >= c->target) reached++;
    if (c->closed) closed++;
    if (c->closed && !c->closed_by_us) unexpected++;
    if (c->ids < c->target) loss += c->target - c->ids;
    if (c->target > 0 && c->ids > c->target) extra += c->ids - c->target;
    if (c->done_at > max_done) max_done = c->done_at;
    if (c->done_at && (!min_done || c->done_at < min_done)) min_done = c->done_at;
    if (c->headers_at > max_headers) max_headers = c->headers_at;
  }
  buf_t b = {.s = malloc(4096), .cap = 4096};
  put(&b, "{\"conns\":%zu,\"ids\":%lld,\"frames\":%lld,\"bytes\":%lld,\"ok\":%lld,\"ready\":%lld,\"reached\":%lld,", conn_count, ids, frames, bytes, ok, ready, reached);
  put(&b, "\"closed\":%lld,\"closedUnexpectedly\":%lld,\"loss\":%lld,\"extra\":%lld,", closed, unexpected, loss, extra);
  put(&b, "\"maxDoneAt\":%.0f,\"minDoneAt\":%.0f,\"maxHeadersAt\":%.0f,", max_done, min_done, max_headers);
  put(&b, "\"seqGaps\":0,\"seqDups\":0,\"sampled\":0,\"controlEvents\":{},\"lastId\":null,\"statuses\":{");
  for (int k = 0; k < statuses; k++) put(&b, "%s\"%d\":%d", k ? "," : "", status_codes[k], status_counts[k]);
  put(&b, "},\"errors\":{");
  for (int k = 0; k < errors; k++) put(&b, "%s\"%s\":%d", k ? "," : "", error_names[k], error_counts[k]);
  put(&b, "}");
  if (detail) {
    put(&b, ",\"idsPerConn\":[");
    for (size_t i = 0; i < conn_count; i++) put(&b, "%s%lld", i ? "," : "", conns[i].ids);
    put(&b, "]");
  }
  put(&b, "}");
  reply(id, b.s);
  free(b.s);
}

/* stdin: commands, and the raw requests that follow `open`. */
static char *in_buf;
static size_t in_len, in_cap;

static int read_commands(void) {
  if (in_cap - in_len < 65536) {
    in_cap = in_cap * 2 + 65536;
    in_buf = realloc(in_buf, in_cap);
  }
  ssize_t n = read(0, in_buf + in_len, in_cap - in_len);
  if (n <= 0) return n == 0 || (errno != EAGAIN && errno != EINTR) ? -1 : 0;
  in_len += (size_t)n;
  return 0;
}

/* Parses whole commands from in_buf; leaves an incomplete one for the next read. */
static int run_commands(void) {
  size_t at = 0;
  for (;;) {
    char *nl = memchr(in_buf + at, '\n', in_len - at);
    if (!nl) break;
    size_t line_end = (size_t)(nl - in_buf);
    long id = 0;
    char cmd[16] = {0};
    long long a = 0, b = 0;
    in_buf[line_end] = 0;
    int fields = sscanf(in_buf + at, "%ld %15s %lld %lld", &id, cmd, &a, &b);
    if (fields < 2) return -1;
    size_t next = line_end + 1;
    if (strcmp(cmd, "open") == 0) {
      /* Needs every request line and body buffered before it runs. */
      size_t scan = next;
      int complete = 1;
      for (long long k = 0; k < b && complete; k++) {
        char *eol = memchr(in_buf + scan, '\n', in_len - scan);
        if (!eol) { complete = 0; break; }
        int port = 0;
        long long target = 0, len = 0;
        if (sscanf(in_buf + scan, "%d %lld %lld", &port, &target, &len) != 3) return -1;
        size_t body = (size_t)(eol - in_buf) + 1;
        if (body + (size_t)len > in_len) { complete = 0; break; }
        scan = body + (size_t)len;
      }
      if (!complete) {
        in_buf[line_end] = '\n';
        break;
      }
      if (conn_count + (size_t)b > conn_cap) {
        conn_cap = (conn_count + (size_t)b) * 2;
        conns = realloc(conns, conn_cap * sizeof *conns);
      }
      opening.id = id;
      opening.first = conn_count;
      opening.n = (size_t)b;
      opening.next = opening.settled = 0;
      opening.concurrency = (int)a;
      opening.active = 1;
      scan = next;
      for (long long k = 0; k < b; k++) {
        char *eol = memchr(in_buf + scan, '\n', in_len - scan);
        int port = 0;
        long long target = 0, len = 0;
        sscanf(in_buf + scan, "%d %lld %lld", &port, &target, &len);
        size_t body = (size_t)(eol - in_buf) + 1;
        conn_t *c = &conns[conn_count];
        memset(c, 0, sizeof *c);
        c->fd = -1;
        c->target = target;
        c->request = malloc((size_t)len);
        memcpy(c->request, in_buf + body, (size_t)len);
        c->request_len = (size_t)len;
        c->port = port;
        conn_count++;
        scan = body + (size_t)len;
      }
      next = scan;
      launch();
      finish_open_if_done();
    } else if (strcmp(cmd, "stats") == 0) {
      stats(id, fields >= 3 && a != 0);
    } else if (strcmp(cmd, "expect") == 0) {
      double now = now_ms();
      for (size_t i = 0; i < conn_count; i++) {
        conns[i].target = a;
        conns[i].done_at = conns[i].ids >= a ? now : 0;
      }
      reply(id, "{}");
    } else if (strcmp(cmd, "close") == 0) {
      size_t open_count = 0;
      for (size_t i = 0; i < conn_count; i++) {
        if (conns[i].closed) continue;
        open_count++;
        conns[i].closed_by_us = 1;
        close_conn(&conns[i], NULL);
      }
      conn_count = 0;
      opening.active = 0;
      char text[64];
      snprintf(text, sizeof text, "{\"closed\":%zu}", open_count);
      reply(id, text);
    } else if (strcmp(cmd, "exit") == 0) {
      reply(id, "{}");
      exit(0);
    } else {
      char text[96];
      snprintf(text, sizeof text, "{\"error\":\"unknown command %s\"}", cmd);
      reply(id, text);
    }
    at = next;
  }
  memmove(in_buf, in_buf + at, in_len - at);
  in_len -= at;
  return 0;
}

int main(int argc, char **argv) {
  source_count = argc - 1;
  sources = calloc((size_t)(source_count > 0 ? source_count : 1), sizeof *sources);
  for (int i = 0; i < source_count; i++) {
    if (inet_pton(AF_INET, argv[i + 1], &sources[i]) != 1 || (ntohl(sources[i].s_addr) >> 24) != 127) {
      fprintf(stderr, "sink: %s is not a loopback IPv4 address\n", argv[i + 1]);
      return 2;
    }
  }
  ep = epoll_create1(EPOLL_CLOEXEC);
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
  struct epoll_event in_ev = {.events = EPOLLIN, .data.u64 = STDIN_TAG};
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &in_ev);
  struct epoll_event events[256];
  for (;;) {
    int n = epoll_wait(ep, events, 256, 1000);
    if (n < 0 && errno != EINTR) return 1;
    for (int i = 0; i < n; i++) {
      if (events[i].data.u64 == STDIN_TAG) {
        if (read_commands() < 0) return 0; /* the driver is gone: do not linger */
        if (run_commands() < 0) return 2;
        /* A command may have closed or replaced connections: the rest of this batch is stale
           (epoll is level-triggered, so what is still pending is reported again). */
        break;
      }
      if (events[i].data.u64 >= conn_count) continue;
      conn_t *c = &conns[events[i].data.u64];
      if (c->closed) continue;
      if (c->request) {
        if (events[i].events & (EPOLLERR | EPOLLHUP)) {
          close_conn(c, "ECONNREFUSED");
          continue;
        }
        if (events[i].events & EPOLLOUT) flush_request(c);
        if (c->closed || c->request) continue;
      }
      if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) on_readable(c);
    }
    launch();
    finish_open_if_done();
  }
}

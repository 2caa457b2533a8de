/*
 * Opens HTTP connections that send one request and never read a byte, with a small receive buffer
 * (SO_RCVBUF, set before connect), so a server's unsent data piles up in the server and not in this
 * process's kernel buffers. Node cannot set SO_RCVBUF on a TCP socket, hence this program.
 *
 *   stalled-clients <port> <rcvbuf-bytes> <count> <interval-ms> <request-file>
 *
 * Opens <count> connections to 127.0.0.1:<port>, one every <interval-ms>, each sending the bytes
 * of <request-file>; prints "open <n>" per connection; holds them all until stdin closes, then exits.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s <port> <rcvbuf-bytes> <count> <interval-ms> <request-file>\n", argv[0]);
    return 2;
  }
  int port = atoi(argv[1]);
  int rcvbuf = atoi(argv[2]);
  int count = atoi(argv[3]);
  long interval = atol(argv[4]);
  FILE *file = fopen(argv[5], "rb");
  if (!file) {
    perror("request file");
    return 2;
  }
  static char request[65536];
  size_t length = fread(request, 1, sizeof request, file);
  fclose(file);

  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

  setvbuf(stdout, NULL, _IOLBF, 0);
  for (int i = 0; i < count; i++) {
    if (i > 0 && interval > 0) sleep_ms(interval);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
      perror("socket");
      return 1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) != 0) perror("SO_RCVBUF");
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
      printf("refused %d\n", i + 1);
      close(fd);
      continue;
    }
    size_t sent = 0;
    while (sent < length) {
      ssize_t n = send(fd, request + sent, length - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += (size_t)n;
    }
    printf("open %d\n", i + 1);
  }
  char drain[256];
  while (read(STDIN_FILENO, drain, sizeof drain) > 0) {
  }
  return 0;
}

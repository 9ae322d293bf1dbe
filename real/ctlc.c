/*
 * ctlc.c - the CLI end of the control socket (blocking I/O).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

int ctlc_connect(const char *sock_path) {
  struct sockaddr_un sa;
  int fd;
  if (strlen(sock_path) >= sizeof sa.sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  strcpy(sa.sun_path, sock_path);
  if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) return -1;
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

static int send_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int send_request(int fd, const char *verb, int argc, char **argv) {
  size_t len = strlen(CTL_MAGIC) + strlen(verb) + 3;
  char *req, *p;
  int rc;
  for (int i = 0; i < argc; i++) {
    if (argv[i][0] == '\0' || strchr(argv[i], '\n')) {
      fprintf(stderr, "vss-node: empty argument or one with a newline\n");
      return -1;
    }
    len += strlen(argv[i]) + 1;
  }
  if (len > CTL_MAX_REQUEST || (req = malloc(len + 1)) == NULL) {
    fprintf(stderr, "vss-node: request too large\n");
    return -1;
  }
  p = req + sprintf(req, "%s\n%s\n", CTL_MAGIC, verb);
  for (int i = 0; i < argc; i++)
    p += sprintf(p, "%s\n", argv[i]);
  *p++ = '\n';
  rc = send_all(fd, req, (size_t)(p - req));
  free(req);
  return rc;
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Prints one response line; returns the status on "x", else -1. */
static int show_line(char *line) {
  char kind = line[0];
  const char *text = line[1] == ' ' ? line + 2 : line + 1;
  if (kind == 'x') return atoi(text);
  if (kind == 'o') {
    printf("%s\n", text);
    fflush(stdout);
  } else if (kind == 'p') {
    fprintf(stderr, "%s\n", text);
  } else {
    fprintf(stderr, "vss-node: %s\n", text);
  }
  return -1;
}

int ctlc_run(int fd, const char *verb, int argc, char **argv, int timeout_ms) {
  char buf[65536];
  size_t len = 0;
  long long deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;

  if (send_request(fd, verb, argc, argv) < 0) return 1;
  for (;;) {
    struct pollfd pfd = {fd, POLLIN, 0};
    int wait = deadline ? (int)(deadline - now_ms()) : -1;
    char *nl;
    ssize_t r;
    if (deadline && wait <= 0) {
      fprintf(stderr, "vss-node: %s: timed out after %d ms\n", verb,
              timeout_ms);
      return 1;
    }
    if (poll(&pfd, 1, wait) < 0 && errno != EINTR) return 1;
    if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR))) continue;
    r = recv(fd, buf + len, sizeof buf - 1 - len, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      fprintf(stderr, "vss-node: the daemon closed the connection before "
                      "answering (did it stop or crash?)\n");
      return 1;
    }
    len += (size_t)r;
    buf[len] = '\0';
    while ((nl = strchr(buf, '\n')) != NULL) {
      int st;
      *nl = '\0';
      if ((st = show_line(buf)) >= 0) return st;
      len -= (size_t)(nl + 1 - buf);
      memmove(buf, nl + 1, len + 1);
    }
    if (len == sizeof buf - 1) len = 0; /* an absurd line: drop it */
  }
}

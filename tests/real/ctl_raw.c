/*
 * ctl_raw.c - sends stdin's bytes, as they are (NUL bytes included), to
 * a unix socket and copies the answer to stdout: a hostile local client
 * of the daemon's control socket, for test_local.sh.
 *
 *   ctl_raw SOCKET_PATH < request
 *
 * Exit 0 when the daemon answered and closed, 1 when the connection
 * failed.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
  struct sockaddr_un sa;
  char buf[65536];
  ssize_t n;
  int fd;
  if (argc != 2 || strlen(argv[1]) >= sizeof sa.sun_path) {
    fprintf(stderr, "usage: ctl_raw SOCKET_PATH < request\n");
    return 2;
  }
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  strcpy(sa.sun_path, argv[1]);
  if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 ||
      connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    perror("ctl_raw: connect");
    return 1;
  }
  while ((n = read(0, buf, sizeof buf)) > 0)
    if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) != n) break;
  shutdown(fd, SHUT_WR); /* a request without its end still ends */
  while ((n = recv(fd, buf, sizeof buf, 0)) > 0)
    fwrite(buf, 1, (size_t)n, stdout);
  close(fd);
  return n == 0 ? 0 : 1;
}

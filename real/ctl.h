/*
 * ctl.h - the control socket between the CLI and a running daemon:
 * data_dir/ctl.sock, a unix stream socket (mode 0600 inside the 0700
 * data dir: only the owner can talk to the daemon).
 *
 * Request:  "vss-ctl 1\n" VERB "\n" ARG "\n" ... "\n"   (empty line ends)
 * Response: lines "o TEXT" (stdout), "e TEXT" (stderr), "p TEXT"
 *           (progress), then "x STATUS" (the exit status).
 *
 * The daemon side lives in ctl.c (declared in srv.h); this is the client.
 */
#ifndef VSS_REAL_CTL_H
#define VSS_REAL_CTL_H

#define CTL_MAGIC "vss-ctl 1"
#define CTL_MAX_REQUEST (64u << 20)

/* Connects to the daemon's socket. Returns a fd, or -1 with errno set;
 * ENOENT / ECONNREFUSED mean no daemon is running. */
int ctlc_connect(const char *sock_path);
/* Sends one request and prints the answer (o to stdout, e and p to
 * stderr). Returns the daemon's exit status, or 1 when the connection
 * broke or timeout_ms (0 = none) passed. */
int ctlc_run(int fd, const char *verb, int argc, char **argv, int timeout_ms);

#endif

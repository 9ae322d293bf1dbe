/*
 * main.c - vss-node: the real-device daemon and CLI of vss-sync.
 */
#include "cli.h"

int main(int argc, char **argv) {
  return cli_main(argc, argv);
}

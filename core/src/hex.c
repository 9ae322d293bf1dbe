/*
 * hex.c - the digit table of hex.h.
 */
#include "hex.h"

#define HX(c, v) [c] = (v) + 1
const int8_t vss_hex_tbl[256] = {
    HX('0', 0),  HX('1', 1),  HX('2', 2),  HX('3', 3),  HX('4', 4),
    HX('5', 5),  HX('6', 6),  HX('7', 7),  HX('8', 8),  HX('9', 9),
    HX('a', 10), HX('b', 11), HX('c', 12), HX('d', 13), HX('e', 14),
    HX('f', 15), HX('A', 10), HX('B', 11), HX('C', 12), HX('D', 13),
    HX('E', 14), HX('F', 15)};
#undef HX

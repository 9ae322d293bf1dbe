/*
 * store_sqlite.h - internals of the SQLite store shared with its tests.
 */
#ifndef VSS_STORE_SQLITE_H
#define VSS_STORE_SQLITE_H

/* Test hook: when set, the schema v5 migration calls it after each of
 * its statements with the statement's number (1, 2, ...), inside the
 * migration's transaction. test_store_sqlite ends a child process there
 * to show that a crash mid-migration leaves the old version intact. */
extern void (*vss__sqlite_migrate_hook)(int step);

#endif

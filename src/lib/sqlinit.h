/* sqlinit.h: process-wide SQLite settings, applied once before the first
 * connection opens (every opener calls de_sqlite_init()).
 *
 * Memory statistics are turned off (SQLITE_CONFIG_MEMSTATUS): with them on,
 * every allocation SQLite makes takes one process-wide mutex, which made
 * two threads evaluating rules on their own connections at once slower than
 * one (engine.h: lanes). Nothing in DaemonEye reads sqlite3_memory_used()
 * or sets a heap limit, which are what the statistics are for.
 */
#ifndef DE_SQLINIT_H
#define DE_SQLINIT_H

/* Idempotent and thread-safe. A setting SQLite refuses because it was
 * already initialized (a test that opened a connection first) is left
 * as it was. */
void de_sqlite_init(void);

#endif

/* sqlinit.c: process-wide SQLite settings (see sqlinit.h). */
#include <pthread.h>
#include <sqlite3.h>

#include "sqlinit.h"

static void init_once(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	sqlite3_initialize();
}

void de_sqlite_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, init_once);
}

/* store_schema.h: the store's migrations (store_schema.c), internal to
 * the store module. de_store_migrations[i] upgrades version i to i + 1. */
#ifndef DE_STORE_SCHEMA_H
#define DE_STORE_SCHEMA_H

#include <stddef.h>

extern const char *const de_store_migrations[];
extern const size_t de_store_n_migrations;

#endif

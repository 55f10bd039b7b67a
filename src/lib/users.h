/* users.h: user and group names for ids, cached.
 *
 * A snapshot asks for the same few uids thousands of times; NSS lookups
 * (getpwuid_r) re-read /etc/passwd or ask a daemon each time. The cache is
 * a small open-addressed table owned by the caller; a uid with no passwd
 * entry is cached as "no name" too, so a hostile process with a random uid
 * costs one lookup, and the table stops growing at a fixed bound (further
 * misses are looked up every time rather than evicting).
 */
#ifndef DE_USERS_H
#define DE_USERS_H

#include <stdint.h>
#include <sys/types.h>

struct de_users;

struct de_users *de_users_new(void);
void de_users_free(struct de_users *u);
/* Name of uid, or NULL when it has none. The pointer stays valid until
 * de_users_free. */
const char *de_users_name(struct de_users *u, uint32_t uid);
/* Name of gid, or NULL. */
const char *de_users_group(struct de_users *u, uint32_t gid);

#endif

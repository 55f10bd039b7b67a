/* ipcconn.c: see ipcconn.h. */
#include <errno.h>
#include <unistd.h>

#include "ipcconn.h"

#define SCRATCH_CAP (64u * 1024u * 1024u)

int de_ipc_conn_open(struct de_ipc_conn *c, int fd, size_t outq_cap)
{
	*c = (struct de_ipc_conn){ .fd = fd };
	de_ipc_outq_init(&c->q, outq_cap);
	c->rd = de_ipc_reader_new(0);
	c->arena = de_arena_new(de_ipc_arena_cap(0));
	c->scratch = de_arena_new(SCRATCH_CAP);
	if (!c->rd || !c->arena || !c->scratch) {
		de_ipc_conn_close(c);
		return -ENOMEM;
	}
	return 0;
}

void de_ipc_conn_close(struct de_ipc_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	de_ipc_reader_free(c->rd);
	c->rd = NULL;
	de_arena_free(c->arena);
	c->arena = NULL;
	de_arena_free(c->scratch);
	c->scratch = NULL;
	de_ipc_outq_free(&c->q);
}

int de_ipc_conn_flush(struct de_ipc_conn *c)
{
	return de_ipc_outq_flush(&c->q, c->fd);
}

int de_ipc_conn_send(struct de_ipc_conn *c, const struct de_ipc_msg *m)
{
	de_arena_reset(c->scratch);
	int64_t r = de_ipc_outq_push_msg(&c->q, m, NULL, c->scratch);
	if (r < 0)
		return (int)r;
	return de_ipc_conn_flush(c);
}

int de_ipc_conn_send_frame(struct de_ipc_conn *c, const void *frame, size_t n)
{
	int r = de_ipc_outq_push(&c->q, frame, n);
	if (r < 0)
		return r;
	return de_ipc_conn_flush(c);
}

int de_ipc_conn_decode(struct de_ipc_conn *c, const uint8_t *payload, size_t len,
		       struct de_ipc_msg *m)
{
	de_arena_reset(c->arena);
	return de_ipc_decode(payload, len, NULL, c->arena, m);
}

void de_ipc_conn_send_error(struct de_ipc_conn *c, int err, const char *message)
{
	struct de_ipc_msg m = { .kind = DE_IPC_ERROR,
				.error = { .code = err < 0 ? -err : err, .message = message } };
	(void)de_ipc_conn_send(c, &m);
}

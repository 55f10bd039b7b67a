/* ipcmsg.c: Envelope encoding and decoding (ipcmsg.h). Events are
 * converted by ipcevent.c; this file handles the envelope, the small
 * messages and the frame header around the packed payload. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "de_build.h"
#include "ipcevent.h"
#include "ipcframe.h"
#include "ipcmsg.h"
#include "macros.h"

#define BAD(cond) do { if (cond) return -EBADMSG; } while (0)
#define TRY(expr) do { int _r = (expr); if (_r < 0) return _r; } while (0)

/* ComponentStatus scalars with the same name on both sides. */
#define COMPONENT_SCALARS(X) \
	X(pid) X(uid) X(cap_eff) X(events_per_sec) X(drops) X(queue_depth) X(uptime_ns) \
	X(cpu_ns) X(rss_bytes) X(ledger_state) X(ledger_errno) X(ledger_records) X(ledger_checkpoint)

const char *de_ipc_kind_name(enum de_ipc_kind k)
{
	switch (k) {
	case DE_IPC_HELLO: return "hello";
	case DE_IPC_HELLO_ACK: return "hello_ack";
	case DE_IPC_EVENT_BATCH: return "event_batch";
	case DE_IPC_STATUS_REQUEST: return "status_request";
	case DE_IPC_STATUS: return "status";
	case DE_IPC_ACK: return "ack";
	case DE_IPC_ERROR: return "error";
	case DE_IPC_LEDGER_APPEND: return "ledger_append";
	case DE_IPC_LEDGER_CHECKPOINT: return "ledger_checkpoint";
	}
	return "unknown";
}

int de_ipc_hello_answer(const struct de_ipc_hello *h, unsigned allowed_roles,
			uint64_t offered_caps, struct de_ipc_hello_ack *ack)
{
	*ack = (struct de_ipc_hello_ack){ .accepted = false, .minor = DE_IPC_VERSION_MINOR };
	if (h->major != DE_IPC_VERSION_MAJOR) {
		ack->reason = "unsupported protocol major version";
		return -EPROTONOSUPPORT;
	}
	if (h->role < DE_IPC_ROLE_PROCMOND || h->role > DE_IPC_ROLE_CLI ||
	    !(allowed_roles & (1u << h->role))) {
		ack->reason = "role not accepted on this socket";
		return -EPERM;
	}
	ack->accepted = true;
	ack->reason = "";
	uint32_t ours = DE_IPC_VERSION_MINOR;
	ack->minor = DE_MIN(h->minor, ours);
	ack->caps = h->caps & offered_caps;
	return 0;
}

void de_ipc_hello_init(struct de_ipc_hello *h, enum de_ipc_role role, uint64_t caps)
{
	*h = (struct de_ipc_hello){ .role = role, .major = DE_IPC_VERSION_MAJOR,
				    .minor = DE_IPC_VERSION_MINOR, .pid = getpid(),
				    .build_version = DE_VERSION, .caps = caps };
}

size_t de_ipc_arena_cap(uint32_t frame_max)
{
	if (!frame_max)
		frame_max = DE_IPC_FRAME_MAX_DEFAULT;
	return (size_t)frame_max * 16u + (1u << 20);
}

static uint32_t frame_max_of(const struct de_ipc_limits *lim)
{
	uint32_t v = lim && lim->frame_max ? lim->frame_max : DE_IPC_FRAME_MAX_DEFAULT;
	return DE_MIN(v, (uint32_t)DE_IPC_FRAME_MAX_LIMIT);
}

static uint32_t argv_max_of(const struct de_ipc_limits *lim)
{
	return lim && lim->argv_max ? lim->argv_max : DE_IPC_ARGV_MAX_DEFAULT;
}

/* ---- encoding --------------------------------------------------------- */

/* A text field, NULL as empty, cut at the receiver's bound. */
static void put_text(ProtobufCBinaryData *d, const char *s, size_t max)
{
	d->data = (uint8_t *)(uintptr_t)(s ? s : "");
	d->len = s ? strnlen(s, max) : 0;
}

static int batch_to_pb(const struct de_ipc_batch *b, const struct de_ipc_limits *lim,
		       struct de_arena *a, Daemoneye__V1__EventBatch *m)
{
	if (b->n > DE_IPC_BATCH_MAX)
		return -EINVAL;
	m->first_seq = b->first_seq;
	m->resync = b->resync;
	m->spilled = b->spilled;
	m->n_events = b->n;
	if (!b->n)
		return 0;
	Daemoneye__V1__Event *ev = de_arena_alloc(a, b->n * sizeof(*ev));
	m->events = de_arena_alloc(a, b->n * sizeof(*m->events));
	if (!ev || !m->events)
		return -ENOMEM;
	for (size_t i = 0; i < b->n; i++) {
		if (b->events[i].seq != b->first_seq + i)
			return -EINVAL;
		TRY(de_ipc_event_to_pb(&b->events[i], argv_max_of(lim), a, &ev[i]));
		m->events[i] = &ev[i];
	}
	return 0;
}

static int status_to_pb(const struct de_ipc_status *s, struct de_arena *a,
			Daemoneye__V1__Status *m)
{
	if (s->n > DE_IPC_STATUS_MAX)
		return -EINVAL;
	m->n_components = s->n;
	if (!s->n)
		return 0;
	Daemoneye__V1__ComponentStatus *c = de_arena_alloc(a, s->n * sizeof(*c));
	m->components = de_arena_alloc(a, s->n * sizeof(*m->components));
	if (!c || !m->components)
		return -ENOMEM;
	for (size_t i = 0; i < s->n; i++) {
		const struct de_ipc_component *in = &s->components[i];
		daemoneye__v1__component_status__init(&c[i]);
#define ENC(f) c[i].f = in->f;
		COMPONENT_SCALARS(ENC)
#undef ENC
		put_text(&c[i].component, in->component, DE_IPC_NAME_MAX);
		put_text(&c[i].source, in->source, DE_IPC_NAME_MAX);
		m->components[i] = &c[i];
	}
	return 0;
}

/* Build the Envelope for m; every sub-structure from the arena. */
static int msg_to_pb(const struct de_ipc_msg *msg, const struct de_ipc_limits *lim,
		     struct de_arena *a, Daemoneye__V1__Envelope *env)
{
	daemoneye__v1__envelope__init(env);
	switch (msg->kind) {
	case DE_IPC_HELLO: {
		Daemoneye__V1__Hello *m = de_arena_alloc(a, sizeof(*m));
		if (!m)
			return -ENOMEM;
		daemoneye__v1__hello__init(m);
		m->role = (Daemoneye__V1__Role)msg->hello.role;
		m->protocol_major = msg->hello.major;
		m->protocol_minor = msg->hello.minor;
		m->pid = msg->hello.pid;
		put_text(&m->build_version, msg->hello.build_version, DE_IPC_NAME_MAX);
		m->capabilities = msg->hello.caps;
		env->hello = m;
		env->msg_case = DAEMONEYE__V1__ENVELOPE__MSG_HELLO;
		return 0;
	}
	case DE_IPC_HELLO_ACK: {
		Daemoneye__V1__HelloAck *m = de_arena_alloc(a, sizeof(*m));
		if (!m)
			return -ENOMEM;
		daemoneye__v1__hello_ack__init(m);
		m->accepted = msg->hello_ack.accepted;
		put_text(&m->reason, msg->hello_ack.reason, DE_IPC_TEXT_MAX);
		m->protocol_minor = msg->hello_ack.minor;
		m->capabilities = msg->hello_ack.caps;
		env->hello_ack = m;
		env->msg_case = DAEMONEYE__V1__ENVELOPE__MSG_HELLO_ACK;
		return 0;
	}
	case DE_IPC_EVENT_BATCH: {
		Daemoneye__V1__EventBatch *m = de_arena_alloc(a, sizeof(*m));
		if (!m)
			return -ENOMEM;
		daemoneye__v1__event_batch__init(m);
		TRY(batch_to_pb(&msg->batch, lim, a, m));
		env->event_batch = m;
		env->msg_case = DAEMONEYE__V1__ENVELOPE__MSG_EVENT_BATCH;
		return 0;
	}
	case DE_IPC_STATUS_REQUEST: {
		Daemoneye__V1__StatusRequest *m = de_arena_alloc(a, sizeof(*m));
		if (!m)
			return -ENOMEM;
		daemoneye__v1__status_request__init(m);
		env->status_request = m;
		env->msg_case = DAEMONEYE__V1__ENVELOPE__MSG_STATUS_REQUEST;
		return 0;
	}
	case DE_IPC_STATUS: {
		Daemoneye__V1__Status *m = de_arena_alloc(a, sizeof(*m));
		if (!m)
			return -ENOMEM;
		daemoneye__v1__status__init(m);
		TRY(status_to_pb(&msg->status, a, m));
		env->status = m;
		env->msg_case = DAEMONEYE__V1__ENVELOPE__MSG_STATUS;
		return 0;
	}
	case DE_IPC_ACK: {
		Daemoneye__V1__Ack *m = de_arena_alloc(a, sizeof(*m));
		if (!m)
			return -ENOMEM;
		daemoneye__v1__ack__init(m);
		m->seq = msg->ack_seq;
		env->ack = m;
		env->msg_case = DAEMONEYE__V1__ENVELOPE__MSG_ACK;
		return 0;
	}
	case DE_IPC_ERROR: {
		Daemoneye__V1__Error *m = de_arena_alloc(a, sizeof(*m));
		if (!m)
			return -ENOMEM;
		daemoneye__v1__error__init(m);
		m->code = msg->error.code;
		put_text(&m->message, msg->error.message, DE_IPC_TEXT_MAX);
		env->error = m;
		env->msg_case = DAEMONEYE__V1__ENVELOPE__MSG_ERROR;
		return 0;
	}
	case DE_IPC_LEDGER_APPEND: {
		if (msg->ledger.len > DE_IPC_LEDGER_PAYLOAD_MAX)
			return -EINVAL;
		Daemoneye__V1__LedgerAppend *m = de_arena_alloc(a, sizeof(*m));
		if (!m)
			return -ENOMEM;
		daemoneye__v1__ledger_append__init(m);
		m->type = msg->ledger.type;
		put_text(&m->key, msg->ledger.key, DE_IPC_NAME_MAX);
		m->payload.data = (uint8_t *)(uintptr_t)msg->ledger.payload;
		m->payload.len = msg->ledger.payload ? msg->ledger.len : 0;
		env->ledger_append = m;
		env->msg_case = DAEMONEYE__V1__ENVELOPE__MSG_LEDGER_APPEND;
		return 0;
	}
	case DE_IPC_LEDGER_CHECKPOINT: {
		if (!msg->note || !*msg->note || strnlen(msg->note, DE_IPC_NOTE_MAX + 1) > DE_IPC_NOTE_MAX)
			return -EINVAL;
		Daemoneye__V1__LedgerCheckpoint *m = de_arena_alloc(a, sizeof(*m));
		if (!m)
			return -ENOMEM;
		daemoneye__v1__ledger_checkpoint__init(m);
		put_text(&m->note, msg->note, DE_IPC_NOTE_MAX);
		env->ledger_checkpoint = m;
		env->msg_case = DAEMONEYE__V1__ENVELOPE__MSG_LEDGER_CHECKPOINT;
		return 0;
	}
	}
	return -EINVAL;
}

int64_t de_ipc_encode(const struct de_ipc_msg *m, const struct de_ipc_limits *lim,
		      struct de_arena *scratch, struct de_buf *out)
{
	Daemoneye__V1__Envelope env;
	TRY(msg_to_pb(m, lim, scratch, &env));
	size_t len = protobuf_c_message_get_packed_size(&env.base);
	if (len > frame_max_of(lim))
		return -EMSGSIZE;
	TRY(de_buf_reserve(out, DE_IPC_HDR_LEN + len));
	uint8_t *p = (uint8_t *)out->data + out->len;
	de_ipc_hdr_write(p, (uint32_t)len);
	size_t packed = protobuf_c_message_pack(&env.base, p + DE_IPC_HDR_LEN);
	if (packed != len)
		return -EIO; /* protobuf-c disagrees with itself: never seen */
	out->len += DE_IPC_HDR_LEN + len;
	out->data[out->len] = '\0';
	return (int64_t)(DE_IPC_HDR_LEN + len);
}

int64_t de_ipc_encoded_len(const struct de_ipc_msg *m, const struct de_ipc_limits *lim,
			   struct de_arena *scratch)
{
	Daemoneye__V1__Envelope env;
	TRY(msg_to_pb(m, lim, scratch, &env));
	return (int64_t)(DE_IPC_HDR_LEN + protobuf_c_message_get_packed_size(&env.base));
}

/* ---- decoding --------------------------------------------------------- */

struct pb_arena {
	struct de_arena *a;
	bool oom;
};

static void *pb_alloc(void *ud, size_t n)
{
	struct pb_arena *pa = ud;
	void *p = de_arena_alloc(pa->a, n);
	if (!p)
		pa->oom = true;
	return p;
}

static void pb_free(void *ud, void *p)
{
	(void)ud;
	(void)p; /* released with the arena */
}

static int get_text(struct de_arena *a, const ProtobufCBinaryData *d, size_t max, const char **out)
{
	BAD(d->len > max);
	BAD(d->len && memchr(d->data, '\0', d->len));
	char *s = de_arena_strndup(a, d->data, d->len);
	if (!s)
		return -ENOMEM;
	*out = s;
	return 0;
}

static int batch_from_pb(const Daemoneye__V1__EventBatch *m, const struct de_ipc_limits *lim,
			 struct de_arena *a, struct de_ipc_batch *b)
{
	BAD(m->n_events > DE_IPC_BATCH_MAX);
	b->first_seq = m->first_seq;
	b->resync = m->resync;
	b->spilled = m->spilled;
	b->n = m->n_events;
	b->events = NULL;
	if (!b->n)
		return 0;
	b->events = de_arena_alloc(a, b->n * sizeof(*b->events));
	if (!b->events)
		return -ENOMEM;
	for (size_t i = 0; i < b->n; i++) {
		TRY(de_ipc_event_from_pb(m->events[i], argv_max_of(lim), a, &b->events[i]));
		BAD(b->events[i].seq != b->first_seq + i);
	}
	return 0;
}

static int status_from_pb(const Daemoneye__V1__Status *m, struct de_arena *a,
			  struct de_ipc_status *s)
{
	BAD(m->n_components > DE_IPC_STATUS_MAX);
	s->n = m->n_components;
	s->components = de_arena_zalloc(a, (s->n ? s->n : 1) * sizeof(*s->components));
	if (!s->components)
		return -ENOMEM;
	for (size_t i = 0; i < s->n; i++) {
		const Daemoneye__V1__ComponentStatus *in = m->components[i];
		struct de_ipc_component *c = &s->components[i];
#define DEC(f) c->f = in->f;
		COMPONENT_SCALARS(DEC)
#undef DEC
		TRY(get_text(a, &in->component, DE_IPC_NAME_MAX, &c->component));
		TRY(get_text(a, &in->source, DE_IPC_NAME_MAX, &c->source));
	}
	return 0;
}

static int msg_from_pb(const Daemoneye__V1__Envelope *env, const struct de_ipc_limits *lim,
		       struct de_arena *a, struct de_ipc_msg *m)
{
	switch (env->msg_case) {
	case DAEMONEYE__V1__ENVELOPE__MSG_HELLO: {
		const Daemoneye__V1__Hello *h = env->hello;
		BAD((int)h->role < DE_IPC_ROLE_PROCMOND || (int)h->role > DE_IPC_ROLE_CLI);
		m->kind = DE_IPC_HELLO;
		m->hello.role = (enum de_ipc_role)h->role;
		m->hello.major = h->protocol_major;
		m->hello.minor = h->protocol_minor;
		m->hello.pid = h->pid;
		m->hello.caps = h->capabilities;
		return get_text(a, &h->build_version, DE_IPC_NAME_MAX, &m->hello.build_version);
	}
	case DAEMONEYE__V1__ENVELOPE__MSG_HELLO_ACK: {
		const Daemoneye__V1__HelloAck *h = env->hello_ack;
		m->kind = DE_IPC_HELLO_ACK;
		m->hello_ack.accepted = h->accepted;
		m->hello_ack.minor = h->protocol_minor;
		m->hello_ack.caps = h->capabilities;
		return get_text(a, &h->reason, DE_IPC_TEXT_MAX, &m->hello_ack.reason);
	}
	case DAEMONEYE__V1__ENVELOPE__MSG_EVENT_BATCH:
		m->kind = DE_IPC_EVENT_BATCH;
		return batch_from_pb(env->event_batch, lim, a, &m->batch);
	case DAEMONEYE__V1__ENVELOPE__MSG_STATUS_REQUEST:
		m->kind = DE_IPC_STATUS_REQUEST;
		return 0;
	case DAEMONEYE__V1__ENVELOPE__MSG_STATUS:
		m->kind = DE_IPC_STATUS;
		return status_from_pb(env->status, a, &m->status);
	case DAEMONEYE__V1__ENVELOPE__MSG_ACK:
		m->kind = DE_IPC_ACK;
		m->ack_seq = env->ack->seq;
		return 0;
	case DAEMONEYE__V1__ENVELOPE__MSG_ERROR: {
		const Daemoneye__V1__Error *e = env->error;
		BAD(e->code < 0);
		m->kind = DE_IPC_ERROR;
		m->error.code = e->code;
		return get_text(a, &e->message, DE_IPC_TEXT_MAX, &m->error.message);
	}
	case DAEMONEYE__V1__ENVELOPE__MSG_LEDGER_APPEND: {
		const Daemoneye__V1__LedgerAppend *l = env->ledger_append;
		BAD(l->payload.len > DE_IPC_LEDGER_PAYLOAD_MAX);
		m->kind = DE_IPC_LEDGER_APPEND;
		m->ledger.type = l->type;
		m->ledger.len = l->payload.len;
		void *p = de_arena_alloc(a, l->payload.len ? l->payload.len : 1);
		if (!p)
			return -ENOMEM;
		if (l->payload.len)
			memcpy(p, l->payload.data, l->payload.len);
		m->ledger.payload = p;
		return get_text(a, &l->key, DE_IPC_NAME_MAX, &m->ledger.key);
	}
	case DAEMONEYE__V1__ENVELOPE__MSG_LEDGER_CHECKPOINT:
		m->kind = DE_IPC_LEDGER_CHECKPOINT;
		BAD(env->ledger_checkpoint->note.len == 0);
		return get_text(a, &env->ledger_checkpoint->note, DE_IPC_NOTE_MAX, &m->note);
	default:
		/* empty envelope, or a message of a newer minor version that
		 * was sent without the capability that announces it */
		return -EBADMSG;
	}
}

int de_ipc_decode(const void *payload, size_t len, const struct de_ipc_limits *lim,
		  struct de_arena *arena, struct de_ipc_msg *m)
{
	memset(m, 0, sizeof(*m));
	if (len > frame_max_of(lim))
		return -EMSGSIZE;
	struct pb_arena pa = { arena, false };
	ProtobufCAllocator al = { .alloc = pb_alloc, .free = pb_free, .allocator_data = &pa };
	Daemoneye__V1__Envelope *env = daemoneye__v1__envelope__unpack(&al, len, payload);
	if (!env)
		return pa.oom ? -ENOMEM : -EBADMSG;
	int rc = msg_from_pb(env, lim, arena, m);
	if (rc < 0)
		memset(m, 0, sizeof(*m));
	return rc;
}

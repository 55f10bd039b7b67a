/* test_ipcmsg.c: the IPC messages: round trips of every message and event
 * type (hostile bytes included), argv capping, frame limits, and strict
 * rejection of malformed payloads built with the protobuf API itself. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "ipc.pb-c.h"
#include "ipcframe.h"
#include "ipcmsg.h"
#include "ipc_sample.h"

/* Encode m, check the frame header, decode the payload into out. */
static int round_trip(const struct de_ipc_msg *m, const struct de_ipc_limits *lim,
		      struct de_arena *a, struct de_ipc_msg *out)
{
	struct de_buf b = DE_BUF_INIT;
	int64_t n = de_ipc_encode(m, lim, a, &b);
	if (n < 0) {
		de_buf_free(&b);
		return (int)n;
	}
	assert_int_equal((size_t)n, b.len);
	int64_t len = de_ipc_hdr_parse((const uint8_t *)b.data, DE_IPC_FRAME_MAX_LIMIT);
	assert_int_equal(len + DE_IPC_HDR_LEN, n);
	int rc = de_ipc_decode(b.data + DE_IPC_HDR_LEN, (size_t)len, lim, a, out);
	de_buf_free(&b);
	return rc;
}

static void test_every_event_type(void **state)
{
	(void)state;
	struct sample s[DE_EV__COUNT - 1];
	struct de_event ev[DE_EV__COUNT - 1];
	for (int t = 1; t < DE_EV__COUNT; t++) {
		sample_event(&s[t - 1], (enum de_event_type)t, 100 + (uint64_t)t - 1);
		ev[t - 1] = s[t - 1].ev;
	}
	struct de_ipc_msg m = { .kind = DE_IPC_EVENT_BATCH,
				.batch = { .first_seq = 100, .resync = true, .spilled = 5,
					   .n = DE_EV__COUNT - 1, .events = ev } };
	struct de_arena *a = de_arena_new(1 << 24);
	struct de_ipc_msg out;
	assert_int_equal(round_trip(&m, NULL, a, &out), 0);
	assert_int_equal(out.kind, DE_IPC_EVENT_BATCH);
	assert_int_equal(out.batch.first_seq, 100);
	assert_true(out.batch.resync);
	assert_int_equal(out.batch.spilled, 5);
	assert_int_equal(out.batch.n, DE_EV__COUNT - 1);
	for (size_t i = 0; i < out.batch.n; i++)
		assert_event_same(&ev[i], &out.batch.events[i]);
	/* spot checks of the hostile bytes, in case the comparison is wrong */
	assert_string_equal(out.batch.events[0].comm, "sh\n\x1b[0m\xff");
	assert_string_equal(out.batch.events[0].filename, "/tmp/evil\nname");
	assert_memory_equal(out.batch.events[0].argv, sample_argv, sizeof(sample_argv) - 1);
	assert_int_equal(out.batch.events[3].proc->err[DE_PF_IO], -EACCES);
	assert_int_equal(out.batch.events[3].proc->groups[255], 5255);
	assert_string_equal(out.batch.events[3].proc->cwd, "");
	assert_null(out.batch.events[3].proc->container_id);
	assert_int_equal(out.batch.events[4].drops[DE_EV_EXEC], 3);
	de_arena_free(a);
}

static void test_empty_and_odd_argv(void **state)
{
	(void)state;
	struct sample s;
	struct de_arena *a = de_arena_new(1 << 20);
	struct de_ipc_msg out;
	static const char nul_only[] = "\0\0\0";
	const struct { const char *argv; size_t len; uint32_t argc; } cases[] = {
		{ "", 0, 0 },               /* empty argv (execve with argv = {NULL}) */
		{ NULL, 0, 0 },             /* argv unknown */
		{ nul_only, 3, 3 },         /* three empty strings */
		{ "no-terminator", 13, 1 }, /* cut mid-string */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sample_event(&s, DE_EV_EXEC, 1);
		s.ev.argv = cases[i].argv;
		s.ev.argv_len = cases[i].len;
		s.ev.argc = cases[i].argc;
		struct de_ipc_msg m = { .kind = DE_IPC_EVENT_BATCH,
					.batch = { .first_seq = 1, .n = 1, .events = &s.ev } };
		assert_int_equal(round_trip(&m, NULL, a, &out), 0);
		assert_event_same(&s.ev, &out.batch.events[0]);
		de_arena_reset(a);
	}
	de_arena_free(a);
}

/* A 1 MiB argv is cut at the argv limit (256 KiB by default) and marked
 * truncated; with a larger argv limit it is refused by the frame limit. */
static void test_huge_argv(void **state)
{
	(void)state;
	size_t len = 1u << 20;
	char *argv = malloc(len);
	for (size_t i = 0; i < len; i++)
		argv[i] = (i % 100 == 99) ? '\0' : (char)('a' + i % 26);
	struct sample s;
	sample_event(&s, DE_EV_EXEC, 7);
	s.ev.argv = argv;
	s.ev.argv_len = len;
	s.ev.argc = (uint32_t)(len / 100);
	struct de_ipc_msg m = { .kind = DE_IPC_EVENT_BATCH,
				.batch = { .first_seq = 7, .n = 1, .events = &s.ev } };
	struct de_arena *a = de_arena_new(1 << 24);
	struct de_ipc_msg out;
	assert_int_equal(round_trip(&m, NULL, a, &out), 0);
	const struct de_event *e = &out.batch.events[0];
	assert_int_equal(e->argv_len, DE_IPC_ARGV_MAX_DEFAULT);
	assert_true(e->argv_truncated);
	assert_int_equal(e->argc, len / 100); /* the real count stays */
	assert_memory_equal(e->argv, argv, DE_IPC_ARGV_MAX_DEFAULT);

	/* argv limit raised past the frame limit: the frame is refused */
	struct de_ipc_limits big = { .frame_max = 512 * 1024, .argv_max = 2u << 20 };
	struct de_buf b = DE_BUF_INIT;
	assert_int_equal(de_ipc_encode(&m, &big, a, &b), -EMSGSIZE);
	assert_int_equal(b.len, 0);
	/* a receiver with a lower argv limit than the sender refuses it */
	struct de_ipc_limits small = { .argv_max = 1024 };
	assert_int_equal(round_trip(&m, NULL, a, &out), 0);
	assert_int_equal(de_ipc_encode(&m, NULL, a, &b) > 0, 1);
	assert_int_equal(de_ipc_decode(b.data + DE_IPC_HDR_LEN, b.len - DE_IPC_HDR_LEN, &small, a,
				       &out), -EBADMSG);
	de_buf_free(&b);
	de_arena_free(a);
	free(argv);
}

/* Strings above the receiver's bounds are cut by the encoder, never sent
 * for the decoder to refuse the whole batch. */
static void test_long_strings_cut(void **state)
{
	(void)state;
	char *path = malloc(DE_IPC_PATH_MAX + 500);
	memset(path, 'p', DE_IPC_PATH_MAX + 499);
	path[DE_IPC_PATH_MAX + 499] = '\0';
	char *text = malloc(DE_IPC_TEXT_MAX + 100);
	memset(text, 't', DE_IPC_TEXT_MAX + 99);
	text[DE_IPC_TEXT_MAX + 99] = '\0';
	struct sample s;
	sample_event(&s, DE_EV_EXEC, 1);
	s.ev.exe = path;
	s.ev.hash_note = text;
	struct de_ipc_msg m = { .kind = DE_IPC_EVENT_BATCH,
				.batch = { .first_seq = 1, .n = 1, .events = &s.ev } };
	struct de_arena *a = de_arena_new(1 << 22);
	struct de_ipc_msg out;
	assert_int_equal(round_trip(&m, NULL, a, &out), 0);
	assert_int_equal(strlen(out.batch.events[0].exe), DE_IPC_PATH_MAX);
	assert_memory_equal(out.batch.events[0].exe, path, DE_IPC_PATH_MAX);
	assert_int_equal(strlen(out.batch.events[0].hash_note), DE_IPC_TEXT_MAX);
	struct de_ipc_msg er = { .kind = DE_IPC_ERROR, .error = { .code = 5, .message = text } };
	assert_int_equal(round_trip(&er, NULL, a, &out), 0);
	assert_int_equal(strlen(out.error.message), DE_IPC_TEXT_MAX);
	de_arena_free(a);
	free(path);
	free(text);
}

static void test_small_messages(void **state)
{
	(void)state;
	struct de_arena *a = de_arena_new(1 << 20);
	struct de_ipc_msg out;

	struct de_ipc_msg hello = { .kind = DE_IPC_HELLO,
				    .hello = { .role = DE_IPC_ROLE_PROCMOND, .major = 1, .minor = 0,
					       .pid = 77, .build_version = "0.1.0",
					       .caps = DE_IPC_CAP_EVENTS | DE_IPC_CAP_ACK } };
	assert_int_equal(round_trip(&hello, NULL, a, &out), 0);
	assert_int_equal(out.kind, DE_IPC_HELLO);
	assert_int_equal(out.hello.role, DE_IPC_ROLE_PROCMOND);
	assert_int_equal(out.hello.major, 1);
	assert_int_equal(out.hello.pid, 77);
	assert_string_equal(out.hello.build_version, "0.1.0");
	assert_int_equal(out.hello.caps, DE_IPC_CAP_EVENTS | DE_IPC_CAP_ACK);

	struct de_ipc_msg ack = { .kind = DE_IPC_HELLO_ACK,
				  .hello_ack = { .accepted = false, .reason = "uid 1000 not allowed",
						 .minor = 0, .caps = 0 } };
	assert_int_equal(round_trip(&ack, NULL, a, &out), 0);
	assert_int_equal(out.kind, DE_IPC_HELLO_ACK);
	assert_false(out.hello_ack.accepted);
	assert_string_equal(out.hello_ack.reason, "uid 1000 not allowed");

	struct de_ipc_component comp[2] = {
		{ .component = "procmond", .source = "ebpf", .pid = 10, .uid = 0, .cap_eff = 0x4,
		  .events_per_sec = 1234.5, .drops = 2, .queue_depth = 4096, .uptime_ns = 9,
		  .cpu_ns = 8, .rss_bytes = 7, .ledger_state = DE_IPC_LEDGER_STOPPED,
		  .ledger_errno = EIO, .ledger_records = 1ULL << 33, .ledger_checkpoint = 5 },
		{ .component = "agent", .source = "", .pid = 11, .uid = 999 },
	};
	struct de_ipc_msg st = { .kind = DE_IPC_STATUS, .status = { .n = 2, .components = comp } };
	assert_int_equal(round_trip(&st, NULL, a, &out), 0);
	assert_int_equal(out.kind, DE_IPC_STATUS);
	assert_int_equal(out.status.n, 2);
	assert_string_equal(out.status.components[0].component, "procmond");
	assert_string_equal(out.status.components[0].source, "ebpf");
	assert_true(out.status.components[0].events_per_sec == 1234.5);
	assert_int_equal(out.status.components[0].queue_depth, 4096);
	assert_int_equal(out.status.components[0].rss_bytes, 7);
	assert_int_equal(out.status.components[0].ledger_state, DE_IPC_LEDGER_STOPPED);
	assert_int_equal(out.status.components[0].ledger_errno, EIO);
	assert_int_equal(out.status.components[0].ledger_records, 1ULL << 33);
	assert_int_equal(out.status.components[0].ledger_checkpoint, 5);
	assert_int_equal(out.status.components[1].uid, 999);
	assert_int_equal(out.status.components[1].ledger_state, DE_IPC_LEDGER_UNKNOWN);

	struct de_ipc_msg req = { .kind = DE_IPC_STATUS_REQUEST };
	assert_int_equal(round_trip(&req, NULL, a, &out), 0);
	assert_int_equal(out.kind, DE_IPC_STATUS_REQUEST);

	struct de_ipc_msg ak = { .kind = DE_IPC_ACK, .ack_seq = 1ULL << 40 };
	assert_int_equal(round_trip(&ak, NULL, a, &out), 0);
	assert_int_equal(out.kind, DE_IPC_ACK);
	assert_int_equal(out.ack_seq, 1ULL << 40);

	struct de_ipc_msg er = { .kind = DE_IPC_ERROR,
				 .error = { .code = EPROTO, .message = "bad batch" } };
	assert_int_equal(round_trip(&er, NULL, a, &out), 0);
	assert_int_equal(out.kind, DE_IPC_ERROR);
	assert_int_equal(out.error.code, EPROTO);
	assert_string_equal(out.error.message, "bad batch");

	/* a ledger record: binary payload (NUL bytes included) and its key */
	static const uint8_t blob[] = { 'a', 0, 'b', 0xff, '\n' };
	struct de_ipc_msg la = { .kind = DE_IPC_LEDGER_APPEND,
				 .ledger = { .type = 7, .key = "0b7c9a2e-alert", .payload = blob,
					     .len = sizeof(blob) } };
	assert_int_equal(round_trip(&la, NULL, a, &out), 0);
	assert_int_equal(out.kind, DE_IPC_LEDGER_APPEND);
	assert_int_equal(out.ledger.type, 7);
	assert_string_equal(out.ledger.key, "0b7c9a2e-alert");
	assert_int_equal(out.ledger.len, sizeof(blob));
	assert_memory_equal(out.ledger.payload, blob, sizeof(blob));
	assert_string_equal(de_ipc_kind_name(DE_IPC_LEDGER_APPEND), "ledger_append");

	/* a checkpoint note, procmond -> agent */
	static const char note[] = "daemoneye/h\n42\nAAAA=\n\n\u2014 daemoneye/h sig\n";
	struct de_ipc_msg cp = { .kind = DE_IPC_LEDGER_CHECKPOINT, .note = note };
	assert_int_equal(round_trip(&cp, NULL, a, &out), 0);
	assert_int_equal(out.kind, DE_IPC_LEDGER_CHECKPOINT);
	assert_string_equal(out.note, note);
	assert_string_equal(de_ipc_kind_name(DE_IPC_LEDGER_CHECKPOINT), "ledger_checkpoint");
	{
		struct de_buf nb = DE_BUF_INIT;
		struct de_ipc_msg e = { .kind = DE_IPC_LEDGER_CHECKPOINT, .note = "" };
		assert_int_equal(de_ipc_encode(&e, NULL, a, &nb), -EINVAL); /* empty */
		char *longnote = malloc(DE_IPC_NOTE_MAX + 2);
		assert_non_null(longnote);
		memset(longnote, 'x', DE_IPC_NOTE_MAX + 1);
		longnote[DE_IPC_NOTE_MAX + 1] = 0;
		e.note = longnote;
		assert_int_equal(de_ipc_encode(&e, NULL, a, &nb), -EINVAL); /* too long */
		longnote[DE_IPC_NOTE_MAX] = 0;
		assert_int_equal(round_trip(&e, NULL, a, &out), 0); /* exactly the limit */
		assert_int_equal(strlen(out.note), DE_IPC_NOTE_MAX);
		free(longnote);
		assert_int_equal(nb.len, 0);
		de_buf_free(&nb);
	}

	/* messages that cannot be encoded */
	struct de_buf b = DE_BUF_INIT;
	struct de_ipc_msg big = la;
	big.ledger.len = DE_IPC_LEDGER_PAYLOAD_MAX + 1;
	assert_int_equal(de_ipc_encode(&big, NULL, a, &b), -EINVAL);
	struct de_ipc_msg bad = { .kind = (enum de_ipc_kind)99 };
	assert_int_equal(de_ipc_encode(&bad, NULL, a, &b), -EINVAL);
	struct sample s;
	sample_event(&s, DE_EV_FORK, 5);
	struct de_ipc_msg gap = { .kind = DE_IPC_EVENT_BATCH,
				  .batch = { .first_seq = 4, .n = 1, .events = &s.ev } };
	assert_int_equal(de_ipc_encode(&gap, NULL, a, &b), -EINVAL);
	s.ev.type = (enum de_event_type)0;
	gap.batch.first_seq = 5;
	assert_int_equal(de_ipc_encode(&gap, NULL, a, &b), -EINVAL);
	assert_int_equal(b.len, 0);
	de_buf_free(&b);
	de_arena_free(a);
}

/* Every strict prefix of a valid payload is refused (the envelope's one
 * field is length-delimited), and nothing crashes. */
static void test_truncated_payloads(void **state)
{
	(void)state;
	struct sample s;
	sample_event(&s, DE_EV_SNAPSHOT, 1);
	struct de_ipc_msg m = { .kind = DE_IPC_EVENT_BATCH,
				.batch = { .first_seq = 1, .n = 1, .events = &s.ev } };
	struct de_arena *a = de_arena_new(1 << 22);
	struct de_buf b = DE_BUF_INIT;
	assert_true(de_ipc_encode(&m, NULL, a, &b) > 0);
	size_t len = b.len - DE_IPC_HDR_LEN;
	struct de_ipc_msg out;
	for (size_t cut = 0; cut < len; cut++) {
		de_arena_reset(a);
		/* a heap copy of exactly `cut` bytes so ASan sees overreads */
		uint8_t *p = malloc(cut ? cut : 1);
		memcpy(p, b.data + DE_IPC_HDR_LEN, cut);
		assert_int_equal(de_ipc_decode(p, cut, NULL, a, &out), -EBADMSG);
		free(p);
	}
	assert_int_equal(de_ipc_decode(b.data + DE_IPC_HDR_LEN, len, NULL, a, &out), 0);
	/* above the frame limit */
	struct de_ipc_limits lim = { .frame_max = (uint32_t)len - 1 };
	assert_int_equal(de_ipc_decode(b.data + DE_IPC_HDR_LEN, len, &lim, a, &out), -EMSGSIZE);
	de_buf_free(&b);
	de_arena_free(a);
}

/* The arena's cap bounds what a frame can make the decoder allocate. */
static void test_arena_cap(void **state)
{
	(void)state;
	struct sample s[64];
	struct de_event ev[64];
	for (int i = 0; i < 64; i++) {
		sample_event(&s[i], DE_EV_SNAPSHOT, (uint64_t)i);
		ev[i] = s[i].ev;
		ev[i].proc = &s[i].proc;
	}
	struct de_ipc_msg m = { .kind = DE_IPC_EVENT_BATCH,
				.batch = { .first_seq = 0, .n = 64, .events = ev } };
	struct de_arena *big = de_arena_new(1 << 24);
	struct de_buf b = DE_BUF_INIT;
	assert_true(de_ipc_encode(&m, NULL, big, &b) > 0);
	struct de_arena *small = de_arena_new(64 * 1024);
	struct de_ipc_msg out;
	assert_int_equal(de_ipc_decode(b.data + DE_IPC_HDR_LEN, b.len - DE_IPC_HDR_LEN, NULL, small,
				       &out), -ENOMEM);
	assert_true(de_arena_used(small) <= 64 * 1024);
	de_arena_reset(big);
	assert_int_equal(de_ipc_decode(b.data + DE_IPC_HDR_LEN, b.len - DE_IPC_HDR_LEN, NULL, big,
				       &out), 0);
	assert_int_equal(out.batch.n, 64);
	assert_true(de_arena_used(big) <= de_ipc_arena_cap((uint32_t)b.len));
	de_buf_free(&b);
	de_arena_free(small);
	de_arena_free(big);
}

/* Pack a hand-made envelope holding one event and decode it. */
static int decode_pb_event(Daemoneye__V1__Event *e, uint64_t first_seq)
{
	Daemoneye__V1__Event *evs[1] = { e };
	Daemoneye__V1__EventBatch batch = DAEMONEYE__V1__EVENT_BATCH__INIT;
	batch.first_seq = first_seq;
	batch.n_events = 1;
	batch.events = evs;
	Daemoneye__V1__Envelope env = DAEMONEYE__V1__ENVELOPE__INIT;
	env.msg_case = DAEMONEYE__V1__ENVELOPE__MSG_EVENT_BATCH;
	env.event_batch = &batch;
	static uint8_t buf[16384];
	assert_true(daemoneye__v1__envelope__get_packed_size(&env) < sizeof(buf));
	size_t n = daemoneye__v1__envelope__pack(&env, buf);
	assert_true(n < sizeof(buf));
	struct de_arena *a = de_arena_new(1 << 20);
	struct de_ipc_msg out;
	int rc = de_ipc_decode(buf, n, NULL, a, &out);
	de_arena_free(a);
	return rc;
}

static void valid_pb_event(Daemoneye__V1__Event *e)
{
	daemoneye__v1__event__init(e);
	e->type = DAEMONEYE__V1__EVENT_TYPE__EVENT_TYPE_EXEC;
	e->source = DAEMONEYE__V1__EVENT_SOURCE__EVENT_SOURCE_PROC;
	e->seq = 9;
	e->comm.data = (uint8_t *)"ok";
	e->comm.len = 2;
}

static void test_malformed_events(void **state)
{
	(void)state;
	Daemoneye__V1__Event e;
	static uint32_t three[3] = { 1, 2, 3 };
	static uint8_t id15[15], nul_path[] = "/bin/\0sh", long_comm[DE_COMM_MAX];
	static uint8_t long_path[DE_IPC_PATH_MAX + 1];
	memset(long_comm, 'c', sizeof(long_comm));
	memset(long_path, 'p', sizeof(long_path));

	valid_pb_event(&e);
	assert_int_equal(decode_pb_event(&e, 9), 0);
	/* seq must match the batch's first_seq */
	assert_int_equal(decode_pb_event(&e, 8), -EBADMSG);

	valid_pb_event(&e);
	e.type = (Daemoneye__V1__EventType)6; /* not a known kind */
	assert_int_equal(decode_pb_event(&e, 9), -EBADMSG);
	valid_pb_event(&e);
	e.source = DAEMONEYE__V1__EVENT_SOURCE__EVENT_SOURCE_UNSPECIFIED;
	assert_int_equal(decode_pb_event(&e, 9), -EBADMSG);
	valid_pb_event(&e);
	e.comm.data = long_comm; /* 64 bytes: no room for the NUL */
	e.comm.len = sizeof(long_comm);
	assert_int_equal(decode_pb_event(&e, 9), -EBADMSG);
	valid_pb_event(&e);
	e.comm.data = nul_path;
	e.comm.len = sizeof(nul_path) - 1;
	assert_int_equal(decode_pb_event(&e, 9), -EBADMSG);
	valid_pb_event(&e);
	e.present = 1u << 0; /* filename with a NUL inside */
	e.filename.data = nul_path;
	e.filename.len = sizeof(nul_path) - 1;
	assert_int_equal(decode_pb_event(&e, 9), -EBADMSG);
	valid_pb_event(&e);
	e.present = 1u << 2;
	e.exe.data = long_path;
	e.exe.len = sizeof(long_path);
	assert_int_equal(decode_pb_event(&e, 9), -EBADMSG);
	e.exe.len = DE_IPC_PATH_MAX; /* exactly at the bound */
	assert_int_equal(decode_pb_event(&e, 9), 0);
	valid_pb_event(&e);
	e.exe.data = long_path; /* bytes without the present bit */
	e.exe.len = 3;
	assert_int_equal(decode_pb_event(&e, 9), -EBADMSG);
	valid_pb_event(&e);
	e.entity_id.data = id15;
	e.entity_id.len = sizeof(id15);
	assert_int_equal(decode_pb_event(&e, 9), -EBADMSG);
	valid_pb_event(&e);
	e.have = DE_EVF_CREDS;
	e.n_uid = e.n_gid = 3;
	e.uid = e.gid = three;
	assert_int_equal(decode_pb_event(&e, 9), -EBADMSG);
	valid_pb_event(&e);
	e.have = DE_EVF_CREDS; /* creds announced, none carried */
	assert_int_equal(decode_pb_event(&e, 9), -EBADMSG);
	valid_pb_event(&e);
	e.status = 99;
	assert_int_equal(decode_pb_event(&e, 9), -EBADMSG);

	Daemoneye__V1__Hashes h = DAEMONEYE__V1__HASHES__INIT;
	valid_pb_event(&e);
	h.algos = DE_HASH_SHA256;
	h.sha256.data = id15;
	h.sha256.len = sizeof(id15);
	e.hashes = &h;
	assert_int_equal(decode_pb_event(&e, 9), -EBADMSG);
	h.algos = 0x80;
	h.sha256.len = 0;
	assert_int_equal(decode_pb_event(&e, 9), -EBADMSG);

	Daemoneye__V1__Proc p = DAEMONEYE__V1__PROC__INIT;
	valid_pb_event(&e);
	e.proc = &p; /* detail without the DE_EVF_PROC bit */
	assert_int_equal(decode_pb_event(&e, 9), -EBADMSG);
	e.have = DE_EVF_PROC; /* detail with no err[] array */
	assert_int_equal(decode_pb_event(&e, 9), -EBADMSG);
	int32_t err[DE_PF__COUNT] = { 0 };
	p.n_err = DE_PF__COUNT;
	p.err = err;
	assert_int_equal(decode_pb_event(&e, 9), 0);
	err[3] = 3; /* neither an errno nor a known marker */
	assert_int_equal(decode_pb_event(&e, 9), -EBADMSG);
	err[3] = 0;
	p.state = '\n';
	assert_int_equal(decode_pb_event(&e, 9), -EBADMSG);
	p.state = 'R';
	uint32_t groups[2] = { 1, 2 };
	p.n_groups = 2; /* more groups carried than ngroups says */
	p.groups = groups;
	p.ngroups = 1;
	assert_int_equal(decode_pb_event(&e, 9), -EBADMSG);
}

static void test_bad_envelopes(void **state)
{
	(void)state;
	struct de_arena *a = de_arena_new(1 << 20);
	struct de_ipc_msg out;
	/* an empty envelope holds no message */
	assert_int_equal(de_ipc_decode("", 0, NULL, a, &out), -EBADMSG);
	/* a field number this version does not know (a newer message) */
	const uint8_t unknown[] = { 0x7a, 0x00 }; /* field 15, length 0 */
	assert_int_equal(de_ipc_decode(unknown, sizeof(unknown), NULL, a, &out), -EBADMSG);
	/* garbage */
	const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
	assert_int_equal(de_ipc_decode(junk, sizeof(junk), NULL, a, &out), -EBADMSG);
	/* a hello with a role out of range */
	Daemoneye__V1__Hello h = DAEMONEYE__V1__HELLO__INIT;
	h.role = (Daemoneye__V1__Role)7;
	Daemoneye__V1__Envelope env = DAEMONEYE__V1__ENVELOPE__INIT;
	env.msg_case = DAEMONEYE__V1__ENVELOPE__MSG_HELLO;
	env.hello = &h;
	uint8_t buf[64];
	size_t n = daemoneye__v1__envelope__pack(&env, buf);
	assert_int_equal(de_ipc_decode(buf, n, NULL, a, &out), -EBADMSG);
	h.role = DAEMONEYE__V1__ROLE__ROLE_AGENT;
	n = daemoneye__v1__envelope__pack(&env, buf);
	assert_int_equal(de_ipc_decode(buf, n, NULL, a, &out), 0);
	assert_null(NULL);
	assert_string_equal(out.hello.build_version, "");
	/* a checkpoint note: empty, or with a NUL byte, is refused */
	Daemoneye__V1__LedgerCheckpoint lc = DAEMONEYE__V1__LEDGER_CHECKPOINT__INIT;
	Daemoneye__V1__Envelope cenv = DAEMONEYE__V1__ENVELOPE__INIT;
	cenv.msg_case = DAEMONEYE__V1__ENVELOPE__MSG_LEDGER_CHECKPOINT;
	cenv.ledger_checkpoint = &lc;
	n = daemoneye__v1__envelope__pack(&cenv, buf);
	assert_int_equal(de_ipc_decode(buf, n, NULL, a, &out), -EBADMSG);
	lc.note.data = (uint8_t *)"ab\0cd";
	lc.note.len = 5;
	n = daemoneye__v1__envelope__pack(&cenv, buf);
	assert_int_equal(de_ipc_decode(buf, n, NULL, a, &out), -EBADMSG);
	lc.note.len = 2;
	n = daemoneye__v1__envelope__pack(&cenv, buf);
	assert_int_equal(de_ipc_decode(buf, n, NULL, a, &out), 0);
	assert_string_equal(out.note, "ab");
	de_arena_free(a);
}

static void test_handshake(void **state)
{
	(void)state;
	struct de_ipc_hello h;
	struct de_ipc_hello_ack ack;
	unsigned agent_accepts = 1u << DE_IPC_ROLE_PROCMOND | 1u << DE_IPC_ROLE_CLI;
	de_ipc_hello_init(&h, DE_IPC_ROLE_PROCMOND, DE_IPC_CAP_EVENTS | DE_IPC_CAP_PROC_DETAIL);
	assert_int_equal(h.major, DE_IPC_VERSION_MAJOR);
	assert_int_equal(h.pid, getpid());
	assert_non_null(h.build_version);
	assert_int_equal(de_ipc_hello_answer(&h, agent_accepts, DE_IPC_CAP_EVENTS | DE_IPC_CAP_ACK,
					     &ack), 0);
	assert_true(ack.accepted);
	assert_int_equal(ack.caps, DE_IPC_CAP_EVENTS); /* only what both have */
	assert_int_equal(ack.minor, DE_IPC_VERSION_MINOR);
	/* a newer peer speaks our minor version */
	h.minor = DE_IPC_VERSION_MINOR + 3;
	assert_int_equal(de_ipc_hello_answer(&h, agent_accepts, 0, &ack), 0);
	assert_int_equal(ack.minor, DE_IPC_VERSION_MINOR);
	/* another major version, or a role this socket does not serve */
	h.major = 2;
	assert_int_equal(de_ipc_hello_answer(&h, agent_accepts, 0, &ack), -EPROTONOSUPPORT);
	assert_false(ack.accepted);
	assert_string_equal(ack.reason, "unsupported protocol major version");
	de_ipc_hello_init(&h, DE_IPC_ROLE_AGENT, 0);
	assert_int_equal(de_ipc_hello_answer(&h, agent_accepts, 0, &ack), -EPERM);
	assert_false(ack.accepted);
	assert_string_equal(ack.reason, "role not accepted on this socket");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_event_type),
		cmocka_unit_test(test_empty_and_odd_argv),
		cmocka_unit_test(test_huge_argv),
		cmocka_unit_test(test_long_strings_cut),
		cmocka_unit_test(test_small_messages),
		cmocka_unit_test(test_truncated_payloads),
		cmocka_unit_test(test_arena_cap),
		cmocka_unit_test(test_malformed_events),
		cmocka_unit_test(test_bad_envelopes),
		cmocka_unit_test(test_handshake),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

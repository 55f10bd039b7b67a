/* alertfmt.h: the alert model and its wire formats for SIEMs.
 *
 * One alert, four renderings, each safe for hostile process data (argv,
 * paths and names are attacker-controlled):
 *   - JSON (one object; every string through emit.h: always valid UTF-8
 *     JSON, whatever the bytes);
 *   - CEF (ArcSight, LogRhythm): header fields escape '\' and '|';
 *     extension values escape '\' and '=' and turn CR/LF into the two-byte
 *     sequences "\r" and "\n", per the CEF specification; other control
 *     bytes and invalid UTF-8 become "\xNN" text so nothing unprintable
 *     reaches the receiver;
 *   - LEEF 2.0 (QRadar): tab-delimited attributes (declared "x09" in the
 *     header); LEEF defines no escaping, so values escape '\' and every
 *     control byte (tab included) as text ("\t", "\n", "\xNN"), and header
 *     fields also escape '|': a value can never split an attribute or the
 *     header;
 *   - RFC 5424 syslog: "<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG"
 *     with a structured-data element carrying the alert id, rule id and
 *     severity (PARAM-VALUE escapes '"', '\' and ']'), header fields cut
 *     to their lengths and to printable ASCII, and the message (JSON, CEF
 *     or LEEF) after a UTF-8 BOM.
 * The escaping is reversible (tests parse the output back), so a receiver
 * sees exactly what the process had.
 */
#ifndef DE_ALERTFMT_H
#define DE_ALERTFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "rules.h"

#define DE_ALERT_ID_LEN 37 /* UUID text + NUL */

/* A process as an alert shows it (the matched one or an ancestor). */
struct de_alert_proc {
	bool present;
	int32_t pid;
	uint32_t uid;
	const char *entity_id; /* 32 hex */
	const char *comm, *exe, *user;
	const char *argv;      /* NUL-separated, argv_len bytes */
	size_t argv_len;
};

struct de_alert {
	char id[DE_ALERT_ID_LEN];   /* UUID v4: the idempotency key */
	int64_t time_ns;            /* UTC */
	const char *rule_id, *rule_name;
	enum de_severity severity;
	const char *const *mitre;
	size_t n_mitre;
	const char *hostname, *host_id;
	struct de_alert_proc proc, parent, grandparent;
	const char *sha256, *blake3, *container_id, *dedup_key;
	/* An audit ledger checkpoint published through the sinks (the signed
	 * note's text; rule DE_ALERT_CHECKPOINT_RULE, no process), or NULL. */
	const char *checkpoint;
};

#define DE_ALERT_CHECKPOINT_RULE "DE-AUDIT-CHECKPOINT"

enum de_alert_format { DE_AF_JSON = 1, DE_AF_CEF, DE_AF_LEEF };

/* A fresh random UUID v4 (getrandom). Returns 0 or a negative errno. */
int de_alert_new_id(char id[DE_ALERT_ID_LEN]);

/* A UUID v8 derived from content (BLAKE3 of data): the same content
 * always gets the same id, so queuing it twice is one alert. */
void de_alert_content_id(const void *data, size_t n, char id[DE_ALERT_ID_LEN]);

/* CEF severity 0-10 and syslog severity (RFC 5424, 0-7) of a severity. */
int de_alert_cef_severity(enum de_severity s);
int de_alert_syslog_severity(enum de_severity s);

/* Append one rendering of a to b (no trailing newline). */
void de_alert_json(struct de_buf *b, const struct de_alert *a);
void de_alert_cef(struct de_buf *b, const struct de_alert *a);
void de_alert_leef(struct de_buf *b, const struct de_alert *a);
/* An RFC 5424 message with `body` (one of the formats above) as MSG;
 * facility 13 (log audit) unless given; app "daemoneye". */
void de_alert_syslog(struct de_buf *b, const struct de_alert *a, enum de_alert_format body,
		     int facility);

/* The escapers, for tests and other emitters. */
void de_cef_header(struct de_buf *b, const char *s, size_t n);
void de_cef_value(struct de_buf *b, const char *s, size_t n);
void de_leef_value(struct de_buf *b, const char *s, size_t n, bool header);
void de_sd_value(struct de_buf *b, const char *s, size_t n);

#endif

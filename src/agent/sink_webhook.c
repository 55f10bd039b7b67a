/* sink_webhook.c: HTTPS POST of the alert's JSON through libcurl (see
 * sink.h).
 *
 * One easy handle per sink, reused (keep-alive), owned by the sink's
 * worker. TLS verification is on unless tls_verify: false; plain http://
 * is accepted with a warning unless the host is loopback. Redirects are
 * not followed. Every request carries the alert id as `Idempotency-Key`
 * and `X-DaemonEye-Alert-Id` so receivers can drop duplicates.
 * Outcomes: 2xx delivered; 408, 429 and 5xx, timeouts and connection
 * errors retried; any other status dead-letters with the status and the
 * start of the response body as the reason.
 *
 * The bearer token (token_file, or the variable token_env) is copied into
 * sodium_malloc() memory (guard pages, mlock'd, no access outside a
 * request) and the file buffer it came from is wiped. The header line
 * handed to curl lives for one request and is wiped after it. The token
 * never appears in a log line or an error.
 *
 * libcurl is loaded with dlopen() when the first webhook sink opens, not
 * linked: its dependency tree (about 30 libraries: GnuTLS, Kerberos,
 * LDAP, SSH, ...) would otherwise be mapped into every daemoneye process,
 * ps and procmond included, and cost them megabytes of RSS (dynlib.h). The
 * resolved function table is written once (pthread_once) and read-only
 * after.
 */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dynlib.h"
#include "emit.h"
#include "log.h"
#include "sink.h"

/* The libcurl functions this sink calls, resolved from libcurl.so.4. */
static struct {
	bool ok;
	char err[256];
	CURLcode (*global_init)(long);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	void (*easy_cleanup)(CURL *);
	const char *(*easy_strerror)(CURLcode);
	void (*free)(void *);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
	CURLU *(*url)(void);
	void (*url_cleanup)(CURLU *);
	CURLUcode (*url_get)(const CURLU *, CURLUPart, char **, unsigned int);
	CURLUcode (*url_set)(CURLU *, CURLUPart, const char *, unsigned int);
} cu;
static pthread_once_t cu_once = PTHREAD_ONCE_INIT;

static void cu_load(void)
{
#define FN(f, n) DE_DYNSYM(__typeof__(cu), f, n)
	static const struct de_dynsym fns[] = {
		FN(global_init, "curl_global_init"), FN(easy_init, "curl_easy_init"),
		FN(easy_setopt, "curl_easy_setopt"), FN(easy_perform, "curl_easy_perform"),
		FN(easy_getinfo, "curl_easy_getinfo"), FN(easy_cleanup, "curl_easy_cleanup"),
		FN(easy_strerror, "curl_easy_strerror"), FN(free, "curl_free"),
		FN(slist_append, "curl_slist_append"), FN(slist_free_all, "curl_slist_free_all"),
		FN(url, "curl_url"), FN(url_cleanup, "curl_url_cleanup"), FN(url_get, "curl_url_get"),
		FN(url_set, "curl_url_set"),
	};
#undef FN
	cu.ok = de_dynlib_load("libcurl.so.4", fns, DE_ARRAY_SIZE(fns), &cu, cu.err, sizeof(cu.err)) == 0;
}

#define curl_global_init (cu.global_init)
#define curl_easy_init (cu.easy_init)
#undef curl_easy_setopt
#define curl_easy_setopt (cu.easy_setopt)
#define curl_easy_perform (cu.easy_perform)
#undef curl_easy_getinfo
#define curl_easy_getinfo (cu.easy_getinfo)
#define curl_easy_cleanup (cu.easy_cleanup)
#define curl_easy_strerror (cu.easy_strerror)
#define curl_free (cu.free)
#define curl_slist_append (cu.slist_append)
#define curl_slist_free_all (cu.slist_free_all)
#define curl_url (cu.url)
#define curl_url_cleanup (cu.url_cleanup)
#define curl_url_get (cu.url_get)
#define curl_url_set (cu.url_set)

struct webhook {
	CURL *curl;
	char *token;      /* sodium_malloc, NUL-terminated; NULL: none */
	size_t token_len;
	char body[256];   /* start of the last response body */
	size_t body_len;
};

static size_t on_body(char *p, size_t sz, size_t n, void *u)
{
	struct webhook *w = u;
	size_t len = sz * n, room = sizeof(w->body) - 1 - w->body_len;
	memcpy(w->body + w->body_len, p, DE_MIN(len, room));
	w->body_len += DE_MIN(len, room);
	return len;
}

static bool is_loopback(const char *host)
{
	return strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
	       strcmp(host, "::1") == 0 || strcmp(host, "[::1]") == 0;
}

/* Read the token into guarded memory; trailing whitespace dropped. */
static int load_token(struct webhook *w, const struct de_sink_cfg *c, char *why, size_t why_len)
{
	char raw[4096];
	size_t n = 0;
	if (c->token_env) {
		const char *v = getenv(c->token_env);
		if (!v || !*v) {
			de_why(why, why_len, "token_env: the variable is not set");
			return -ENOENT;
		}
		n = strlen(v);
		if (n >= sizeof(raw)) {
			de_why(why, why_len, "token_env: the token is longer than %zu bytes",
			       sizeof(raw) - 1);
			return -E2BIG;
		}
		memcpy(raw, v, n);
	} else {
		int fd = open(c->token_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			int e = fd < 0 ? de_neg_errno() : -EINVAL;
			if (fd >= 0)
				close(fd);
			de_why(why, why_len, "token_file: %s", fd < 0 ? strerror(-e) : "not a regular file");
			return e;
		}
		if (st.st_mode & 0077)
			log_warning("sink %s: token_file is readable by group or others", c->name);
		ssize_t r;
		while (n < sizeof(raw) && (r = read(fd, raw + n, sizeof(raw) - n)) > 0)
			n += (size_t)r;
		close(fd);
		if (n >= sizeof(raw)) {
			sodium_memzero(raw, sizeof(raw));
			de_why(why, why_len, "token_file: the token is longer than %zu bytes",
			       sizeof(raw) - 1);
			return -E2BIG;
		}
	}
	while (n && (raw[n - 1] == '\n' || raw[n - 1] == '\r' || raw[n - 1] == ' '))
		n--;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)raw[i] < 0x21 || raw[i] == 0x7f) {
			sodium_memzero(raw, sizeof(raw));
			de_why(why, why_len, "the token contains spaces or control characters");
			return -EINVAL;
		}
	if (!n) {
		de_why(why, why_len, "the token is empty");
		return -EINVAL;
	}
	w->token = sodium_malloc(n + 1);
	if (!w->token) {
		sodium_memzero(raw, sizeof(raw));
		return -ENOMEM;
	}
	memcpy(w->token, raw, n);
	w->token[n] = 0;
	w->token_len = n;
	sodium_memzero(raw, sizeof(raw));
	sodium_mprotect_noaccess(w->token);
	return 0;
}

static int wh_open(struct de_sink *s, char *why, size_t why_len)
{
	const struct de_sink_cfg *c = s->cfg;
	struct webhook *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	s->priv = w;
	pthread_once(&cu_once, cu_load);
	if (!cu.ok) {
		de_why(why, why_len, "%s (Debian package libcurl4)", cu.err);
		free(w);
		return -ELIBACC;
	}
	if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		de_why(why, why_len, "initialising libsodium or libcurl failed");
		return -EIO;
	}
	CURLU *u = curl_url();
	char *host = NULL;
	if (!u || curl_url_set(u, CURLUPART_URL, c->url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		curl_url_cleanup(u);
		de_why(why, why_len, "url: not a valid URL");
		return -EINVAL;
	}
	if (strncmp(c->url, "http://", 7) == 0 && !is_loopback(host))
		log_warning("sink %s: plain http:// to a non-loopback host: alerts and the token "
			    "travel unencrypted", c->name);
	if (!c->tls_verify)
		log_warning("sink %s: TLS verification is off (tls_verify: false)", c->name);
	curl_free(host);
	curl_url_cleanup(u);
	if ((c->token_file || c->token_env)) {
		int r = load_token(w, c, why, why_len);
		if (r < 0)
			return r;
	}
	w->curl = curl_easy_init();
	if (!w->curl) {
		de_why(why, why_len, "curl_easy_init failed");
		return -ENOMEM;
	}
	CURL *h = w->curl;
	curl_easy_setopt(h, CURLOPT_URL, c->url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->timeout_ms);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, c->tls_verify ? 1L : 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, c->tls_verify ? 2L : 0L);
	if (c->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "daemoneye");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, w);
	return 0;
}

static void render(const struct de_sink *s, const struct de_alert *a, struct de_buf *out)
{
	(void)s;
	de_alert_json(out, a);
}

/* Wipe and free a header list (one of them may hold the token). */
static void wipe_headers(struct curl_slist *l)
{
	for (struct curl_slist *p = l; p; p = p->next)
		sodium_memzero(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

static int wh_send(struct de_sink *s, const char *id, const char *p, size_t n,
		   struct de_sink_result *r)
{
	struct webhook *w = s->priv;
	const struct de_sink_cfg *c = s->cfg;
	struct curl_slist *hl = NULL, *t;
	char line[128];
	bool ok = true;
#define ADD(str) do { t = curl_slist_append(hl, (str)); if (!t) ok = false; else hl = t; } while (0)
	ADD("Content-Type: application/json");
	ADD("Expect:");
	snprintf(line, sizeof(line), "Idempotency-Key: %s", id);
	ADD(line);
	snprintf(line, sizeof(line), "X-DaemonEye-Alert-Id: %s", id);
	ADD(line);
	for (unsigned i = 0; i < c->n_headers; i++)
		ADD(c->headers[i]);
	if (w->token) {
		size_t hn = w->token_len + 32;
		char *auth = sodium_malloc(hn);
		if (!auth) {
			ok = false;
		} else {
			sodium_mprotect_readonly(w->token);
			snprintf(auth, hn, "Authorization: Bearer %s", w->token);
			sodium_mprotect_noaccess(w->token);
			ADD(auth);
			sodium_free(auth); /* wipes; curl's copy is wiped below */
		}
	}
#undef ADD
	if (!ok) {
		wipe_headers(hl);
		de_sink_fail(r, false, "out of memory");
		return -ENOMEM;
	}
	w->body_len = 0;
	curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS, p);
	curl_easy_setopt(w->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
	CURLcode cc = curl_easy_perform(w->curl);
	curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, NULL);
	wipe_headers(hl);
	if (cc != CURLE_OK) {
		de_sink_fail(r, false, "%s", curl_easy_strerror(cc));
		return cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -ECONNREFUSED;
	}
	long code = 0;
	curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &code);
	if (code >= 200 && code < 300)
		return 0;
	struct de_buf b = DE_BUF_INIT;
	de_emit_text(&b, w->body, DE_MIN(w->body_len, (size_t)120));
	bool retry = code == 408 || code == 429 || code >= 500;
	de_sink_fail(r, !retry, "HTTP %ld%s%s", code, b.len ? ": " : "", de_buf_str(&b));
	de_buf_free(&b);
	return retry ? -EAGAIN : -EREMOTEIO;
}

static void wh_close(struct de_sink *s)
{
	struct webhook *w = s->priv;
	if (!w)
		return;
	if (w->curl)
		curl_easy_cleanup(w->curl);
	if (w->token)
		sodium_free(w->token);
	free(w);
}

const struct de_sink_ops de_sink_webhook_ops = {
	.open = wh_open, .render = render, .send = wh_send, .close = wh_close,
};

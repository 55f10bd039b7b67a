/* sink_syslog.c: RFC 5424 syslog over UDP, TCP, TCP+TLS and Unix
 * datagram sockets (see sink.h, alertfmt.h for the message).
 *
 * Framing: one message per datagram (UDP, Unix); octet counting,
 * "LENGTH SP MESSAGE", on TCP and TLS (RFC 6587 section 3.4.1, RFC 5425).
 * TLS: OpenSSL, TLS 1.2 or later, the peer's certificate verified against
 * ca_file (or the system store) and its name against server_name (or the
 * address's host). A stream connection is made at the first send and kept;
 * a write error or a peer that closed drops it and the send is retried by
 * the outbox. Syslog has no application acknowledgement: a message the
 * kernel accepted on a TCP connection the receiver then drops is lost;
 * before each send the connection is checked for a close by the peer,
 * which catches a restarted receiver but not a crash in flight.
 *
 * libssl is loaded when the first TLS sink opens (dynlib.h), not linked:
 * linked, it and libcrypto would be mapped and relocated in every
 * daemoneye process (about 1.8 MiB of procmond's RSS).
 */
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <fcntl.h>

#include "dynlib.h"
#include "emit.h"
#include "log.h"
#include "sink.h"

/* The libssl and libcrypto functions this sink calls, resolved from
 * libssl.so.3 (and the libcrypto it depends on) at the first TLS sink. */
static struct {
	bool ok;
	char err[256];
	__typeof__(TLS_client_method) *client_method;
	__typeof__(SSL_CTX_new) *ctx_new;
	__typeof__(SSL_CTX_ctrl) *ctx_ctrl;
	__typeof__(SSL_CTX_set_verify) *ctx_set_verify;
	__typeof__(SSL_CTX_load_verify_locations) *ctx_load_verify_locations;
	__typeof__(SSL_CTX_set_default_verify_paths) *ctx_set_default_verify_paths;
	__typeof__(SSL_CTX_free) *ctx_free;
	__typeof__(SSL_new) *new_;
	__typeof__(SSL_ctrl) *ctrl;
	__typeof__(SSL_set_fd) *set_fd;
	__typeof__(SSL_set1_host) *set1_host;
	__typeof__(SSL_connect) *connect;
	__typeof__(SSL_get_verify_result) *get_verify_result;
	__typeof__(SSL_write) *write;
	__typeof__(SSL_shutdown) *shutdown;
	__typeof__(SSL_free) *free;
	__typeof__(X509_verify_cert_error_string) *verify_cert_error_string;
	__typeof__(ERR_get_error) *err_get_error;
	__typeof__(ERR_error_string_n) *err_error_string_n;
	__typeof__(ERR_clear_error) *err_clear_error;
} tls;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void tls_load(void)
{
#define FN(f, n) DE_DYNSYM(__typeof__(tls), f, n)
	static const struct de_dynsym fns[] = {
		FN(client_method, "TLS_client_method"), FN(ctx_new, "SSL_CTX_new"),
		FN(ctx_ctrl, "SSL_CTX_ctrl"), FN(ctx_set_verify, "SSL_CTX_set_verify"),
		FN(ctx_load_verify_locations, "SSL_CTX_load_verify_locations"),
		FN(ctx_set_default_verify_paths, "SSL_CTX_set_default_verify_paths"),
		FN(ctx_free, "SSL_CTX_free"), FN(new_, "SSL_new"), FN(ctrl, "SSL_ctrl"),
		FN(set_fd, "SSL_set_fd"), FN(set1_host, "SSL_set1_host"), FN(connect, "SSL_connect"),
		FN(get_verify_result, "SSL_get_verify_result"), FN(write, "SSL_write"),
		FN(shutdown, "SSL_shutdown"), FN(free, "SSL_free"),
		FN(verify_cert_error_string, "X509_verify_cert_error_string"),
		FN(err_get_error, "ERR_get_error"), FN(err_error_string_n, "ERR_error_string_n"),
		FN(err_clear_error, "ERR_clear_error"),
	};
#undef FN
	tls.ok = de_dynlib_load("libssl.so.3", fns, DE_ARRAY_SIZE(fns), &tls, tls.err, sizeof(tls.err)) == 0;
}

#define TLS_client_method (tls.client_method)
#define SSL_CTX_new (tls.ctx_new)
#define SSL_CTX_ctrl (tls.ctx_ctrl)
#define SSL_CTX_set_verify (tls.ctx_set_verify)
#define SSL_CTX_load_verify_locations (tls.ctx_load_verify_locations)
#define SSL_CTX_set_default_verify_paths (tls.ctx_set_default_verify_paths)
#define SSL_CTX_free (tls.ctx_free)
#define SSL_new (tls.new_)
#define SSL_ctrl (tls.ctrl)
#define SSL_set_fd (tls.set_fd)
#define SSL_set1_host (tls.set1_host)
#define SSL_connect (tls.connect)
#define SSL_get_verify_result (tls.get_verify_result)
#define SSL_write (tls.write)
#define SSL_shutdown (tls.shutdown)
#define SSL_free (tls.free)
#define X509_verify_cert_error_string (tls.verify_cert_error_string)
#define ERR_get_error (tls.err_get_error)
#define ERR_error_string_n (tls.err_error_string_n)
#define ERR_clear_error (tls.err_clear_error)

struct syslog_sink {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	char host[256], port[16];
};

static void sl_render(const struct de_sink *s, const struct de_alert *a, struct de_buf *out)
{
	de_alert_syslog(out, a, s->cfg->format, s->cfg->facility);
}

/* "host:port" or "[v6]:port" into host and port. */
static int split_addr(const char *a, char *host, size_t hn, char *port, size_t pn)
{
	const char *colon, *h = a;
	size_t hl;
	if (a[0] == '[') {
		const char *end = strchr(a, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		h = a + 1;
		hl = (size_t)(end - h);
		colon = end + 1;
	} else {
		colon = strrchr(a, ':');
		if (!colon || colon == a)
			return -EINVAL;
		hl = (size_t)(colon - a);
	}
	if (hl == 0 || hl >= hn)
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = 0;
	size_t pl = strlen(colon + 1);
	if (!pl || pl >= pn || strspn(colon + 1, "0123456789") != pl)
		return -EINVAL;
	memcpy(port, colon + 1, pl + 1);
	return 0;
}

static void ssl_reason(char *out, size_t n)
{
	unsigned long e = ERR_get_error();
	if (e)
		ERR_error_string_n(e, out, n);
	else
		snprintf(out, n, "TLS handshake failed");
	ERR_clear_error();
}

static int sl_open(struct de_sink *s, char *why, size_t why_len)
{
	struct syslog_sink *x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->fd = -1;
	s->priv = x;
	const struct de_sink_cfg *c = s->cfg;
	if (c->protocol == DE_SYSLOG_UNIX) {
		if (strlen(c->address) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
			de_why(why, why_len, "address: socket path too long");
			return -ENAMETOOLONG;
		}
		return 0;
	}
	if (split_addr(c->address, x->host, sizeof(x->host), x->port, sizeof(x->port)) < 0) {
		de_why(why, why_len, "address: expected HOST:PORT or [IPV6]:PORT");
		return -EINVAL;
	}
	if (c->protocol != DE_SYSLOG_TLS)
		return 0;
	pthread_once(&tls_once, tls_load);
	if (!tls.ok) {
		de_why(why, why_len, "TLS: %s (Debian package libssl3)", tls.err);
		return -ENOENT;
	}
	x->ctx = SSL_CTX_new(TLS_client_method());
	if (!x->ctx) {
		de_why(why, why_len, "TLS: cannot create a context");
		return -ENOMEM;
	}
	SSL_CTX_set_min_proto_version(x->ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(x->ctx, SSL_VERIFY_PEER, NULL);
	int ok = c->ca_file ? SSL_CTX_load_verify_locations(x->ctx, c->ca_file, NULL)
			    : SSL_CTX_set_default_verify_paths(x->ctx);
	if (ok != 1) {
		char e[160];
		ssl_reason(e, sizeof(e));
		de_why(why, why_len, "TLS: loading the CA certificates: %s", e);
		return -EINVAL;
	}
	return 0;
}

static void sl_disconnect(struct syslog_sink *x)
{
	if (x->ssl) {
		SSL_free(x->ssl);
		x->ssl = NULL;
	}
	if (x->fd >= 0)
		close(x->fd);
	x->fd = -1;
}

/* Non-blocking connect bounded by timeout_ms, then blocking I/O with
 * send/receive timeouts. */
static int connect_to(struct de_sink *s, struct syslog_sink *x, struct de_sink_result *r)
{
	const struct de_sink_cfg *c = s->cfg;
	int type = c->protocol == DE_SYSLOG_UDP ? SOCK_DGRAM : SOCK_STREAM;
	struct timeval tv = { (time_t)(c->timeout_ms / 1000), (suseconds_t)(c->timeout_ms % 1000) * 1000 };
	if (c->protocol == DE_SYSLOG_UNIX) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", c->address);
		x->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (x->fd < 0 || connect(x->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			int e = de_neg_errno();
			de_sink_fail(r, false, "connecting to the socket: %s", strerror(-e));
			sl_disconnect(x);
			return e;
		}
		setsockopt(x->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		return 0;
	}
	struct addrinfo hints = { .ai_socktype = type, .ai_flags = AI_NUMERICSERV }, *ai = NULL;
	int g = getaddrinfo(x->host, x->port, &hints, &ai);
	if (g) {
		de_sink_fail(r, false, "resolving the address: %s", gai_strerror(g));
		return -EHOSTUNREACH;
	}
	int e = -ECONNREFUSED;
	for (struct addrinfo *p = ai; p; p = p->ai_next) {
		x->fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, p->ai_protocol);
		if (x->fd < 0) {
			e = de_neg_errno();
			continue;
		}
		if (connect(x->fd, p->ai_addr, p->ai_addrlen) < 0 && errno != EINPROGRESS) {
			e = de_neg_errno();
			sl_disconnect(x);
			continue;
		}
		struct pollfd pf = { x->fd, POLLOUT, 0 };
		int pr = poll(&pf, 1, (int)c->timeout_ms);
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		if (pr <= 0) {
			e = -ETIMEDOUT;
		} else if (getsockopt(x->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
			e = -(soerr ? soerr : EIO);
		} else {
			e = 0;
			break;
		}
		sl_disconnect(x);
	}
	freeaddrinfo(ai);
	if (e < 0) {
		de_sink_fail(r, false, "connecting to %s: %s", c->address, strerror(-e));
		return e;
	}
	fcntl(x->fd, F_SETFL, fcntl(x->fd, F_GETFL) & ~O_NONBLOCK);
	setsockopt(x->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(x->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (c->protocol != DE_SYSLOG_TLS)
		return 0;
	x->ssl = SSL_new(x->ctx);
	const char *name = c->server_name ? c->server_name : x->host;
	if (!x->ssl || SSL_set_fd(x->ssl, x->fd) != 1 || SSL_set1_host(x->ssl, name) != 1 ||
	    SSL_set_tlsext_host_name(x->ssl, name) != 1 || SSL_connect(x->ssl) != 1) {
		char er[200];
		long v = x->ssl ? SSL_get_verify_result(x->ssl) : X509_V_OK;
		if (v != X509_V_OK)
			snprintf(er, sizeof(er), "certificate verification failed: %s",
				 X509_verify_cert_error_string(v));
		else
			ssl_reason(er, sizeof(er));
		de_sink_fail(r, false, "TLS with %s: %s", c->address, er);
		sl_disconnect(x);
		return -ECONNABORTED;
	}
	return 0;
}

/* A stream the peer has closed (or reset) reads as EOF/error at once. */
static bool peer_closed(struct syslog_sink *x)
{
	struct pollfd pf = { x->fd, POLLIN, 0 };
	if (poll(&pf, 1, 0) <= 0)
		return false;
	if (pf.revents & (POLLHUP | POLLERR))
		return true;
	char c;
	ssize_t n = recv(x->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

static int stream_write(struct syslog_sink *x, const char *p, size_t n)
{
	while (n) {
		ssize_t w;
		if (x->ssl) {
			int k = SSL_write(x->ssl, p, (int)DE_MIN(n, (size_t)INT32_MAX));
			if (k <= 0)
				return -EPIPE;
			w = k;
		} else {
			w = send(x->fd, p, n, MSG_NOSIGNAL);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				return de_neg_errno();
			}
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int sl_send(struct de_sink *s, const char *id, const char *p, size_t n,
		   struct de_sink_result *r)
{
	(void)id;
	struct syslog_sink *x = s->priv;
	bool stream = s->cfg->protocol == DE_SYSLOG_TCP || s->cfg->protocol == DE_SYSLOG_TLS;
	if (x->fd >= 0 && stream && peer_closed(x))
		sl_disconnect(x);
	int e;
	if (x->fd < 0 && (e = connect_to(s, x, r)) < 0)
		return e;
	if (!stream) {
		if (send(x->fd, p, n, MSG_NOSIGNAL) < 0) {
			e = de_neg_errno();
			de_sink_fail(r, false, "sending: %s", strerror(-e));
			sl_disconnect(x);
			return e;
		}
		return 0;
	}
	char len[24];
	int ln = snprintf(len, sizeof(len), "%zu ", n);
	if ((e = stream_write(x, len, (size_t)ln)) < 0 || (e = stream_write(x, p, n)) < 0) {
		de_sink_fail(r, false, "sending to %s: %s", s->cfg->address, strerror(-e));
		sl_disconnect(x);
		return e;
	}
	return 0;
}

static void sl_close(struct de_sink *s)
{
	struct syslog_sink *x = s->priv;
	if (!x)
		return;
	if (x->ssl)
		SSL_shutdown(x->ssl);
	sl_disconnect(x);
	if (x->ctx)
		SSL_CTX_free(x->ctx);
	free(x);
}

const struct de_sink_ops de_sink_syslog_ops = {
	.open = sl_open, .render = sl_render, .send = sl_send, .close = sl_close,
};

/*
 * An interoperability client for the OpenDHT Sun RPC gateway, built on the
 * stubs rpcgen generates from gateway_prot.x and on libtirpc, so that it
 * shares nothing with the Go codec it checks.
 *
 * Usage: client HOST PORT
 *
 * It connects straight to HOST:PORT over TCP (there is no portmapper),
 * prints one line per check, "ok NAME" or "FAIL NAME: why", and exits 0
 * only if every check passed. Each group of checks has a connection of its
 * own, so a group that breaks its connection does not hide the others'
 * results. Keys are derived from the process id and the time, so runs
 * against the same DHT do not see each other's values.
 */

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <rpc/rpc.h>

#include "gateway_prot.h"

#define TTL 3600          /* seconds, for every put and remove */
#define MAX_PAGES 64      /* a get that needs more pages than this loops */
#define MAX_ITEMS 64      /* values one key is expected to hold, with room */

static const char *APP = "rpcgen-interop";
static const char *LIB = "rpcgen C client (libtirpc)";

static int failures;
static struct sockaddr_in gateway;

/* ---- reporting ---------------------------------------------------------- */

static void ok(const char *name)
{
	printf("ok %s\n", name);
	fflush(stdout);
}

static void fail(const char *name, const char *fmt, ...)
{
	va_list ap;

	failures++;
	printf("FAIL %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/*
 * callerr describes the last call's error on c: libtirpc's message, with
 * the version range for a version mismatch, on one line.
 */
static const char *callerr(CLIENT *c)
{
	static char buf[512];
	struct rpc_err e;
	size_t n;

	clnt_geterr(c, &e);
	if (e.re_status == RPC_PROGVERSMISMATCH)
		snprintf(buf, sizeof buf, "%s (server has versions %lu..%lu)",
		    clnt_sperrno(e.re_status), (unsigned long)e.re_vers.low,
		    (unsigned long)e.re_vers.high);
	else
		snprintf(buf, sizeof buf, "%s", clnt_sperror(c, "call"));
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return buf;
}

/* ---- SHA-1 (FIPS 180-4), one shot ------------------------------------ */

static uint32_t rol32(uint32_t x, int s)
{
	return (x << s) | (x >> (32 - s));
}

static void sha1_block(uint32_t h[5], const unsigned char *p)
{
	uint32_t w[80], a, b, c, d, e, f, k, t;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		    (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
	for (i = 16; i < 80; i++)
		w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	a = h[0];
	b = h[1];
	c = h[2];
	d = h[3];
	e = h[4];
	for (i = 0; i < 80; i++) {
		if (i < 20) {
			f = (b & c) | (~b & d);
			k = 0x5a827999;
		} else if (i < 40) {
			f = b ^ c ^ d;
			k = 0x6ed9eba1;
		} else if (i < 60) {
			f = (b & c) | (b & d) | (c & d);
			k = 0x8f1bbcdc;
		} else {
			f = b ^ c ^ d;
			k = 0xca62c1d6;
		}
		t = rol32(a, 5) + f + e + k + w[i];
		e = d;
		d = c;
		c = rol32(b, 30);
		b = a;
		a = t;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
}

static void sha1(const void *data, size_t len, unsigned char out[20])
{
	uint32_t h[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476,
	    0xc3d2e1f0};
	const unsigned char *p = data;
	unsigned char tail[128];
	uint64_t bits = (uint64_t)len * 8;
	size_t rest, tlen, i;

	for (; len >= 64; p += 64, len -= 64)
		sha1_block(h, p);
	rest = len;
	memset(tail, 0, sizeof tail);
	memcpy(tail, p, rest);
	tail[rest] = 0x80;
	tlen = rest + 1 + 8 <= 64 ? 64 : 128;
	for (i = 0; i < 8; i++)
		tail[tlen - 1 - i] = (unsigned char)(bits >> (8 * i));
	sha1_block(h, tail);
	if (tlen == 128)
		sha1_block(h, tail + 64);
	for (i = 0; i < 5; i++) {
		out[4 * i] = (unsigned char)(h[i] >> 24);
		out[4 * i + 1] = (unsigned char)(h[i] >> 16);
		out[4 * i + 2] = (unsigned char)(h[i] >> 8);
		out[4 * i + 3] = (unsigned char)h[i];
	}
}

static void sha1_str(const char *s, unsigned char out[20])
{
	sha1(s, strlen(s), out);
}

static void hex(const unsigned char *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Known answers of FIPS 180 for the SHA-1 above, so a wrong digest is
 * blamed on this client rather than on the gateway. */
static void check_sha1(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
		{"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
		{"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		    "84983e441c3bd26ebaae4aa1f95129e5e54670f1"},
	};
	unsigned char d[20];
	char h[41];
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		sha1_str(cases[i].in, d);
		hex(d, 20, h);
		if (strcmp(h, cases[i].want) != 0) {
			fail("sha1-selftest", "SHA-1(\"%s\") = %s, want %s",
			    cases[i].in, h, cases[i].want);
			return;
		}
	}
	ok("sha1-selftest");
}

/* ---- connections -------------------------------------------------------- */

/*
 * dial returns a client of program version vers on its own TCP connection
 * to the gateway, or NULL after reporting the failure as check name.
 */
static CLIENT *dial(u_long vers, const char *name)
{
	struct sockaddr_in addr = gateway;
	struct timeval tv = {15, 0};
	int sock = RPC_ANYSOCK;
	CLIENT *c;

	c = clnttcp_create(&addr, BAMBOO_DHT_GATEWAY_PROGRAM, vers, &sock, 0, 0);
	if (c == NULL) {
		fail(name, "no connection for version %lu: %s", vers,
		    clnt_spcreateerror("clnttcp_create"));
		return NULL;
	}
	clnt_control(c, CLSET_TIMEOUT, (char *)&tv);
	return c;
}

/* ---- v3 gets ------------------------------------------------------------ */

struct item {
	char value[2048];
	u_int len;
	int ttl;
	char alg[64];
	unsigned char hash[64];
	u_int hlen;
};

struct got {
	int n;
	struct item items[MAX_ITEMS];
};

static void set_value(bamboo_value *v, const void *p, size_t n)
{
	v->bamboo_value_val = (char *)p;
	v->bamboo_value_len = (u_int)n;
}

static void get_args(bamboo_get_args *a, const unsigned char key[20], int maxvals)
{
	memset(a, 0, sizeof *a);
	a->application = (char *)APP;
	a->client_library = (char *)LIB;
	memcpy(a->key, key, 20);
	a->maxvals = maxvals;
}

/*
 * get_all3 reads every value under key with version 3 gets of at most
 * maxvals values each, passing each reply's placemark to the next call
 * until one comes back empty. It returns 0, or -1 with why filled in.
 */
static int get_all3(CLIENT *c, const unsigned char key[20], int maxvals,
    struct got *g, char *why, size_t whylen)
{
	char placemark[100];
	u_int pmlen = 0;
	bamboo_get_args a;
	bamboo_get_result *r;
	int page;
	u_int i;

	g->n = 0;
	for (page = 0; page < MAX_PAGES; page++) {
		get_args(&a, key, maxvals);
		a.placemark.bamboo_placemark_val = placemark;
		a.placemark.bamboo_placemark_len = pmlen;
		r = bamboo_dht_proc_get_3(&a, c);
		if (r == NULL) {
			snprintf(why, whylen, "GET page %d: %s", page, callerr(c));
			return -1;
		}
		if (r->values.values_len > (u_int)maxvals) {
			snprintf(why, whylen, "GET page %d: %u values for maxvals %d",
			    page, r->values.values_len, maxvals);
			xdr_free((xdrproc_t)xdr_bamboo_get_result, (char *)r);
			return -1;
		}
		for (i = 0; i < r->values.values_len; i++) {
			bamboo_get_value *v = &r->values.values_val[i];
			struct item *it;

			if (g->n == MAX_ITEMS) {
				snprintf(why, whylen, "more than %d values", MAX_ITEMS);
				xdr_free((xdrproc_t)xdr_bamboo_get_result, (char *)r);
				return -1;
			}
			it = &g->items[g->n++];
			memset(it, 0, sizeof *it);
			/* The stub's decoder has already held every length to
			 * its bound in the .x, so these copies fit. */
			it->len = v->value.bamboo_value_len;
			memcpy(it->value, v->value.bamboo_value_val, it->len);
			it->ttl = v->ttl_sec_rem;
			snprintf(it->alg, sizeof it->alg, "%s", v->secret_hash.algorithm);
			it->hlen = v->secret_hash.hash.hash_len;
			memcpy(it->hash, v->secret_hash.hash.hash_val, it->hlen);
		}
		pmlen = r->placemark.bamboo_placemark_len;
		memcpy(placemark, r->placemark.bamboo_placemark_val, pmlen);
		xdr_free((xdrproc_t)xdr_bamboo_get_result, (char *)r);
		if (pmlen == 0)
			return 0;
	}
	snprintf(why, whylen, "placemark still not empty after %d pages", MAX_PAGES);
	return -1;
}

/* One value a key should hold: its bytes and, if removable, its secret. */
struct want {
	const char *value;
	const char *secret; /* NULL for a plain put */
};

/*
 * check_values reports as name whether g holds exactly the values of
 * want, each once, with a remaining TTL in (0, TTL] and the secret hash
 * it was put with: ("SHA", SHA-1(secret)) or an empty hash.
 */
static void check_values(const char *name, const struct got *g,
    const struct want *want, int nwant)
{
	int i, j, seen;

	for (j = 0; j < g->n; j++) {
		for (i = 0; i < nwant; i++)
			if (g->items[j].len == strlen(want[i].value) &&
			    memcmp(g->items[j].value, want[i].value, g->items[j].len) == 0)
				break;
		if (i == nwant) {
			fail(name, "unexpected value of %u bytes \"%.*s\"", g->items[j].len,
			    (int)(g->items[j].len > 60 ? 60 : g->items[j].len), g->items[j].value);
			return;
		}
	}
	for (i = 0; i < nwant; i++) {
		const struct item *it = NULL;

		seen = 0;
		for (j = 0; j < g->n; j++)
			if (g->items[j].len == strlen(want[i].value) &&
			    memcmp(g->items[j].value, want[i].value, g->items[j].len) == 0) {
				seen++;
				it = &g->items[j];
			}
		if (seen != 1) {
			fail(name, "value \"%s\" came back %d times, want once (%d values in all)",
			    want[i].value, seen, g->n);
			return;
		}
		if (it->ttl <= 0 || it->ttl > TTL) {
			fail(name, "value \"%s\": ttl_sec_rem %d not in (0, %d]",
			    want[i].value, it->ttl, TTL);
			return;
		}
		if (want[i].secret != NULL) {
			unsigned char d[20];
			char got[2 * 64 + 1], wanth[41];

			sha1_str(want[i].secret, d);
			if (strcmp(it->alg, "SHA") != 0 || it->hlen != 20 ||
			    memcmp(it->hash, d, 20) != 0) {
				hex(it->hash, it->hlen, got);
				hex(d, 20, wanth);
				fail(name, "value \"%s\": secret_hash {\"%s\", %u bytes %s}, want {\"SHA\", 20 bytes %s}",
				    want[i].value, it->alg, it->hlen, got, wanth);
				return;
			}
		} else if (it->hlen != 0) {
			fail(name, "plain value \"%s\": secret_hash {\"%s\", %u bytes}, want an empty hash",
			    want[i].value, it->alg, it->hlen);
			return;
		}
	}
	ok(name);
}

/* ---- version 2 ---------------------------------------------------------- */

static void check_v2(const unsigned char key[20], const char *value)
{
	CLIENT *c = dial(2, "v2-connect");
	bamboo_put_args p;
	bamboo_get_args a;
	bamboo_get_res *r;
	bamboo_stat *st;
	char placemark[100];
	u_int pmlen = 0, i;
	int page, found = 0, done = 0;

	if (c == NULL)
		return;
	if (bamboo_dht_proc_null_2(NULL, c) == NULL)
		fail("v2-null", "%s", callerr(c));
	else
		ok("v2-null");

	memset(&p, 0, sizeof p);
	p.application = (char *)APP;
	p.client_library = (char *)LIB;
	memcpy(p.key, key, 20);
	set_value(&p.value, value, strlen(value));
	p.ttl_sec = TTL;
	st = bamboo_dht_proc_put_2(&p, c);
	if (st == NULL)
		fail("v2-put", "%s", callerr(c));
	else if (*st != BAMBOO_OK)
		fail("v2-put", "status %d, want BAMBOO_OK", (int)*st);
	else
		ok("v2-put");

	for (page = 0; page < MAX_PAGES && !done; page++) {
		get_args(&a, key, 1);
		a.placemark.bamboo_placemark_val = placemark;
		a.placemark.bamboo_placemark_len = pmlen;
		r = bamboo_dht_proc_get_2(&a, c);
		if (r == NULL) {
			fail("v2-get", "page %d: %s", page, callerr(c));
			clnt_destroy(c);
			return;
		}
		if (r->values.values_len > 1) {
			fail("v2-get", "page %d: %u values for maxvals 1", page,
			    r->values.values_len);
			xdr_free((xdrproc_t)xdr_bamboo_get_res, (char *)r);
			clnt_destroy(c);
			return;
		}
		for (i = 0; i < r->values.values_len; i++) {
			bamboo_value *v = &r->values.values_val[i];

			if (v->bamboo_value_len == strlen(value) &&
			    memcmp(v->bamboo_value_val, value, v->bamboo_value_len) == 0)
				found++;
		}
		pmlen = r->placemark.bamboo_placemark_len;
		memcpy(placemark, r->placemark.bamboo_placemark_val, pmlen);
		xdr_free((xdrproc_t)xdr_bamboo_get_res, (char *)r);
		done = pmlen == 0;
	}
	if (!done)
		fail("v2-get", "placemark still not empty after %d pages", MAX_PAGES);
	else if (found != 1)
		fail("v2-get", "the value came back %d times, want once", found);
	else
		ok("v2-get");
	clnt_destroy(c);
}

/* ---- version 3 ---------------------------------------------------------- */

static void put3_args(bamboo_put_arguments *p, const unsigned char key[20],
    const void *value, size_t n, const char *alg, const unsigned char *hash,
    u_int hlen)
{
	memset(p, 0, sizeof *p);
	p->application = (char *)APP;
	p->client_library = (char *)LIB;
	memcpy(p->key, key, 20);
	set_value(&p->value, value, n);
	p->secret_hash.algorithm = (char *)alg;
	p->secret_hash.hash.hash_val = (char *)hash;
	p->secret_hash.hash.hash_len = hlen;
	p->ttl_sec = TTL;
}

static void put3(CLIENT *c, const char *name, const unsigned char key[20],
    const char *value, const char *alg, const char *secret)
{
	bamboo_put_arguments p;
	unsigned char d[20];
	bamboo_stat *st;

	if (secret != NULL) {
		sha1_str(secret, d);
		put3_args(&p, key, value, strlen(value), alg, d, 20);
	} else {
		put3_args(&p, key, value, strlen(value), alg, NULL, 0);
	}
	st = bamboo_dht_proc_put_3(&p, c);
	if (st == NULL)
		fail(name, "%s", callerr(c));
	else if (*st != BAMBOO_OK)
		fail(name, "status %d, want BAMBOO_OK", (int)*st);
	else
		ok(name);
}

static void rm3(CLIENT *c, const char *name, const unsigned char key[20],
    const char *value, const char *secret)
{
	bamboo_rm_arguments a;
	unsigned char d[20];
	bamboo_stat *st;

	sha1_str(value, d);
	memset(&a, 0, sizeof a);
	a.application = (char *)APP;
	a.client_library = (char *)LIB;
	memcpy(a.key, key, 20);
	a.value_hash.algorithm = "SHA";
	a.value_hash.hash.hash_val = (char *)d;
	a.value_hash.hash.hash_len = 20;
	a.secret_hash_alg = "SHA";
	a.secret.secret_val = (char *)secret;
	a.secret.secret_len = (u_int)strlen(secret);
	a.ttl_sec = TTL;
	st = bamboo_dht_proc_rm_3(&a, c);
	if (st == NULL)
		fail(name, "%s", callerr(c));
	else if (*st != BAMBOO_OK)
		fail(name, "status %d, want BAMBOO_OK", (int)*st);
	else
		ok(name);
}

static void get3_check(CLIENT *c, const char *name, const unsigned char key[20],
    const struct want *want, int nwant)
{
	static struct got g;
	char why[512];

	if (get_all3(c, key, 1, &g, why, sizeof why) != 0) {
		fail(name, "%s", why);
		return;
	}
	check_values(name, &g, want, nwant);
}

static void check_v3(const unsigned char key[20], const unsigned char v2key[20],
    const char *v2value, const char *tag)
{
	static char plain_a[128], plain_b[128], removable[128], secret[128],
	    wrong[128];
	CLIENT *c = dial(3, "v3-connect");
	struct want all[3], plain[2], v2[1];

	if (c == NULL)
		return;
	snprintf(plain_a, sizeof plain_a, "plain value A %s", tag);
	snprintf(plain_b, sizeof plain_b, "plain value B %s", tag);
	snprintf(removable, sizeof removable, "removable value %s", tag);
	snprintf(secret, sizeof secret, "the secret %s", tag);
	snprintf(wrong, sizeof wrong, "not the secret %s", tag);
	all[0].value = plain_a;
	all[0].secret = NULL;
	all[1].value = plain_b;
	all[1].secret = NULL;
	all[2].value = removable;
	all[2].secret = secret;
	plain[0] = all[0];
	plain[1] = all[1];
	v2[0].value = v2value;
	v2[0].secret = NULL;

	if (bamboo_dht_proc_null_3(NULL, c) == NULL)
		fail("v3-null", "%s", callerr(c));
	else
		ok("v3-null");

	/* Plain puts: an empty hash, named "SHA" for one, nothing for the
	 * other; both forms are sent by clients. */
	put3(c, "v3-put-plain-alg-SHA-empty-hash", key, plain_a, "SHA", NULL);
	put3(c, "v3-put-plain-empty-alg-empty-hash", key, plain_b, "", NULL);
	put3(c, "v3-put-removable", key, removable, "SHA", secret);

	get3_check(c, "v3-get-maxvals1-all-once", key, all, 3);
	get3_check(c, "v3-get-of-v2-put", v2key, v2, 1);

	rm3(c, "v3-rm-wrong-secret-status", key, removable, wrong);
	get3_check(c, "v3-get-after-wrong-rm-keeps-value", key, all, 3);
	rm3(c, "v3-rm-right-secret-status", key, removable, secret);
	get3_check(c, "v3-get-after-rm-value-gone", key, plain, 2);
	clnt_destroy(c);
}

/* ---- a value over the bound --------------------------------------------- */

/*
 * xdr_put3_loose encodes version 3 put arguments like the generated
 * xdr_bamboo_put_arguments, except that the value may be up to 2048 bytes
 * rather than 1024: the generated encoder refuses to send a value the
 * gateway must refuse. Only for encoding.
 */
static bool_t xdr_put3_loose(XDR *xdrs, bamboo_put_arguments *p)
{
	char *v = p->value.bamboo_value_val;
	u_int n = p->value.bamboo_value_len;

	return xdr_string(xdrs, &p->application, 255) &&
	    xdr_string(xdrs, &p->client_library, 255) &&
	    xdr_opaque(xdrs, p->key, 20) &&
	    xdr_bytes(xdrs, &v, &n, 2048) &&
	    xdr_bamboo_hash(xdrs, &p->secret_hash) &&
	    xdr_int(xdrs, &p->ttl_sec);
}

static void check_oversize(const unsigned char key[20])
{
	static char big[1025];
	CLIENT *c = dial(3, "oversize-connect");
	struct timeval tv = {15, 0};
	bamboo_put_arguments p;
	bamboo_stat st;
	enum clnt_stat cs;
	static struct got g;
	char why[512];
	int i, n1024 = 0;

	if (c == NULL)
		return;
	for (i = 0; i < (int)sizeof big; i++)
		big[i] = (char)('a' + i % 26);

	/* The loose encoder on a value at the bound: a put like any other,
	 * which shows the encoder itself is right. */
	put3_args(&p, key, big, 1024, "", NULL, 0);
	st = (bamboo_stat)-1;
	cs = clnt_call(c, BAMBOO_DHT_PROC_PUT, (xdrproc_t)xdr_put3_loose,
	    (caddr_t)&p, (xdrproc_t)xdr_bamboo_stat, (caddr_t)&st, tv);
	if (cs != RPC_SUCCESS)
		fail("put-1024-bytes-loose-encoder", "%s", callerr(c));
	else if (st != BAMBOO_OK)
		fail("put-1024-bytes-loose-encoder", "status %d, want BAMBOO_OK", (int)st);
	else
		ok("put-1024-bytes-loose-encoder");

	/* One byte more: GARBAGE_ARGS, which libtirpc reports as
	 * RPC_CANTDECODEARGS. */
	put3_args(&p, key, big, 1025, "", NULL, 0);
	st = (bamboo_stat)-1;
	cs = clnt_call(c, BAMBOO_DHT_PROC_PUT, (xdrproc_t)xdr_put3_loose,
	    (caddr_t)&p, (xdrproc_t)xdr_bamboo_stat, (caddr_t)&st, tv);
	if (cs == RPC_SUCCESS)
		fail("put-1025-bytes-garbage-args", "accepted with status %d, want GARBAGE_ARGS", (int)st);
	else if (cs != RPC_CANTDECODEARGS)
		fail("put-1025-bytes-garbage-args", "%s, want RPC_CANTDECODEARGS (GARBAGE_ARGS)", callerr(c));
	else
		ok("put-1025-bytes-garbage-args");

	/* The connection lives on: the same CLIENT handle still works. */
	if (bamboo_dht_proc_null_3(NULL, c) == NULL)
		fail("after-garbage-args-null-same-connection", "%s", callerr(c));
	else
		ok("after-garbage-args-null-same-connection");
	if (get_all3(c, key, 10, &g, why, sizeof why) != 0) {
		fail("after-garbage-args-get-same-connection", "%s", why);
	} else {
		for (i = 0; i < g.n; i++) {
			if (g.items[i].len == 1024 && memcmp(g.items[i].value, big, 1024) == 0)
				n1024++;
			else
				break;
		}
		if (i < g.n)
			fail("after-garbage-args-get-same-connection",
			    "a value of %u bytes that was never accepted", g.items[i].len);
		else if (n1024 != 1)
			fail("after-garbage-args-get-same-connection",
			    "the 1024-byte value came back %d times, want once", n1024);
		else
			ok("after-garbage-args-get-same-connection");
	}
	clnt_destroy(c);
}

/* ---- versions and procedures -------------------------------------------- */

static void check_version(u_long vers)
{
	char name[64];
	struct timeval tv = {15, 0};
	struct rpc_err e;
	enum clnt_stat cs;
	CLIENT *c;

	snprintf(name, sizeof name, "v%lu-prog-mismatch-2-3", vers);
	c = dial(vers, name);
	if (c == NULL)
		return;
	cs = clnt_call(c, BAMBOO_DHT_PROC_NULL, (xdrproc_t)xdr_void, NULL,
	    (xdrproc_t)xdr_void, NULL, tv);
	clnt_geterr(c, &e);
	if (cs != RPC_PROGVERSMISMATCH)
		fail(name, "%s, want RPC_PROGVERSMISMATCH", callerr(c));
	else if (e.re_vers.low != 2 || e.re_vers.high != 3)
		fail(name, "versions low %lu high %lu, want 2 and 3",
		    (unsigned long)e.re_vers.low, (unsigned long)e.re_vers.high);
	else
		ok(name);
	clnt_destroy(c);
}

static void check_procs(const unsigned char key[20])
{
	struct timeval tv = {15, 0};
	bamboo_rm_arguments a;
	unsigned char d[20];
	bamboo_stat st;
	enum clnt_stat cs;
	CLIENT *c;

	c = dial(3, "v3-proc9-proc-unavail");
	if (c != NULL) {
		cs = clnt_call(c, 9, (xdrproc_t)xdr_void, NULL,
		    (xdrproc_t)xdr_void, NULL, tv);
		if (cs != RPC_PROCUNAVAIL)
			fail("v3-proc9-proc-unavail", "%s, want RPC_PROCUNAVAIL",
			    cs == RPC_SUCCESS ? "success" : callerr(c));
		else
			ok("v3-proc9-proc-unavail");
		clnt_destroy(c);
	}

	c = dial(2, "v2-rm-proc-unavail");
	if (c != NULL) {
		sha1_str("no such value", d);
		memset(&a, 0, sizeof a);
		a.application = (char *)APP;
		a.client_library = (char *)LIB;
		memcpy(a.key, key, 20);
		a.value_hash.algorithm = "SHA";
		a.value_hash.hash.hash_val = (char *)d;
		a.value_hash.hash.hash_len = 20;
		a.secret_hash_alg = "SHA";
		a.secret.secret_val = "no secret";
		a.secret.secret_len = 9;
		a.ttl_sec = TTL;
		cs = clnt_call(c, BAMBOO_DHT_PROC_RM, (xdrproc_t)xdr_bamboo_rm_arguments,
		    (caddr_t)&a, (xdrproc_t)xdr_bamboo_stat, (caddr_t)&st, tv);
		if (cs != RPC_PROCUNAVAIL)
			fail("v2-rm-proc-unavail", "%s, want RPC_PROCUNAVAIL",
			    cs == RPC_SUCCESS ? "success" : callerr(c));
		else
			ok("v2-rm-proc-unavail");
		clnt_destroy(c);
	}
}

/* ---- main --------------------------------------------------------------- */

static void derive_key(const char *base, const char *what, unsigned char key[20])
{
	char buf[256];

	snprintf(buf, sizeof buf, "%s %s", base, what);
	sha1_str(buf, key);
}

int main(int argc, char **argv)
{
	struct addrinfo hints, *res;
	struct timeval now;
	char base[128], tag[41], v2value[128];
	unsigned char d[20], k2[20], k3[20], kbig[20], kproc[20];
	long port;
	int err;

	if (argc != 3) {
		fprintf(stderr, "usage: %s HOST PORT\n", argv[0]);
		return 2;
	}
	port = strtol(argv[2], NULL, 10);
	if (port <= 0 || port > 65535) {
		fprintf(stderr, "bad port %s\n", argv[2]);
		return 2;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	err = getaddrinfo(argv[1], NULL, &hints, &res);
	if (err != 0) {
		fprintf(stderr, "%s: %s\n", argv[1], gai_strerror(err));
		return 2;
	}
	memcpy(&gateway, res->ai_addr, sizeof gateway);
	freeaddrinfo(res);
	gateway.sin_port = htons((uint16_t)port);

	gettimeofday(&now, NULL);
	snprintf(base, sizeof base, "rpcgen-interop %ld %ld.%06ld", (long)getpid(),
	    (long)now.tv_sec, (long)now.tv_usec);
	sha1_str(base, d);
	hex(d, 8, tag);
	derive_key(base, "v2", k2);
	derive_key(base, "v3", k3);
	derive_key(base, "oversize", kbig);
	derive_key(base, "procs", kproc);
	snprintf(v2value, sizeof v2value, "version 2 value %s", tag);
	printf("# gateway %s:%ld, run %s\n", argv[1], port, tag);

	check_sha1();
	check_v2(k2, v2value);
	check_v3(k3, k2, v2value, tag);
	check_oversize(kbig);
	check_version(4);
	check_version(1);
	check_procs(kproc);

	if (failures > 0) {
		printf("# %d check(s) failed\n", failures);
		return 1;
	}
	printf("# all checks passed\n");
	return 0;
}

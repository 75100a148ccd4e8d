/* proxy.c - trusted proxies and X-Forwarded-For (contract in proxy.h). */
#include "proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

/* ip as 16 bytes: IPv4 (and IPv4-mapped IPv6) as family AF_INET in the
 * first 4 bytes. Only plain addresses: no port, no brackets, no zone. */
static int addr_parse(const char *ip, int *family, unsigned char out[16])
{
	memset(out, 0, 16);
	if (inet_pton(AF_INET, ip, out) == 1) {
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, ip, out) == 1) {
		static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (memcmp(out, mapped, sizeof mapped) == 0) {
			memmove(out, out + 12, 4);
			memset(out + 4, 0, 12);
			*family = AF_INET;
		} else {
			*family = AF_INET6;
		}
		return 0;
	}
	return -1;
}

int proxy_parse_cidr(const char *s, struct proxy_cidr *out, const char **why)
{
	char host[PROXY_ADDR_LEN];
	const char *slash = strchr(s, '/');
	size_t hl = slash ? (size_t)(slash - s) : strlen(s);
	unsigned max;
	int64_t bits;

	memset(out, 0, sizeof *out);
	*why = "want ADDR/BITS, an IPv4 or IPv6 address and a prefix length";
	if (hl == 0 || hl >= sizeof host)
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	/* the mapped form would be read as IPv4 by addr_parse: take the
	 * address family as written */
	if (inet_pton(AF_INET, host, out->addr) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, host, out->addr) == 1)
		out->family = AF_INET6;
	else
		return -1;
	if (out->family == AF_INET6 && memcmp(out->addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
		*why = "write an IPv4-mapped range as IPv4 (peers are compared as IPv4)";
		return -1;
	}
	max = out->family == AF_INET ? 32 : 128;
	if (slash == NULL)
		bits = max;
	else if (util_parse_i64(slash + 1, 0, max, &bits) != 0) {
		*why = out->family == AF_INET ? "the prefix length of an IPv4 range is 0 to 32"
		                              : "the prefix length of an IPv6 range is 0 to 128";
		return -1;
	}
	/* A short prefix would let nearly every client choose the address it
	 * is recorded under (SPEC 8.5): a proxy is one host or a small range. */
	if (bits < (out->family == AF_INET ? PROXY_MIN_BITS4 : PROXY_MIN_BITS6)) {
		*why = out->family == AF_INET
		           ? "an IPv4 range shorter than /8 would trust nearly every client; "
		             "list the proxies themselves (e.g. 192.0.2.10/32)"
		           : "an IPv6 range shorter than /32 would trust nearly every client; "
		             "list the proxies themselves (e.g. 2001:db8::10/128)";
		return -1;
	}
	out->bits = (unsigned)bits;
	for (unsigned b = out->bits; b < max; b++)
		if (out->addr[b / 8] & (0x80u >> (b % 8))) {
			*why = "the address has bits set beyond the prefix length";
			return -1;
		}
	return 0;
}

static int in_range(const struct proxy_cidr *c, int family, const unsigned char a[16])
{
	unsigned full = c->bits / 8, rest = c->bits % 8;

	if (c->family != family)
		return 0;
	if (memcmp(c->addr, a, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((c->addr[full] ^ a[full]) & (0xffu << (8 - rest)) & 0xffu) == 0;
}

static int trusted_bin(const struct proxy_cidr *c, size_t n, int family, const unsigned char a[16])
{
	for (size_t i = 0; i < n; i++)
		if (in_range(&c[i], family, a))
			return 1;
	return 0;
}

int proxy_trusted(const struct proxy_cidr *c, size_t n, const char *ip)
{
	unsigned char a[16];
	int family;

	if (addr_parse(ip, &family, a) != 0)
		return 0;
	return trusted_bin(c, n, family, a);
}

/* The canonical text of an address (IPv4-mapped written as IPv4). */
static void addr_text(int family, const unsigned char a[16], char out[PROXY_ADDR_LEN])
{
	if (inet_ntop(family, a, out, PROXY_ADDR_LEN) == NULL)
		snprintf(out, PROXY_ADDR_LEN, "unknown");
}

/* The last PROXY_XFF_MAX bytes of the headers xff[0..nxff) joined by
 * commas, into buf (PROXY_XFF_MAX + 1), filled from the right. Of an entry
 * that the cut falls inside nothing is kept: what remains is whole entries
 * only. Returns the start of the list in buf. */
static size_t xff_tail(const char *const *xff, size_t nxff, char *buf)
{
	size_t pos = PROXY_XFF_MAX;

	buf[PROXY_XFF_MAX] = '\0';
	for (size_t i = nxff; i-- > 0;) {
		const char *v = xff[i] ? xff[i] : "";
		size_t l = strlen(v);
		if (i + 1 < nxff) {
			if (pos == 0)
				return 0; /* full, at the start of a header's first entry */
			buf[--pos] = ',';
		}
		if (l > pos) {
			memcpy(buf, v + l - pos, pos);
			if (v[l - pos - 1] == ',')
				return 0; /* cut just after a comma: whole entries */
			for (pos = 0; pos < PROXY_XFF_MAX && buf[pos] != ','; pos++)
				;
			return pos < PROXY_XFF_MAX ? pos + 1 : PROXY_XFF_MAX;
		}
		pos -= l;
		memcpy(buf + pos, v, l);
	}
	return pos;
}

int proxy_client(const struct proxy_cidr *c, size_t n, const char *peer, const char *const *xff,
                 size_t nxff, char out[PROXY_ADDR_LEN])
{
	char tail[PROXY_XFF_MAX + 1], entry[PROXY_ADDR_LEN], *buf;
	unsigned char a[16];
	size_t len, end;
	int family, entries = 0, from_header = 0;

	snprintf(out, PROXY_ADDR_LEN, "%s", peer);
	if (n == 0 || nxff == 0 || !proxy_trusted(c, n, peer))
		return 0;
	/* all headers as one list, in order; of a long one the right end,
	 * where the trusted proxies write */
	buf = tail + xff_tail(xff, nxff, tail);
	len = strlen(buf);
	end = len;
	while (entries++ < PROXY_XFF_ENTRIES) {
		size_t start = end, el;
		while (start > 0 && buf[start - 1] != ',')
			start--;
		/* trim optional whitespace */
		size_t s = start, e = end;
		while (s < e && (buf[s] == ' ' || buf[s] == '\t'))
			s++;
		while (e > s && (buf[e - 1] == ' ' || buf[e - 1] == '\t'))
			e--;
		el = e - s;
		if (el == 0 || el >= sizeof entry)
			return from_header;
		memcpy(entry, buf + s, el);
		entry[el] = '\0';
		if (addr_parse(entry, &family, a) != 0)
			return from_header;
		addr_text(family, a, out);
		from_header = 1;
		if (!trusted_bin(c, n, family, a))
			return 1; /* the first untrusted hop: the client */
		if (start == 0)
			return 1; /* every hop trusted: the leftmost */
		end = start - 1;
	}
	return from_header;
}

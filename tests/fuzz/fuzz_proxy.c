/* fuzz_proxy.c - --trusted-proxy parsing and the X-Forwarded-For walk
 * (vault/proxy.c).
 *
 * Input: "CIDR\nPEER\nXFF" (later lines are further X-Forwarded-For
 * headers), cut at the first NUL. Checked, besides memory safety:
 *  - proxy_parse_cidr accepts only what parses back: a range it accepts
 *    contains its own address, has no host bits set and is no wider than
 *    /8 (IPv4) or /32 (IPv6);
 *  - with the range accepted: an untrusted peer's address is kept as is;
 *    the client is always the peer or an address in the header that
 *    parses, written in canonical form; the answer is never itself in a
 *    trusted range unless every hop walked was trusted (then it is the
 *    leftmost hop reached, or the peer). */
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "proxy.h"

#define LINES 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[PROXY_XFF_MAX * 2 + 256], out[PROXY_ADDR_LEN], canon[PROXY_ADDR_LEN];
	char *line[LINES], *p;
	struct proxy_cidr c;
	const char *why;
	unsigned char a[16];
	size_t n = size < sizeof buf - 1 ? size : sizeof buf - 1, nl = 0;
	int from;

	memcpy(buf, data, n);
	buf[n] = '\0';
	for (p = buf; nl < LINES; nl++) {
		line[nl] = p;
		if ((p = strchr(p, '\n')) == NULL) {
			nl++;
			break;
		}
		*p++ = '\0';
	}
	if (proxy_parse_cidr(line[0], &c, &why) != 0) {
		fuzz_check(why != NULL && why[0] != '\0');
		return 0;
	}
	fuzz_check(c.family == AF_INET || c.family == AF_INET6);
	fuzz_check(c.bits <= (c.family == AF_INET ? 32u : 128u));
	fuzz_check(c.bits >= (c.family == AF_INET ? PROXY_MIN_BITS4 : PROXY_MIN_BITS6));
	if (inet_ntop(c.family, c.addr, canon, sizeof canon) != NULL &&
	    (c.family == AF_INET6 ? strncmp(canon, "::ffff:", 7) != 0 : 1))
		fuzz_check(proxy_trusted(&c, 1, canon));
	if (nl < 2 || strlen(line[1]) >= PROXY_ADDR_LEN)
		return 0;
	from = proxy_client(&c, 1, line[1], (const char *const *)(line + 2), nl - 2, out);
	if (!proxy_trusted(&c, 1, line[1])) {
		fuzz_check(from == 0 && strcmp(out, line[1]) == 0);
		return 0;
	}
	if (from == 0) {
		fuzz_check(strcmp(out, line[1]) == 0);
		return 0;
	}
	/* from the header: a canonical address */
	if (inet_pton(AF_INET, out, a) == 1) {
		fuzz_check(inet_ntop(AF_INET, a, canon, sizeof canon) != NULL);
	} else {
		fuzz_check(inet_pton(AF_INET6, out, a) == 1);
		fuzz_check(inet_ntop(AF_INET6, a, canon, sizeof canon) != NULL);
	}
	fuzz_check(strcmp(out, canon) == 0);
	return 0;
}

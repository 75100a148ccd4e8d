/* proxy.h - --trusted-proxy: the client address of a request that came
 * through a reverse proxy (SPEC 8.5).
 *
 * For a request whose peer is inside a trusted CIDR, the client address is
 * the rightmost X-Forwarded-For entry that is not itself a trusted proxy.
 * Every other request's client address is its peer, whatever it sends.
 * Pure functions: no I/O, no allocation. */
#ifndef RSVAULT_PROXY_H
#define RSVAULT_PROXY_H

#include <stddef.h>

#define PROXY_MAX 16         /* --trusted-proxy ranges */
#define PROXY_XFF_MAX 4096   /* bytes of X-Forwarded-For looked at, all headers, from the right */
#define PROXY_XFF_ENTRIES 64 /* entries walked, from the right */
#define PROXY_ADDR_LEN 46    /* INET6_ADDRSTRLEN */
#define PROXY_MIN_BITS4 8    /* shortest IPv4 prefix accepted */
#define PROXY_MIN_BITS6 32   /* shortest IPv6 prefix accepted */

struct proxy_cidr {
	int family; /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	unsigned bits;
};

/* Parse "ADDR/BITS" or a bare ADDR (a single host) into *out. IPv4 bits
 * 8..32, IPv6 32..128 (a shorter prefix such as 0.0.0.0/0 would trust
 * nearly every client); host bits beyond the prefix must be zero. Returns
 * 0, or -1 with a reason in *why. */
int proxy_parse_cidr(const char *s, struct proxy_cidr *out, const char **why);

/* Whether the textual address ip (as inet_ntop wrote it) lies inside one of
 * the n ranges. An IPv4-mapped IPv6 address counts as its IPv4 address. */
int proxy_trusted(const struct proxy_cidr *c, size_t n, const char *ip);

/* The client address of a request from peer (textual, from the socket)
 * that carried X-Forwarded-For values xff[0..nxff) (in header order; NULL
 * when absent), with n trusted ranges. Writes the address, in canonical
 * inet_ntop form, into out (PROXY_ADDR_LEN).
 *
 * Walking the entries from the right, starting at the peer: a trusted
 * address moves on to the next entry; the first untrusted one is the
 * client. An entry that is not a plain IPv4 or IPv6 address (ports,
 * brackets, "unknown", garbage) or too many entries stop the walk: the
 * client is then the last trusted hop reached, never a value the header
 * made up. Of headers longer than PROXY_XFF_MAX bytes together only the
 * last PROXY_XFF_MAX are read, less the entry they cut: the left part is
 * the client's to fill, so its length must not decide anything (ignoring
 * the whole header would make the client the proxy). Returns 1 when the
 * address came from the header, 0 when it is the peer's or a trusted
 * hop's. */
int proxy_client(const struct proxy_cidr *c, size_t n, const char *peer, const char *const *xff,
                 size_t nxff, char out[PROXY_ADDR_LEN]);

#endif

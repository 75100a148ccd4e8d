/* publicurl.h - where customers reach the server (SPEC 8.2 --public-url):
 * the base of link and receipt URLs. Required when any listen address is
 * not loopback; on loopback it defaults to https://{listen host}:{port}. */
#ifndef RSVAULT_PUBLICURL_H
#define RSVAULT_PUBLICURL_H

#include <stddef.h>
#include <stdint.h>

/* Is the host of listen ("ADDR:PORT", "[V6]:PORT") a loopback address
 * (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104)? 1 yes, 0 no, -1 malformed.
 * Writes the host as it goes into a URL ("127.0.0.1", "[::1]") into host. */
int publicurl_listen_loopback(const char *listen, char host[72]);

/* Check a --public-url value and write its normal form (no trailing '/')
 * into out: "https://" then a host and optional port and path, printable
 * ASCII without spaces, quotes, angle brackets, backslash, '?' or '#',
 * shorter than outlen. Returns 0 or -1 (a reason into why). */
int publicurl_check(const char *url, char *out, size_t outlen, const char **why);

/* The URL in force: given (already checked) if not empty; else the
 * loopback default for listen and the bound port; else "" (a listen
 * address beyond loopback without --public-url: links are refused).
 * Returns 0, or -1 when listen is malformed. */
int publicurl_resolve(const char *given, const char *listen, uint16_t port, char *out,
                      size_t outlen);

#endif

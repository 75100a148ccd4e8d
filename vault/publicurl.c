/* publicurl.c - the --public-url rule (SPEC 8.2). */
#include "publicurl.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

int publicurl_listen_loopback(const char *listen, char host[72])
{
	char h[64];
	const char *colon;
	unsigned char a[16];

	if (listen[0] == '[') {
		const char *end = strchr(listen, ']');
		if (end == NULL || end[1] != ':' || (size_t)(end - listen - 1) >= sizeof h)
			return -1;
		memcpy(h, listen + 1, (size_t)(end - listen - 1));
		h[end - listen - 1] = '\0';
	} else {
		colon = strrchr(listen, ':');
		if (colon == NULL || (size_t)(colon - listen) >= sizeof h)
			return -1;
		memcpy(h, listen, (size_t)(colon - listen));
		h[colon - listen] = '\0';
	}
	if (inet_pton(AF_INET, h, a) == 1) {
		snprintf(host, 72, "%s", h);
		return a[0] == 127;
	}
	if (inet_pton(AF_INET6, h, a) == 1) {
		static const unsigned char lo[16] = {[15] = 1};
		static const unsigned char mapped[12] = {[10] = 0xff, [11] = 0xff};
		snprintf(host, 72, "[%s]", h);
		return memcmp(a, lo, 16) == 0 || (memcmp(a, mapped, 12) == 0 && a[12] == 127);
	}
	return -1;
}

int publicurl_check(const char *url, char *out, size_t outlen, const char **why)
{
	size_t n = strlen(url);

	*why = NULL;
	if (strncmp(url, "https://", 8) != 0) {
		*why = "it must begin with https:// (customers' browsers get it)";
		return -1;
	}
	while (n > 8 && url[n - 1] == '/')
		n--;
	if (n == 8 || url[8] == '/') {
		*why = "it has no host";
		return -1;
	}
	if (n >= outlen) {
		*why = "it is too long";
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)url[i];
		if (c <= 0x20 || c >= 0x7f || strchr("\"'<>\\?#`{}|^", c) != NULL) {
			*why =
			    "it may hold only printable ASCII without spaces, quotes, '?' or '#'";
			return -1;
		}
	}
	memcpy(out, url, n);
	out[n] = '\0';
	return 0;
}

int publicurl_resolve(const char *given, const char *listen, uint16_t port, char *out,
                      size_t outlen)
{
	char host[72];
	int lo;

	if ((lo = publicurl_listen_loopback(listen, host)) < 0)
		return -1;
	if (given[0] != '\0') {
		if (out != given) /* out may be given itself */
			snprintf(out, outlen, "%s", given);
	} else if (lo) {
		snprintf(out, outlen, "https://%s:%u", host, (unsigned)port);
	} else {
		out[0] = '\0';
	}
	return 0;
}

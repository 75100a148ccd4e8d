/* pages.c - serving the customer's pages built into the binary. */
#include "pages.h"

#include <stdint.h>
#include <string.h>

/* SPEC 8.2: every page and asset response carries these. The CSP allows
 * only our own script and style (no inline ones), fetches to our own
 * origin, and no form submission, framing or <base>. Beyond SPEC 8.2:
 * Cross-Origin-Opener-Policy, so that a page that opened the vault's tab
 * (or that it opened) holds no reference to it and cannot swap its
 * fragment, which would reload it with a capability of its choosing;
 * Cross-Origin-Resource-Policy, so that no other site embeds our files. */
static const char *const page_headers[][2] = {
    {"Content-Security-Policy",
     "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
     "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"},
    {"Referrer-Policy", "no-referrer"},
    {"X-Content-Type-Options", "nosniff"},
    {"Strict-Transport-Security", "max-age=31536000"},
    {"Cache-Control", "no-store"},
    {"Cross-Origin-Opener-Policy", "same-origin"},
    {"Cross-Origin-Resource-Policy", "same-origin"},
};

const struct page_file *pages_find(const char *method, const char *uri)
{
	size_t n;

	if (method == NULL || uri == NULL ||
	    (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0))
		return NULL;
	n = strcspn(uri, "?");
	if (memchr(uri, '%', n) != NULL)
		return NULL;
	for (size_t i = 0; i < web_files_count; i++) {
		if (strlen(web_files[i].path) == n && memcmp(web_files[i].path, uri, n) == 0)
			return &web_files[i];
	}
	return NULL;
}

enum MHD_Result pages_queue(struct MHD_Connection *con, const struct page_file *f,
                            const char *request_id)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	int ok = 1;

	/* the bytes are static and read-only: PERSISTENT makes libmicrohttpd
	 * only read them (it neither copies nor frees them) */
	resp = MHD_create_response_from_buffer(f->len, (void *)(uintptr_t)f->data,
	                                       MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	for (size_t i = 0; i < sizeof page_headers / sizeof page_headers[0]; i++)
		ok &= MHD_add_response_header(resp, page_headers[i][0], page_headers[i][1]) ==
		      MHD_YES;
	ok &= MHD_add_response_header(resp, "Content-Type", f->content_type) == MHD_YES;
	ok &= MHD_add_response_header(resp, "X-Request-Id", request_id) == MHD_YES;
	ret = ok ? MHD_queue_response(con, MHD_HTTP_OK, resp) : MHD_NO;
	MHD_destroy_response(resp);
	return ret;
}

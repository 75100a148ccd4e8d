/* pages.h - the customer's pages (SPEC 8.2): files built into the binary
 * from web/ (tools/embed.c writes the table at build time) and their
 * responses. No file system path is ever opened from a URL: a request
 * either names one of the table's paths exactly or is not a page. */
#ifndef RSVAULT_PAGES_H
#define RSVAULT_PAGES_H

#include <stddef.h>

#include <microhttpd.h>

struct page_file {
	const char *path;         /* the URL path it is served at, e.g. "/u/" */
	const char *content_type; /* with charset for text */
	const unsigned char *data;
	size_t len;
};

/* The generated table (build/gen/web_files.c). */
extern const struct page_file web_files[];
extern const size_t web_files_count;

/* The file a GET or HEAD of uri (the raw request target; a query string
 * is ignored) names, or NULL: another method, a path that is not exactly
 * one of the table's, or any percent-encoding. */
const struct page_file *pages_find(const char *method, const char *uri);

/* Queue f as a 200 with the pages' headers (SPEC 8.2) and X-Request-Id.
 * Returns libmicrohttpd's answer. */
enum MHD_Result pages_queue(struct MHD_Connection *con, const struct page_file *f,
                            const char *request_id);

#endif

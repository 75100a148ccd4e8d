/* validate.h - checks of request bodies against the SPEC's field rules.
 * Each returns 0 on success, or sets a 400 on r and returns its status. */
#ifndef RSVAULT_VALIDATE_H
#define RSVAULT_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "req.h"

/* The body (NULL allowed: no body) may hold only the named keys. */
int v_only(struct req *r, const char *const *allowed);

/* A string field: required or optional (*out NULL when absent or null);
 * its length in code points within [min_cp, max_cp] and in bytes at most
 * max_bytes; control characters refused unless allow_ctl. */
int v_str(struct req *r, const char *name, int required, size_t min_cp, size_t max_cp,
          size_t max_bytes, int allow_ctl, const char **out);

/* An integer field in [min, max]; *out = def when absent. */
int v_int(struct req *r, const char *name, int required, int64_t min, int64_t max, int64_t def,
          int64_t *out);

/* An e-mail address: printable ASCII, one '@', 3..254 bytes; lowercased
 * into out (255 bytes). */
int v_email(struct req *r, const char *name, char out[255]);

/* One of a fixed set of words. */
int v_enum(struct req *r, const char *name, const char *const *words, const char **out);

#endif

/* display.h - which characters rsvault never shows as they are. */
#ifndef RSVAULT_DISPLAY_H
#define RSVAULT_DISPLAY_H

#include <stdint.h>

/* Is code point cp refused in displayed text: a control or format
 * character (Unicode categories Cc, Cf), a line or paragraph separator
 * (Zl, Zp) or a tag (vault/unicode_display.h)? Validation refuses them in
 * labels and names; the text log escapes them. */
int display_refused(uint32_t cp);

#endif

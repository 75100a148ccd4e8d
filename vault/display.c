/* display.c - the lookup in the generated table of refused characters. */
#include "display.h"

#include <stddef.h>

#include "unicode_display.h"

int display_refused(uint32_t cp)
{
	size_t lo = 0, hi = sizeof unicode_refused / sizeof unicode_refused[0];

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cp < unicode_refused[mid].lo)
			hi = mid;
		else if (cp > unicode_refused[mid].hi)
			lo = mid + 1;
		else
			return 1;
	}
	return 0;
}

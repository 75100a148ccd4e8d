/* fuzz.h - the libFuzzer entry point every tests/fuzz/fuzz_*.c harness
 * defines, and small helpers they share.
 *
 * Each harness is linked twice: with clang -fsanitize=fuzzer (make fuzz),
 * where libFuzzer supplies main(), and with replay_main.c (make check),
 * where a plain main() feeds it every file of its corpus. A harness must
 * therefore not depend on libFuzzer: it initialises itself lazily on the
 * first call, frees everything it allocates per input, and reports a
 * broken property with fuzz_fail(), which aborts (a crash for libFuzzer,
 * a failed test for prove). */
#ifndef RSVAULT_FUZZ_H
#define RSVAULT_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Run one input. Always returns 0 (libFuzzer reserves other values). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property the code under test must keep was broken: say which, abort. */
#define fuzz_fail(what)                                                                            \
	do {                                                                                       \
		fprintf(stderr, "%s:%d: fuzz property broken: %s\n", __FILE__, __LINE__, what);    \
		abort();                                                                           \
	} while (0)

#define fuzz_check(cond)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fuzz_fail(#cond);                                                          \
	} while (0)

#endif

/* be.h - the one set of big-endian encoders/decoders of rsvault (keys of
 * the store, record layouts, audit hash input, key files). Inline: they
 * sit on the hot path of every store key. */
#ifndef RSVAULT_BE_H
#define RSVAULT_BE_H

#include <stdint.h>

static inline void util_be64_put(unsigned char out[8], uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		out[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

static inline uint64_t util_be64_get(const unsigned char in[8])
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | in[i];
	return v;
}

static inline void util_be32_put(unsigned char out[4], uint32_t v)
{
	for (int i = 3; i >= 0; i--) {
		out[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

static inline uint32_t util_be32_get(const unsigned char in[4])
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v = (v << 8) | in[i];
	return v;
}

#endif

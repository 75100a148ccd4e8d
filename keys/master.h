/* master.h - `rsvault-keys rotate-master`, `retire-master` and `seal`
 * (keys/master.c, SPEC 8.4). */
#ifndef RSVAULT_KEYS_MASTER_H
#define RSVAULT_KEYS_MASTER_H

/* Run the verb argv[1] ("rotate-master", "retire-master" or "seal").
 * Returns the exit status: 0 done, 1 failure or refusal, 2 usage error. */
int keys_master(int argc, char **argv);

/* With crypto_init() done on a sealed key directory: read passphrase or
 * share lines (no-echo prompt, or standard input) until the keys are
 * unsealed. Returns 0, or -1 when the input ended first. */
int keys_unseal_crypto(void);

extern const char keys_master_usage[];
extern const char keys_master_help[];

#endif

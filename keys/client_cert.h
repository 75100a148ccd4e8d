/* client_cert.h - staff client certificates (SPEC 8.4): `rsvault-keys
 * client-ca`, `client-cert` and `client-revoke` (OpenSSL). */
#ifndef RSVAULT_KEYS_CLIENT_CERT_H
#define RSVAULT_KEYS_CLIENT_CERT_H

/* Run the verb named by argv[1] ("client-ca", "client-cert",
 * "client-revoke"). Returns the exit status: 0 done, 1 failure, 2 usage
 * error (already reported). */
int keys_client_cmd(int argc, char **argv);

/* Is name one of this module's verbs? */
int keys_client_is_cmd(const char *name);

extern const char keys_client_usage[];
extern const char keys_client_help[];

#endif

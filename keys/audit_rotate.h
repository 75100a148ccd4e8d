/* audit_rotate.h - `rsvault-keys rotate-audit` and `retire-audit`: a new
 * audit signing key, and the removal of the older private keys once the
 * server has announced the new one (SPEC 8.4; file layout in
 * vault/auditkeys.h and docs/keys.md). */
#ifndef RSVAULT_KEYS_AUDIT_ROTATE_H
#define RSVAULT_KEYS_AUDIT_ROTATE_H

/* Run the verb with argv[1] == "rotate-audit" / "retire-audit". Return
 * the exit status: 0 done, 1 failure, 2 usage error (already reported). */
int keys_rotate_audit(int argc, char **argv);
int keys_retire_audit(int argc, char **argv);

extern const char keys_audit_rotate_usage[];
extern const char keys_audit_rotate_help[];

#endif

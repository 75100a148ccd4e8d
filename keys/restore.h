/* restore.h - `rsvault-keys restore`: put a backup of the store in place
 * (SPEC 8.5), with the server stopped. */
#ifndef RSVAULT_KEYS_RESTORE_H
#define RSVAULT_KEYS_RESTORE_H

/* Run the verb with argv[1] == "restore". Returns the exit status: 0
 * done, 1 a check failed or nothing could be restored (reported), 2 usage
 * error (reported). */
int keys_restore(int argc, char **argv);

/* One line of usage and the help paragraph, for the tool's --help. */
extern const char keys_restore_usage[];
extern const char keys_restore_help[];

#endif

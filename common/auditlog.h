/* auditlog.h - the audit log's hash chain, canonical form, checkpoint
 * signatures and offline verifier. Shared by the server (which writes the
 * chain), the client (`rsvault audit verify`) and the key tool.
 *
 * Canonical form of an event (the bytes hashed), in this order:
 *   "rsvault-audit-event-v1" 0x00 (form 1) or "rsvault-audit-event-v2" 0x00
 *   (form 2)
 *   u64 BE seq
 *   then for each of time, actor, role, action, ticket, credential,
 *   session, outcome, reason, ip, request_id, and in form 2 also target,
 *   token, cert:
 *     0x00                         if the field is null
 *     0x01 | u32 BE length | bytes if present
 * hash = BLAKE2b-256( prev (32 raw bytes) || canonical ).
 * The form is fixed by the tag, so an event cannot be moved from one form
 * to the other without changing its hash. In JSON a form-2 event carries
 * "form": 2 and the three extra fields; a form-1 event has no "form" key
 * (or "form": 1) and its extra fields are absent or null.
 * prev of seq 1 is 32 zero bytes.
 *
 * Checkpoint message (the bytes signed with Ed25519, detached):
 *   "rsvault-audit-checkpoint-v1" 0x00 | u64 BE seq | hash (32 raw bytes)
 *
 * JSON: hashes are 64 lowercase hex chars, signature 128, public_key 64.
 * An export is JSON lines; each line is an object with "type": "event"
 * (plus the event's fields) or "checkpoint" (seq, hash, signature,
 * public_key), in log order: a checkpoint for seq S follows event S. */
#ifndef RSVAULT_AUDITLOG_H
#define RSVAULT_AUDITLOG_H

#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

#include "util.h"

#define AUDIT_EVENT_TAG "rsvault-audit-event-v1"
#define AUDIT_EVENT_TAG_V2 "rsvault-audit-event-v2"
#define AUDIT_FORM_CURRENT 2 /* the form new events are written in */
#define AUDIT_CHECKPOINT_TAG "rsvault-audit-checkpoint-v1"
#define AUDIT_CP_MSG_LEN (sizeof(AUDIT_CHECKPOINT_TAG) + 8 + 32)

/* One event. String fields: NULL means JSON null. The struct does not own
 * its strings. */
struct audit_event {
	uint64_t seq;
	int form; /* 1 or 2 (AUDIT_FORM_CURRENT); anything else does not hash */
	char time[UTIL_TIME_LEN];
	const char *actor;
	const char *role;
	const char *action;
	const char *ticket;
	const char *credential;
	const char *session;
	const char *outcome;
	const char *reason;
	const char *ip;
	const char *request_id;
	const char *target; /* form 2: what an action was done to */
	const char *token;  /* form 2: public id of the bearer token used */
	const char *cert;   /* form 2: SHA-256 hex of the client certificate */
	unsigned char prev[32];
	unsigned char hash[32];
};

/* Compute hash = BLAKE2b-256(prev || canonical(ev)) into out (may be
 * ev->hash). Returns 0, or -1 if a field is too long (> 65535 bytes), the
 * form is neither 1 nor 2, or a form-1 event has a target, token or cert. */
int audit_event_hash(const struct audit_event *ev, unsigned char out[32]);

/* Build the checkpoint message for (seq, hash). */
void audit_checkpoint_msg(uint64_t seq, const unsigned char hash[32],
                          unsigned char out[AUDIT_CP_MSG_LEN]);

/* Sign / verify a checkpoint. verify returns 0 only for a valid signature. */
int audit_checkpoint_sign(uint64_t seq, const unsigned char hash[32], const unsigned char sk[64],
                          unsigned char sig[64]);
__attribute__((warn_unused_result)) int audit_checkpoint_verify(uint64_t seq,
                                                                const unsigned char hash[32],
                                                                const unsigned char sig[64],
                                                                const unsigned char pk[32]);

/* The event as a new JSON object with the fields in SPEC order: seq, form,
 * time, actor, role, action, ticket, credential, session, outcome, reason,
 * ip, request_id, target, token, cert, prev, hash (no "type"); a form-1
 * event has "form": 1 and null target, token and cert. Returns NULL on
 * allocation failure. */
json_t *audit_event_to_json(const struct audit_event *ev);

/* The same event as compact JSON text, byte for byte what jansson's
 * compact dump of audit_event_to_json writes (the key order included),
 * without building the object: the server writes one per request. A
 * malloc'd string (free it), or NULL where audit_event_to_json gives
 * NULL. */
char *audit_event_text(const struct audit_event *ev);

/* Fill ev from a JSON object (which may also hold "type"). Strings are
 * borrowed from obj and live as long as it does. Every field of the
 * event's form must be present with the right type (string or null; seq a
 * positive integer; time, prev and hash well formed); any other key is an
 * error. "form" absent means 1; a form-1 event may leave out target,
 * token and cert, and where it has them they must be null.
 * Returns 0 or -1. */
int audit_event_from_json(json_t *obj, struct audit_event *ev);

/* Offline verification of an export (JSON lines).
 *
 * The rules (docs/audit.md section 6, SPEC sections 5 and 8.1), checked
 * line by line, stopping at the first problem:
 *  - events: seq 1, 2, 3, ... without gaps; prev of seq 1 is all zeros,
 *    every other prev is the previous event's hash; every hash recomputes
 *    from the event's fields in its own form; form (1 or 2) never goes
 *    down from one event to the next;
 *  - checkpoints: each directly follows its event (same seq, same hash),
 *    carries the trusted key and has a valid signature over (seq, hash);
 *    two checkpoints in a row are refused;
 *  - due checkpoints: the vault signs every event whose seq is a multiple
 *    of AUDIT_CP_EVERY, so that event must be followed by its checkpoint;
 *    an export without it fails, whether the line was dropped or the file
 *    ends there. Extra checkpoints in between (the timed ones) are fine.
 *    Hence the events after the newest checkpoint (the unsigned tail) are
 *    always fewer than AUDIT_CP_EVERY;
 *  - a pin (--pin SEQ:HASH) must be reached with the pinned hash;
 *  - at least one event;
 *  - audit-key hand-over (SPEC 8.4): verification starts with the first
 *    key (pk, the first audit.pub). A "key.audit" event (form 2, outcome
 *    allow, target the new Ed25519 public key as 64 lowercase hex, not
 *    the key in use) announces the next key; the very next line must be
 *    its checkpoint, signed by the key in use. Once that verifies, the
 *    announced key is the key in use and every later checkpoint must
 *    carry and be signed by it; the old key is no longer accepted. A
 *    checkpoint carrying any other key (one never announced this way)
 *    fails.
 */
#define AUDIT_CP_EVERY 100 /* a checkpoint is due at every seq that is a multiple */

/* What audit_verify_stream concluded. */
enum audit_verify_result {
	AUDIT_VERIFY_ERROR = -2,   /* the input could not be read (I/O, memory) */
	AUDIT_VERIFY_FAILED = -1,  /* something did not verify: see bad_seq, bad_line, error */
	AUDIT_VERIFY_OK = 0,       /* everything verified and >= 1 checkpoint signs it */
	AUDIT_VERIFY_UNSIGNED = 1, /* the chain verified, but the export holds no
	                            * checkpoint (so fewer than AUDIT_CP_EVERY
	                            * events): nothing in it is signed */
};

/* Exit statuses of both verifiers, `rsvault audit verify` and
 * `rsvault-keys verify-audit` (SPEC 8.1). */
#define AUDIT_EXIT_OK 0       /* AUDIT_VERIFY_OK */
#define AUDIT_EXIT_USAGE 1    /* usage error; missing or unreadable file or key */
#define AUDIT_EXIT_UNSIGNED 5 /* AUDIT_VERIFY_UNSIGNED */
#define AUDIT_EXIT_FAILED 6   /* AUDIT_VERIFY_FAILED */

/* The action the server records at the first start after `rsvault-keys
 * restore`; its target is the backup point "{audit_seq}:{audit_hash}".
 * The events written after that point and before the restore are not in
 * the log, so the verifiers note every such event they pass. */
#define AUDIT_RESTORE_ACTION "store.restore"
#define AUDIT_RESTORES_KEPT 16

struct audit_verify {
	/* inputs */
	unsigned char pk[32]; /* trusted public key (audit.pub) */
	int have_pin;         /* --pin SEQ:HASH given */
	uint64_t pin_seq;
	unsigned char pin_hash[32];
	/* results */
	uint64_t events;                /* events read */
	uint64_t checkpoints;           /* checkpoints verified */
	uint64_t last_seq;              /* seq of the last event */
	uint64_t last_cp_seq;           /* seq of the newest valid checkpoint, 0 if none */
	unsigned char last_cp_hash[32]; /* its hash (zeros if none) */
	uint64_t unsigned_tail;         /* events after the newest checkpoint */
	int last_form;                  /* form of the last event, 0 before any */
	uint64_t key_changes;           /* audit-key hand-overs verified */
	unsigned char cur_pk[32];       /* the key in use after the last hand-over
	                                 * verified (pk when there was none) */
	uint64_t restores;              /* store.restore events verified */
	struct {
		uint64_t seq;           /* the store.restore event's seq */
		char target[96];        /* its target (printable ASCII), the
		                         * backup point "{audit_seq}:{audit_hash}" */
	} restore[AUDIT_RESTORES_KEPT]; /* the first AUDIT_RESTORES_KEPT of them */
	uint64_t bad_seq;               /* first bad seq, 0 if unknown or none */
	unsigned long bad_line;         /* 1-based line of the first problem, 0 if none */
	char error[256];                /* what went wrong, printable ASCII only */
};

/* Parse "SEQ:HASH" (decimal seq >= 1, 64 hex) into v's pin. 0 or -1. */
int audit_parse_pin(const char *s, struct audit_verify *v);

/* Verify every line of f against v->pk (and v->pin if set) by the rules
 * above. Returns an enum audit_verify_result: AUDIT_VERIFY_OK only if
 * everything verified and at least one checkpoint did; the counters always
 * describe the part verified before any problem. Reads f to the end or the
 * first problem. */
__attribute__((warn_unused_result)) int audit_verify_stream(FILE *f, struct audit_verify *v);

/* The AUDIT_EXIT_* status for a result of audit_verify_stream. */
int audit_verify_exit_status(int result);

/* One line (no newline) telling the result of audit_verify_stream:
 *   "OK: N events, M checkpoints verified; last checkpoint seq S; U events
 *    after it are not yet signed"
 *   "UNSIGNED: N events, hash chain verified, but no checkpoint: nothing
 *    in the export is signed"
 *   "FAILED at seq S (line L): why"
 *   "ERROR: why" (the input could not be read). */
void audit_verify_describe(const struct audit_verify *v, int result, char *out, size_t len);

/* "SEQ:HASH" of the newest checkpoint verified, the value to keep and pass
 * as --pin next time, into out (AUDIT_PIN_LEN bytes suffice). Returns 0,
 * or -1 (out set to "" if len > 0) if no checkpoint verified or out is too
 * small. */
#define AUDIT_PIN_LEN (19 + 1 + 64 + 1)
int audit_verify_pin(const struct audit_verify *v, char *out, size_t len);

/* The action of the event that announces a new audit key. */
#define AUDIT_KEY_ACTION "key.audit"

/* What both verifiers print to out after a run: the describe line, then
 * for AUDIT_VERIFY_OK "pin: SEQ:HASH" (the pin to keep), a "keys:" line
 * when the audit key was handed over (how many times, and the key in use
 * at the end), and a "note:" line on what is not covered (an unsigned
 * tail, an unsigned export). For AUDIT_VERIFY_OK and AUDIT_VERIFY_UNSIGNED
 * also one "note: a restore is recorded at seq N ..." line per
 * store.restore event verified (the events between its backup point and
 * it are not in the log).
 * Every line is printable ASCII. Returns 0 or -1 on a write error. */
int audit_verify_print(const struct audit_verify *v, int result, FILE *out);

#endif

/* conns.h - connection admission and deadlines for the HTTPS front end.
 *
 * libmicrohttpd knows only an idle timeout and a per-address limit that
 * counts each IPv6 address on its own. This module adds what a hostile
 * network needs:
 *   - a limit per address group (util_ip_group: IPv4 address, IPv6 /64),
 *   - a total limit,
 *   - deadlines that cannot be stretched by trickling bytes: the TLS
 *     handshake and the complete request head must arrive within head_ms
 *     of the accept (or of the end of the previous request on a kept-alive
 *     connection), and the body within body_ms of the head.
 * A reaper thread closes overdue connections with shutdown(2); the
 * connection's own thread in libmicrohttpd then sees the end of the stream
 * and closes it.
 *
 * The fd of a tracked connection is only touched under the table lock, and
 * a connection leaves the table in libmicrohttpd's CLOSED notification,
 * which comes before libmicrohttpd closes the socket: the reaper can never
 * shut down an fd that was reused for something else. */
#ifndef RSVAULT_CONNS_H
#define RSVAULT_CONNS_H

#include <stdint.h>
#include <sys/socket.h>

struct conns;
struct conn_slot;

/* Connections closed with a lingering read at once, at most (fds the
 * server needs beyond its connection limit). */
#define CONNS_LINGER_MAX 64

struct conns_config {
	unsigned max_total;    /* connections at once, all addresses */
	unsigned max_per_addr; /* connections at once per address group */
	int64_t head_ms;       /* handshake + request head deadline */
	int64_t body_ms;       /* body deadline, from the end of the head; and the
	                        * deadline for sending the response */
};

/* Create the table and start the reaper thread. Returns 0 or -1. */
int conns_start(const struct conns_config *cfg, struct conns **out);

/* Stop the reaper thread (call before stopping the HTTP daemon). */
void conns_stop_reaper(struct conns *g);

/* Free the table (after the HTTP daemon stopped: no slot is left). */
void conns_free(struct conns *g);

/* Accept policy: 1 if a new connection from sa may be taken, 0 if its
 * address group or the whole server is at its limit. */
int conns_admit(struct conns *g, const struct sockaddr *sa, socklen_t salen);

/* A connection was accepted on fd from sa: start its head deadline.
 * Returns its slot, or NULL (then the socket has been shut down: out of
 * memory, or over a limit because another thread admitted at once). */
struct conn_slot *conns_open(struct conns *g, int fd, const struct sockaddr *sa, socklen_t salen);

/* The connection is about to be closed (before its fd is). Frees slot. */
void conns_close(struct conns *g, struct conn_slot *s);

/* A request head is complete; has_body: a body follows (body deadline),
 * else the request is being handled (no deadline). */
void conns_head_done(struct conns *g, struct conn_slot *s, int has_body);

/* The request is complete and being handled: no deadline. */
void conns_busy(struct conns *g, struct conn_slot *s);

/* A response was queued: it must be sent within body_ms. */
void conns_sending(struct conns *g, struct conn_slot *s);

/* The response was sent; the next request head is due within head_ms. */
void conns_idle(struct conns *g, struct conn_slot *s);

/* The connection was answered before its request body was read: when it
 * is closed, keep reading (and dropping) what the client still sends for a
 * short while, so that the answer reaches the client rather than a reset. */
void conns_linger(struct conns *g, struct conn_slot *s);

/* Counters for tests and the log. */
struct conns_stats {
	unsigned open;
	uint64_t refused;  /* refused by a limit */
	uint64_t deadline; /* closed past a deadline */
	uint64_t lingered; /* closed with a lingering read */
};
void conns_get_stats(struct conns *g, struct conns_stats *st);

#endif

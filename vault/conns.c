/* conns.c - connection admission and deadlines (see conns.h). */
#include "conns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "log.h"
#include "util.h"

/* How often the reaper summarises what it did in the log, at most. */
#define REPORT_MS 10000

/* Lingering close: a connection answered before its body was read (413)
 * is not closed at once, or the client, still sending, would get a reset
 * that can destroy the 413 before it reads it. Its socket is kept (a dup
 * of the fd), the write side shut, and what arrives is read and dropped
 * until the client closes, is quiet for LINGER_QUIET_MS, or a bound is
 * reached. */
#define LINGER_QUIET_MS 2000
#define LINGER_MAX_MS 10000
#define LINGER_MAX_BYTES ((uint64_t)64 * 1024 * 1024)
#define LINGER_READ_MAX (256 * 1024) /* per wake-up and socket, under the lock */
#define WAKE_ID UINT32_MAX

enum phase {
	PH_HEAD, /* waiting for the TLS handshake and a complete request head */
	PH_BODY, /* head complete, body arriving */
	PH_BUSY, /* request complete, being handled: no deadline */
	PH_SEND, /* response queued, being sent */
};

/* Open connections of one address group. */
struct group {
	struct group *next;
	unsigned n;
	char key[UTIL_IP_GROUP_LEN];
};

struct conn_slot {
	struct conn_slot *prev, *next;
	struct group *grp;
	int fd;
	int shut;   /* shutdown(2) was called (or the peer is gone) */
	int linger; /* linger when closed */
	enum phase phase;
	int64_t deadline; /* monotonic ms */
	struct sockaddr_storage peer;
	socklen_t peerlen;
};

struct lingering {
	int fd; /* -1: free */
	int64_t start, last;
	uint64_t bytes;
};

struct conns {
	struct conns_config cfg;
	pthread_mutex_t mu;
	int epfd, wakefd;
	int stop;
	int reaper_running;
	pthread_t reaper;
	int64_t tick_ms;
	struct conn_slot *head;
	unsigned open;
	struct group **buckets;
	size_t nbuckets; /* a power of two */
	unsigned char hkey[crypto_shorthash_KEYBYTES];
	uint64_t refused, deadline, lingered;
	struct lingering lg[CONNS_LINGER_MAX];
	unsigned char scratch[LINGER_READ_MAX];
};

static int sa_group(const struct sockaddr *sa, socklen_t len, char out[UTIL_IP_GROUP_LEN])
{
	char ip[INET6_ADDRSTRLEN];

	if (sa != NULL && sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in))
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, ip,
		          sizeof ip);
	else if (sa != NULL && sa->sa_family == AF_INET6 &&
	         len >= (socklen_t)sizeof(struct sockaddr_in6))
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, ip,
		          sizeof ip);
	else
		snprintf(ip, sizeof ip, "unknown");
	return util_ip_group(ip, out);
}

/* Keyed hash (SipHash): an attacker who controls addresses cannot aim them
 * all at one bucket. */
static size_t bucket_of(const struct conns *g, const char *key)
{
	unsigned char h[crypto_shorthash_BYTES];
	uint64_t v = 0;

	crypto_shorthash(h, (const unsigned char *)key, strlen(key), g->hkey);
	for (size_t i = 0; i < sizeof v; i++)
		v = v << 8 | h[i];
	return (size_t)(v & (g->nbuckets - 1));
}

/* Called with the lock held. */
static struct group *group_get(struct conns *g, const char *key, int create)
{
	size_t b = bucket_of(g, key);
	struct group *p;

	for (p = g->buckets[b]; p != NULL; p = p->next)
		if (strcmp(p->key, key) == 0)
			return p;
	if (!create || (p = calloc(1, sizeof *p)) == NULL)
		return NULL;
	snprintf(p->key, sizeof p->key, "%s", key);
	p->next = g->buckets[b];
	g->buckets[b] = p;
	return p;
}

/* Called with the lock held, when p->n dropped to 0. */
static void group_drop(struct conns *g, struct group *p)
{
	struct group **pp = &g->buckets[bucket_of(g, p->key)];

	while (*pp != NULL && *pp != p)
		pp = &(*pp)->next;
	if (*pp == p)
		*pp = p->next;
	free(p);
}

/* The fd still belongs to the connection we tracked: same peer address
 * and port. A defence in depth: the CLOSED notification already removes a
 * slot before its fd is closed. */
static int same_peer(const struct conn_slot *s)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	if (getpeername(s->fd, (struct sockaddr *)&ss, &len) != 0 ||
	    ss.ss_family != s->peer.ss_family)
		return 0;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)&ss, *b = (const void *)&s->peer;
		return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
	}
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)&ss, *b = (const void *)&s->peer;
		return a->sin6_port == b->sin6_port &&
		       memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) == 0;
	}
	return 0;
}

static void linger_end(struct conns *g, struct lingering *l)
{
	epoll_ctl(g->epfd, EPOLL_CTL_DEL, l->fd, NULL);
	close(l->fd);
	l->fd = -1;
}

/* Called with the lock held. */
static void linger_read(struct conns *g, struct lingering *l, int64_t now)
{
	size_t got = 0;

	while (got < LINGER_READ_MAX) {
		ssize_t n = read(l->fd, g->scratch, sizeof g->scratch);
		if (n > 0) {
			got += (size_t)n;
			l->bytes += (uint64_t)n;
			l->last = now;
			if (l->bytes > LINGER_MAX_BYTES)
				break;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		linger_end(g, l); /* the client closed, or the connection failed */
		return;
	}
	if (l->bytes > LINGER_MAX_BYTES)
		linger_end(g, l);
}

/* Called with the lock held. */
static void reap(struct conns *g, int64_t now)
{
	for (struct conn_slot *s = g->head; s != NULL; s = s->next) {
		if (s->shut || s->phase == PH_BUSY || now < s->deadline)
			continue;
		/* under the lock: the slot, hence its fd, is still open */
		if (same_peer(s))
			shutdown(s->fd, SHUT_RDWR);
		s->shut = 1;
		g->deadline++;
	}
	for (size_t i = 0; i < CONNS_LINGER_MAX; i++) {
		struct lingering *l = &g->lg[i];
		if (l->fd >= 0 &&
		    (now - l->start >= LINGER_MAX_MS || now - l->last >= LINGER_QUIET_MS))
			linger_end(g, l);
	}
}

static void *reaper_main(void *arg)
{
	struct conns *g = arg;
	uint64_t refused_seen = 0, deadline_seen = 0;
	int64_t last_report = util_mono_ms(), last_reap = 0;
	struct epoll_event ev[CONNS_LINGER_MAX + 1];

	for (;;) {
		int n = epoll_wait(g->epfd, ev, (int)(sizeof ev / sizeof ev[0]), (int)g->tick_ms);
		int64_t now = util_mono_ms();

		pthread_mutex_lock(&g->mu);
		if (g->stop) {
			pthread_mutex_unlock(&g->mu);
			break;
		}
		for (int i = 0; i < n; i++) {
			uint32_t id = ev[i].data.u32;
			if (id < CONNS_LINGER_MAX && g->lg[id].fd >= 0)
				linger_read(g, &g->lg[id], now);
		}
		if (now - last_reap >= g->tick_ms) {
			reap(g, now);
			last_reap = now;
		}
		if (now - last_report >= REPORT_MS &&
		    (g->refused != refused_seen || g->deadline != deadline_seen)) {
			uint64_t r = g->refused - refused_seen, d = g->deadline - deadline_seen;
			unsigned open = g->open;
			refused_seen = g->refused;
			deadline_seen = g->deadline;
			last_report = now;
			pthread_mutex_unlock(&g->mu);
			log_msg("connections: %llu refused by a limit, %llu closed past a deadline "
			        "(%u open)",
			        (unsigned long long)r, (unsigned long long)d, open);
			continue;
		}
		pthread_mutex_unlock(&g->mu);
	}
	return NULL;
}

int conns_start(const struct conns_config *cfg, struct conns **out)
{
	struct conns *g;
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = WAKE_ID};
	int64_t shortest;

	if ((g = calloc(1, sizeof *g)) == NULL)
		return -1;
	g->cfg = *cfg;
	for (size_t i = 0; i < CONNS_LINGER_MAX; i++)
		g->lg[i].fd = -1;
	g->epfd = epoll_create1(EPOLL_CLOEXEC);
	g->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (g->epfd < 0 || g->wakefd < 0 ||
	    epoll_ctl(g->epfd, EPOLL_CTL_ADD, g->wakefd, &ev) != 0) {
		if (g->epfd >= 0)
			close(g->epfd);
		if (g->wakefd >= 0)
			close(g->wakefd);
		free(g);
		return -1;
	}
	g->nbuckets = 64;
	while (g->nbuckets < cfg->max_total && g->nbuckets < ((size_t)1 << 20))
		g->nbuckets <<= 1;
	if ((g->buckets = calloc(g->nbuckets, sizeof *g->buckets)) == NULL) {
		close(g->epfd);
		close(g->wakefd);
		free(g);
		return -1;
	}
	randombytes_buf(g->hkey, sizeof g->hkey);
	shortest = cfg->head_ms < cfg->body_ms ? cfg->head_ms : cfg->body_ms;
	g->tick_ms = shortest / 4;
	if (g->tick_ms < 20)
		g->tick_ms = 20;
	if (g->tick_ms > 1000)
		g->tick_ms = 1000;
	pthread_mutex_init(&g->mu, NULL);
	if (pthread_create(&g->reaper, NULL, reaper_main, g) != 0) {
		conns_free(g);
		return -1;
	}
	g->reaper_running = 1;
	*out = g;
	return 0;
}

void conns_stop_reaper(struct conns *g)
{
	if (g == NULL || !g->reaper_running)
		return;
	uint64_t one = 1;

	pthread_mutex_lock(&g->mu);
	g->stop = 1;
	pthread_mutex_unlock(&g->mu);
	if (write(g->wakefd, &one, sizeof one) < 0)
		log_msg("connections: cannot wake the reaper: %s", strerror(errno));
	pthread_join(g->reaper, NULL);
	pthread_mutex_lock(&g->mu);
	g->reaper_running = 0;
	pthread_mutex_unlock(&g->mu);
}

void conns_free(struct conns *g)
{
	if (g == NULL)
		return;
	conns_stop_reaper(g);
	/* normally empty: the daemon reported every connection closed */
	while (g->head != NULL) {
		g->head->linger = 0;
		conns_close(g, g->head);
	}
	for (size_t i = 0; i < CONNS_LINGER_MAX; i++)
		if (g->lg[i].fd >= 0)
			linger_end(g, &g->lg[i]);
	close(g->epfd);
	close(g->wakefd);
	pthread_mutex_destroy(&g->mu);
	free(g->buckets);
	sodium_memzero(g->hkey, sizeof g->hkey);
	free(g);
}

int conns_admit(struct conns *g, const struct sockaddr *sa, socklen_t salen)
{
	char key[UTIL_IP_GROUP_LEN];
	struct group *p;
	int ok;

	sa_group(sa, salen, key);
	pthread_mutex_lock(&g->mu);
	p = group_get(g, key, 0);
	ok = g->open < g->cfg.max_total && (p == NULL || p->n < g->cfg.max_per_addr);
	if (!ok)
		g->refused++;
	pthread_mutex_unlock(&g->mu);
	return ok;
}

struct conn_slot *conns_open(struct conns *g, int fd, const struct sockaddr *sa, socklen_t salen)
{
	char key[UTIL_IP_GROUP_LEN];
	struct conn_slot *s = calloc(1, sizeof *s);

	sa_group(sa, salen, key);
	pthread_mutex_lock(&g->mu);
	if (s == NULL || (s->grp = group_get(g, key, 1)) == NULL) {
		g->refused++;
		pthread_mutex_unlock(&g->mu);
		free(s);
		shutdown(fd, SHUT_RDWR);
		return NULL;
	}
	s->fd = fd;
	if (sa != NULL && salen <= (socklen_t)sizeof s->peer) {
		memcpy(&s->peer, sa, salen);
		s->peerlen = salen;
	}
	s->phase = PH_HEAD;
	s->deadline = util_mono_ms() + g->cfg.head_ms;
	s->grp->n++;
	g->open++;
	s->next = g->head;
	if (g->head != NULL)
		g->head->prev = s;
	g->head = s;
	/* Admission and opening are two steps; several threads may have
	 * admitted the same group at once. Enforce the limit exactly here. */
	if (s->grp->n > g->cfg.max_per_addr || g->open > g->cfg.max_total) {
		shutdown(fd, SHUT_RDWR);
		s->shut = 1;
		g->refused++;
	}
	pthread_mutex_unlock(&g->mu);
	return s;
}

/* Called with the lock held, before libmicrohttpd closes s->fd. */
static void linger_start(struct conns *g, struct conn_slot *s)
{
	struct lingering *l = NULL;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP};
	int fd;

	if (!g->reaper_running || g->stop)
		return;
	for (size_t i = 0; i < CONNS_LINGER_MAX && l == NULL; i++)
		if (g->lg[i].fd < 0) {
			l = &g->lg[i];
			ev.data.u32 = (uint32_t)i;
		}
	if (l == NULL) /* all busy: close at once */
		return;
	/* our own reference to the socket (non-blocking like the original):
	 * libmicrohttpd's close(2) of its fd then does not end the connection */
	if ((fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 0)) < 0)
		return;
	shutdown(fd, SHUT_WR); /* the response is complete: FIN */
	if (epoll_ctl(g->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		close(fd);
		return;
	}
	l->fd = fd;
	l->start = l->last = util_mono_ms();
	l->bytes = 0;
	g->lingered++;
}

void conns_close(struct conns *g, struct conn_slot *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&g->mu);
	if (s->linger && !s->shut)
		linger_start(g, s);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		g->head = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	if (--s->grp->n == 0)
		group_drop(g, s->grp);
	g->open--;
	pthread_mutex_unlock(&g->mu);
	free(s);
}

static void set_phase(struct conns *g, struct conn_slot *s, enum phase ph, int64_t ms)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&g->mu);
	s->phase = ph;
	s->deadline = util_mono_ms() + ms;
	pthread_mutex_unlock(&g->mu);
}

void conns_linger(struct conns *g, struct conn_slot *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&g->mu);
	s->linger = 1;
	pthread_mutex_unlock(&g->mu);
}

void conns_head_done(struct conns *g, struct conn_slot *s, int has_body)
{
	if (has_body)
		set_phase(g, s, PH_BODY, g->cfg.body_ms);
	else
		set_phase(g, s, PH_BUSY, 0);
}

void conns_busy(struct conns *g, struct conn_slot *s)
{
	set_phase(g, s, PH_BUSY, 0);
}

void conns_sending(struct conns *g, struct conn_slot *s)
{
	set_phase(g, s, PH_SEND, g->cfg.body_ms);
}

void conns_idle(struct conns *g, struct conn_slot *s)
{
	set_phase(g, s, PH_HEAD, g->cfg.head_ms);
}

void conns_get_stats(struct conns *g, struct conns_stats *st)
{
	pthread_mutex_lock(&g->mu);
	st->open = g->open;
	st->refused = g->refused;
	st->deadline = g->deadline;
	st->lingered = g->lingered;
	pthread_mutex_unlock(&g->mu);
}

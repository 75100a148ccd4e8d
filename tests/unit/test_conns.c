/* Unit tests for vault/conns.c: address groups (IPv4 address, IPv6 /64,
 * v4-mapped as IPv4), per-group and total limits, deadlines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "conns.h"

static socklen_t addr(const char *ip, struct sockaddr_storage *ss)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof *ss);
	if (inet_pton(AF_INET, ip, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(40000);
		return sizeof *a4;
	}
	assert_int_equal(inet_pton(AF_INET6, ip, &a6->sin6_addr), 1);
	a6->sin6_family = AF_INET6;
	a6->sin6_port = htons(40000);
	return sizeof *a6;
}

static int admit(struct conns *g, const char *ip)
{
	struct sockaddr_storage ss;
	socklen_t len = addr(ip, &ss);

	return conns_admit(g, (struct sockaddr *)&ss, len);
}

/* A slot for an address, with no real socket behind it (fd -1: the
 * deadlines in these tests are far away, nothing shuts it down). */
static struct conn_slot *open_from(struct conns *g, const char *ip)
{
	struct sockaddr_storage ss;
	socklen_t len = addr(ip, &ss);

	return conns_open(g, -1, (struct sockaddr *)&ss, len);
}

static struct conns *start(unsigned total, unsigned per, int64_t head_ms)
{
	struct conns_config cc = {
	    .max_total = total, .max_per_addr = per, .head_ms = head_ms, .body_ms = head_ms};
	struct conns *g = NULL;

	assert_int_equal(conns_start(&cc, &g), 0);
	return g;
}

static void test_ipv6_counts_per_64(void **st)
{
	struct conns *g = start(100, 2, 60000);
	struct conn_slot *a, *b;

	(void)st;
	assert_true(admit(g, "2001:db8::1"));
	a = open_from(g, "2001:db8::1");
	b = open_from(g, "2001:db8::ffff:1:2:3");
	assert_non_null(a);
	assert_non_null(b);
	/* a third address of the same /64 is refused, another /64 is not */
	assert_false(admit(g, "2001:db8::3"));
	assert_false(admit(g, "2001:db8:0:0:abcd::9"));
	assert_true(admit(g, "2001:db8:0:1::1"));
	assert_true(admit(g, "2001:db9::1"));
	conns_close(g, a);
	assert_true(admit(g, "2001:db8::3"));
	conns_close(g, b);
	conns_free(g);
}

static void test_ipv4_and_mapped(void **st)
{
	struct conns *g = start(100, 2, 60000);
	struct conn_slot *a, *b;

	(void)st;
	a = open_from(g, "192.0.2.1");
	b = open_from(g, "::ffff:192.0.2.1"); /* the same client, seen through v6 */
	assert_false(admit(g, "192.0.2.1"));
	assert_false(admit(g, "::ffff:192.0.2.1"));
	/* each IPv4 address is its own group */
	assert_true(admit(g, "192.0.2.2"));
	conns_close(g, b);
	assert_true(admit(g, "192.0.2.1"));
	conns_close(g, a);
	conns_free(g);
}

static void test_total_and_race(void **st)
{
	struct conns *g = start(3, 2, 60000);
	struct conn_slot *s[4];
	struct conns_stats cs;

	(void)st;
	s[0] = open_from(g, "198.51.100.1");
	s[1] = open_from(g, "198.51.100.2");
	s[2] = open_from(g, "198.51.100.3");
	assert_false(admit(g, "198.51.100.4")); /* total reached */
	/* admitted by two threads at once: the second open is over the limit
	 * and shut down at once, but stays counted until it is closed */
	s[3] = open_from(g, "198.51.100.1");
	assert_non_null(s[3]);
	conns_get_stats(g, &cs);
	assert_int_equal(cs.open, 4);
	assert_int_equal(cs.refused, 2);
	for (int i = 3; i >= 0; i--)
		conns_close(g, s[i]);
	conns_get_stats(g, &cs);
	assert_int_equal(cs.open, 0);
	assert_true(admit(g, "198.51.100.4"));
	conns_free(g);
}

/* A real TCP connection on loopback: *srv is the accepted end. */
static int tcp_pair(int *srv, struct sockaddr_storage *peer, socklen_t *plen)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(l >= 0 && c >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(l, 4), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&a, &al), 0);
	assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof a), 0);
	*plen = sizeof *peer;
	*srv = accept(l, (struct sockaddr *)peer, plen);
	assert_true(*srv >= 0);
	close(l);
	return c;
}

/* 1 if the peer of c ended the connection within ms. */
static int ended(int c, int ms)
{
	struct pollfd p = {.fd = c, .events = POLLIN};
	char b;

	if (poll(&p, 1, ms) != 1)
		return 0;
	return recv(c, &b, 1, MSG_DONTWAIT) <= 0;
}

static void test_deadlines(void **st)
{
	struct conns *g = start(100, 10, 150);
	struct sockaddr_storage peer;
	socklen_t plen;
	struct conn_slot *s;
	struct conns_stats cs;
	int srv, c;

	(void)st;
	/* a connection that never completes a request head is shut down */
	c = tcp_pair(&srv, &peer, &plen);
	s = conns_open(g, srv, (struct sockaddr *)&peer, plen);
	assert_non_null(s);
	assert_false(ended(c, 50));
	assert_true(ended(c, 1000));
	conns_close(g, s);
	close(srv);
	close(c);

	/* a request being handled has no deadline; an idle one has again */
	c = tcp_pair(&srv, &peer, &plen);
	s = conns_open(g, srv, (struct sockaddr *)&peer, plen);
	conns_head_done(g, s, 0);
	assert_false(ended(c, 500));
	conns_idle(g, s);
	assert_true(ended(c, 1000));
	conns_close(g, s);
	close(srv);
	close(c);

	/* the body has its own deadline, counted from the head */
	c = tcp_pair(&srv, &peer, &plen);
	s = conns_open(g, srv, (struct sockaddr *)&peer, plen);
	conns_head_done(g, s, 1);
	assert_true(ended(c, 1000));
	conns_close(g, s);
	close(srv);
	close(c);

	/* so has sending the response */
	c = tcp_pair(&srv, &peer, &plen);
	s = conns_open(g, srv, (struct sockaddr *)&peer, plen);
	conns_head_done(g, s, 0);
	conns_sending(g, s);
	assert_true(ended(c, 1000));
	conns_close(g, s);
	close(srv);
	close(c);

	conns_get_stats(g, &cs);
	assert_true(cs.deadline == 4);
	conns_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ipv6_counts_per_64),
	    cmocka_unit_test(test_ipv4_and_mapped),
	    cmocka_unit_test(test_total_and_race),
	    cmocka_unit_test(test_deadlines),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* bench_store.c - group commit against its reference, one durable commit
 * per write, on the same machine in the same run.
 *
 * Both runs push the same number of small writes through store_write():
 * the reference from one thread (every write is its own batch, its own
 * fdatasync), the measured run from many threads (the writer groups them).
 * Prints ops/s for each and the ratio. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "util.h"

#define OPS_TOTAL 16000

struct job {
	struct store *s;
	int base, count;
};

static int put_op(struct store_txn *t, void *arg)
{
	char key[32], val[64];
	int n = *(int *)arg;

	snprintf(key, sizeof key, "bench-%08d", n);
	memset(val, 'v', sizeof val);
	return store_put(t, DB_META, key, strlen(key), val, sizeof val, 0);
}

static void *worker(void *arg)
{
	struct job *j = arg;

	for (int i = 0; i < j->count; i++) {
		int n = j->base + i;
		if (store_write(j->s, put_op, &n) != 0) {
			fprintf(stderr, "bench: write failed\n");
			exit(1);
		}
	}
	return NULL;
}

static double run(const char *dir, int threads, struct store_stats *st)
{
	struct store *s;
	pthread_t th[64];
	struct job jobs[64];
	int created;
	int64_t t0, t1;

	if (store_open(dir, (size_t)256 << 20, 60000, &s, &created) != 0) {
		fprintf(stderr, "bench: cannot open store in %s\n", dir);
		exit(1);
	}
	t0 = util_mono_ms();
	for (int i = 0; i < threads; i++) {
		jobs[i] = (struct job){s, i * (OPS_TOTAL / threads), OPS_TOTAL / threads};
		pthread_create(&th[i], NULL, worker, &jobs[i]);
	}
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	t1 = util_mono_ms();
	store_get_stats(s, st);
	store_close(s);
	return OPS_TOTAL * 1000.0 / (double)(t1 - t0 > 0 ? t1 - t0 : 1);
}

int main(int argc, char **argv)
{
	struct store_stats ref_st, grp_st;
	char d1[4096], d2[4096];
	double ref, grp;

	if (argc != 2) {
		fprintf(stderr, "usage: bench_store DIR\n");
		return 1;
	}
	snprintf(d1, sizeof d1, "%s/reference", argv[1]);
	snprintf(d2, sizeof d2, "%s/grouped", argv[1]);
	ref = run(d1, 1, &ref_st);
	grp = run(d2, 32, &grp_st);
	printf("reference  (1 writer thread, 1 commit per write): %8.0f writes/s, %llu commits\n",
	       ref, (unsigned long long)ref_st.commits);
	printf("group commit (32 writer threads):                %8.0f writes/s, %llu commits, "
	       "largest batch %llu\n",
	       grp, (unsigned long long)grp_st.commits, (unsigned long long)grp_st.max_batch);
	printf("speed-up: %.1fx\n", grp / ref);
	return 0;
}

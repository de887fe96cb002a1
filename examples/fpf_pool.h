/* examples/fpf_pool.h - a small persistent pthreads pool that plugs into fpf_options.parallel_for.
 *
 *   fpf_pool *p = fpf_pool_create(2);
 *   opt.parallel_for = fpf_pool_parallel_for; opt.pool = p;
 *   ...
 *   fpf_pool_destroy(p);
 *
 * Tasks are handed out one at a time from a shared counter (dynamic chunks, not static halves),
 * so a thread that lost its core to a neighbour simply takes fewer tasks. Idle workers sleep on
 * a condition variable; nothing spins. The calling thread works too. */
#ifndef FPF_POOL_H
#define FPF_POOL_H
#include <pthread.h>
#include <stdlib.h>
#include "fpf.h"

typedef struct fpf_pool {
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    pthread_t *threads;
    int n_threads;        /* workers besides the caller */
    unsigned generation;  /* bumped for every job */
    fpf_task_fn fn;
    void *ctx;
    int n_tasks, next, finished, quit;
} fpf_pool;

/* Takes tasks until none are left; returns with the mutex held. */
static void fpf_pool__drain(fpf_pool *p) {
    while (p->next < p->n_tasks) {
        int t = p->next++;
        pthread_mutex_unlock(&p->mu);
        p->fn(p->ctx, t);
        pthread_mutex_lock(&p->mu);
        if (++p->finished == p->n_tasks) pthread_cond_broadcast(&p->done);
    }
}

static void *fpf_pool__worker(void *arg) {
    fpf_pool *p = (fpf_pool *)arg;
    unsigned seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && p->generation == seen) pthread_cond_wait(&p->work, &p->mu);
        if (p->quit) break;
        seen = p->generation;
        fpf_pool__drain(p);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static inline void fpf_pool_parallel_for(void *pool, fpf_task_fn fn, void *ctx, int n) {
    fpf_pool *p = (fpf_pool *)pool;
    pthread_mutex_lock(&p->mu);
    p->fn = fn; p->ctx = ctx; p->n_tasks = n; p->next = 0; p->finished = 0;
    p->generation++;
    pthread_cond_broadcast(&p->work);
    fpf_pool__drain(p);
    while (p->finished < p->n_tasks) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

/* n_threads in total, the caller included; 1 gives a pool that runs everything on the caller. */
static inline fpf_pool *fpf_pool_create(int n_threads) {
    fpf_pool *p = (fpf_pool *)calloc(1, sizeof *p);
    int i;
    if (!p) return NULL;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    p->n_threads = n_threads > 1 ? n_threads - 1 : 0;
    p->threads = (pthread_t *)calloc((size_t)p->n_threads + 1, sizeof(pthread_t));
    for (i = 0; i < p->n_threads; i++)
        if (pthread_create(&p->threads[i], NULL, fpf_pool__worker, p) != 0) { p->n_threads = i; break; }
    return p;
}

static inline void fpf_pool_destroy(fpf_pool *p) {
    int i;
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (i = 0; i < p->n_threads; i++) pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->work); pthread_cond_destroy(&p->done); pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p);
}
#endif

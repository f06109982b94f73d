// threads.c - Thread budget, nesting marks and the persistent worker pool behind parallelChunks.

#include "CKernels.h"

static _Thread_local int thread_budget;    // 0: not set on this thread
static _Thread_local int in_parallel_body;

int graphc_thread_budget(void) { return in_parallel_body ? 1 : thread_budget; }

int graphc_set_thread_budget(int threads) {
  int old = thread_budget;
  thread_budget = threads < 0 ? 0 : threads;
  return old;
}

int graphc_enter_parallel_body(void) {
  int old = in_parallel_body;
  in_parallel_body = 1;
  return old;
}

void graphc_leave_parallel_body(int previous) { in_parallel_body = previous; }

// MARK: Persistent worker pool

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define GRAPHC_PAUSE() _mm_pause()
#else
#define GRAPHC_PAUSE() ((void)0)
#endif

enum { MAX_WORKERS = 63 };
/// How long a waiting thread spins before it sleeps: long enough to catch the next parallel op
/// of a run (the serial ops between two GEMMs take tens of microseconds), short enough not to
/// burn a shared core when the model is idle.
static const long SPIN_NS = 100000;

/// Blocks while *word == value (spuriously returning is allowed: callers re-check).
static void wait_on(atomic_uint *word, unsigned value) {
#if defined(__linux__)
  syscall(SYS_futex, (unsigned *)word, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0);
#else
  (void)word; (void)value;
  sched_yield();
#endif
}

static void wake_all(atomic_uint *word) {
#if defined(__linux__)
  syscall(SYS_futex, (unsigned *)word, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
#else
  (void)word;
#endif
}

static long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long)t.tv_sec * 1000000000L + t.tv_nsec;
}

/// Waits until *word != value: spins for SPIN_NS, then sleeps on the futex with *sleeping set
/// (the writer wakes it when it sees the flag). Returns the new value.
static unsigned await_change(atomic_uint *word, unsigned value, atomic_int *sleeping) {
  unsigned v;
  long start = 0;
  for (long i = 0;; i++) {
    if ((v = atomic_load_explicit(word, memory_order_acquire)) != value) return v;
    GRAPHC_PAUSE();
    if ((i & 255) == 255) {
      long t = now_ns();
      if (start == 0) start = t;
      else if (t - start > SPIN_NS) break;
    }
  }
  for (;;) {
    atomic_store(sleeping, 1);
    if ((v = atomic_load(word)) != value) break;
    wait_on(word, value);
    if ((v = atomic_load(word)) != value) break;
  }
  atomic_store(sleeping, 0);
  return v;
}

/// Stores `value` into *word and wakes its sleeper, if any (the sequentially consistent store
/// then load pairs with await_change's flag then re-check, so no wake-up is lost).
static void publish(atomic_uint *word, unsigned value, atomic_int *sleeping) {
  atomic_store(word, value);
  if (atomic_load(sleeping)) wake_all(word);
}

/// One worker's mailbox: the submitter fills fn/context/index while the worker is idle
/// (done == posted), then bumps `posted`; the worker runs the chunk and sets done = posted.
typedef struct {
  graphc_chunk_fn fn;
  void *context;
  long index;
  atomic_uint posted, done;
  atomic_int worker_sleeping, submitter_sleeping;
} __attribute__((aligned(64))) mailbox;

static mailbox boxes[MAX_WORKERS];
static int worker_count;  // guarded by pool_lock
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local int is_pool_worker;

static void *worker_main(void *arg) {
  mailbox *box = arg;
  is_pool_worker = 1;
  unsigned seen = 0;  // a box is new when its worker starts: nothing posted yet
  for (;;) {
    seen = await_change(&box->posted, seen, &box->worker_sleeping);
    box->fn(box->context, box->index);
    publish(&box->done, seen, &box->submitter_sleeping);
  }
  return NULL;
}

/// Starts workers until there are at least `wanted` (pool_lock held); returns how many exist.
static int grow_pool(int wanted) {
  if (wanted > MAX_WORKERS) wanted = MAX_WORKERS;
  while (worker_count < wanted) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int failed = pthread_create(&t, &attr, worker_main, &boxes[worker_count]);
    pthread_attr_destroy(&attr);
    if (failed) break;
    worker_count++;
  }
  return worker_count;
}

void graphc_parallel_for(long count, graphc_chunk_fn fn, void *context) {
  if (count <= 0) return;
  // Serial when there is one chunk, when called from a worker, or when another thread is
  // using the pool (its workers are busy: more threads would oversubscribe the cores).
  if (count == 1 || is_pool_worker || pthread_mutex_trylock(&pool_lock) != 0) {
    for (long i = 0; i < count; i++) fn(context, i);
    return;
  }
  long helpers = count - 1 < MAX_WORKERS ? count - 1 : MAX_WORKERS;
  int started = grow_pool((int)helpers);  // may exceed helpers: earlier calls asked for more
  if (started < helpers) helpers = started;
  for (long w = 0; w < helpers; w++) {
    mailbox *box = &boxes[w];
    box->fn = fn;
    box->context = context;
    box->index = w + 1;
    publish(&box->posted, atomic_load(&box->posted) + 1, &box->worker_sleeping);
  }
  fn(context, 0);
  for (long i = helpers + 1; i < count; i++) fn(context, i);  // no worker could be started
  for (long w = 0; w < helpers; w++) {
    mailbox *box = &boxes[w];
    unsigned target = atomic_load(&box->posted);
    unsigned d = atomic_load_explicit(&box->done, memory_order_acquire);
    while (d != target) d = await_change(&box->done, d, &box->submitter_sleeping);
  }
  pthread_mutex_unlock(&pool_lock);
}

int graphc_pool_workers(void) {
  pthread_mutex_lock(&pool_lock);
  int n = worker_count;
  pthread_mutex_unlock(&pool_lock);
  return n;
}

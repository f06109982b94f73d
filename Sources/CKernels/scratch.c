// scratch.c - Per-thread scratch buffers for the C kernels' packing, kept for the thread's lifetime.

#include "CKernels.h"

#include <pthread.h>
#include <stdlib.h>

enum { SLOTS = 6 };

/// One growable 64-byte aligned buffer per slot.
typedef struct {
  void *data[SLOTS];
  size_t capacity[SLOTS];
} scratch_set;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void free_scratch(void *p) {
  scratch_set *s = p;
  for (int i = 0; i < SLOTS; i++) free(s->data[i]);
  free(s);
}

static void make_scratch_key(void) { (void)pthread_key_create(&scratch_key, free_scratch); }

void *graphc_thread_scratch(int slot, size_t bytes) {
  if (slot < 0 || slot >= SLOTS) return NULL;
  pthread_once(&scratch_once, make_scratch_key);
  scratch_set *s = pthread_getspecific(scratch_key);
  if (!s) {
    s = calloc(1, sizeof *s);
    if (s && pthread_setspecific(scratch_key, s) != 0) {
      free(s);
      s = NULL;
    }
    if (!s) return NULL;
  }
  if (bytes == 0) bytes = 1;
  if (s->capacity[slot] >= bytes) return s->data[slot];
  free(s->data[slot]);
  size_t rounded = (bytes + 63) & ~(size_t)63;
  s->data[slot] = aligned_alloc(64, rounded);
  s->capacity[slot] = s->data[slot] ? rounded : 0;
  return s->data[slot];
}

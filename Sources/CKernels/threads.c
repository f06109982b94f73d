// threads.c - Per-thread run state for the interpreter's work splitting (thread budget, nesting).

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

#include "spread.hpp"

#ifdef __linux__
#include <sched.h>
#endif

namespace stimrank::engine {

int current_cpu() noexcept {
#ifdef __linux__
  return sched_getcpu();
#else
  return -1;
#endif
}

void start_on_own_cpu(int parent_cpu, unsigned index) noexcept {
#ifdef __linux__
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return;
  const int count = CPU_COUNT(&allowed);
  if (count < 2) return;
  // The allowed CPUs in order, starting after the parent's.
  int cpus[CPU_SETSIZE];
  int n = 0, parent_at = -1;
  for (int cpu = 0; cpu < CPU_SETSIZE && n < count; ++cpu)
    if (CPU_ISSET(cpu, &allowed)) {
      if (cpu == parent_cpu) parent_at = n;
      cpus[n++] = cpu;
    }
  const int target = cpus[(parent_at + 1 + static_cast<int>(index % static_cast<unsigned>(n))) % n];
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(target, &one);
  if (sched_setaffinity(0, sizeof one, &one) != 0) return;  // moves the thread now
  sched_setaffinity(0, sizeof allowed, &allowed);           // and frees it again
#else
  (void)parent_cpu;
  (void)index;
#endif
}

}  // namespace stimrank::engine

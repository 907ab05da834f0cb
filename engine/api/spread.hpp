// Starting worker threads on CPUs of their own.
#pragma once

#include <thread>
#include <utility>
#include <vector>

namespace stimrank::engine {

// Where worker `index` of a pool should start, as a position after the CPU its
// creator runs on: `parent_cpu` is that CPU (current_cpu() in the creator), so that
// worker 0 starts on the next allowed CPU, worker 1 on the one after, and so on.
//
// Why: a new thread starts on its creator's CPU, and on the virtual machines this
// was measured on the kernel took tens of milliseconds to move it to an idle one
// (a two-thread batch ran one thread after the other for the first ≈ 50 ms of a
// process). The worker moves itself once, then gives the scheduler its whole set
// of allowed CPUs back: nothing stays pinned. Does nothing where the process may
// use one CPU only, or off Linux.
void start_on_own_cpu(int parent_cpu, unsigned index) noexcept;

// The CPU the calling thread runs on, or -1 when unknown.
int current_cpu() noexcept;

// Worker `index` of a pool the calling thread creates: it runs `work` after
// start_on_own_cpu(the caller's CPU, index).
template <typename Work>
std::thread worker_thread(unsigned index, Work&& work) {
  return std::thread([parent = current_cpu(), index, work = std::forward<Work>(work)]() mutable {
    start_on_own_cpu(parent, index);
    work();
  });
}

// Runs `work` on `count` threads, the caller's among them, and returns when every
// one has: the other count - 1 start as worker_thread(0…). Where no more threads
// can be had, the ones started do the work.
template <typename Work>
void run_on_threads(unsigned count, Work& work) {
  std::vector<std::thread> helpers;
  for (unsigned t = 1; t < count; ++t) {
    try {
      helpers.push_back(worker_thread(t - 1, [&work] { work(); }));
    } catch (...) {
      break;
    }
  }
  work();
  for (auto& helper : helpers) helper.join();
}

}  // namespace stimrank::engine

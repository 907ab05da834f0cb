// JSON Lines batches: a reader, a pool of evaluators and a writer working at once.
// The reader cuts the input into chunks of lines; the evaluators take chunks in
// turn; the writer writes finished chunks in input order and frees them. At most
// kMaxPending chunks are in flight, so memory stays bounded.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <istream>
#include <mutex>
#include <ostream>
#include <thread>

#include "json_text.hpp"
#include "spread.hpp"
#include "stimrank/evaluator.hpp"
#include "stimrank/storage.hpp"

namespace stimrank {

namespace {

constexpr std::size_t kBlockBytes = 1u << 20;    // read size
constexpr std::size_t kChunkLines = 64;          // unit of work, at most
constexpr std::size_t kChunkBytes = 512u << 10;  // output a chunk aims at
constexpr std::size_t kMaxPending = 32;          // chunks read but not yet written, at most

struct Line {
  std::string_view text;
  std::size_t number;
};

struct Chunk {
  std::shared_ptr<const std::string> block;  // keeps the lines' text alive
  std::vector<Line> lines;
  std::string output, messages;
  std::size_t failures = 0;
  bool done = false;
};

class Pipeline {
 public:
  Pipeline(const std::shared_ptr<const RuleSet>& ruleset, const JsonlOptions& options)
      : ruleset_(ruleset), options_(options) {}

  JsonlSummary run(std::istream& in, std::ostream& out, std::ostream& messages) {
    unsigned threads =
        options_.threads ? options_.threads : std::max(1u, std::thread::hardware_concurrency());
    // Enough chunks in flight to keep every thread busy; each one in flight is a
    // buffer that is touched (and page-faulted) the first time it is used.
    max_pending_ = std::clamp<std::size_t>(4 * std::size_t{threads}, 8, kMaxPending);
    std::vector<std::thread> workers;
    for (unsigned t = 0; t < threads; ++t)
      workers.push_back(engine::worker_thread(t, [this] { evaluate_chunks(); }));
    std::thread writer([&] { write_chunks(out, messages); });
    read_chunks(in);
    {
      std::lock_guard lock(mutex_);
      reading_done_ = true;
    }
    work_ready_.notify_all();
    chunk_done_.notify_all();
    for (auto& t : workers) t.join();
    writer.join();
    return summary_;
  }

 private:
  void read_chunks(std::istream& in) {
    std::string carry;
    std::size_t line_number = 0;
    bool more = true;
    while (more) {
      auto block = std::make_shared<std::string>(std::move(carry));
      carry = std::string();
      std::size_t have = block->size();
      block->resize(std::max(kBlockBytes, have * 2));
      in.read(block->data() + have, static_cast<std::streamsize>(block->size() - have));
      block->resize(have + static_cast<std::size_t>(in.gcount()));
      more = static_cast<bool>(in);
      if (!more && in.bad()) summary_.read_error = "the input could not be read to its end";
      std::size_t end = block->size();
      if (more) {
        std::size_t last = block->rfind('\n');
        if (last == std::string::npos) {  // a line longer than the block: read on
          carry = std::move(*block);
          continue;
        }
        end = last + 1;
        carry.assign(*block, end, std::string::npos);
      }
      std::unique_ptr<Chunk> chunk;
      for (std::size_t at = 0; at < end;) {
        std::size_t newline = block->find('\n', at);
        if (newline == std::string::npos || newline > end) newline = end;
        std::string_view text(block->data() + at, newline - at);
        at = newline + 1;
        ++line_number;
        if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
        if (text.find_first_not_of(" \t") == std::string_view::npos) continue;  // blank
        if (!chunk) {
          chunk = fresh_chunk();
          chunk->block = block;
        }
        chunk->lines.push_back({text, line_number});
        if (chunk->lines.size() >= chunk_lines()) submit(std::move(chunk));
      }
      if (chunk) submit(std::move(chunk));
    }
  }

  // A chunk from the writer's returns when there is one: its buffers keep their
  // capacity, which spares a fresh allocation (and its page faults) per chunk.
  std::unique_ptr<Chunk> fresh_chunk() {
    {
      std::lock_guard lock(mutex_);
      if (!spare_.empty()) {
        std::unique_ptr<Chunk> chunk = std::move(spare_.back());
        spare_.pop_back();
        return chunk;
      }
    }
    auto chunk = std::make_unique<Chunk>();
    chunk->lines.reserve(kChunkLines);
    return chunk;
  }

  // Lines per chunk: 64, or fewer when results are large (full JSON for hundreds of
  // options is ~100 KB a profile), so that the chunks in flight stay ~16 MB.
  std::size_t chunk_lines() const {
    std::size_t per_line = output_per_line_.load(std::memory_order_relaxed);
    if (per_line == 0) return 8;  // until the first chunk is written
    return std::clamp<std::size_t>(kChunkBytes / per_line, 1, kChunkLines);
  }

  void submit(std::unique_ptr<Chunk> chunk) {
    std::unique_lock lock(mutex_);
    room_.wait(lock, [&] { return queue_.size() < max_pending_; });
    summary_.lines += chunk->lines.size();
    queue_.push_back(std::move(chunk));
    lock.unlock();
    work_ready_.notify_one();
  }

  void evaluate_chunks() {
    Evaluator evaluator(ruleset_);
    std::vector<ProfileError> errors;
    for (;;) {
      Chunk* chunk;
      {
        std::unique_lock lock(mutex_);
        work_ready_.wait(lock, [&] { return taken_ < popped_ + queue_.size() || reading_done_; });
        if (taken_ == popped_ + queue_.size()) return;
        chunk = queue_[taken_++ - popped_].get();
      }
      // Room for the chunk's results at the average size so far, so that the
      // buffer is not grown (and copied) line by line.
      std::size_t per_line = output_per_line_.load(std::memory_order_relaxed);
      if (per_line) chunk->output.reserve(per_line * chunk->lines.size() * 5 / 4);
      for (const Line& line : chunk->lines) evaluate_line(evaluator, line, errors, *chunk);
      {
        std::lock_guard lock(mutex_);
        chunk->done = true;
      }
      chunk_done_.notify_all();
    }
  }

  void evaluate_line(Evaluator& evaluator, const Line& line, std::vector<ProfileError>& errors,
                     Chunk& chunk) {
    errors.clear();
    bool ok;
    if (options_.audit) {
      Evaluation evaluation = evaluator.evaluate(line.text);
      ok = evaluation.ok();
      errors = std::move(evaluation.errors);
      std::string audit_error;
      if (ok && !options_.audit->append(*evaluation.result, line.text, audit_error)) {
        chunk.output += jsonl_error_line(
            line.number, {{"", "the audit record could not be written: " + audit_error}});
        chunk.output += '\n';
        chunk.messages +=
            options_.label + ":" + std::to_string(line.number) + ": audit: " + audit_error + "\n";
        ++chunk.failures;
        return;
      }
      if (ok) {
        if (options_.format == OutputFormat::tsv)
          chunk.output += evaluation.result->to_tsv();
        else
          evaluation.result->append_json(chunk.output);
      }
    } else {
      ok = evaluator.append(line.text, options_.format, chunk.output, errors);
    }
    if (!ok) {
      chunk.output += jsonl_error_line(line.number, errors);
      for (const ProfileError& e : errors)
        chunk.messages +=
            options_.label + ":" + std::to_string(line.number) + ": " + e.format() + "\n";
      ++chunk.failures;
    }
    chunk.output += '\n';
  }

  void write_chunks(std::ostream& out, std::ostream& messages) {
    for (;;) {
      std::unique_ptr<Chunk> chunk;
      {
        std::unique_lock lock(mutex_);
        chunk_done_.wait(lock, [&] {
          return (!queue_.empty() && queue_.front()->done) || (reading_done_ && queue_.empty());
        });
        if (queue_.empty()) return;
        chunk = std::move(queue_.front());
        queue_.pop_front();
        ++popped_;
        summary_.failed += chunk->failures;
        written_bytes_ += chunk->output.size();
        written_lines_ += chunk->lines.size();
        if (written_lines_) output_per_line_ = written_bytes_ / written_lines_;
      }
      room_.notify_one();
      out.write(chunk->output.data(), static_cast<std::streamsize>(chunk->output.size()));
      if (!chunk->messages.empty()) messages << chunk->messages;
      chunk->block.reset();
      chunk->lines.clear();
      if (chunk->output.capacity() > 2 * kChunkBytes)
        std::string().swap(chunk->output);  // an early, oversized chunk: let it go
      else
        chunk->output.clear();
      chunk->messages.clear();
      chunk->failures = 0;
      chunk->done = false;
      std::lock_guard lock(mutex_);
      spare_.push_back(std::move(chunk));
    }
  }

  std::shared_ptr<const RuleSet> ruleset_;
  const JsonlOptions& options_;
  std::mutex mutex_;
  std::condition_variable work_ready_, chunk_done_, room_;
  std::deque<std::unique_ptr<Chunk>> queue_;   // in input order, oldest first
  std::vector<std::unique_ptr<Chunk>> spare_;  // written chunks, for reuse
  std::size_t written_bytes_ = 0, written_lines_ = 0;
  std::atomic<std::size_t> output_per_line_{0};  // average output of a line so far
  std::size_t max_pending_ = kMaxPending;
  std::size_t taken_ = 0, popped_ = 0;  // chunks ever taken / written
  bool reading_done_ = false;
  JsonlSummary summary_;
};

}  // namespace

std::string jsonl_error_line(std::size_t line, const std::vector<ProfileError>& errors) {
  std::string out = "{\"line\":" + std::to_string(line) + ",\"errors\":[";
  for (std::size_t i = 0; i < errors.size(); ++i) {
    detail::append_json_field(out, i ? ",{\"path\":" : "{\"path\":", errors[i].path);
    detail::append_json_field(out, ",\"message\":", errors[i].message);
    out += '}';
  }
  return out + "]}";
}

JsonlSummary evaluate_jsonl(const std::shared_ptr<const RuleSet>& ruleset, std::istream& in,
                            std::ostream& out, std::ostream& messages,
                            const JsonlOptions& options) noexcept {
  try {
    return Pipeline(ruleset, options).run(in, out, messages);
  } catch (std::exception const& e) {
    JsonlSummary summary;
    summary.read_error = std::string("internal error: ") + e.what();
    return summary;
  }
}

}  // namespace stimrank

// JSON Lines batches. Every thread of the batch (the caller's among them) does
// whichever job is due: write the finished chunks at the head of the queue, in
// input order; or read the next chunk of lines and evaluate it itself. One thread
// reads and one writes at a time. At most max_pending_ chunks are read but not yet
// written, so memory stays bounded. With one thread nothing is started: the
// caller reads, evaluates and writes in turn.
//
// Why no reader and writer threads of their own: with two evaluation threads on
// two CPUs they would take CPU time from both and hand every line from one CPU's
// cache to another's. Why a thread evaluates what it read: the lines are still in
// its cache.
#include "stimrank/jsonl.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <istream>
#include <memory>
#include <mutex>
#include <ostream>
#include <string_view>
#include <thread>

#include "compiled.hpp"
#include "json_text.hpp"
#include "spread.hpp"

namespace stimrank {

namespace {

constexpr std::size_t kBlockBytes = 1u << 20;      // read size, at most
constexpr std::size_t kMinBlockBytes = 16u << 10;  // read size, at least
constexpr std::size_t kChunkLines = 1024;          // unit of work (1/8 more to end a block)
constexpr std::size_t kChunkBytes = 512u << 10;    // output a chunk aims at
constexpr std::size_t kMaxPending = 32;            // chunks read but not yet written, at most

struct Line {
  std::string_view text;
  std::size_t number;
};

// A block of input as read. Not a std::string: growing one zero-fills it first,
// which for 1 MB blocks cost the reader as much as the line splitting.
struct Block {
  std::unique_ptr<char[]> bytes;
  std::size_t size = 0;
};

struct Chunk {
  std::shared_ptr<const Block> block;  // keeps the lines' text alive
  std::vector<Line> lines;
  std::string output, messages;
  std::size_t failures = 0;
  bool done = false;
};

// A file written with classic Mac line ends (CR alone) reaches us as one long line;
// its error then says why: a CR followed by the start of another record. (CR is also
// JSON whitespace, and a CRLF line's CR ends the line.)
bool has_lone_carriage_return(std::string_view line) {
  for (std::size_t cr = line.find('\r'); cr != std::string_view::npos;
       cr = line.find('\r', cr + 1)) {
    const std::size_t next = line.find_first_not_of(" \t\r", cr + 1);
    if (next != std::string_view::npos && line[next] == '{') return true;
  }
  return false;
}

class Pipeline {
 public:
  Pipeline(const std::shared_ptr<const RuleSet>& ruleset, const JsonlOptions& options,
           std::istream& in, std::ostream& out, std::ostream& messages)
      : ruleset_(ruleset),
        options_(options),
        in_(in),
        out_(out),
        messages_(messages),
        line_limit_(detail::compiled(*ruleset).limits.max_profile_bytes) {}

  JsonlSummary run() {
    threads_ =
        options_.threads ? options_.threads : std::max(1u, std::thread::hardware_concurrency());
    // Enough chunks in flight to keep every thread busy; each one in flight is a
    // buffer that is touched (and page-faulted) the first time it is used.
    max_pending_ = std::clamp<std::size_t>(4 * std::size_t{threads_}, 8, kMaxPending);
    auto work = [this] { this->work(); };
    engine::run_on_threads(threads_, work);
    summary_.read_error = read_error_;
    if (input_bad_ && summary_.read_error.empty())
      summary_.read_error = "the input could not be read to its end";
    summary_.write_error = write_error_;
    return summary_;
  }

 private:
  void work() noexcept {
    try {
      Evaluator evaluator(ruleset_);
      std::vector<ProfileError> errors;
      std::unique_lock lock(mutex_);
      for (;;) {
        if (stopped_) return;
        if (!writing_ && !queue_.empty() && queue_.front()->done) {
          write_finished(lock);
        } else if (!reading_ && !input_done_ && queue_.size() < max_pending_) {
          // This thread reads the next chunk and evaluates it itself: the lines it
          // just read are still in its CPU's cache.
          Chunk* chunk = read_chunk(lock);
          if (!chunk) continue;
          lock.unlock();
          evaluate_chunk(evaluator, errors, *chunk);
          lock.lock();
          chunk->done = true;
          changed_.notify_all();
        } else if (input_done_ && queue_.empty() && !reading_) {
          changed_.notify_all();
          return;
        } else {
          changed_.wait(lock);
        }
      }
    } catch (const std::exception& e) {
      stop(read_error_, "internal error: ", e.what());
    } catch (...) {
      stop(read_error_, "internal error", "");
    }
  }

  // Stops every thread, the first reason kept in `error`.
  void stop(std::string& error, const char* why, const char* detail) noexcept {
    std::lock_guard lock(mutex_);
    if (!stopped_) {
      try {
        error = std::string(why) + detail;
      } catch (...) {  // no memory even for the message: the flag says enough
      }
    }
    stopped_ = true;
    changed_.notify_all();
  }

  // Writes the finished chunks at the head of the queue, in order, and keeps
  // their buffers for reuse. Called and returns with the lock held.
  void write_finished(std::unique_lock<std::mutex>& lock) {
    writing_ = true;
    while (!queue_.empty() && queue_.front()->done && !stopped_) {
      std::unique_ptr<Chunk> chunk = std::move(queue_.front());
      queue_.pop_front();
      ++popped_;
      summary_.failed += chunk->failures;
      written_bytes_ += chunk->output.size();
      written_lines_ += chunk->lines.size();
      if (written_lines_) output_per_line_ = written_bytes_ / written_lines_;
      changed_.notify_all();  // room to read into
      lock.unlock();
      out_.write(chunk->output.data(), static_cast<std::streamsize>(chunk->output.size()));
      if (!out_) stop(write_error_, "the results could not be written", "");  // disk full…
      if (!chunk->messages.empty()) messages_ << chunk->messages;
      chunk->block.reset();
      chunk->lines.clear();
      if (chunk->output.capacity() > 2 * kChunkBytes)
        std::string().swap(chunk->output);  // an early, oversized chunk: let it go
      else
        chunk->output.clear();
      chunk->messages.clear();
      chunk->failures = 0;
      chunk->done = false;
      lock.lock();
      spare_.push_back(std::move(chunk));
    }
    writing_ = false;
  }

  // Cuts the next lines of input into a chunk and queues it; null at the end of
  // the input. Called and returns with the lock held; reads without it.
  Chunk* read_chunk(std::unique_lock<std::mutex>& lock) {
    reading_ = true;
    std::unique_ptr<Chunk> chunk;
    if (!spare_.empty()) {
      chunk = std::move(spare_.back());
      spare_.pop_back();
    }
    lock.unlock();
    if (!chunk) {
      chunk = std::make_unique<Chunk>();
      chunk->lines.reserve(kChunkLines + kChunkLines / 8);
    }
    bool filled = false;
    while (!filled) {
      if (block_at_ >= block_end_) {
        if (!more_input_) break;
        read_block();
        continue;
      }
      filled = cut_lines(*chunk);
    }
    lock.lock();
    reading_ = false;
    changed_.notify_all();
    if (!filled) {
      input_done_ = true;
      spare_.push_back(std::move(chunk));
      return nullptr;
    }
    summary_.lines += chunk->lines.size();
    queue_.push_back(std::move(chunk));
    return queue_.back().get();
  }

  // Fills `chunk` with the current block's next lines (blank ones skipped); false
  // when the rest of the block held none.
  bool cut_lines(Chunk& chunk) {
    const std::string_view text_read(block_->bytes.get(), block_end_);
    std::size_t limit = chunk_lines();
    // A block is sized to hold a chunk and a line more, so it usually holds a few
    // lines beyond one: they go with the chunk, not into a chunk of their own (which
    // made every other chunk 2 or 3 lines long, each a turn of the lock and a write).
    if (lines_cut_ && limit > 1 && block_end_ - block_at_ <= line_bytes() * (limit + limit / 8))
      limit += limit / 8;
    while (block_at_ < block_end_ && chunk.lines.size() < limit) {
      std::size_t newline = text_read.find('\n', block_at_);
      if (newline == std::string_view::npos) newline = block_end_;
      std::string_view text = text_read.substr(block_at_, newline - block_at_);
      bytes_cut_ += newline + 1 - block_at_;
      block_at_ = newline + 1;
      ++line_number_;
      ++lines_cut_;
      if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
      if (text.find_first_not_of(" \t") == std::string_view::npos) continue;  // blank
      chunk.lines.push_back({text, line_number_});
    }
    if (chunk.lines.empty()) return false;
    chunk.block = block_;
    return true;
  }

  // The next block: the line the previous one cut, then up to kBlockBytes more;
  // it ends at its last newline (the rest is carried on) or at the input's end.
  void read_block() {
    for (;;) {
      auto block = std::make_shared<Block>();
      // About one chunk's lines, so that the thread that reads them evaluates them.
      const std::size_t lines = chunk_lines();
      const std::size_t per_line = line_bytes();
      const std::size_t wanted =
          std::clamp(per_line * lines + per_line, kMinBlockBytes, kBlockBytes);
      const std::size_t room = std::max(wanted, carry_.size() * 2);
      block->bytes.reset(new char[room]);  // uninitialised: read() fills it
      std::copy(carry_.begin(), carry_.end(), block->bytes.get());
      const std::size_t have = carry_.size();
      in_.read(block->bytes.get() + have, static_cast<std::streamsize>(room - have));
      std::size_t size = have + static_cast<std::size_t>(in_.gcount());
      more_input_ = static_cast<bool>(in_);
      if (!more_input_ && in_.bad()) input_bad_ = true;
      if (dropping_) {  // drop the overlong line's bytes up to its newline
        char* begin = block->bytes.get();
        char* newline = std::find(begin + have, begin + size, '\n');
        dropped_ += static_cast<std::size_t>(newline - (begin + have));
        if (newline == begin + size && more_input_) {
          if (dropped_ <= kMaxDropped) continue;
          // No line break in sight (/dev/zero): stop reading, answer what was read.
          read_error_ = "line " + std::to_string(line_number_ + 1) + " is longer than " +
                        std::to_string(kMaxDropped) +
                        " bytes without a line break; the rest of the input was not read";
          more_input_ = false;
        }
        size = have + static_cast<std::size_t>(std::copy(newline, begin + size, begin + have) -
                                               (begin + have));
        dropping_ = false;
        dropped_ = 0;
      }
      const std::string_view text_read(block->bytes.get(), size);
      std::size_t end = size;
      if (more_input_) {
        const std::size_t last = text_read.rfind('\n');
        if (last == std::string_view::npos) {  // a line longer than the block: read on
          if (text_read.size() > line_limit_) {
            carry_.assign(text_read.substr(0, line_limit_ + 1));
            dropping_ = true;
          } else {
            carry_.assign(text_read);
          }
          continue;
        }
        end = last + 1;
        carry_.assign(text_read.substr(end));
      } else if (input_bad_) {  // the text after the last newline may be a line cut short
        const std::size_t last = text_read.rfind('\n');
        end = last == std::string_view::npos ? 0 : last + 1;
        carry_.clear();
      } else {
        carry_.clear();
      }
      block_ = std::move(block);
      block_at_ = 0;
      block_end_ = end;
      return;
    }
  }

  // The average input line so far (a guess before the first).
  std::size_t line_bytes() const { return lines_cut_ ? bytes_cut_ / lines_cut_ + 1 : 4096; }

  // Lines per chunk: up to kChunkLines, fewer when results are large (full JSON
  // for hundreds of options is ~100 KB a profile), so that a chunk's output stays
  // near kChunkBytes.
  std::size_t chunk_lines() const {
    std::size_t per_line = output_per_line_.load(std::memory_order_relaxed);
    if (per_line == 0) return 8;  // until the first chunk is written
    return std::clamp<std::size_t>(kChunkBytes / per_line, 1, kChunkLines);
  }

  void evaluate_chunk(Evaluator& evaluator, std::vector<ProfileError>& errors, Chunk& chunk) {
    // Room for the chunk's results at the average size so far, so that the
    // buffer is not grown (and copied) line by line.
    std::size_t per_line = output_per_line_.load(std::memory_order_relaxed);
    if (per_line) chunk.output.reserve(per_line * chunk.lines.size() * 5 / 4);
    for (const Line& line : chunk.lines) evaluate_line(evaluator, line, errors, chunk);
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
          chunk.output += tsv_line(*evaluation.result);
        else
          evaluation.result->append_json(chunk.output);
      }
    } else {
      ok = evaluator.append(line.text, options_.format, chunk.output, errors);
    }
    if (!ok) {
      if (!errors.empty() && has_lone_carriage_return(line.text))
        errors.front().message +=
            " (this line holds a carriage return without a line feed: JSON Lines records end "
            "with a line feed, so records separated by carriage returns alone are one line)";
      chunk.output += jsonl_error_line(line.number, errors);
      for (const ProfileError& e : errors)
        chunk.messages +=
            options_.label + ":" + std::to_string(line.number) + ": " + e.format() + "\n";
      ++chunk.failures;
    }
    chunk.output += '\n';
  }

  std::shared_ptr<const RuleSet> ruleset_;
  const JsonlOptions& options_;
  std::istream& in_;
  std::ostream& out_;
  std::ostream& messages_;
  unsigned threads_ = 1;
  std::size_t max_pending_ = kMaxPending;

  std::mutex mutex_;  // guards what follows, up to the reader's own state
  std::condition_variable changed_;
  std::deque<std::unique_ptr<Chunk>> queue_;   // read, not yet written; input order
  std::vector<std::unique_ptr<Chunk>> spare_;  // written chunks, for reuse
  std::size_t popped_ = 0;                     // chunks ever written
  bool reading_ = false, writing_ = false;     // a thread is reading / writing
  bool input_done_ = false, stopped_ = false;
  std::size_t written_bytes_ = 0, written_lines_ = 0;
  std::string read_error_, write_error_;
  JsonlSummary summary_;
  std::atomic<std::size_t> output_per_line_{0};  // average output of a line so far

  // The reader's state: touched only by the thread that is reading.
  std::shared_ptr<const Block> block_;
  std::size_t block_at_ = 0, block_end_ = 0;  // next line's start; end of whole lines
  std::string carry_;                         // a line cut by the previous block's end
  // A line longer than a profile may be: its first bytes are kept (so that its
  // evaluation says it is too large) and the rest is dropped as it is read.
  bool dropping_ = false;
  std::size_t dropped_ = 0;
  static constexpr std::size_t kMaxDropped = std::size_t{1} << 30;
  const std::size_t line_limit_;
  std::size_t line_number_ = 0;
  std::size_t bytes_cut_ = 0, lines_cut_ = 0;  // input read so far, for block sizes
  bool more_input_ = true, input_bad_ = false;
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
    return Pipeline(ruleset, options, in, out, messages).run();
  } catch (std::exception const& e) {
    JsonlSummary summary;
    summary.read_error = std::string("internal error: ") + e.what();
    return summary;
  }
}

}  // namespace stimrank

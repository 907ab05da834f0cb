// A small HTTP/1.1 server over Boost.Beast (Debian libboost1.81-dev), internal to
// stimrank_serve: it reads a request (header, then the whole body, in as few reads
// as the kernel allows), hands it to one handler and writes the answer, with
// keep-alive, timeouts, a body limit and a graceful stop. Routing and everything
// CDS Hooks is serve.cpp's; docs/cds-hooks.md says why Beast.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stimrank::serving {

struct HttpRequest {
  std::string method;  // "GET", "POST", …
  std::string path;    // the target without its query
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // A header's value ("" when absent); names compare without case.
  [[nodiscard]] std::string header(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;  // besides the content headers
  void set_content(std::string text, std::string_view type) {
    body = std::move(text);
    content_type = type;
  }
  void set_header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
  }
};

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;          // 0: any free port
  unsigned threads = 1;  // threads that read, handle and write
  std::size_t max_body_bytes = 8u << 20;
  std::chrono::seconds read_timeout{10};  // a started request must arrive whole within this
  std::chrono::seconds idle_timeout{5};   // a keep-alive connection idle this long is closed
  // Answers one request; called on a server thread, several at once.
  std::function<void(const HttpRequest&, HttpResponse&)> handle;
  // The answer to a request that could not be read: 400 (not HTTP), 413 (too large).
  std::function<void(int status, HttpResponse&)> reject;
  std::function<void(int port)> on_listening;
  std::function<void(const std::string& line)> log;  // "METHOD PATH STATUS 1.2 ms"
};

// Listens, then serves until `stop` turns true (checked ten times a second): stops
// accepting, closes idle connections, lets the requests in flight finish, returns.
// "" or why it could not serve. Never throws.
[[nodiscard]] std::string run_http_server(const HttpServerOptions& options,
                                          const std::atomic<bool>& stop) noexcept;

}  // namespace stimrank::serving

// The HTTP/1.1 transport of the CDS Hooks service: Boost.Beast on an io_context run
// by the server's threads. A connection costs a thread only while one of its
// requests is being answered; the body is read into a growing buffer, many kilobytes
// a read, not in fixed small pieces.
#include "http_server.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

namespace stimrank::serving {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

bool same_name(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool is_http_error(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::end_of_stream).category();
}

class Session;

// The open connections, so that a stop can close the idle ones.
class Registry {
 public:
  void add(Session* session, std::weak_ptr<Session> handle) {
    std::lock_guard<std::mutex> lock(mutex_);
    sessions_[session] = std::move(handle);
  }
  void remove(Session* session) {
    std::lock_guard<std::mutex> lock(mutex_);
    sessions_.erase(session);
  }
  std::vector<std::shared_ptr<Session>> live() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::shared_ptr<Session>> out;
    for (auto& [session, handle] : sessions_)
      if (auto alive = handle.lock()) out.push_back(std::move(alive));
    return out;
  }

 private:
  std::mutex mutex_;
  std::map<Session*, std::weak_ptr<Session>> sessions_;
};

struct Shared {
  const HttpServerOptions& options;
  Registry registry;
  std::atomic<bool> stopping{false};
  bool accept_failing = false;  // on the acceptor's strand only
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, Shared& shared) : stream_(std::move(socket)), shared_(shared) {}
  ~Session() { shared_.registry.remove(this); }

  void start() {
    shared_.registry.add(this, weak_from_this());
    // Beast reads as much as the buffer has room for (at least 512 bytes): room for a
    // typical request up front makes a 40 KB call one or two reads, not eighty.
    buffer_.reserve(std::size_t{64} * 1024);
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_header(); });
  }

  // From the stopping thread: an idle connection closes now, a busy one after its answer.
  void stop() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if (self->idle_) self->stream_.cancel();
    });
  }

 private:
  void read_header() {
    if (shared_.stopping.load()) return close();
    parser_.emplace();
    parser_->body_limit(shared_.options.max_body_bytes);
    parser_->header_limit(64 * 1024);
    idle_ = buffer_.size() == 0;
    stream_.expires_after(idle_ ? shared_.options.idle_timeout : shared_.options.read_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    idle_ = false;
    started_ = std::chrono::steady_clock::now();
    if (ec) return failed(ec);
    stream_.expires_after(shared_.options.read_timeout);
    auto& request = parser_->get();
    if (same_name(request[http::field::expect], "100-continue")) {
      // curl and others wait for this before they send a larger body.
      auto proceed = std::make_shared<http::response<http::empty_body>>(http::status::continue_,
                                                                        request.version());
      http::async_write(stream_, *proceed,
                        [self = shared_from_this(), proceed](beast::error_code e, std::size_t) {
                          if (e) return self->close();
                          self->read_body();
                        });
      return;
    }
    read_body();
  }

  void read_body() {
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (ec) return self->failed(ec);
                       self->answer();
                     });
  }

  void answer() {
    http::request<http::string_body> message = parser_->release();
    HttpRequest request;
    request.method = std::string(message.method_string());
    const std::string_view target = message.target();
    request.path = std::string(target.substr(0, target.find('?')));
    request.headers.reserve(8);
    for (const auto& field : message)
      request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    request.body = std::move(message.body());
    HttpResponse response;
    try {
      shared_.options.handle(request, response);
    } catch (...) {
      response = HttpResponse();
      shared_.options.reject(500, response);
    }
    send(request.method, request.path, std::move(response),
         message.keep_alive() && !shared_.stopping.load(), message.version());
  }

  // A request that could not be read: a clean close, or a rejection and then a close.
  void failed(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
        !is_http_error(ec))
      return close();  // the peer left, a timeout, a stop: nothing to answer
    HttpResponse response;
    const int status = ec == http::error::body_limit     ? 413
                       : ec == http::error::header_limit ? 431
                                                         : 400;
    shared_.options.reject(status, response);
    const bool known = parser_ && parser_->is_header_done();
    std::string method = known ? std::string(parser_->get().method_string()) : "-";
    std::string path = known ? std::string(parser_->get().target()) : "-";
    rejected_ = true;
    send(method, path.substr(0, path.find('?')), std::move(response), false, 11);
  }

  void send(const std::string& method, const std::string& path, HttpResponse&& answer,
            bool keep_alive, unsigned version) {
    response_.emplace();
    auto& out = *response_;
    out.version(version);
    out.result(static_cast<unsigned>(answer.status));
    for (auto& [name, value] : answer.headers) out.insert(name, value);
    if (!answer.content_type.empty()) out.set(http::field::content_type, answer.content_type);
    out.body() = std::move(answer.body);
    out.keep_alive(keep_alive);
    out.prepare_payload();
    if (shared_.options.log) {
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_)
              .count();
      char tail[64];
      std::snprintf(tail, sizeof tail, " %d %.1f ms", answer.status, ms);
      shared_.options.log(method + " " + path + tail);
    }
    stream_.expires_after(shared_.options.read_timeout);
    http::async_write(stream_, out,
                      [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
                        self->response_.reset();
                        if (!ec && self->rejected_) return self->drain_and_close();
                        if (ec || !keep_alive) return self->close();
                        self->read_header();
                      });
  }

  // After a rejection: the client may still be sending the body it announced. Closing
  // with unread bytes would reset the connection before it reads the answer, so the
  // rest is read and dropped (bounded in bytes and time) before the close.
  void drain_and_close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(std::chrono::seconds(5));
    drain();
  }

  void drain() {
    scratch_.resize(std::size_t{64} * 1024);
    stream_.async_read_some(net::buffer(scratch_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > (std::size_t{64} << 20))
                                return self->close();
                              self->drain();
                            });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  Shared& shared_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> response_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  bool idle_ = false;
  bool rejected_ = false;
  std::vector<char> scratch_;
  std::size_t drained_ = 0;
};

void accept(tcp::acceptor& acceptor, net::io_context& context, Shared& shared) {
  acceptor.async_accept(net::make_strand(context), [&](beast::error_code ec, tcp::socket socket) {
    if (!acceptor.is_open()) return;
    if (!ec) {
      shared.accept_failing = false;
      beast::error_code ignored;
      // Without TCP_NODELAY an answer waits for the client's delayed ACK: 40 ms each.
      socket.set_option(tcp::no_delay(true), ignored);
      std::make_shared<Session>(std::move(socket), shared)->start();
      accept(acceptor, context, shared);
      return;
    }
    // Out of file descriptors (or memory): the pending connection stays queued, so
    // accepting again at once fails again, a core spinning until connections close.
    // Wait 100 ms between tries, and say it once for each run of failures.
    if (!shared.accept_failing && shared.options.log)
      shared.options.log("cannot accept a connection (" + ec.message() +
                         "): trying again every 100 ms");
    shared.accept_failing = true;
    auto timer = std::make_shared<net::steady_timer>(acceptor.get_executor(),
                                                     std::chrono::milliseconds(100));
    timer->async_wait([&, timer](beast::error_code) {
      if (acceptor.is_open()) accept(acceptor, context, shared);
    });
  });
}

}  // namespace

std::string HttpRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (same_name(key, name)) return value;
  return {};
}

std::string run_http_server(const HttpServerOptions& options,
                            const std::atomic<bool>& stop) noexcept {
  try {
    const unsigned threads = std::max(1u, options.threads);
    net::io_context context(static_cast<int>(threads));
    tcp::acceptor acceptor(net::make_strand(context));
    beast::error_code ec;
    tcp::resolver resolver(context);
    auto endpoints = resolver.resolve(options.host, std::to_string(options.port), ec);
    if (ec || endpoints.empty()) return "cannot resolve " + options.host + ": " + ec.message();
    const tcp::endpoint endpoint = endpoints.begin()->endpoint();
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec)
      return "cannot listen on " + options.host + ":" + std::to_string(options.port) + ": " +
             ec.message();
    Shared shared{options, {}, {}};
    if (options.on_listening) options.on_listening(acceptor.local_endpoint().port());
    accept(acceptor, context, shared);
    std::vector<std::thread> workers;
    std::atomic<bool> failed{false};
    for (unsigned i = 0; i < threads; ++i)
      workers.emplace_back([&] {
        try {
          context.run();
        } catch (...) {
          failed.store(true);
        }
      });
    while (!stop.load() && !failed.load())
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    shared.stopping.store(true);
    net::post(acceptor.get_executor(), [&acceptor] {
      beast::error_code ignored;
      acceptor.close(ignored);
    });
    for (const auto& session : shared.registry.live()) session->stop();
    for (std::thread& worker : workers) worker.join();
    return failed.load() ? "the server stopped on an error" : "";
  } catch (const std::exception& e) {
    return std::string("internal error: ") + e.what();
  }
}

}  // namespace stimrank::serving

// SPDX-License-Identifier: Apache-2.0
#include "control/management.hpp"

#include <civetweb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "control/http_stop.hpp"
#include "control/log.hpp"

namespace viaduct::ctl {
namespace {

// A reload compiles the script and resolves destination names: give the control thread time.
constexpr std::chrono::milliseconds kAnswerTimeout{30000};
constexpr const char* kHttpThreads = "8";
constexpr const char* kHttpTimeoutMs = "5000";
constexpr size_t kMaxRequest = 1 << 20;   // HTTP body
constexpr size_t kMaxDatagram = 65536;    // one unix datagram request
constexpr int kDgramSendBuf = 4 << 20;    // replies go out in one datagram

void send_http(mg_connection* conn, int status, const char* type, const std::string& body) {
  mg_response_header_start(conn, status);
  mg_response_header_add(conn, "Content-Type", type, -1);
  mg_response_header_add(conn, "Content-Length", std::to_string(body.size()).c_str(), -1);
  if (status == 405) {
    mg_response_header_add(conn, "Allow", "POST", -1);
  }
  mg_response_header_send(conn);
  mg_write(conn, body.data(), body.size());
}

}  // namespace

RpcReply RpcInbox::call(std::string request, std::chrono::milliseconds timeout) {
  auto p = std::make_shared<Pending>();
  p->request = std::move(request);
  std::future<RpcReply> answer = p->reply.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) {
      return rpc_unavailable("Shutting down");
    }
    queue_.push_back(p);
  }
  if (answer.wait_for(timeout) != std::future_status::ready) {
    return rpc_unavailable("Timeout: the control thread did not answer");
  }
  return answer.get();
}

void RpcInbox::serve(const std::function<RpcReply(std::string_view)>& serve) {
  std::deque<std::shared_ptr<Pending>> work;
  {
    std::lock_guard<std::mutex> lock(mu_);
    work.swap(queue_);
  }
  for (const auto& p : work) {
    p->reply.set_value(serve(p->request));
  }
}

void RpcInbox::close() {
  std::deque<std::shared_ptr<Pending>> work;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    work.swap(queue_);
  }
  for (const auto& p : work) {
    p->reply.set_value(rpc_unavailable("Shutting down"));
  }
}

int ManagementServer::on_http(mg_connection* conn, void* self) {
  auto* server = static_cast<ManagementServer*>(self);
  const mg_request_info* ri = mg_get_request_info(conn);
  const std::string_view uri = ri->local_uri != nullptr ? ri->local_uri : "";
  if (uri != "/" && uri != "/RPC" && uri.rfind("/RPC/", 0) != 0) {
    send_http(conn, 404, "text/plain", "not found: JSON-RPC is served on /RPC and /\n");
    return 404;
  }
  if (std::strcmp(ri->request_method, "POST") != 0) {
    send_http(conn, 405, "text/plain", "POST a JSON-RPC 2.0 request\n");
    return 405;
  }
  if (ri->content_length > static_cast<long long>(kMaxRequest)) {
    send_http(conn, 413, "text/plain", "request larger than 1 MiB\n");
    return 413;
  }
  std::string body;
  char buf[8192];
  int n = 0;
  while ((n = mg_read(conn, buf, sizeof(buf))) > 0) {
    body.append(buf, static_cast<size_t>(n));
    if (body.size() > kMaxRequest) {
      send_http(conn, 413, "text/plain", "request larger than 1 MiB\n");
      return 413;
    }
  }
  const RpcReply r = server->inbox_.call(std::move(body), kAnswerTimeout);
  send_http(conn, r.http_status, "application/json", r.body);
  return r.http_status;
}

void ManagementServer::datagram_loop() {
  std::vector<char> buf(kMaxDatagram);
  while (!stop_.load(std::memory_order_relaxed)) {
    pollfd pfd{dgram_fd_, POLLIN, 0};
    if (poll(&pfd, 1, 100) <= 0) {
      continue;
    }
    sockaddr_un from{};
    socklen_t from_len = sizeof(from);
    const ssize_t n = recvfrom(dgram_fd_, buf.data(), buf.size(), MSG_TRUNC,
                               reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 0) {
      continue;
    }
    // A client that did not bind an address cannot be answered (kamcli binds one).
    const bool can_answer = from_len > sizeof(sa_family_t);
    RpcReply r;
    if (static_cast<size_t>(n) > buf.size()) {
      r = rpc_unavailable("Request larger than 64 KiB");
    } else {
      r = inbox_.call(std::string(buf.data(), static_cast<size_t>(n)), kAnswerTimeout);
    }
    if (!can_answer) {
      continue;
    }
    // Never blocking: a client that does not read its replies fills its queue (10 datagrams by
    // default, net.unix.max_dgram_qlen), and a blocking sendto() then waited for it for good,
    // with this thread, every other kamcli and the daemon's shutdown behind it. Its reply is
    // dropped instead.
    if (sendto(dgram_fd_, r.body.data(), r.body.size(), MSG_DONTWAIT,
               reinterpret_cast<sockaddr*>(&from), from_len) < 0 &&
        errno == EMSGSIZE) {
      r = rpc_unavailable("Reply too large for one datagram; use the HTTP transport");
      sendto(dgram_fd_, r.body.data(), r.body.size(), MSG_DONTWAIT,
             reinterpret_cast<sockaddr*>(&from), from_len);
    }
  }
}

Result<std::unique_ptr<ManagementServer>> ManagementServer::start(const std::string& http_listen,
                                                                  const std::string& socket_path,
                                                                  RpcInbox& inbox) {
  std::unique_ptr<ManagementServer> s(new ManagementServer(inbox));
  if (!http_listen.empty()) {
    // Threads and a short socket timeout (for reading a request and writing its answer; the
    // answer itself may wait kAnswerTimeout for the control thread): with 2 threads and 35 s,
    // two or three idle connections locked the API out for 35 s.
    const char* options[] = {"listening_ports",    http_listen.c_str(),
                             "num_threads",        kHttpThreads,
                             "request_timeout_ms", kHttpTimeoutMs,
                             nullptr};
    mg_callbacks callbacks{};
    mg_init_data init{};
    init.callbacks = &callbacks;
    init.configuration_options = options;
    char why[256] = "";
    unsigned code = 0;
    mg_error_data err{};
    err.code = &code;
    err.text = why;
    err.text_buffer_size = sizeof(why);
    s->http_ = mg_start2(&init, &err);
    if (s->http_ == nullptr) {
      return Error{Error::Code::kIo,
                   "cannot serve the management API on " + http_listen + ": " + why, ""};
    }
    s->http_listen_ = http_listen;
    mg_set_request_handler(s->http_, "/", &ManagementServer::on_http, s.get());
  }
  if (!socket_path.empty()) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (socket_path.size() >= sizeof(addr.sun_path)) {
      return Error{Error::Code::kInvalidConfig, "management socket path too long: " + socket_path,
                   ""};
    }
    std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
    struct stat st{};
    if (lstat(socket_path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) {
        return Error{Error::Code::kIo,
                     "management socket " + socket_path + " exists and is not a socket", ""};
      }
      // Left by a previous run, or the socket of one running now (a second instance with the
      // same settings): only a socket nobody listens on (connect() refused) is removed.
      const int probe = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      const bool live =
          probe >= 0 && connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
      if (probe >= 0) {
        ::close(probe);
      }
      if (live) {
        return Error{Error::Code::kIo,
                     "management socket " + socket_path +
                         " is in use by a running process (another viaduct?)",
                     ""};
      }
      unlink(socket_path.c_str());
    }
    s->dgram_fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s->dgram_fd_ < 0 ||
        bind(s->dgram_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      return Error{Error::Code::kIo,
                   "cannot bind the management socket " + socket_path + ": " +
                       std::strerror(errno),
                   ""};
    }
    s->dgram_path_ = socket_path;
    struct stat mine{};
    if (stat(socket_path.c_str(), &mine) == 0) {
      s->dgram_dev_ = mine.st_dev;
      s->dgram_ino_ = mine.st_ino;
    }
    chmod(socket_path.c_str(), 0660);
    setsockopt(s->dgram_fd_, SOL_SOCKET, SO_SNDBUF, &kDgramSendBuf, sizeof(kDgramSendBuf));
    s->dgram_thread_ = std::thread([srv = s.get()] { srv->datagram_loop(); });
  }
  return s;
}

ManagementServer::~ManagementServer() {
  stop_.store(true);
  if (http_ != nullptr) {
    std::vector<int> ports;
    mg_server_port sp[4]{};
    const int n = mg_get_server_ports(http_, 4, sp);
    for (int i = 0; i < n; ++i) {
      ports.push_back(sp[i].port);
    }
    stop_listener(http_listen_, ports, [this] { mg_stop(http_); });
  }
  if (dgram_thread_.joinable()) {
    dgram_thread_.join();
  }
  if (dgram_fd_ >= 0) {
    ::close(dgram_fd_);
  }
  // Ours only: not a socket another process bound at the path since.
  struct stat st{};
  if (!dgram_path_.empty() && stat(dgram_path_.c_str(), &st) == 0 && st.st_dev == dgram_dev_ &&
      st.st_ino == dgram_ino_) {
    unlink(dgram_path_.c_str());
  }
}

}  // namespace viaduct::ctl

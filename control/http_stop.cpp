// SPDX-License-Identifier: Apache-2.0
#include "control/http_stop.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace viaduct::ctl {

std::string wake_address(std::string_view listen) {
  if (const size_t comma = listen.find(','); comma != std::string_view::npos) {
    listen = listen.substr(0, comma);  // several listeners: the first one's family
  }
  if (!listen.empty() && listen.front() == '[') {
    const size_t close = listen.find(']');
    const std::string_view host =
        listen.substr(1, close == std::string_view::npos ? 0 : close - 1);
    return host.empty() || host == "::" ? "::1" : std::string(host);
  }
  const size_t colon = listen.rfind(':');
  if (colon == std::string_view::npos) {
    return "127.0.0.1";  // "port" or "+port": every IPv4 address (and IPv6 for '+')
  }
  const std::string_view host = listen.substr(0, colon);
  return host.empty() || host == "0.0.0.0" ? "127.0.0.1" : std::string(host);
}

namespace {

// One connection to host:port, closed at once; failures do not matter (the next try comes
// 10 ms later, and a listener already gone refuses it).
void knock(const std::string& host, int port) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (auto* a4 = reinterpret_cast<sockaddr_in*>(&ss);
      inet_pton(AF_INET, host.c_str(), &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof(sockaddr_in);
  } else if (auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
             inet_pton(AF_INET6, host.c_str(), &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof(sockaddr_in6);
  } else {
    return;
  }
  const int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return;
  }
  const timeval tv{0, 100000};  // bounds connect() when the listener's backlog is full
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  static_cast<void>(connect(fd, reinterpret_cast<sockaddr*>(&ss), len));
  close(fd);
}

}  // namespace

void stop_listener(std::string_view listen, const std::vector<int>& ports,
                   const std::function<void()>& stop) {
  if (ports.empty()) {
    stop();
    return;
  }
  std::atomic<bool> done{false};
  std::thread waker([&done, host = wake_address(listen), &ports] {
    while (!done.load(std::memory_order_relaxed)) {
      for (const int p : ports) {
        knock(host, p);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  stop();
  done.store(true, std::memory_order_relaxed);
  waker.join();
}

}  // namespace viaduct::ctl

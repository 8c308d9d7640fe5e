// SPDX-License-Identifier: Apache-2.0
// tests/support/sockets.hpp: loopback TCP for the tests of the HTTP listeners (management API,
// /metrics).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>

namespace viaduct::test {

// A TCP connection to 127.0.0.1:port; -1 when refused.
inline int connect_loopback(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Sends `data` whole; false when it could not.
inline bool send_all(int fd, const std::string& data) {
  return fd >= 0 && send(fd, data.data(), data.size(), 0) == static_cast<ssize_t>(data.size());
}

// What fd gives until it closes, or until nothing comes for timeout_ms.
inline std::string recv_all(int fd, int timeout_ms) {
  std::string out;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) != 1) {
      break;
    }
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

}  // namespace viaduct::test

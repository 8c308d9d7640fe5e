// SPDX-License-Identifier: Apache-2.0
// The management API's transports on real sockets (loopback HTTP, a unix datagram socket in a
// temporary directory), with a test thread in the control thread's place. And its settings.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include "cfg/settings.hpp"
#include "control/management.hpp"

namespace viaduct::ctl {
namespace {

// Plays the control thread: answers every request with its own text, wrapped.
class Serving {
 public:
  explicit Serving(RpcInbox& inbox) : inbox_(inbox), t_([this] { loop(); }) {}
  ~Serving() {
    stop_ = true;
    t_.join();
  }

 private:
  void loop() {
    while (!stop_) {
      inbox_.serve([](std::string_view req) {
        return RpcReply{req == "fail" ? 500 : 200, "echo:" + std::string(req)};
      });
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  RpcInbox& inbox_;
  std::atomic<bool> stop_{false};
  std::thread t_;
};

// One HTTP/1.0 exchange with 127.0.0.1:port; returns the whole response ("" on error).
std::string http(uint16_t port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size())) {
    char buf[4096];
    for (int i = 0; i < 100; ++i) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 5000) <= 0) {
        break;
      }
      const ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) {
        break;
      }
      out.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  return out;
}

std::string post(uint16_t port, const std::string& path, const std::string& body) {
  return http(port, "POST " + path + " HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\n"
                    "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
}

uint16_t test_port() { return static_cast<uint16_t>(20000 + getpid() % 20000); }

TEST(ManagementServer, HttpPostOnRpcAndRoot) {
  RpcInbox inbox;
  Serving serving(inbox);
  const uint16_t port = test_port();
  auto s = ManagementServer::start("127.0.0.1:" + std::to_string(port), "", inbox);
  ASSERT_TRUE(s) << s.error().message;

  std::string r = post(port, "/RPC", "hello");
  EXPECT_EQ(r.rfind("HTTP/1.0 200", 0), 0u) << r;
  EXPECT_NE(r.find("Content-Type: application/json"), std::string::npos) << r;
  EXPECT_NE(r.find("\r\n\r\necho:hello"), std::string::npos) << r;

  r = post(port, "/", "root");
  EXPECT_NE(r.find("echo:root"), std::string::npos) << r;

  r = post(port, "/RPC", "fail");
  EXPECT_EQ(r.rfind("HTTP/1.0 500", 0), 0u) << r;
  EXPECT_NE(r.find("echo:fail"), std::string::npos) << r;

  r = post(port, "/other", "x");
  EXPECT_EQ(r.rfind("HTTP/1.0 404", 0), 0u) << r;

  r = http(port, "GET /RPC HTTP/1.0\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.0 405", 0), 0u) << r;
  EXPECT_NE(r.find("Allow: POST"), std::string::npos) << r;
  inbox.close();
}

TEST(ManagementServer, PortInUseFailsToStart) {
  RpcInbox inbox;
  const uint16_t port = static_cast<uint16_t>(test_port() + 1);
  auto first = ManagementServer::start("127.0.0.1:" + std::to_string(port), "", inbox);
  ASSERT_TRUE(first) << first.error().message;
  auto second = ManagementServer::start("127.0.0.1:" + std::to_string(port), "", inbox);
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("127.0.0.1:" + std::to_string(port)), std::string::npos);
  inbox.close();
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/vd-mgmt-test.XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(ManagementServer, UnixDatagramLikeKamcli) {
  RpcInbox inbox;
  Serving serving(inbox);
  TempDir dir;
  const std::string srv = dir.path() + "/viaduct_rpc.sock";
  auto s = ManagementServer::start("", srv, inbox);
  ASSERT_TRUE(s) << s.error().message;

  // kamcli binds its own reply address, sends one datagram and reads one datagram back.
  const int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
  sockaddr_un me{};
  me.sun_family = AF_UNIX;
  const std::string mine = dir.path() + "/client.sock";
  std::strcpy(me.sun_path, mine.c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&me), sizeof(me)), 0);
  sockaddr_un to{};
  to.sun_family = AF_UNIX;
  std::strcpy(to.sun_path, srv.c_str());
  const std::string req = R"({"jsonrpc":"2.0","method":"core.version","id":1})";
  ASSERT_EQ(sendto(fd, req.data(), req.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)),
            static_cast<ssize_t>(req.size()));
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 5000), 1);
  char buf[4096];
  const ssize_t n = recv(fd, buf, sizeof(buf), 0);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), "echo:" + req);
  close(fd);

  inbox.close();
  s->reset();
  EXPECT_FALSE(std::filesystem::exists(srv)) << "the socket file is removed at stop";
}

TEST(ManagementServer, RefusesToReplaceAFile) {
  RpcInbox inbox;
  TempDir dir;
  const std::string path = dir.path() + "/not-a-socket";
  { std::FILE* f = std::fopen(path.c_str(), "w"); std::fclose(f); }
  auto s = ManagementServer::start("", path, inbox);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("is not a socket"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(path));
}

const char* kBase = R"([dpdk]
eal_args = ["--no-huge"]
[[interface]]
port = "net_null0"
address = "10.0.0.2/24"
)";

TEST(ManagementSettings, OffByDefault) {
  cfg::Settings s;
  cfg::Diagnostics d;
  ASSERT_TRUE(cfg::parse_settings(kBase, "v.toml", s, d));
  EXPECT_EQ(s.management_listen, "");
  EXPECT_EQ(s.management_socket, "");
}

TEST(ManagementSettings, ListenAndSocket) {
  cfg::Settings s;
  cfg::Diagnostics d;
  ASSERT_TRUE(cfg::parse_settings(std::string(kBase) + "[management]\nlisten = \"127.0.0.1:5065\"\n"
                                                       "socket = \"/run/viaduct/rpc.sock\"\n",
                                  "v.toml", s, d));
  EXPECT_EQ(s.management_listen, "127.0.0.1:5065");
  EXPECT_EQ(s.management_socket, "/run/viaduct/rpc.sock");
}

TEST(ManagementSettings, Errors) {
  struct Case {
    const char* toml;
    const char* msg;
  };
  const Case cases[] = {
      {"[management]\nlisten = \"localhost\"\n", "7:10: error: 'listen' must be \"address:port\""},
      {"[management]\nport = 5065\n", "7:1: error: unknown key 'port' in [management]"},
      {"[management]\nsocket = 5\n", "'socket' must be a string"},
  };
  for (const Case& c : cases) {
    cfg::Settings s;
    cfg::Diagnostics d;
    EXPECT_FALSE(cfg::parse_settings(std::string(kBase) + c.toml, "v.toml", s, d)) << c.toml;
    ASSERT_FALSE(d.empty()) << c.toml;
    EXPECT_NE(d[0].str().find(c.msg), std::string::npos) << d[0].str();
  }
  cfg::Settings s;
  cfg::Diagnostics d;
  EXPECT_FALSE(cfg::parse_settings("management = 1\n" + std::string(kBase), "v.toml", s, d));
  ASSERT_FALSE(d.empty());
  EXPECT_NE(d[0].str().find("'management' must be a table"), std::string::npos) << d[0].str();
  d.clear();
  EXPECT_FALSE(cfg::parse_settings(std::string(kBase) + "[management]\nsocket = \"/" +
                                       std::string(200, 'x') + "\"\n",
                                   "v.toml", s, d));
}

}  // namespace
}  // namespace viaduct::ctl

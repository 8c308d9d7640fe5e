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
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "cfg/settings.hpp"
#include "control/management.hpp"
#include "tests/support/sockets.hpp"

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
  const int fd = test::connect_loopback(port);
  const std::string out = test::send_all(fd, request) ? test::recv_all(fd, 5000) : "";
  if (fd >= 0) {
    close(fd);
  }
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

// A unix datagram client bound to an address, for the tests below.
struct DgramClient {
  DgramClient(const std::string& path) : fd(socket(AF_UNIX, SOCK_DGRAM, 0)) {
    sockaddr_un me{};
    me.sun_family = AF_UNIX;
    std::strcpy(me.sun_path, path.c_str());
    ok = fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&me), sizeof(me)) == 0;
  }
  ~DgramClient() { close(fd); }
  bool send_to(const std::string& srv, const std::string& req) const {
    sockaddr_un to{};
    to.sun_family = AF_UNIX;
    std::strcpy(to.sun_path, srv.c_str());
    return sendto(fd, req.data(), req.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)) ==
           static_cast<ssize_t>(req.size());
  }
  std::string reply(int timeout_ms) const {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) != 1) {
      return "";
    }
    char buf[4096];
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }
  int fd;
  bool ok = false;
};

TEST(ManagementServer, UnixDatagramLikeKamcli) {
  RpcInbox inbox;
  Serving serving(inbox);
  TempDir dir;
  const std::string srv = dir.path() + "/viaduct_rpc.sock";
  auto s = ManagementServer::start("", srv, inbox);
  ASSERT_TRUE(s) << s.error().message;

  // kamcli binds its own reply address, sends one datagram and reads one datagram back.
  {
    DgramClient kamcli(dir.path() + "/client.sock");
    ASSERT_TRUE(kamcli.ok);
    const std::string req = R"({"jsonrpc":"2.0","method":"core.version","id":1})";
    ASSERT_TRUE(kamcli.send_to(srv, req));
    EXPECT_EQ(kamcli.reply(5000), "echo:" + req);
  }

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

// A client that sends and never reads fills its receive queue (10 datagrams by default); the
// server's blocking sendto() then waited for it for good: no other kamcli was answered, and
// the daemon's shutdown waited too. Its replies are dropped now; others are answered, and the
// server stops at once.
TEST(ManagementServer, AClientThatNeverReadsHoldsNobodyUp) {
  RpcInbox inbox;
  Serving serving(inbox);
  TempDir dir;
  const std::string srv = dir.path() + "/viaduct_rpc.sock";
  auto s = ManagementServer::start("", srv, inbox);
  ASSERT_TRUE(s) << s.error().message;
  DgramClient deaf(dir.path() + "/deaf.sock");
  ASSERT_TRUE(deaf.ok);
  for (int i = 0; i < 200; ++i) {
    deaf.send_to(srv, "ping");
  }
  DgramClient kamcli(dir.path() + "/kamcli.sock");
  ASSERT_TRUE(kamcli.ok);
  ASSERT_TRUE(kamcli.send_to(srv, "core.version"));
  std::string got;
  for (int i = 0; i < 100 && got.empty(); ++i) {  // behind at most 200 answered pings
    got = kamcli.reply(100);
  }
  EXPECT_EQ(got, "echo:core.version");
  inbox.close();
  const auto t0 = std::chrono::steady_clock::now();
  s->reset();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

// A second instance started with the same socket path must not take the running one's socket
// (it used to remove it as "stale" and bind its own, and remove that at exit): it fails, and
// the running one keeps answering.
TEST(ManagementServer, ASocketInUseIsNotTaken) {
  RpcInbox inbox;
  Serving serving(inbox);
  TempDir dir;
  const std::string srv = dir.path() + "/viaduct_rpc.sock";
  auto first = ManagementServer::start("", srv, inbox);
  ASSERT_TRUE(first) << first.error().message;
  RpcInbox inbox2;
  auto second = ManagementServer::start("", srv, inbox2);
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("in use"), std::string::npos) << second.error().message;
  DgramClient kamcli(dir.path() + "/kamcli.sock");
  ASSERT_TRUE(kamcli.ok);
  ASSERT_TRUE(kamcli.send_to(srv, "core.version"));
  EXPECT_EQ(kamcli.reply(5000), "echo:core.version");
  inbox.close();
  first->reset();
  // A socket file left by a run that is gone is taken over.
  {
    const int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strcpy(a.sun_path, srv.c_str());
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    close(fd);  // the file stays, nobody listens
  }
  RpcInbox inbox3;
  auto third = ManagementServer::start("", srv, inbox3);
  EXPECT_TRUE(third) << (third ? "" : third.error().message);
  inbox3.close();
}

// Connections that sent half a request held the API's two threads for 35 s: three of them
// locked every other client out. More threads and a 5 s socket timeout keep it answering.
TEST(ManagementServer, IdleConnectionsDoNotLockTheApiOut) {
  RpcInbox inbox;
  Serving serving(inbox);
  const uint16_t port = static_cast<uint16_t>(test_port() + 7);
  auto s = ManagementServer::start("127.0.0.1:" + std::to_string(port), "", inbox);
  ASSERT_TRUE(s) << s.error().message;
  std::vector<int> idle;
  for (int i = 0; i < 3; ++i) {
    idle.push_back(test::connect_loopback(port));
    ASSERT_TRUE(test::send_all(idle.back(), "POST /RPC HTTP/1.1\r\nHost: x\r\n"));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const std::string r = post(port, "/RPC", "core.version");
  EXPECT_NE(r.find("echo:core.version"), std::string::npos) << r;
  for (int fd : idle) {
    close(fd);
  }
  inbox.close();
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

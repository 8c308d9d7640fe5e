// SPDX-License-Identifier: Apache-2.0
// tools/viaduct_gen.cpp: viaduct-gen, a SIP traffic generator and reflector over kernel UDP
// sockets, for the benchmarks, the Kamailio comparison and the demo.
//
//   viaduct-gen send --target IP:PORT --bind IP:PORT [--kind invite|options|register|mix]
//                    [--count N] [--rate R] [--size BYTES] [--linger S] [--json]
//   viaduct-gen reflect --bind IP:PORT [--mode answer|sink] [--duration S] [--json]
//
// send: N requests (or N calls for `mix`) at R per second (0: as fast as the socket takes
// them), each with its own Call-ID, From tag and branch; counts the replies that come back.
// A `mix` call is INVITE, then ACK and BYE once the INVITE's 200 arrives: through a proxy and a
// reflector in answer mode that is 7 messages (INVITE 100 180 200 ACK BYE 200).
// reflect: answers requests as a backend would (answer: 100, 180, 200 to an INVITE, 200 to any
// other request but ACK) or only counts them (sink). Replies go to the datagram's source.
// Both print one JSON object of counters at the end (--json) or a readable summary.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/sip/sip.hpp"
#include "tools/gen_message.hpp"

namespace {

using Clock = std::chrono::steady_clock;
namespace sip = viaduct::sip;

std::atomic<bool> g_stop{false};

void on_signal(int) { g_stop.store(true); }

struct Endpoint {
  std::string ip;
  uint16_t port = 5060;
  sockaddr_in sa{};
  std::string str() const { return ip + ":" + std::to_string(port); }
};

bool parse_endpoint(const std::string& s, Endpoint& e) {
  if (!viaduct::tools::split_host_port(s, e.ip, e.port)) {
    return false;
  }
  e.sa.sin_family = AF_INET;
  e.sa.sin_port = htons(e.port);
  return inet_pton(AF_INET, e.ip.c_str(), &e.sa.sin_addr) == 1;
}

int open_socket(const Endpoint& bind_to) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    std::perror("viaduct-gen: socket");
    return -1;
  }
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const int buf = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&bind_to.sa), sizeof bind_to.sa) != 0) {
    std::perror("viaduct-gen: bind");
    close(fd);
    return -1;
  }
  return fd;
}

// Batched receive: up to kBatch datagrams per call.
constexpr unsigned kBatch = 64;
constexpr size_t kMaxDatagram = 65535;

struct RxBatch {
  std::vector<char> data = std::vector<char>(kBatch * kMaxDatagram);
  mmsghdr msgs[kBatch]{};
  iovec iov[kBatch]{};
  sockaddr_in from[kBatch]{};

  int recv(int fd) {
    for (unsigned i = 0; i < kBatch; ++i) {
      iov[i] = {data.data() + i * kMaxDatagram, kMaxDatagram};
      msgs[i].msg_hdr = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &from[i];
      msgs[i].msg_hdr.msg_namelen = sizeof from[i];
    }
    return recvmmsg(fd, msgs, kBatch, MSG_DONTWAIT, nullptr);
  }
  const char* msg(unsigned i) const { return data.data() + i * kMaxDatagram; }
  size_t len(unsigned i) const { return msgs[i].msg_len; }
};

// Batched send of owned strings.
struct TxBatch {
  std::vector<std::string> bufs;
  std::vector<sockaddr_in> to;
  uint64_t sent = 0;
  uint64_t failed = 0;

  void add(std::string m, const sockaddr_in& dst) {
    bufs.push_back(std::move(m));
    to.push_back(dst);
  }
  void flush(int fd) {
    size_t done = 0;
    const auto deadline = Clock::now() + std::chrono::milliseconds(200);
    while (done < bufs.size()) {
      mmsghdr msgs[kBatch]{};
      iovec iov[kBatch]{};
      const size_t n = std::min<size_t>(kBatch, bufs.size() - done);
      for (size_t i = 0; i < n; ++i) {
        iov[i] = {bufs[done + i].data(), bufs[done + i].size()};
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &to[done + i];
        msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
      }
      const int r = sendmmsg(fd, msgs, static_cast<unsigned>(n), MSG_DONTWAIT);
      if (r > 0) {
        done += static_cast<size_t>(r);
        sent += static_cast<uint64_t>(r);
        continue;
      }
      if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) {
        // e.g. ECONNREFUSED from an earlier ICMP: count the datagram as failed, go on.
        ++failed;
        ++done;
        continue;
      }
      if (Clock::now() > deadline) {  // the socket stays full: drop the rest, counted
        failed += bufs.size() - done;
        break;
      }
      pollfd p{fd, POLLOUT, 0};
      poll(&p, 1, 10);
    }
    bufs.clear();
    to.clear();
  }
};

struct SendOptions {
  Endpoint target;
  Endpoint local;
  std::string kind = "invite";
  uint64_t count = 1000;
  double rate = 1000;
  size_t size = 900;
  double linger = 2.0;
  bool json = false;
};

class Sender {
 public:
  explicit Sender(const SendOptions& o) : o_(o), pid_(std::to_string(getpid())) {}

  std::string request(std::string_view method, uint64_t n, uint32_t cseq,
                      const std::string& to_value, const std::string& suffix) const {
    const viaduct::tools::GenAddrs a{o_.target.str(), o_.local.str(), o_.local.ip, pid_};
    return viaduct::tools::gen_request(a, method, n, cseq, to_value, suffix, o_.size);
  }

  std::string first(uint64_t n) const {
    if (o_.kind == "options") {
      return request("OPTIONS", n, 1, "<sip:" + o_.target.str() + ">", "");
    }
    if (o_.kind == "register") {
      const std::string aor = "<sip:user" + std::to_string(n) + "@" + o_.local.ip + ">";
      return request("REGISTER", n, 1, aor, "");
    }
    return request("INVITE", n, 1, "service <sip:service@" + o_.target.str() + ">", "");
  }

  int run() {
    const int fd = open_socket(o_.local);
    if (fd < 0) {
      return 1;
    }
    RxBatch rx;
    TxBatch tx;
    const auto t0 = Clock::now();
    uint64_t started = 0;
    auto last_rx = Clock::now();
    bool done_sending = false;
    while (!g_stop.load()) {
      const auto now = Clock::now();
      const double elapsed = std::chrono::duration<double>(now - t0).count();
      if (started < o_.count) {
        const uint64_t due =
            o_.rate <= 0 ? o_.count : std::min<uint64_t>(o_.count, static_cast<uint64_t>(elapsed * o_.rate) + 1);
        for (uint64_t k = 0; started < due && k < kBatch; ++k) {
          tx.add(first(started), o_.target.sa);
          ++started;
        }
      } else if (!done_sending) {
        done_sending = true;
        sent_done_ = now;
        last_rx = now;
      }
      tx.flush(fd);
      const int r = rx.recv(fd);
      for (int i = 0; i < r; ++i) {
        on_reply(rx.msg(static_cast<unsigned>(i)), rx.len(static_cast<unsigned>(i)), tx);
      }
      if (r > 0) {
        last_rx = Clock::now();
      }
      tx.flush(fd);
      if (done_sending &&
          std::chrono::duration<double>(Clock::now() - last_rx).count() > o_.linger) {
        break;  // nothing more came back for `linger` seconds
      }
      if (r <= 0 && (done_sending || started >= o_.count ||
                     (o_.rate > 0 && static_cast<double>(started) > elapsed * o_.rate))) {
        pollfd p{fd, POLLIN, 0};
        poll(&p, 1, 1);
      }
    }
    if (!done_sending) {
      sent_done_ = Clock::now();
    }
    close(fd);
    const double send_s = std::chrono::duration<double>(sent_done_ - t0).count();
    requests_sent_ = tx.sent;
    print(started, send_s, tx.failed);
    return tx.failed == 0 ? 0 : 3;
  }

 private:
  void on_reply(const char* msg, size_t len, TxBatch& tx) {
    sip::SipView v;
    if (sip::scan(msg, len, v) != sip::ScanStatus::kOk || v.is_request) {
      ++malformed_;
      return;
    }
    ++replies_;
    ++by_code_[v.status];
    if (o_.kind != "mix" || v.status < 200) {
      return;
    }
    const std::string_view call_id = v.call_id.in(msg);
    const uint64_t n = std::strtoull(std::string(call_id).c_str(), nullptr, 10);
    if (v.method == sip::Method::kInvite && v.status < 300) {
      const std::string to(v[sip::Hdr::kTo].in(msg));
      std::string ack = request("ACK", n, 1, to, "-ack");
      std::string bye = request("BYE", n, 2, to, "-bye");
      tx.add(std::move(ack), o_.target.sa);
      tx.add(std::move(bye), o_.target.sa);
    } else if (v.method == sip::Method::kBye && v.status < 300) {
      ++calls_completed_;
    }
  }

  void print(uint64_t started, double send_s, uint64_t failed) const {
    if (o_.json) {
      std::printf("{\"kind\": \"%s\", \"started\": %llu, \"datagrams_sent\": %llu, "
                  "\"send_failed\": %llu, \"send_seconds\": %.6f, \"send_rate\": %.1f, "
                  "\"replies\": %llu, \"calls_completed\": %llu, \"malformed\": %llu, "
                  "\"by_status\": {",
                  o_.kind.c_str(), static_cast<unsigned long long>(started),
                  static_cast<unsigned long long>(requests_sent_),
                  static_cast<unsigned long long>(failed), send_s,
                  send_s > 0 ? static_cast<double>(started) / send_s : 0.0,
                  static_cast<unsigned long long>(replies_),
                  static_cast<unsigned long long>(calls_completed_),
                  static_cast<unsigned long long>(malformed_));
      bool first = true;
      for (const auto& [code, n] : by_code_) {
        std::printf("%s\"%u\": %llu", first ? "" : ", ", code, static_cast<unsigned long long>(n));
        first = false;
      }
      std::printf("}}\n");
      return;
    }
    std::printf("viaduct-gen: %llu %s started in %.3f s (%.0f/s), %llu datagrams sent, %llu "
                "failed; %llu replies, %llu calls completed, %llu malformed\n",
                static_cast<unsigned long long>(started), o_.kind.c_str(), send_s,
                send_s > 0 ? static_cast<double>(started) / send_s : 0.0,
                static_cast<unsigned long long>(requests_sent_),
                static_cast<unsigned long long>(failed),
                static_cast<unsigned long long>(replies_),
                static_cast<unsigned long long>(calls_completed_),
                static_cast<unsigned long long>(malformed_));
  }

  const SendOptions& o_;
  std::string pid_;
  Clock::time_point sent_done_;
  uint64_t requests_sent_ = 0;
  uint64_t replies_ = 0;
  uint64_t calls_completed_ = 0;
  uint64_t malformed_ = 0;
  std::map<unsigned, uint64_t> by_code_;
};

struct ReflectOptions {
  Endpoint local;
  std::string mode = "answer";
  double duration = 0;  // 0: until SIGTERM/SIGINT
  bool json = false;
};

int reflect(const ReflectOptions& o) {
  const int fd = open_socket(o.local);
  if (fd < 0) {
    return 1;
  }
  RxBatch rx;
  TxBatch tx;
  std::map<std::string, uint64_t> by_method;
  uint64_t received = 0;
  uint64_t malformed = 0;
  uint64_t replies_in = 0;
  const bool answer = o.mode == "answer";
  const auto t0 = Clock::now();
  std::vector<char> out(4096);
  while (!g_stop.load()) {
    if (o.duration > 0 && std::chrono::duration<double>(Clock::now() - t0).count() > o.duration) {
      break;
    }
    const int r = rx.recv(fd);
    if (r <= 0) {
      pollfd p{fd, POLLIN, 0};
      poll(&p, 1, 50);
      continue;
    }
    for (int i = 0; i < r; ++i) {
      const char* msg = rx.msg(static_cast<unsigned>(i));
      const size_t len = rx.len(static_cast<unsigned>(i));
      ++received;
      sip::SipView v;
      if (sip::scan(msg, len, v) != sip::ScanStatus::kOk) {
        ++malformed;
        continue;
      }
      if (!v.is_request) {
        ++replies_in;
        continue;
      }
      ++by_method[std::string(v.method_name.in(msg))];
      if (!answer || v.method == sip::Method::kAck) {
        continue;
      }
      const sockaddr_in& from = rx.from[i];
      char ip[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &from.sin_addr, ip, sizeof ip);
      auto reply = [&](uint16_t code, std::string_view reason) {
        const size_t n = sip::build_reply(msg, v, code, reason, ip, ntohs(from.sin_port),
                                          out.data(), out.size());
        if (n != 0) {
          tx.add(std::string(out.data(), n), from);
        }
      };
      if (v.method == sip::Method::kInvite) {
        reply(100, "Trying");
        reply(180, "Ringing");
      }
      reply(200, "OK");
    }
    tx.flush(fd);
  }
  close(fd);
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  if (o.json) {
    std::printf("{\"mode\": \"%s\", \"received\": %llu, \"replies_received\": %llu, "
                "\"malformed\": %llu, \"replies_sent\": %llu, \"send_failed\": %llu, "
                "\"seconds\": %.3f, \"requests\": {",
                o.mode.c_str(), static_cast<unsigned long long>(received),
                static_cast<unsigned long long>(replies_in),
                static_cast<unsigned long long>(malformed),
                static_cast<unsigned long long>(tx.sent),
                static_cast<unsigned long long>(tx.failed), secs);
    bool first = true;
    for (const auto& [m, n] : by_method) {
      std::printf("%s\"%s\": %llu", first ? "" : ", ", m.c_str(),
                  static_cast<unsigned long long>(n));
      first = false;
    }
    std::printf("}}\n");
  } else {
    std::printf("viaduct-gen reflect: %llu datagrams, %llu malformed, %llu replies sent\n",
                static_cast<unsigned long long>(received),
                static_cast<unsigned long long>(malformed),
                static_cast<unsigned long long>(tx.sent));
  }
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"viaduct-gen: SIP traffic generator and reflector (kernel UDP)"};
  app.require_subcommand(1);
  SendOptions so;
  std::string target;
  std::string bind_send;
  CLI::App* send = app.add_subcommand("send", "send requests or calls, count the replies");
  send->add_option("--target", target, "where to send: IP:PORT")->required();
  send->add_option("--bind", bind_send, "local IP:PORT (the Via and Contact use it)")->required();
  send->add_option("--kind", so.kind, "invite | options | register | mix (calls)")
      ->check(CLI::IsMember({"invite", "options", "register", "mix"}));
  // Checked as text, before the conversion: "-5" into the unsigned count wrapped to 2^64 - 5
  // (a send that ran until killed).
  send->add_option("--count", so.count, "requests (calls for mix) to start")
      ->check(CLI::NonNegativeNumber);
  send->add_option("--rate", so.rate, "starts per second; 0 = as fast as possible")
      ->check(CLI::NonNegativeNumber);
  send->add_option("--size", so.size, "INVITE size in bytes (SDP padded)")
      ->check(CLI::NonNegativeNumber);
  send->add_option("--linger", so.linger, "seconds to wait for replies after the last one")
      ->check(CLI::NonNegativeNumber);
  send->add_flag("--json", so.json, "print one JSON object");
  ReflectOptions ro;
  std::string bind_reflect;
  CLI::App* refl = app.add_subcommand("reflect", "answer (or count) requests as a backend");
  refl->add_option("--bind", bind_reflect, "local IP:PORT")->required();
  refl->add_option("--mode", ro.mode, "answer | sink")
      ->check(CLI::IsMember({"answer", "sink"}));
  refl->add_option("--duration", ro.duration, "seconds to run; 0 = until SIGTERM")
      ->check(CLI::NonNegativeNumber);
  refl->add_flag("--json", ro.json, "print one JSON object at the end");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int r = app.exit(e);
    return r == 0 ? 0 : 2;
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  if (send->parsed()) {
    if (!parse_endpoint(target, so.target) || !parse_endpoint(bind_send, so.local)) {
      std::fprintf(stderr, "viaduct-gen: --target and --bind take IPv4:PORT\n");
      return 2;
    }
    Sender s(so);
    return s.run();
  }
  if (!parse_endpoint(bind_reflect, ro.local)) {
    std::fprintf(stderr, "viaduct-gen: --bind takes IPv4:PORT\n");
    return 2;
  }
  return reflect(ro);
}

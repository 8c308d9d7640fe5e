// SPDX-License-Identifier: Apache-2.0
// Stopping the HTTP servers (management API, /metrics) without waiting out civetweb's 2 s
// listener poll: control/http_stop.hpp, on real loopback listeners.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <prometheus/exposer.h>
#include <string>
#include <thread>

#include "control/http_stop.hpp"
#include "control/management.hpp"
#include "control/metrics.hpp"

namespace viaduct::ctl {
namespace {

using Clock = std::chrono::steady_clock;

TEST(WakeAddress, ListenHostOrLoopback) {
  EXPECT_EQ(wake_address("127.0.0.1:9464"), "127.0.0.1");
  EXPECT_EQ(wake_address("10.1.2.3:9464"), "10.1.2.3");
  EXPECT_EQ(wake_address("0.0.0.0:9464"), "127.0.0.1");
  EXPECT_EQ(wake_address("9464"), "127.0.0.1");
  EXPECT_EQ(wake_address("+9464"), "127.0.0.1");
  EXPECT_EQ(wake_address("[::1]:9464"), "::1");
  EXPECT_EQ(wake_address("[::]:9464"), "::1");
  EXPECT_EQ(wake_address("[2001:db8::1]:80"), "2001:db8::1");
  EXPECT_EQ(wake_address("127.0.0.1:80,[::1]:80"), "127.0.0.1");
  EXPECT_EQ(wake_address("127.0.0.1:443s"), "127.0.0.1");
}

uint16_t test_port(int k) { return static_cast<uint16_t>(40000 + (getpid() * 3 + k) % 20000); }

// civetweb's listener starts its first 2 s poll when the server starts; 100 ms later, a plain
// mg_stop() would wait the remaining ~1.9 s.
constexpr auto kAfterStart = std::chrono::milliseconds(100);
constexpr auto kWellUnderThePoll = std::chrono::milliseconds(1000);

TEST(StopListener, ManagementServerStopsWithoutWaitingOutThePoll) {
  RpcInbox inbox;
  auto s = ManagementServer::start("127.0.0.1:" + std::to_string(test_port(0)), "", inbox);
  ASSERT_TRUE(s) << s.error().message;
  std::this_thread::sleep_for(kAfterStart);
  const auto t0 = Clock::now();
  s->reset();
  EXPECT_LT(Clock::now() - t0, kWellUnderThePoll);
  inbox.close();
}

TEST(StopListener, MetricsExposerStopsWithoutWaitingOutThePoll) {
  const std::string listen = "127.0.0.1:" + std::to_string(test_port(1));
  auto ex = std::make_unique<prometheus::Exposer>(listen, 1);
  ASSERT_FALSE(ex->GetListeningPorts().empty());
  std::this_thread::sleep_for(kAfterStart);
  const auto t0 = Clock::now();
  stop_exposer(ex, listen);
  EXPECT_LT(Clock::now() - t0, kWellUnderThePoll);
  EXPECT_EQ(ex, nullptr);
  // The port is free again: a new exposer binds it.
  EXPECT_NO_THROW(prometheus::Exposer again(listen, 1));
}

TEST(StopListener, NoPortsJustStops) {
  bool stopped = false;
  stop_listener("127.0.0.1:1", {}, [&stopped] { stopped = true; });
  EXPECT_TRUE(stopped);
}

}  // namespace
}  // namespace viaduct::ctl

// SPDX-License-Identifier: Apache-2.0
// The per-destination series of /metrics when a destination id is given again
// (ctl::DestinationIds): the new destination's counters start from 0, not from what the id's
// earlier destination counted; probe histograms of destinations that left are dropped.
#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <prometheus/exposer.h>

#include "control/metrics.hpp"
#include "tests/support/sockets.hpp"
#include "dataplane/counters.hpp"

namespace viaduct {
namespace {

// The value of the sample line that starts with `series` ("" when there is none).
std::string sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) {
      return line.substr(series.size() + 1);
    }
  }
  return "";
}

TEST(MetricsDestinations, ARecycledIdCountsFromZeroForItsNewDestination) {
  auto w0 = std::make_unique<dp::WorkerCounters>();
  auto w1 = std::make_unique<dp::WorkerCounters>();
  ctl::ControlCounters ctl;
  ctl::MetricsCollector m({w0.get(), w1.get()}, ctl);
  const std::string a = "{set=\"1\",uri=\"sip:10.0.0.1\"}";
  const std::string b = "{set=\"1\",uri=\"sip:10.0.0.2\"}";

  m.rebase({7});  // the first publication: nothing counted yet
  m.set_destinations({{7, 1, "sip:10.0.0.1", true, 0}});
  m.observe_probe_rtt(1, "sip:10.0.0.1", 0.002);
  w0->forwarded_to[7].add(5);
  w1->forwarded_to[7].add(3);
  w0->selected[7].add(8);
  w1->replies_from[7][1].add(4);  // 2xx
  std::string text = ctl::render_text(m);
  EXPECT_EQ(sample(text, "viaduct_dispatcher_forwarded_total" + a), "8");
  EXPECT_EQ(sample(text, "viaduct_dispatcher_selected_total" + a), "8");
  EXPECT_EQ(sample(text, "viaduct_dispatcher_replies_total{set=\"1\",uri=\"sip:10.0.0.1\",class=\"2xx\"}"), "4");
  EXPECT_EQ(sample(text, "viaduct_dispatcher_probe_rtt_seconds_count" + a), "1");

  // 10.0.0.1 leaves the list; 10.0.0.2 comes and gets id 7.
  m.rebase({7});
  m.set_destinations({{7, 1, "sip:10.0.0.2", true, 0}});
  text = ctl::render_text(m);
  EXPECT_EQ(sample(text, "viaduct_dispatcher_forwarded_total" + a), "");
  EXPECT_EQ(sample(text, "viaduct_dispatcher_forwarded_total" + b), "0");
  EXPECT_EQ(sample(text, "viaduct_dispatcher_selected_total" + b), "0");
  EXPECT_EQ(sample(text, "viaduct_dispatcher_replies_total{set=\"1\",uri=\"sip:10.0.0.2\",class=\"2xx\"}"), "0");
  EXPECT_EQ(sample(text, "viaduct_dispatcher_probe_rtt_seconds_count" + a), "");
  w1->forwarded_to[7].add(2);
  EXPECT_EQ(sample(ctl::render_text(m), "viaduct_dispatcher_forwarded_total" + b), "2");

  // 10.0.0.1 comes back on another id: its histogram starts over too.
  m.rebase({9});
  m.set_destinations({{7, 1, "sip:10.0.0.2", true, 0}, {9, 1, "sip:10.0.0.1", true, 0}});
  text = ctl::render_text(m);
  EXPECT_EQ(sample(text, "viaduct_dispatcher_forwarded_total" + a), "0");
  EXPECT_EQ(sample(text, "viaduct_dispatcher_forwarded_total" + b), "2");
  EXPECT_EQ(sample(text, "viaduct_dispatcher_probe_rtt_seconds_count" + a), "");
}

// One connection that sent half a request held /metrics (one civetweb thread, 30 s) and the
// scrapes in between failed. The exposer answers beside it now.
TEST(MetricsExposer, AnIdleConnectionDoesNotHoldTheScrape) {
  auto w0 = std::make_unique<dp::WorkerCounters>();
  ctl::ControlCounters ctl;
  auto m = std::make_shared<ctl::MetricsCollector>(
      std::vector<const dp::WorkerCounters*>{w0.get()}, ctl);
  const uint16_t port = static_cast<uint16_t>(21000 + getpid() % 20000);
  const std::string listen = "127.0.0.1:" + std::to_string(port);
  auto exposer = ctl::start_exposer(listen, m);
  ASSERT_TRUE(exposer) << exposer.error().message;
  const int idle = test::connect_loopback(port);
  ASSERT_TRUE(test::send_all(idle, "GET /metrics HTTP/1.1\r\n"));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const int fd = test::connect_loopback(port);
  ASSERT_TRUE(test::send_all(fd, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n"));
  const std::string got = test::recv_all(fd, 3000);
  close(fd);
  close(idle);
  EXPECT_NE(got.find("viaduct_workers"), std::string::npos) << got.substr(0, 200);
  ctl::stop_exposer(*exposer, listen);
}

}  // namespace
}  // namespace viaduct

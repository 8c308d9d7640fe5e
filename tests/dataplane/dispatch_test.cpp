// SPDX-License-Identifier: Apache-2.0
// tests/dataplane/dispatch_test.cpp: Kamailio's ds_get_hash bit for bit, and the selection rules
// of algorithms 0 and 4 (modulo, skip to the next usable entry; per-worker rotation).
#include <gtest/gtest.h>

#include <string>

#include "control/snapshot_builder.hpp"
#include "dataplane/dispatch.hpp"

namespace viaduct {
namespace {

struct HashCase {
  const char* name;
  std::string key;
  uint32_t want;
};

// Expected values computed with an independent implementation of Kamailio's dispatch.c
// ds_get_hash() (4-byte big-endian folds with v ^ (v >> 3), signed chars, final mix, 0 -> 1).
const HashCase kHashCases[] = {
    {"Empty", "", 1u},
    {"OneByte", "a", 109u},
    {"OneWord", "abcd", 1834959896u},
    {"WordPlusTail", "abcde", 1834960001u},
    {"SippCallId", "1-12345@10.0.0.10", 3481799918u},
    {"Utf8BytesAreSignExtended", "caf\xc3\xa9-\xc3\xbc@x", 723364039u},
};

class KamailioHashTest : public ::testing::TestWithParam<HashCase> {};

TEST_P(KamailioHashTest, MatchesKamailio) {
  EXPECT_EQ(dp::kamailio_ds_hash(GetParam().key), GetParam().want);
}

INSTANTIATE_TEST_SUITE_P(Cases, KamailioHashTest, ::testing::ValuesIn(kHashCases),
                         [](const auto& info) { return std::string(info.param.name); });

dp::Snapshot make_snapshot(std::vector<uint32_t> flags) {
  dp::Snapshot s;
  dp::DestSet set;
  set.id = 1;
  set.first = 0;
  for (size_t i = 0; i < flags.size(); ++i) {
    dp::Destination d;
    d.id = static_cast<uint32_t>(i + 1);
    d.set = 1;
    d.flags = flags[i];
    s.destinations.push_back(d);
  }
  set.count = static_cast<uint32_t>(flags.size());
  s.sets.push_back(set);
  return s;
}

TEST(Dispatch, HashPicksModuloOfTheSetSize) {
  const dp::Snapshot s = make_snapshot({0, 0, 0});
  dp::DispatchState st;
  for (const HashCase& c : kHashCases) {
    EXPECT_EQ(dp::select_destination(s, 0, 0, c.key, st), static_cast<int>(c.want % 3)) << c.name;
  }
}

TEST(Dispatch, HashSkipsInactiveAndDisabledToTheNextEntry) {
  // "abcd" hashes to 1834959896 % 3 == 2; entry 2 is inactive, so Kamailio wraps to 0.
  ASSERT_EQ(1834959896u % 3, 2u);
  dp::DispatchState st;
  EXPECT_EQ(dp::select_destination(make_snapshot({0, 0, 1}), 0, 0, "abcd", st), 0);
  EXPECT_EQ(dp::select_destination(make_snapshot({4, 0, 4}), 0, 0, "abcd", st), 1);
  EXPECT_EQ(dp::select_destination(make_snapshot({1, 4, 1}), 0, 0, "abcd", st), -1);
  // Probing (8) and trying (2) alone do not make a destination unusable.
  EXPECT_EQ(dp::select_destination(make_snapshot({0, 0, 8 | 2}), 0, 0, "abcd", st), 2);
}

TEST(Dispatch, RoundRobinRotatesAndSkipsUnusable) {
  const dp::Snapshot s = make_snapshot({0, 1, 0, 0});
  dp::DispatchState st;
  std::vector<int> got;
  for (int i = 0; i < 8; ++i) {
    got.push_back(dp::select_destination(s, 0, 4, "ignored", st));
  }
  EXPECT_EQ(got, (std::vector<int>{0, 2, 2, 3, 0, 2, 2, 3}));
}

TEST(Dispatch, EmptyOrUnknownSetSelectsNothing) {
  dp::Snapshot s = make_snapshot({});
  dp::DispatchState st;
  EXPECT_EQ(dp::select_destination(s, 0, 0, "x", st), -1);
  EXPECT_EQ(dp::select_destination(s, 7, 0, "x", st), -1);
}

TEST(Dispatch, KamailioOrderIsPriorityDescendingThenLaterLinesFirst) {
  std::vector<cfg::DsDestination> e(4);
  e[0].uri = "a";
  e[1].uri = "b";
  e[2].uri = "c";
  e[2].priority = 5;
  e[3].uri = "d";
  ctl::kamailio_order(e);
  std::string order;
  for (const auto& d : e) {
    order += d.uri;
  }
  EXPECT_EQ(order, "cdba");
}

}  // namespace
}  // namespace viaduct

// SPDX-License-Identifier: Apache-2.0
// tests/dataplane/dispatch_test.cpp: destination selection, every algorithm viaduct runs.
//   - Kamailio's ds_get_hash bit for bit, and the Kamailio mode's modulo-and-next choice.
//   - Maglev mode: evenness, and what moves when a destination goes down or joins.
//   - Exact weights (9, 11, 15) and Kamailio's 100-slot arrays in Kamailio mode.
//   - Round robin, serial, latency and round-robin-serial rules; the hash keys read from a
//     request (URI user + host[:port], digest username, hash_pvar).
//   - use_default: the last entry only when no other is usable, last in the failover list;
//     Kamailio mode against what Kamailio 5.6.3 chose in the same lab.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "cfg/dslist.hpp"
#include "cfg/dspvar.hpp"
#include "control/ds_tables.hpp"
#include "control/prober.hpp"
#include "control/snapshot_builder.hpp"
#include "dataplane/dispatch.hpp"
#include "dataplane/sip/sip.hpp"
#include "tests/support/packet_builder.hpp"

// The reference for the Maglev key hash (dispatch.cpp inlines XXH3 the same way).
#define XXH_INLINE_ALL
#include <xxhash.h>

namespace viaduct {
namespace {

using dp::DsHashMode;

// ---- Kamailio's hash ----

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

// ds_get_hash(x, y) transcribed from dispatch.c, pointer walk and all, as the reference for the
// two-part form the URI algorithms use.
uint32_t reference_ds_get_hash(const std::string* x, const std::string* y) {
  uint32_t h = 0;
  for (const std::string* s : {x, y}) {
    if (s == nullptr) {
      continue;
    }
    const char* p = s->data();
    const char* end = s->data() + s->size();
    uint32_t v = 0;
    if (s->size() >= 4) {
      for (; p <= end - 4; p += 4) {
        v = (static_cast<uint32_t>(*p) << 24) + (static_cast<uint32_t>(p[1]) << 16) +
            (static_cast<uint32_t>(p[2]) << 8) + static_cast<uint32_t>(p[3]);
        h += v ^ (v >> 3);
      }
    }
    v = 0;
    for (; p < end; ++p) {
      v <<= 8;
      v += static_cast<uint32_t>(*p);
    }
    h += v ^ (v >> 3);
  }
  h = (h + (h >> 11)) + ((h >> 13) + (h >> 23));
  return h != 0 ? h : 1;
}

TEST(KamailioHash, TwoPartsFoldLikeDsGetHash) {
  const std::string users[] = {"", "a", "alice", "bob.smith", "\xc3\xa9t\xc3\xa9"};
  const std::string hosts[] = {"", "x", "example.com", "10.0.0.1:5070", "[2001:db8::1]:5080"};
  for (const std::string& u : users) {
    for (const std::string& h : hosts) {
      EXPECT_EQ(dp::kamailio_ds_hash(u, h), reference_ds_get_hash(&u, &h)) << u << " " << h;
    }
    EXPECT_EQ(dp::kamailio_ds_hash(u), reference_ds_get_hash(&u, nullptr)) << u;
  }
}

// ---- snapshots ----

// A dispatcher.list line for destination i of set 1: sip:10.0.<i/250>.<i%250+1>.
std::string uri_of(int i) {
  return "sip:10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
}

struct Dest {
  Dest(std::string u, uint32_t f = 0, int p = 0, std::string a = "")
      : uri(std::move(u)), flags(f), priority(p), attrs(std::move(a)) {}
  std::string uri;
  uint32_t flags;
  int priority;
  std::string attrs;
};

// The dispatcher part of the snapshot the control thread would build for a dispatcher.list.
std::unique_ptr<dp::Snapshot> list_snapshot(const std::string& list,
                                            DsHashMode mode = DsHashMode::kMaglev) {
  std::vector<cfg::DsDestination> parsed;
  cfg::Diagnostics diags;
  EXPECT_TRUE(cfg::parse_dispatcher_list(list, "t.list", parsed, diags));
  dp::DsConfig conf;
  conf.mode = mode;
  return ctl::dispatcher_snapshot(parsed, conf);
}

// The same for these destinations of set 1.
std::unique_ptr<dp::Snapshot> snapshot(const std::vector<Dest>& dests,
                                       DsHashMode mode = DsHashMode::kMaglev) {
  std::string list;
  for (const Dest& d : dests) {
    list += "1 " + d.uri + " " + std::to_string(d.flags) + " " + std::to_string(d.priority) +
            (d.attrs.empty() ? "" : " " + d.attrs) + "\n";
  }
  return list_snapshot(list, mode);
}

std::vector<Dest> plain(int n) {
  std::vector<Dest> v;
  for (int i = 0; i < n; ++i) {
    v.push_back(Dest{uri_of(i)});
  }
  return v;
}

// The destination URI chosen for a Call-ID key ("none" when nothing is).
std::string pick(const dp::Snapshot& s, uint32_t alg, std::string_view key,
                 dp::DispatchState& st) {
  const dp::DsKey k{key, {}};
  const int d = dp::select_destination(s, 0, alg, &k, st);
  return d < 0 ? "none" : s.destinations[static_cast<size_t>(d)].uri;
}

std::vector<std::string> picks(const dp::Snapshot& s, uint32_t alg, int n) {
  auto st = std::make_unique<dp::DispatchState>();
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(pick(s, alg, "", *st));
  }
  return out;
}

std::map<std::string, int> histogram(const std::vector<std::string>& v) {
  std::map<std::string, int> h;
  for (const std::string& x : v) {
    ++h[x];
  }
  return h;
}

std::string call_id(int i) { return std::to_string(i) + "-4711@client.example.net"; }

// Where each of n Call-IDs goes with algorithm 0.
std::vector<std::string> assign(const dp::Snapshot& s, int n) {
  auto st = std::make_unique<dp::DispatchState>();
  std::vector<std::string> out;
  out.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    out.push_back(pick(s, 0, call_id(i), *st));
  }
  return out;
}

// ---- Kamailio mode: modulo, then the next usable entry ----

TEST(KamailioMode, HashIsKamailioModuloThenNextUsable) {
  // Ten destinations, a few down, with mixed priorities so the index order matters.
  std::vector<Dest> d = plain(10);
  d[2].flags = cfg::kDsInactive;
  d[3].flags = cfg::kDsDisabled;
  d[7].flags = cfg::kDsInactive | cfg::kDsProbing;
  d[5].priority = 3;
  d[8].priority = 1;
  const auto s = snapshot(d, DsHashMode::kKamailio);
  auto st = std::make_unique<dp::DispatchState>();
  for (int i = 0; i < 20000; ++i) {
    const std::string key = call_id(i);
    uint32_t j = dp::kamailio_ds_hash(key) % 10;
    while (!s->destinations[j].usable()) {
      j = (j + 1) % 10;
    }
    ASSERT_EQ(pick(*s, 0, key, *st), s->destinations[j].uri) << key;
  }
}

TEST(KamailioMode, HashSkipsInactiveAndDisabledToTheNextEntry) {
  // "abcd" hashes to 1834959896 % 3 == 2.
  ASSERT_EQ(1834959896u % 3, 2u);
  auto st = std::make_unique<dp::DispatchState>();
  auto three = [](uint32_t a, uint32_t b, uint32_t c) {
    return snapshot({{uri_of(0), a}, {uri_of(1), b}, {uri_of(2), c}}, DsHashMode::kKamailio);
  };
  // The list is read in reverse for equal priorities: index 0 is the last line.
  EXPECT_EQ(pick(*three(0, 0, 0), 0, "abcd", *st), uri_of(0));
  EXPECT_EQ(pick(*three(1, 0, 0), 0, "abcd", *st), uri_of(2));  // wraps to index 0
  EXPECT_EQ(pick(*three(4, 0, 4), 0, "abcd", *st), uri_of(1));
  EXPECT_EQ(pick(*three(1, 4, 1), 0, "abcd", *st), "none");
  // Probing (8) and trying (2) alone do not make a destination unusable.
  EXPECT_EQ(pick(*three(8 | 2, 0, 0), 0, "abcd", *st), uri_of(0));
}

TEST(KamailioMode, WeightArraysFollowKamailiosRules) {
  // dp_init_weights() fills slots in index order, and the index order is the reverse of the
  // list here (equal priorities). uri_of(2) is index 0.
  // 20 + 30 = 50: the last destination takes the 50 slots left. Every run of 100 consecutive
  // picks has exactly the slot counts.
  auto h = histogram(picks(*snapshot({{uri_of(0), 0, 0, ""},
                                      {uri_of(1), 0, 0, "weight=30"},
                                      {uri_of(2), 0, 0, "weight=20"}},
                                     DsHashMode::kKamailio),
                           9, 300));
  EXPECT_EQ(h[uri_of(2)], 60);
  EXPECT_EQ(h[uri_of(1)], 90);
  EXPECT_EQ(h[uri_of(0)], 150);
  // 20 + 50 = 70 slots, then 30 of index 2's 70: the sum past 100 is cut.
  h = histogram(picks(*snapshot({{uri_of(0), 0, 0, "weight=70"},
                                 {uri_of(1), 0, 0, "weight=50"},
                                 {uri_of(2), 0, 0, "weight=20"}},
                                DsHashMode::kKamailio),
                      9, 100));
  EXPECT_EQ(h[uri_of(2)], 20);
  EXPECT_EQ(h[uri_of(1)], 50);
  EXPECT_EQ(h[uri_of(0)], 30);
  // No weight on the first entry: Kamailio builds no array and always uses the first entry.
  EXPECT_EQ(picks(*snapshot({{uri_of(0), 0, 0, "weight=50"}, {uri_of(1), 0, 0, ""}},
                            DsHashMode::kKamailio),
                  9, 5),
            std::vector<std::string>(5, uri_of(1)));
  // Kamailio takes weights outside 1..100 as 0: index 1 gets no slot, the last fills the rest.
  h = histogram(picks(*snapshot({{uri_of(0), 0, 0, "weight=30"},
                                 {uri_of(1), 0, 0, "weight=500"},
                                 {uri_of(2), 0, 0, "weight=50"}},
                                DsHashMode::kKamailio),
                      9, 100));
  EXPECT_EQ(h[uri_of(2)], 50);
  EXPECT_EQ(h[uri_of(1)], 0);
  EXPECT_EQ(h[uri_of(0)], 50);
}

TEST(KamailioMode, RelativeWeightsOverActiveDestinations) {
  // The documentation's example: rweight 1/2/1 gives 25/50/25; with the third down, 33/67/0.
  std::vector<Dest> d = {{uri_of(0), 0, 0, "rweight=1"},
                         {uri_of(1), 0, 0, "rweight=2"},
                         {uri_of(2), 0, 0, "rweight=1"}};
  auto h = histogram(picks(*snapshot(d, DsHashMode::kKamailio), 11, 200));
  EXPECT_EQ(h[uri_of(0)], 50);
  EXPECT_EQ(h[uri_of(1)], 100);
  EXPECT_EQ(h[uri_of(2)], 50);
  d[2].flags = cfg::kDsInactive;
  h = histogram(picks(*snapshot(d, DsHashMode::kKamailio), 11, 200));
  // Index order is uri_of(1), then uri_of(0): 2 * 100 / 3 = 66 slots, 1 * 100 / 3 = 33, and
  // the one left over goes to the last one inserted.
  EXPECT_EQ(h[uri_of(0)], 68);
  EXPECT_EQ(h[uri_of(1)], 132);
  EXPECT_EQ(h.count(uri_of(2)), 0u);
}

// ---- Maglev mode ----

TEST(Maglev, TableSizeIsAFixedPrimeAtLeastHundredTimesTheSet) {
  EXPECT_EQ(ctl::maglev_table_size(1), 65537u);
  EXPECT_EQ(ctl::maglev_table_size(10), 65537u);
  EXPECT_EQ(ctl::maglev_table_size(11), 65537u);  // unchanged when one joins
  EXPECT_EQ(ctl::maglev_table_size(655), 65537u);
  EXPECT_EQ(ctl::maglev_table_size(656), 131101u);
  const auto s = snapshot(plain(10));
  EXPECT_EQ(s->sets[0].maglev.size(), 65537u);
}

TEST(Maglev, TableIsBalancedAndIndependentOfListOrder) {
  std::vector<std::string> names;
  for (int i = 0; i < 7; ++i) {
    names.push_back(uri_of(i));
  }
  const std::vector<uint16_t> t = ctl::maglev_table(names, 65537);
  std::vector<int> count(7);
  for (uint16_t x : t) {
    ASSERT_LT(x, 7);
    ++count[x];
  }
  for (int c : count) {
    EXPECT_NEAR(c, 65537 / 7, 1);
  }
  // The same names in another order: the same destination in every slot.
  std::vector<std::string> rev(names.rbegin(), names.rend());
  const std::vector<uint16_t> r = ctl::maglev_table(rev, 65537);
  for (size_t i = 0; i < t.size(); ++i) {
    ASSERT_EQ(names[t[i]], rev[r[i]]) << i;
  }
}

// A publication that changes no set's membership (a probe's verdict, an API state) shares each
// set's Maglev table with the live snapshot; a set whose pool changed, or changed order, gets a
// new one. Every table equals what a build from nothing gives.
TEST(Maglev, TablesOfUnchangedSetsAreTakenFromThePreviousSnapshot) {
  auto same_tables = [](const dp::Snapshot& a, const dp::Snapshot& b) {
    if (a.sets.size() != b.sets.size()) {
      return false;
    }
    for (size_t i = 0; i < a.sets.size(); ++i) {
      if (!std::ranges::equal(a.sets[i].maglev, b.sets[i].maglev)) {
        return false;
      }
    }
    return true;
  };
  const std::string base =
      "1 sip:10.0.0.1\n1 sip:10.0.0.2\n1 sip:10.0.0.3\n2 sip:10.0.1.1\n2 sip:10.0.1.2\n"
      "3 sip:10.0.2.1\n";
  const auto live = list_snapshot(base);
  ASSERT_EQ(live->sets.size(), 3u);

  // A destination of set 1 down: nothing built, the tables are the live ones.
  auto next = list_snapshot("1 sip:10.0.0.1\n1 sip:10.0.0.2 1\n1 sip:10.0.0.3\n2 sip:10.0.1.1\n"
                    "2 sip:10.0.1.2\n3 sip:10.0.2.1\n");
  EXPECT_EQ(ctl::build_dispatch_tables(*next, live.get()), 0u);
  EXPECT_TRUE(same_tables(*next, *live));
  EXPECT_EQ(next->sets[0].maglev.data(), live->sets[0].maglev.data());  // shared, not copied
  EXPECT_EQ(next->maglev_tables[0], live->maglev_tables[0]);
  EXPECT_EQ(next->sets[0].pool_usable, 2u);  // the rest is still built from this snapshot

  // Set 1 loses 10.0.0.3 and gains 10.0.0.4: set 1's table built (a fresh build's), set 2's
  // shared; set 3 (one destination) has none.
  const std::string changed =
      "1 sip:10.0.0.1\n1 sip:10.0.0.2\n1 sip:10.0.0.4\n2 sip:10.0.1.1\n2 sip:10.0.1.2\n"
      "3 sip:10.0.2.1\n";
  next = list_snapshot(changed);
  const auto fresh = list_snapshot(changed);
  EXPECT_EQ(ctl::build_dispatch_tables(*next, live.get()), 1u);
  EXPECT_TRUE(same_tables(*next, *fresh));
  EXPECT_FALSE(std::ranges::equal(next->sets[0].maglev, live->sets[0].maglev));
  EXPECT_EQ(next->sets[1].maglev.data(), live->sets[1].maglev.data());
  EXPECT_TRUE(next->sets[2].maglev.empty());
  EXPECT_EQ(next->maglev_tables[2], nullptr);

  // The same URIs in another index order (priorities): the slots hold indexes, so a new table.
  next = list_snapshot("1 sip:10.0.0.1 0 5\n1 sip:10.0.0.2\n1 sip:10.0.0.3\n2 sip:10.0.1.1\n"
               "2 sip:10.0.1.2\n3 sip:10.0.2.1\n");
  EXPECT_EQ(ctl::build_dispatch_tables(*next, live.get()), 1u);
  for (size_t slot = 0; slot < next->sets[0].maglev.size(); ++slot) {
    const uint32_t a = next->sets[0].first + next->sets[0].maglev[slot];
    const uint32_t b = live->sets[0].first + live->sets[0].maglev[slot];
    ASSERT_EQ(next->destinations[a].uri, live->destinations[b].uri) << slot;
  }

  // A set id that was not there, and a previous snapshot in Kamailio's hash mode (no tables).
  next = list_snapshot(base + "4 sip:10.0.3.1\n4 sip:10.0.3.2\n");
  EXPECT_EQ(ctl::build_dispatch_tables(*next, live.get()), 1u);
  const auto kam = list_snapshot(base, DsHashMode::kKamailio);
  next = list_snapshot(base);
  EXPECT_EQ(ctl::build_dispatch_tables(*next, kam.get()), 2u);
  EXPECT_TRUE(same_tables(*next, *live));
}

TEST(Maglev, KeysSpreadEvenly) {
  for (int n : {2, 3, 10, 37}) {
    const auto s = snapshot(plain(n));
    const int keys = 1000000;
    const auto h = histogram(assign(*s, keys));
    ASSERT_EQ(h.size(), static_cast<size_t>(n));
    const double mean = static_cast<double>(keys) / n;
    for (const auto& [uri, c] : h) {
      EXPECT_NEAR(c, mean, mean * 0.03) << n << " destinations: " << uri;
    }
  }
}

TEST(Maglev, OneOfTenDownMovesOnlyItsKeysSpreadOverTheOtherNine) {
  const int keys = 1000000;
  std::vector<Dest> d = plain(10);
  const std::vector<std::string> before = assign(*snapshot(d), keys);
  d[4].flags = cfg::kDsInactive;
  const std::vector<std::string> after = assign(*snapshot(d), keys);
  int moved = 0;
  std::map<std::string, int> to;
  for (int i = 0; i < keys; ++i) {
    if (before[static_cast<size_t>(i)] != after[static_cast<size_t>(i)]) {
      ++moved;
      ASSERT_EQ(before[static_cast<size_t>(i)], uri_of(4)) << "a key of a live destination moved";
      ++to[after[static_cast<size_t>(i)]];
    }
    ASSERT_NE(after[static_cast<size_t>(i)], uri_of(4));
  }
  EXPECT_NEAR(moved, keys / 10, keys / 100);  // 10% +- 1 point
  ASSERT_EQ(to.size(), 9u);
  for (const auto& [uri, c] : to) {
    EXPECT_NEAR(c, moved / 9.0, moved / 9.0 * 0.05) << uri;
  }
  // It comes back: every key returns to where it was.
  d[4].flags = 0;
  EXPECT_EQ(assign(*snapshot(d), keys), before);
}

TEST(Maglev, ASecondFailureLeavesTheFirstOnesKeysWhereTheyWent) {
  const int keys = 200000;
  std::vector<Dest> d = plain(10);
  d[1].flags = cfg::kDsInactive;
  const std::vector<std::string> one_down = assign(*snapshot(d), keys);
  d[6].flags = cfg::kDsInactive;
  const std::vector<std::string> two_down = assign(*snapshot(d), keys);
  for (int i = 0; i < keys; ++i) {
    const auto& a = one_down[static_cast<size_t>(i)];
    if (a != two_down[static_cast<size_t>(i)]) {
      ASSERT_EQ(a, uri_of(6)) << "only the second failure's keys move";
    }
  }
}

TEST(Maglev, OneJoiningTenTakesAboutAnEleventhOfTheKeys) {
  // Maglev's table is rebuilt for the new set; the new destination takes ~1/11 of the slots,
  // evenly from the others. Maglev is near-minimal, not minimal: a small fraction of slots
  // also changes hands among the old destinations (the turn order shifts).
  const int keys = 1000000;
  const std::vector<std::string> before = assign(*snapshot(plain(10)), keys);
  const std::vector<std::string> after = assign(*snapshot(plain(11)), keys);
  int to_new = 0;
  int elsewhere = 0;
  std::map<std::string, int> taken_from;
  for (int i = 0; i < keys; ++i) {
    const auto& b = before[static_cast<size_t>(i)];
    const auto& a = after[static_cast<size_t>(i)];
    if (a == b) {
      continue;
    }
    if (a == uri_of(10)) {
      ++to_new;
      ++taken_from[b];
    } else {
      ++elsewhere;
    }
  }
  EXPECT_NEAR(to_new, keys / 11, keys / 200);  // 9.1% +- 0.5 point
  EXPECT_LT(elsewhere, keys / 100);             // < 1% of the keys (about 0.3% here)
  ASSERT_EQ(taken_from.size(), 10u);
  for (const auto& [uri, c] : taken_from) {
    EXPECT_NEAR(c, to_new / 10.0, to_new / 10.0 * 0.1) << uri;
  }
}

TEST(Maglev, NothingUsableSelectsNothing) {
  std::vector<Dest> d = plain(3);
  for (Dest& x : d) {
    x.flags = cfg::kDsInactive;
  }
  auto st = std::make_unique<dp::DispatchState>();
  EXPECT_EQ(pick(*snapshot(d), 0, "abc", *st), "none");
  EXPECT_EQ(pick(*snapshot(d), 6, "", *st), "none");
  d[2].flags = 0;  // one left: everything goes there
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(pick(*snapshot(d), 0, call_id(i), *st), uri_of(2));
  }
}

TEST(Maglev, RandomIsUniformOverUsable) {
  std::vector<Dest> d = plain(4);
  d[0].flags = cfg::kDsDisabled;
  const auto h = histogram(picks(*snapshot(d), 6, 300000));
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h.count(uri_of(0)), 0u);
  for (const auto& [uri, c] : h) {
    EXPECT_NEAR(c, 100000, 2000) << uri;
  }
}

// ---- exact weights ----

// Shares of `n` picks against the weights, within 1% of each expected share.
void expect_shares(const dp::Snapshot& s, uint32_t alg, const std::map<std::string, double>& want,
                   int n = 1000000) {
  const auto h = histogram(picks(s, alg, n));
  double total = 0;
  for (const auto& [uri, w] : want) {
    total += w;
  }
  for (const auto& [uri, w] : want) {
    const double expected = n * w / total;
    const auto it = h.find(uri);
    const double got = it == h.end() ? 0 : it->second;
    if (w == 0) {
      EXPECT_EQ(got, 0) << uri;
    } else {
      EXPECT_NEAR(got, expected, expected * 0.01) << uri;
    }
  }
  for (const auto& [uri, c] : h) {
    EXPECT_TRUE(want.count(uri) != 0) << uri << " got " << c;
  }
}

TEST(Weights, AnyWeightsAndAnySumAreExact) {
  // Sums that Kamailio's 100 slots cannot express: 1:2:3:4, a 999:1 skew, 37 destinations.
  expect_shares(*snapshot({{uri_of(0), 0, 0, "weight=1"},
                           {uri_of(1), 0, 0, "weight=2"},
                           {uri_of(2), 0, 0, "weight=3"},
                           {uri_of(3), 0, 0, "weight=4"}}),
                9, {{uri_of(0), 1}, {uri_of(1), 2}, {uri_of(2), 3}, {uri_of(3), 4}});
  expect_shares(*snapshot({{uri_of(0), 0, 0, "weight=999000"}, {uri_of(1), 0, 0, "weight=1000"}}),
                9, {{uri_of(0), 999}, {uri_of(1), 1}});
  std::vector<Dest> many;
  std::map<std::string, double> want;
  for (int i = 0; i < 37; ++i) {
    const int w = 100 + (i * 7919) % 500;
    many.push_back({uri_of(i), 0, 0, "weight=" + std::to_string(w)});
    want[uri_of(i)] = w;
  }
  expect_shares(*snapshot(many), 9, want);
}

TEST(Weights, ADownDestinationsShareGoesToTheOthersByWeight) {
  std::vector<Dest> d = {{uri_of(0), 0, 0, "weight=50"},
                         {uri_of(1), 0, 0, "weight=30"},
                         {uri_of(2), 0, 0, "weight=20"}};
  d[0].flags = cfg::kDsInactive;
  expect_shares(*snapshot(d), 9, {{uri_of(0), 0}, {uri_of(1), 30}, {uri_of(2), 20}});
}

TEST(Weights, NoWeightsShareEvenlyAndZeroWeightGetsNothing) {
  expect_shares(*snapshot(plain(3)), 9, {{uri_of(0), 1}, {uri_of(1), 1}, {uri_of(2), 1}}, 300000);
  expect_shares(*snapshot({{uri_of(0), 0, 0, "weight=5"}, {uri_of(1), 0, 0, ""}}), 9,
                {{uri_of(0), 1}, {uri_of(1), 0}}, 10000);
}

TEST(Weights, WeightedPicksInterleave) {
  // 1:1 alternates-ish rather than sending runs to one destination.
  const auto v = picks(*snapshot({{uri_of(0), 0, 0, "weight=1"}, {uri_of(1), 0, 0, "weight=1"}}),
                       9, 1000);
  int longest = 0;
  int run = 0;
  for (size_t i = 1; i < v.size(); ++i) {
    run = v[i] == v[i - 1] ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  EXPECT_LE(longest, 2);
}

TEST(Weights, RelativeWeightsOverUsableDestinations) {
  std::vector<Dest> d = {{uri_of(0), 0, 0, "rweight=1"},
                         {uri_of(1), 0, 0, "rweight=2"},
                         {uri_of(2), 0, 0, "rweight=1"}};
  expect_shares(*snapshot(d), 11, {{uri_of(0), 25}, {uri_of(1), 50}, {uri_of(2), 25}});
  d[2].flags = cfg::kDsInactive;
  expect_shares(*snapshot(d), 11, {{uri_of(0), 1}, {uri_of(1), 2}, {uri_of(2), 0}});
}

TEST(Weights, PriorityWeightTakesTheLowestUsablePriorityValue) {
  std::vector<Dest> d = {{uri_of(0), 0, 1, "weight=3"},
                         {uri_of(1), 0, 1, "weight=1"},
                         {uri_of(2), 0, 2, "weight=5"},
                         {uri_of(3), 0, 2, "weight=5"}};
  expect_shares(*snapshot(d), 15, {{uri_of(0), 3}, {uri_of(1), 1}, {uri_of(2), 0}, {uri_of(3), 0}});
  d[0].flags = cfg::kDsInactive;
  expect_shares(*snapshot(d), 15, {{uri_of(1), 1}}, 10000);
  d[1].flags = cfg::kDsDisabled;  // the best level is all down: the next one
  expect_shares(*snapshot(d), 15, {{uri_of(2), 1}, {uri_of(3), 1}}, 100000);
  // Without weights the level shares evenly.
  expect_shares(*snapshot({{uri_of(0), 0, 7, ""}, {uri_of(1), 0, 7, ""}, {uri_of(2), 0, 9, ""}}),
                15, {{uri_of(0), 1}, {uri_of(1), 1}, {uri_of(2), 0}}, 100000);
}

// ---- cursors and orders ----

TEST(RoundRobin, RotatesAndMovesPastTheEntryUsed) {
  // Kamailio sets its cursor after the destination it used, so the entry after a down one is
  // not taken twice in a row. Index order is the reverse of the list here.
  std::vector<Dest> d = plain(4);
  d[2].flags = cfg::kDsInactive;  // index 1
  EXPECT_EQ(picks(*snapshot(d), 4, 6),
            (std::vector<std::string>{uri_of(3), uri_of(1), uri_of(0), uri_of(3), uri_of(1),
                                      uri_of(0)}));
}

TEST(Serial, FirstUsableInPriorityOrder) {
  std::vector<Dest> d = {{uri_of(0), 0, 1}, {uri_of(1), 0, 9}, {uri_of(2), 0, 5}};
  EXPECT_EQ(picks(*snapshot(d), 8, 3), std::vector<std::string>(3, uri_of(1)));
  d[1].flags = cfg::kDsInactive;
  EXPECT_EQ(picks(*snapshot(d), 8, 2), std::vector<std::string>(2, uri_of(2)));
}

TEST(RoundRobinSerial, RoundRobinOnlyWhenAllPrioritiesAreEqualAndPositive) {
  EXPECT_EQ(histogram(picks(*snapshot({{uri_of(0), 0, 5}, {uri_of(1), 0, 5}}), 14, 10)).size(),
            2u);
  EXPECT_EQ(picks(*snapshot({{uri_of(0), 0, 5}, {uri_of(1), 0, 6}}), 14, 3),
            std::vector<std::string>(3, uri_of(1)));
  EXPECT_EQ(picks(*snapshot({{uri_of(0), 0, 0}, {uri_of(1), 0, 0}}), 14, 3),
            std::vector<std::string>(3, uri_of(1)));
}

TEST(Latency, RoundRobinAmongTheHighestAdjustedPriority) {
  // Kamailio's documented example: priority 30 with latency 21/91/61/19/32/0/201 -> adjusted
  // 30/27/28/30/29/30/24; the three at 30 share the load.
  const int lat[] = {21, 91, 61, 19, 32, 0, 201};
  std::vector<Dest> d;
  for (int i = 0; i < 7; ++i) {
    d.push_back({uri_of(i), 0, 30, "latency=" + std::to_string(lat[i])});
  }
  const auto h = histogram(picks(*snapshot(d), 13, 300));
  EXPECT_EQ(h, (std::map<std::string, int>{{uri_of(0), 100}, {uri_of(3), 100}, {uri_of(5), 100}}));
  EXPECT_EQ(ctl::latency_priority(30, 91, false), 27);
  EXPECT_EQ(ctl::latency_priority(30, 201, false), 24);
  EXPECT_EQ(ctl::latency_priority(2, 500, false), 1);
  EXPECT_EQ(ctl::latency_priority(30, 91, true), 30);
  // Without latency it is round robin over the highest priority.
  d = {{uri_of(0), 0, 10}, {uri_of(1), 0, 10}, {uri_of(2), 0, 5}};
  EXPECT_EQ(histogram(picks(*snapshot(d), 13, 10)),
            (std::map<std::string, int>{{uri_of(0), 5}, {uri_of(1), 5}}));
  d[0].flags = d[1].flags = cfg::kDsInactive;
  EXPECT_EQ(picks(*snapshot(d), 13, 2), std::vector<std::string>(2, uri_of(2)));
}

TEST(Dispatch, EmptyOrUnknownSetSelectsNothing) {
  const auto s = snapshot({});
  auto st = std::make_unique<dp::DispatchState>();
  for (uint32_t alg : {0u, 4u, 6u, 8u, 9u, 11u, 13u, 14u, 15u}) {
    EXPECT_EQ(pick(*s, alg, "x", *st), "none") << alg;
  }
  const dp::DsKey k{"x", {}};
  EXPECT_EQ(dp::select_destination(*snapshot(plain(2)), 7, 0, &k, *st), -1);
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

TEST(Dispatch, ModparamsReachTheSnapshot) {
  // Through the compiler and the control thread's snapshot builder.
  const std::string head =
      "listen=udp:10.0.0.2:5060\nloadmodule \"sl.so\"\nloadmodule \"dispatcher.so\"\n";
  const std::string list = "1 sip:10.0.0.11\n1 sip:10.0.0.12\n1 sip:10.0.0.13\n";
  std::string error;
  auto def = test::make_snapshot(head + "request_route { ds_select_dst(1, 0); }\n", list,
                                 "10.0.0.2", {}, {}, error);
  ASSERT_NE(def, nullptr) << error;
  EXPECT_EQ(def->snap.dispatcher.mode, DsHashMode::kMaglev);
  EXPECT_FALSE(def->snap.dispatcher.hash_user_only);
  EXPECT_EQ(def->snap.sets[0].maglev.size(), 65537u);
  auto kam = test::make_snapshot(
      head +
          "modparam(\"dispatcher\", \"ds_hash_mode\", \"kamailio\")\n"
          "modparam(\"dispatcher\", \"flags\", 1)\n"
          "modparam(\"dispatcher\", \"hash_pvar\", \"$fU-$ci\")\n"
          "request_route { ds_select_dst(1, 7); }\n",
      list, "10.0.0.2", {}, {}, error);
  ASSERT_NE(kam, nullptr) << error;
  const dp::DsConfig& c = kam->snap.dispatcher;
  EXPECT_EQ(c.mode, DsHashMode::kKamailio);
  EXPECT_TRUE(c.hash_user_only);
  ASSERT_EQ(c.hash_pvar.size(), 3u);
  EXPECT_EQ(c.hash_pvar[0].kind, cfg::DsPvPart::Kind::kFromUser);
  EXPECT_EQ(c.hash_pvar[1].text, "-");
  EXPECT_EQ(c.hash_pvar[2].kind, cfg::DsPvPart::Kind::kCallId);
  EXPECT_TRUE(kam->snap.sets[0].maglev.empty());  // modulo needs no table
  EXPECT_FALSE(c.failover);
  // Kamailio's failover flag (2) reaches the snapshot; other bits are refused.
  auto fo = test::make_snapshot(head + "modparam(\"dispatcher\", \"flags\", 3)\n"
                                       "request_route { }\n",
                                list, "10.0.0.2", {}, {}, error);
  ASSERT_NE(fo, nullptr) << error;
  EXPECT_TRUE(fo->snap.dispatcher.failover);
  EXPECT_TRUE(fo->snap.dispatcher.hash_user_only);
  EXPECT_EQ(test::make_snapshot(head + "modparam(\"dispatcher\", \"flags\", 4)\n"
                                       "request_route { }\n",
                                list, "10.0.0.2", {}, {}, error),
            nullptr);
}

// ---- keys read from the request ----

TEST(Keys, UriKeyIsUserAndHostWithTheNonDefaultPort) {
  auto key = [](std::string_view uri, bool user_only = false) {
    dp::DsKey k;
    const bool ok = dp::ds_uri_key(uri.data(), sip::Span{0, static_cast<uint16_t>(uri.size())},
                                   user_only, k);
    return ok ? std::string(k.first) + "|" + std::string(k.second) : std::string("error");
  };
  EXPECT_EQ(key("sip:alice@example.com"), "alice|example.com");
  EXPECT_EQ(key("sip:alice@example.com:5060"), "alice|example.com");
  EXPECT_EQ(key("sip:alice@example.com:5070;transport=udp"), "alice|example.com:5070");
  EXPECT_EQ(key("sips:alice@example.com:5061"), "alice|example.com");
  EXPECT_EQ(key("sips:alice@example.com:5060"), "alice|example.com:5060");
  EXPECT_EQ(key("sip:[2001:db8::1]:5080"), "|[2001:db8::1]:5080");
  EXPECT_EQ(key("sip:alice:secret@example.com"), "alice|example.com");
  EXPECT_EQ(key("sip:alice@example.com:5070", true), "alice|");
  // tel: has no host; Kamailio 5.6 hashes the number alone (differential script 02, msg 23).
  EXPECT_EQ(key("tel:+15551234"), "+15551234|");
  EXPECT_EQ(key("tel:+15551234;phone-context=example.com"), "+15551234|");
  EXPECT_EQ(key("not a uri"), "error");
}

constexpr std::string_view kRequest =
    "INVITE sip:bob@biloxi.example.com:5070 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.10:5060;branch=z9hG4bK-1\r\n"
    "From: \"Alice\" <sip:alice@atlanta.example.com:5060>;tag=9fxced76sl\r\n"
    "t: <sip:carol@chicago.example.com>\r\n"
    "Call-ID: 3848276298220188511@atlanta.example.com\r\n"
    "CSeq: 31 INVITE\r\n"
    "X-Tenant:  acme \r\n"
    "Authorization: Digest username=\"wrong\", realm=\"x\"\r\n"
    "Proxy-Authorization: Digest realm=\"atlanta.example.com\",\r\n"
    "  username=\"alice@atlanta.example.com\", nonce=\"ea9c8e88df84f1cec4341ae6cbe5a359\"\r\n"
    "Max-Forwards: 70\r\n"
    "Content-Length: 0\r\n"
    "\r\n";

struct Scanned {
  std::string msg;
  sip::SipView v;
};

Scanned scanned(std::string_view msg) {
  Scanned s{std::string(msg), {}};
  EXPECT_EQ(sip::scan(s.msg.data(), s.msg.size(), s.v), sip::ScanStatus::kOk);
  return s;
}

// The key ds_request_key() reads, as "first|second".
std::string request_key(const Scanned& r, uint32_t alg, const dp::DsConfig& conf = {}) {
  dp::Snapshot snap;
  snap.dispatcher = conf;
  auto st = std::make_unique<dp::DispatchState>();
  dp::DsKey k;
  switch (dp::ds_request_key(snap, alg, r.msg.data(), r.v, *st, k)) {
    case dp::DsKeyStatus::kKey:
      return std::string(k.first) + "|" + std::string(k.second);
    case dp::DsKeyStatus::kNoKey:
      return "no key";
    case dp::DsKeyStatus::kError:
      break;
  }
  return "error";
}

TEST(Keys, EachHashAlgorithmReadsKamailiosInput) {
  const Scanned r = scanned(kRequest);
  EXPECT_EQ(request_key(r, 0), "3848276298220188511@atlanta.example.com|");
  EXPECT_EQ(request_key(r, 1), "alice|atlanta.example.com");
  EXPECT_EQ(request_key(r, 2), "carol|chicago.example.com");  // compact To
  EXPECT_EQ(request_key(r, 3), "bob|biloxi.example.com:5070");
  dp::DsConfig user_only;
  user_only.hash_user_only = true;
  EXPECT_EQ(request_key(r, 3, user_only), "bob|");
  // Proxy-Authorization wins over Authorization; the user part of the username.
  EXPECT_EQ(request_key(r, 5), "alice|");
  // hash_pvar, printed and trimmed; absent values print as "<null>".
  dp::DsConfig pv;
  std::string why;
  size_t off = 0;
  ASSERT_TRUE(cfg::parse_ds_hash_pvar(" $fU@$rd/$hdr(X-Tenant)/$tt/$cs-$rm ", pv.hash_pvar, why,
                                      off))
      << why;
  EXPECT_EQ(request_key(r, 7, pv), "alice@biloxi.example.com/acme/<null>/31-INVITE|");
  // Algorithm 7 without hash_pvar fails, as in Kamailio.
  EXPECT_EQ(request_key(r, 7), "error");
}

// Kamailio's ds_hash_authusername(): a Proxy-Authorization that parses as Digest is the one
// read, even with an empty user (no fall back to the Authorization: differential script 32,
// message 29); one that does not parse (Basic) gives way to the Authorization (message 30).
TEST(Keys, AuthUsernameReadsTheFirstDigestCredentials) {
  const auto with = [](const std::string& auth) {
    return scanned(
        "INVITE sip:bob@b.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.10;branch=z9hG4bK-2\r\n"
        "From: <sip:a@a.example.com>;tag=1\r\nTo: <sip:bob@b.example.com>\r\nCall-ID: x\r\n"
        "CSeq: 1 INVITE\r\n" + auth + "Content-Length: 0\r\n\r\n");
  };
  EXPECT_EQ(request_key(with("Proxy-Authorization: Digest username=\"\", realm=r\r\n"
                             "Authorization: Digest username=\"gina\", realm=r\r\n"), 5),
            "no key");
  EXPECT_EQ(request_key(with("Proxy-Authorization: Basic Z2luYTpzZWNyZXQ=\r\n"
                             "Authorization: Digest username=\"hank\", realm=r\r\n"), 5),
            "hank|");
  EXPECT_EQ(request_key(with("Authorization: Digest username=\"ivan@example.com\"\r\n"), 5),
            "ivan|");
  EXPECT_EQ(request_key(with("Authorization: Digest username=\"ivan\r\n"), 5), "no key");
  // parse_username() drops a scheme too, with or without a domain (messages 32 and 33); a
  // username of 2 bytes or less is kept whole.
  EXPECT_EQ(request_key(with("Authorization: Digest username=\"sip:judy@example.com\"\r\n"), 5),
            "judy|");
  EXPECT_EQ(request_key(with("Authorization: Digest username=\"sip:walter\"\r\n"), 5),
            "walter|");
  EXPECT_EQ(request_key(with("Authorization: Digest username=\"a@\"\r\n"), 5), "a@|");
}

TEST(Keys, AuthUsernameFallsBackToRoundRobin) {
  const Scanned none = scanned(
      "INVITE sip:bob@b.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.10;branch=z9hG4bK-2\r\n"
      "From: <sip:a@a.example.com>;tag=1\r\nTo: <sip:bob@b.example.com>\r\nCall-ID: x\r\n"
      "CSeq: 1 INVITE\r\nAuthorization: Basic QWxhZGRpbjpvcGVu\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(request_key(none, 5), "no key");
  const auto s = snapshot(plain(3));
  auto st = std::make_unique<dp::DispatchState>();
  std::vector<std::string> got;
  for (int i = 0; i < 3; ++i) {
    const int d = dp::select_destination(*s, 0, 5, none.msg.data(), none.v, *st);
    ASSERT_GE(d, 0);
    got.push_back(s->destinations[static_cast<size_t>(d)].uri);
  }
  EXPECT_EQ(histogram(got).size(), 3u);
}

TEST(Keys, RequestSelectionHashesTheKeyKamailioHashes) {
  const Scanned r = scanned(kRequest);
  const auto s = snapshot(plain(7), DsHashMode::kKamailio);
  auto st = std::make_unique<dp::DispatchState>();
  auto chosen = [&](uint32_t alg) {
    return dp::select_destination(*s, 0, alg, r.msg.data(), r.v, *st);
  };
  EXPECT_EQ(chosen(0),
            static_cast<int>(dp::kamailio_ds_hash("3848276298220188511@atlanta.example.com") % 7));
  EXPECT_EQ(chosen(1), static_cast<int>(dp::kamailio_ds_hash("alice", "atlanta.example.com") % 7));
  EXPECT_EQ(chosen(2), static_cast<int>(dp::kamailio_ds_hash("carol", "chicago.example.com") % 7));
  EXPECT_EQ(chosen(3),
            static_cast<int>(dp::kamailio_ds_hash("bob", "biloxi.example.com:5070") % 7));
  EXPECT_EQ(chosen(5), static_cast<int>(dp::kamailio_ds_hash("alice") % 7));
}


// ---- failover list ($xavp(_dsdst_)) ----

// A request of transaction `n` (Call-ID, branch) with this method and CSeq number.
Scanned request(std::string_view method, int n, int cseq = 1) {
  const std::string m(method);
  return scanned(m + " sip:bob@b.example.com SIP/2.0\r\n"
                 "Via: SIP/2.0/UDP 10.0.0.10:5060;branch=z9hG4bK-t" + std::to_string(n) + "\r\n"
                 "From: <sip:a@a.example.com>;tag=1\r\nTo: <sip:bob@b.example.com>\r\n"
                 "Call-ID: call-" + std::to_string(n) + "@a\r\n"
                 "CSeq: " + std::to_string(cseq) + " " + m + "\r\n"
                 "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n");
}

// The failover list of one ds_select_dst(1, alg, limit), as the last octet of each URI.
std::string candidates(const dp::Snapshot& s, uint32_t alg, size_t limit, dp::DispatchState& st,
                       const Scanned& r) {
  int32_t out[64];
  const size_t n = dp::select_candidates(s, 0, alg, r.msg.data(), r.v, st, out, limit);
  std::string got;
  for (size_t i = 0; i < n; ++i) {
    const std::string& uri = s.destinations[static_cast<size_t>(out[i])].uri;
    got += (i != 0 ? " " : "") + uri.substr(uri.rfind('.') + 1);
  }
  return got;
}

// The lists Kamailio 5.6 put into $xavp(_dsdst_) (flags=2, xlog of _dsdst_[0..4]=>uri, the
// _dsctx_ cnt checked), for this list: 1..6 with priorities 10 10 5 5 1 5, .3 inactive. Index
// order (priority, then later lines first): .2 .1 .6 .4 (.3) .5.
std::vector<Dest> kamailio_lab() {
  return {{"sip:10.66.9.1", 0, 10}, {"sip:10.66.9.2", 0, 10},
          {"sip:10.66.9.3", cfg::kDsInactive, 5}, {"sip:10.66.9.4", 0, 5},
          {"sip:10.66.9.5", 0, 1}, {"sip:10.66.9.6", 0, 5}};
}

TEST(Failover, RoundRobinListFollowsTheSelectedEntryLikeKamailio) {
  const auto s = snapshot(kamailio_lab());
  auto st = std::make_unique<dp::DispatchState>();
  // ds_select_dst("1", "4", "3") five times in a fresh Kamailio.
  const char* want[] = {"2 1 6", "1 6 4", "6 4 5", "4 5 2", "5 2 1"};
  // Kamailio's run began at .1 (algorithm 13 had run first and moved the set's one cursor,
  // which 4 and 13 share there as here): the same cycle, one call later.
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(candidates(*s, 4, 3, *st, request("INVITE", i)), want[i]) << i;
  }
  // Without a limit: every usable destination once, the inactive one never.
  EXPECT_EQ(candidates(*s, 4, 64, *st, request("INVITE", 9)), "2 1 6 4 5");
}

TEST(Failover, SerialWeightAndRandomListTheRestInIndexOrder) {
  const auto s = snapshot(kamailio_lab());
  auto st = std::make_unique<dp::DispatchState>();
  EXPECT_EQ(candidates(*s, 8, 64, *st, request("INVITE", 1)), "2 1 6 4 5");
  EXPECT_EQ(candidates(*s, 8, 2, *st, request("INVITE", 2)), "2 1");
  // Random and weights: whatever is selected comes first, the others follow it in index
  // order, wrapping, as in Kamailio (ALG 6/9/11 runs above).
  const std::vector<std::string> order = {"2", "1", "6", "4", "5"};
  for (uint32_t alg : {6u, 9u, 11u, 15u, 14u, 0u}) {
    for (int i = 0; i < 20; ++i) {
      const std::string got = candidates(*s, alg, 64, *st, request("INVITE", 100 + i));
      ASSERT_EQ(got.size(), 9u) << alg << ": " << got;
      const auto at = static_cast<size_t>(
          std::find(order.begin(), order.end(), got.substr(0, 1)) - order.begin());
      ASSERT_LT(at, order.size());
      std::string want;
      for (size_t k = 0; k < order.size(); ++k) {
        want += (k != 0 ? " " : "") + order[(at + k) % order.size()];
      }
      EXPECT_EQ(got, want) << alg;
    }
  }
}

TEST(Failover, FirstChoiceIsSelectDestinations) {
  const auto s = snapshot(kamailio_lab());
  for (uint32_t alg : {0u, 1u, 2u, 3u, 4u, 6u, 8u, 9u, 11u, 13u, 14u, 15u}) {
    auto a = std::make_unique<dp::DispatchState>();
    auto b = std::make_unique<dp::DispatchState>();
    a->rng = b->rng = 0x1234567;  // algorithm 6: the same random sequence
    for (int i = 0; i < 30; ++i) {
      const Scanned r = request("INVITE", i);
      int32_t out[8];
      const size_t n = dp::select_candidates(*s, 0, alg, r.msg.data(), r.v, *a, out, 8);
      const int want = dp::select_destination(*s, 0, alg, r.msg.data(), r.v, *b);
      ASSERT_EQ(n, 5u) << alg;
      EXPECT_EQ(out[0], want) << alg << " " << i;
    }
  }
  // Nothing usable: nothing listed.
  std::vector<Dest> down = kamailio_lab();
  for (Dest& d : down) {
    d.flags = cfg::kDsInactive;
  }
  auto st = std::make_unique<dp::DispatchState>();
  EXPECT_EQ(candidates(*snapshot(down), 4, 8, *st, request("INVITE", 1)), "");
}

TEST(Failover, LatencyListIsByPriorityThenRoundRobin) {
  // Kamailio 5.6, ds_select_dst("1", "13", "3") on the lab list: "2 1 6", "1 2 6", "2 1 6"...
  const auto s = snapshot(kamailio_lab());
  auto st = std::make_unique<dp::DispatchState>();
  const char* want[] = {"2 1 6", "1 2 6", "2 1 6", "1 2 6"};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(candidates(*s, 13, 3, *st, request("INVITE", i)), want[i]) << i;
  }
  // Whole list: each priority level in rotation order from the cursor.
  auto fresh = std::make_unique<dp::DispatchState>();
  EXPECT_EQ(candidates(*s, 13, 64, *fresh, request("INVITE", 1)), "2 1 6 4 5");
  EXPECT_EQ(candidates(*s, 13, 64, *fresh, request("INVITE", 2)), "1 2 6 4 5");
  EXPECT_EQ(candidates(*s, 13, 64, *fresh, request("INVITE", 3)), "2 1 6 4 5");
  // The priority-10 pair down: the priority-5 pair rotates, .5 last.
  std::vector<Dest> d = kamailio_lab();
  d[0].flags = d[1].flags = cfg::kDsInactive;
  const auto low = snapshot(d);
  auto st2 = std::make_unique<dp::DispatchState>();
  EXPECT_EQ(candidates(*low, 13, 64, *st2, request("INVITE", 1)), "6 4 5");
  EXPECT_EQ(candidates(*low, 13, 64, *st2, request("INVITE", 2)), "4 6 5");
  EXPECT_EQ(candidates(*low, 13, 2, *st2, request("INVITE", 3)), "6 4");
}

// ---- CANCEL / ACK affinity ----

TEST(Affinity, CancelAndAckFollowTheInviteWithRoundRobin) {
  const auto s = snapshot(plain(4));
  auto st = std::make_unique<dp::DispatchState>();
  st->tsc_hz = 1000000000;
  st->fake_tsc = 1ull << 40;
  auto sel = [&](const Scanned& r, uint32_t alg) {
    return dp::select_destination(*s, 0, alg, r.msg.data(), r.v, *st);
  };
  for (uint32_t alg : {4u, 6u, 8u, 9u, 11u, 13u, 14u, 15u, 5u}) {
    for (int call = 0; call < 10; ++call) {
      const int n = static_cast<int>(alg) * 100 + call;
      const int invite = sel(request("INVITE", n), alg);
      ASSERT_GE(invite, 0);
      // Other traffic moves the cursor in between.
      sel(request("INVITE", n + 50), alg);
      sel(request("OPTIONS", n + 60), alg);
      EXPECT_EQ(sel(request("CANCEL", n), alg), invite) << alg << " call " << call;
      EXPECT_EQ(sel(request("ACK", n), alg), invite) << alg << " call " << call;
    }
  }
  EXPECT_EQ(st->affinity_hits, 9u * 10u * 2u);
  // Another transaction of the same call (new CSeq, new branch) is not pinned: round robin.
  const int a = sel(request("INVITE", 7000, 1), 4);
  const int b = sel(request("CANCEL", 7000, 2), 4);
  EXPECT_NE(a, b);
  // Algorithm 5: the INVITE hashed its credentials, the CANCEL has none.
  const Scanned auth = scanned(
      "INVITE sip:bob@b.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.10;branch=z9hG4bK-au\r\n"
      "From: <sip:a@a.example.com>;tag=1\r\nTo: <sip:bob@b.example.com>\r\nCall-ID: au@a\r\n"
      "CSeq: 5 INVITE\r\nProxy-Authorization: Digest username=\"zed\", realm=\"r\"\r\n"
      "Content-Length: 0\r\n\r\n");
  const Scanned cancel = scanned(
      "CANCEL sip:bob@b.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.10;branch=z9hG4bK-au\r\n"
      "From: <sip:a@a.example.com>;tag=1\r\nTo: <sip:bob@b.example.com>\r\nCall-ID: au@a\r\n"
      "CSeq: 5 CANCEL\r\nContent-Length: 0\r\n\r\n");
  const int inv = sel(auth, 5);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(sel(cancel, 5), inv);
  }
}

TEST(Affinity, ADownDestinationIsNotKeptAndEntriesExpire) {
  std::vector<Dest> d = plain(4);
  const auto s = snapshot(d);
  auto st = std::make_unique<dp::DispatchState>();
  st->tsc_hz = 1000000000;
  st->fake_tsc = 5ull << 40;
  auto sel = [&](const dp::Snapshot& snap, const Scanned& r) {
    return dp::select_destination(snap, 0, 4, r.msg.data(), r.v, *st);
  };
  const int invite = sel(*s, request("INVITE", 1));
  // The INVITE's destination went down (a new snapshot): the CANCEL is dispatched anew. Index
  // order is reversed for equal priorities: mark the entry by URI.
  const std::string uri = s->destinations[static_cast<size_t>(invite)].uri;
  for (Dest& x : d) {
    x.flags = x.uri == uri ? static_cast<uint32_t>(cfg::kDsInactive) : 0u;
  }
  const auto down = snapshot(d);
  const int again = sel(*down, request("CANCEL", 1));
  ASSERT_GE(again, 0);
  EXPECT_NE(down->destinations[static_cast<size_t>(again)].uri, uri);
  // A reload that keeps the destination (same set + URI, new snapshot): still pinned.
  const int i2 = sel(*s, request("INVITE", 2));
  const auto reloaded = snapshot(plain(4));
  EXPECT_EQ(reloaded->destinations[static_cast<size_t>(sel(*reloaded, request("CANCEL", 2)))].uri,
            s->destinations[static_cast<size_t>(i2)].uri);
  // Expiry: just before the TTL the entry holds, just after it does not.
  const int i3 = sel(*s, request("INVITE", 3));
  sel(*s, request("INVITE", 30));  // the cursor now points past i3's successor
  const uint64_t ttl = dp::kDsAffinityTtlSeconds * st->tsc_hz;
  st->fake_tsc += ttl - (4ull << dp::kDsTickShift);
  EXPECT_EQ(sel(*s, request("CANCEL", 3)), i3);
  st->fake_tsc += 8ull << dp::kDsTickShift;
  const uint64_t hits = st->affinity_hits;
  sel(*s, request("CANCEL", 3));
  EXPECT_EQ(st->affinity_hits, hits);  // expired: dispatched by round robin, not the cache
}

// A reload that adds a set with a lower id moves set 2 from index 0 to index 1 of the
// snapshot's sets. The CANCELs of INVITEs sent before it must still find their INVITE's
// destination: the affinity key holds the set's id, not its index (with the index, 0 of 6
// found it).
TEST(Affinity, AReloadThatShiftsTheSetsKeepsTheirCancelsWithTheirInvites) {
  const std::string set2 = "2 sip:10.0.2.1:5060\n2 sip:10.0.2.2:5060\n2 sip:10.0.2.3:5060\n";
  const auto before = list_snapshot(set2);
  auto after = list_snapshot("1 sip:10.0.1.1:5060\n" + set2);
  ASSERT_EQ(after->sets.size(), 2u);
  ASSERT_EQ(after->sets[1].id, 2);
  // The daemon keeps a destination's id across reloads (ctl::DestinationIds): so here.
  for (dp::Destination& d : after->destinations) {
    d.id = 99;
    for (const dp::Destination& o : before->destinations) {
      if (o.set == d.set && o.uri == d.uri) {
        d.id = o.id;
      }
    }
  }
  auto st = std::make_unique<dp::DispatchState>();
  st->tsc_hz = 1000000000;
  st->fake_tsc = 5ull << 40;
  std::vector<std::string> invited;
  for (int k = 1; k <= 6; ++k) {
    const Scanned inv = request("INVITE", k);
    const int d = dp::select_destination(*before, 0, 4, inv.msg.data(), inv.v, *st);
    ASSERT_GE(d, 0);
    invited.push_back(before->destinations[static_cast<size_t>(d)].uri);
  }
  for (int k = 1; k <= 6; ++k) {
    const Scanned cancel = request("CANCEL", k);
    const int d = dp::select_destination(*after, 1, 4, cancel.msg.data(), cancel.v, *st);
    ASSERT_GE(d, 0);
    EXPECT_EQ(after->destinations[static_cast<size_t>(d)].uri, invited[static_cast<size_t>(k - 1)])
        << "CANCEL " << k;
  }
}

// The worker's per-burst clock (DispatchState::burst_tsc) is the affinity records' clock when
// set: the same expiry as above, driven by it (no fake clock).
TEST(Affinity, TheBurstClockDrivesExpiry) {
  const auto s = snapshot(plain(4));
  auto st = std::make_unique<dp::DispatchState>();
  st->tsc_hz = 1000000000;
  st->burst_tsc = 7ull << 40;
  auto sel = [&](const Scanned& r) {
    return dp::select_destination(*s, 0, 4, r.msg.data(), r.v, *st);
  };
  const int i3 = sel(request("INVITE", 3));
  sel(request("INVITE", 30));  // the cursor now points past i3's successor
  const uint64_t ttl = dp::kDsAffinityTtlSeconds * st->tsc_hz;
  st->burst_tsc += ttl - (4ull << dp::kDsTickShift);
  uint64_t hits = st->affinity_hits;
  EXPECT_EQ(sel(request("CANCEL", 3)), i3);
  EXPECT_EQ(st->affinity_hits, hits + 1);
  st->burst_tsc += 8ull << dp::kDsTickShift;
  hits = st->affinity_hits;
  sel(request("CANCEL", 3));
  EXPECT_EQ(st->affinity_hits, hits);  // expired by the burst clock
}

TEST(Affinity, AFullBucketEvictsItsOldestEntry) {
  const auto s = snapshot(plain(7));
  auto st = std::make_unique<dp::DispatchState>();
  st->tsc_hz = 1000000000;
  st->fake_tsc = 9ull << 40;
  auto sel = [&](const Scanned& r) {
    return dp::select_destination(*s, 0, 4, r.msg.data(), r.v, *st);
  };
  // Far more INVITEs than the table holds: the most recent ones are all still pinned, the
  // oldest are gone (each entry is older than every entry that came after it).
  // Eight times the capacity: every bucket then gets far more than its ways after the oldest
  // 2000 (a bucket of 4 ways sees ~28 later INVITEs on average).
  const int n = static_cast<int>(dp::kDsAffinityWays * dp::kDsAffinityBuckets) * 8;
  std::vector<int> chosen(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    chosen[static_cast<size_t>(i)] = sel(request("INVITE", i));
    // A quarter tick per INVITE: ages grow, and the first is younger than the TTL at the end.
    st->fake_tsc += 1ull << (dp::kDsTickShift - 2);
  }
  ASSERT_LT(static_cast<uint64_t>(n) / 4, dp::kDsAffinityTtlSeconds * st->tsc_hz >> dp::kDsTickShift);
  uint64_t before = st->affinity_hits;
  int recent_ok = 0;
  for (int i = n - 2000; i < n; ++i) {
    recent_ok += sel(request("ACK", i)) == chosen[static_cast<size_t>(i)] ? 1 : 0;
  }
  EXPECT_EQ(recent_ok, 2000);
  EXPECT_EQ(st->affinity_hits - before, 2000u);
  before = st->affinity_hits;
  for (int i = 0; i < 2000; ++i) {
    sel(request("ACK", i));
  }
  EXPECT_EQ(st->affinity_hits, before);  // evicted
  // Every slot is taken: exactly the table's capacity is remembered.
  size_t used = 0;
  for (const dp::DsAffinityEntry& e : st->affinity) {
    used += e.dest_id != 0 ? 1 : 0;
  }
  EXPECT_EQ(used, dp::kDsAffinityWays * dp::kDsAffinityBuckets);
}

TEST(Affinity, HashAlgorithmsNeedNoCache) {
  const auto s = snapshot(plain(5));
  auto st = std::make_unique<dp::DispatchState>();
  for (uint32_t alg : {0u, 1u, 2u, 3u}) {
    for (int i = 0; i < 50; ++i) {
      const Scanned r = request("INVITE", i);
      const int inv = dp::select_destination(*s, 0, alg, r.msg.data(), r.v, *st);
      const Scanned c = request("CANCEL", i);
      EXPECT_EQ(dp::select_destination(*s, 0, alg, c.msg.data(), c.v, *st), inv);
    }
  }
  EXPECT_EQ(st->affinity_hits, 0u);
}

// The Call-ID as the scanner gives it is already trimmed (dispatch.cpp no longer trims it
// again): LWS around the value, a folded value included, changes neither algorithm 0's key and
// choice nor the transaction a CANCEL or ACK is matched to.
TEST(Affinity, CallIdWhitespaceIsTheScannersToTrim) {
  auto msg = [](std::string_view method, std::string_view call_id_line) {
    const std::string m(method);
    return scanned(m + " sip:bob@b.example.com SIP/2.0\r\n"
                   "Via: SIP/2.0/UDP 10.0.0.10:5060;branch=z9hG4bK-ws1\r\n"
                   "From: <sip:a@a.example.com>;tag=1\r\nTo: <sip:bob@b.example.com>\r\n" +
                   std::string(call_id_line) + "\r\nCSeq: 7 " + m +
                   "\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n");
  };
  const Scanned plain_invite = msg("INVITE", "Call-ID: ws-1@a");
  const std::vector<std::string> padded = {"Call-ID:   ws-1@a  ", "Call-ID:\tws-1@a\t",
                                           "Call-ID:\r\n  ws-1@a", "i: ws-1@a \t "};
  for (const std::string& line : padded) {
    const Scanned r = msg("INVITE", line);
    EXPECT_EQ(r.v.call_id.in(r.msg.data()), "ws-1@a") << line;  // the scanner's contract
    EXPECT_EQ(request_key(r, 0), "ws-1@a|") << line;
  }
  // Algorithm 0 over many sets of destinations: the padded Call-ID goes where the plain one does.
  const auto s = snapshot(plain(16));
  auto st = std::make_unique<dp::DispatchState>();
  const int want = dp::select_destination(*s, 0, 0, plain_invite.msg.data(), plain_invite.v, *st);
  ASSERT_GE(want, 0);
  for (const std::string& line : padded) {
    const Scanned r = msg("INVITE", line);
    EXPECT_EQ(dp::select_destination(*s, 0, 0, r.msg.data(), r.v, *st), want) << line;
  }
  // Round robin: a padded CANCEL / ACK finds the plain INVITE's entry, and the reverse.
  st->tsc_hz = 1000000000;
  st->fake_tsc = 3ull << 40;
  const int inv = dp::select_destination(*s, 0, 4, plain_invite.msg.data(), plain_invite.v, *st);
  ASSERT_GE(inv, 0);
  for (const std::string& line : padded) {
    for (std::string_view method : {"CANCEL", "ACK"}) {
      const Scanned r = msg(method, line);
      EXPECT_EQ(dp::select_destination(*s, 0, 4, r.msg.data(), r.v, *st), inv) << line;
    }
  }
  EXPECT_EQ(st->affinity_hits, padded.size() * 2);
  const Scanned padded_invite = msg("INVITE", "Call-ID:  ws-1@a \t");
  const int inv2 = dp::select_destination(*s, 0, 4, padded_invite.msg.data(), padded_invite.v,
                                          *st);  // a retransmission: dispatched anew, refreshed
  const Scanned cancel = msg("CANCEL", "Call-ID: ws-1@a");
  EXPECT_EQ(dp::select_destination(*s, 0, 4, cancel.msg.data(), cancel.v, *st), inv2);
}

// Maglev keys with an empty second part (every algorithm but the URI ones) hash as XXH3 does:
// dispatch.cpp writes XXH3's empty-input case out.
TEST(Maglev, KeyHashIsXxh3OfBothParts) {
  constexpr uint64_t kSeed = 0x7669616475637444ULL;  // dispatch.cpp's kKeySeed, "viaductD"
  auto reference = [&](std::string_view a, std::string_view b) {
    const uint64_t h = XXH3_64bits_withSeed(a.data(), a.size(), kSeed);
    return XXH3_64bits_withSeed(b.data(), b.size(), h);
  };
  for (int i = 0; i < 2000; ++i) {
    const std::string a = i % 7 == 0 ? std::string() : call_id(i * 7919);
    const std::string b = i % 3 == 0 ? "host" + std::to_string(i) + ".example.com" : "";
    EXPECT_EQ(dp::ds_key_hash(dp::DsKey{a, b}), reference(a, b)) << a << "|" << b;
  }
  // The empty second part alone, over seeds with every bit pattern class.
  uint64_t x = 1;
  for (int i = 0; i < 1000; ++i, x = x * 6364136223846793005ULL + 1442695040888963407ULL) {
    const std::string a(reinterpret_cast<const char*>(&x), 8);
    EXPECT_EQ(dp::ds_key_hash(dp::DsKey{a, {}}), reference(a, {}));
  }
}

// Where an INVITE's entry goes in its bucket: its own entry when it is a retransmission (even
// expired), else the last free or expired way, else the oldest, the first of equals. The bucket
// is found from the INVITE's own entry, then filled by hand.
TEST(Affinity, WayChoiceInABucket) {
  const auto s = snapshot(plain(4));
  auto st = std::make_unique<dp::DispatchState>();
  st->tsc_hz = 1000000000;
  st->fake_tsc = 11ull << 40;
  const uint32_t now = static_cast<uint32_t>(st->fake_tsc >> dp::kDsTickShift);
  const uint32_t ttl =
      static_cast<uint32_t>((st->tsc_hz * dp::kDsAffinityTtlSeconds) >> dp::kDsTickShift);
  const Scanned invite = request("INVITE", 4242);
  auto send = [&] { return dp::select_destination(*s, 0, 4, invite.msg.data(), invite.v, *st); };
  send();
  size_t at = SIZE_MAX;
  for (size_t i = 0; i < std::size(st->affinity); ++i) {
    if (st->affinity[i].dest_id != 0) {
      ASSERT_EQ(at, SIZE_MAX) << "one INVITE, one entry";
      at = i;
    }
  }
  ASSERT_NE(at, SIZE_MAX);
  const uint64_t key = st->affinity[at].key;
  EXPECT_EQ(st->affinity[at].expires, now + ttl);
  dp::DsAffinityEntry* b = &st->affinity[at - at % dp::kDsAffinityWays];
  EXPECT_EQ(at % dp::kDsAffinityWays, dp::kDsAffinityWays - 1);  // an empty bucket: the last way
  using E = dp::DsAffinityEntry;
  auto fill = [&](std::array<E, dp::kDsAffinityWays> ways) {
    for (size_t w = 0; w < dp::kDsAffinityWays; ++w) {
      b[w] = ways[w];
    }
  };
  auto landed = [&] {  // the way holding the INVITE's key after it is sent
    const int d = send();
    EXPECT_GE(d, 0);
    int way = -1;
    for (size_t w = 0; w < dp::kDsAffinityWays; ++w) {
      if (b[w].key == key && b[w].dest_id != 0) {
        EXPECT_EQ(way, -1) << "the key twice in its bucket";
        EXPECT_EQ(b[w].expires, now + ttl);
        EXPECT_EQ(b[w].dest_id, s->destinations[static_cast<size_t>(d)].id);
        way = static_cast<int>(w);
      }
    }
    return way;
  };
  const E old{key + 1, 1, now + 10};
  const E older{key + 2, 2, now + 5};
  const E young{key + 3, 3, now + ttl};
  const E gone{key + 4, 4, now};  // expires now: expired
  const E free_way{};
  fill({young, old, older, young});
  EXPECT_EQ(landed(), 2);  // the oldest
  EXPECT_EQ(b[1].key, key + 1);
  fill({old, old, young, old});
  EXPECT_EQ(landed(), 0);  // the first of equally old
  fill({gone, young, free_way, old});
  EXPECT_EQ(landed(), 2);  // the last free or expired way
  fill({free_way, gone, young, old});
  EXPECT_EQ(landed(), 1);
  fill({gone, young, E{key, 2, now - 1}, free_way});
  EXPECT_EQ(landed(), 2);  // its own entry, expired, refreshed before any free way
  fill({young, E{key, 1, now + 3}, young, young});
  EXPECT_EQ(landed(), 1);  // a retransmission refreshes its entry
  // A free way's zero key never counts as the INVITE's own entry.
  fill({E{key, 0, 0}, young, young, young});
  EXPECT_EQ(landed(), 0);
  EXPECT_EQ(b[1].key, key + 3);  // nothing else moved
  EXPECT_EQ(b[3].expires, now + ttl);
}

// ---- reply source -> destination ----

TEST(ReplySource, AddressMapsToTheFirstDestinationWithIt) {
  // The selection-only snapshot carries no addresses: give each its own, and two the same.
  const auto s = snapshot(plain(4));
  for (size_t i = 0; i < 4; ++i) {
    s->destinations[i].ip_be = 0x0a000001u + static_cast<uint32_t>(i);
    s->destinations[i].port_be = static_cast<uint16_t>(5060 + i);
  }
  s->destinations[3].ip_be = s->destinations[2].ip_be;
  s->destinations[3].port_be = s->destinations[2].port_be;
  auto st = std::make_unique<dp::DispatchState>();
  EXPECT_EQ(dp::destination_by_address(*s, *st, s->destinations[3].ip_be,
                                       s->destinations[3].port_be),
            s->destinations[2].id);
  s->destinations.pop_back();
  for (const dp::Destination& d : s->destinations) {
    EXPECT_EQ(dp::destination_by_address(*s, *st, d.ip_be, d.port_be), d.id) << d.uri;
    EXPECT_EQ(dp::destination_by_address(*s, *st, d.ip_be,
                                         static_cast<uint16_t>(d.port_be + 1)),
              0u) << d.uri;
  }
  EXPECT_EQ(dp::destination_by_address(*s, *st, 0x01020304, 0xc413), 0u);
  // A new snapshot (another generation) rebuilds the table.
  auto t = snapshot({{"sip:10.0.0.9:5060"}});
  t->generation = s->generation + 1;
  t->destinations[0].ip_be = 0x0b000001u;
  t->destinations[0].port_be = 5060;
  EXPECT_EQ(dp::destination_by_address(*t, *st, t->destinations[0].ip_be,
                                       t->destinations[0].port_be),
            t->destinations[0].id);
  EXPECT_EQ(dp::destination_by_address(*t, *st, s->destinations[0].ip_be,
                                       s->destinations[0].port_be),
            0u);
}

// ---- send failures (the blocklist on a TX failure) ----

// The control side's verdict on the workers' kSendFailed events (the workers post one per
// forward to a destination without a route or a next-hop MAC; e2e-reload-flood checks the
// whole chain).
TEST(SendFailures, NoRouteBlocksAtOnceAMissingMacOnlyOnceArpGaveUp) {
  ctl::SendFailures f;
  const auto t0 = ctl::ProbeClock::now();
  using std::chrono::milliseconds;
  EXPECT_TRUE(f.on_failure(true, 0, t0));
  const uint32_t hop = 0x0a000005;
  EXPECT_FALSE(f.on_failure(false, hop, t0));  // the first packet to an unknown MAC
  EXPECT_FALSE(f.on_failure(false, hop, t0 + milliseconds(2999)));
  EXPECT_TRUE(f.on_failure(false, hop, t0 + milliseconds(3000)));
  EXPECT_TRUE(f.on_failure(false, hop, t0 + milliseconds(5000)));
  // Another hop has its own grace.
  EXPECT_FALSE(f.on_failure(false, hop + 1, t0 + milliseconds(5000)));
  // ARP answered: the next failure starts over.
  f.resolved(hop);
  EXPECT_FALSE(f.on_failure(false, hop, t0 + milliseconds(6000)));
  // Quiet for longer than kQuiet: a new episode, a new grace.
  const auto later = t0 + milliseconds(6000) + ctl::SendFailures::kQuiet + milliseconds(1);
  EXPECT_FALSE(f.on_failure(false, hop, later));
  EXPECT_TRUE(f.on_failure(false, hop, later + ctl::SendFailures::kArpGiveUp));
  // Bounded: hops that went quiet are pruned once there are many.
  for (uint32_t i = 0; i < 5000; ++i) {
    f.on_failure(false, 0x0b000000 + i, t0);
  }
  f.on_failure(false, 0x0c000000, t0 + ctl::SendFailures::kQuiet + milliseconds(1));
  EXPECT_LT(f.size(), 5000u);
}

// ---- use_default: the set's last entry is its default ----

std::unique_ptr<dp::Snapshot> with_default(const std::vector<Dest>& dests,
                                           DsHashMode mode = DsHashMode::kMaglev) {
  std::string list;
  for (const Dest& d : dests) {
    list += "1 " + d.uri + " " + std::to_string(d.flags) + " " + std::to_string(d.priority) +
            (d.attrs.empty() ? "" : " " + d.attrs) + "\n";
  }
  std::vector<cfg::DsDestination> parsed;
  cfg::Diagnostics diags;
  EXPECT_TRUE(cfg::parse_dispatcher_list(list, "t.list", parsed, diags));
  dp::DsConfig conf;
  conf.mode = mode;
  conf.use_default = true;
  return ctl::dispatcher_snapshot(parsed, conf);
}

// Kamailio 5.6.3's lab (modparam use_default 1, flags 2): 127.0.0.1:7001..7004 with priorities
// 40 30 20 10 (index order 7001 7002 7003 7004: 7004 is the default) and weights 50 30 10 10.
std::vector<Dest> default_lab(uint32_t f1, uint32_t f2, uint32_t f3, uint32_t f4) {
  return {{"sip:127.0.0.1:7001", f1, 40, "weight=50"},
          {"sip:127.0.0.1:7002", f2, 30, "weight=30"},
          {"sip:127.0.0.1:7003", f3, 20, "weight=10"},
          {"sip:127.0.0.1:7004", f4, 10, "weight=10"}};
}

// An OPTIONS with this Call-ID, as the lab's client sent them.
Scanned options(const std::string& cid) {
  return scanned("OPTIONS sip:x@127.0.0.1:15462 SIP/2.0\r\n"
                 "Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bK" + cid + "\r\n"
                 "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\n"
                 "Call-ID: " + cid + "\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                 "Content-Length: 0\r\n\r\n");
}

// The failover list as the destinations' ports ("7002 7003 7001 7004").
std::string port_list(const dp::Snapshot& s, uint32_t alg, size_t limit, dp::DispatchState& st,
                      const Scanned& r) {
  int32_t out[64];
  const size_t n = dp::select_candidates(s, 0, alg, r.msg.data(), r.v, st, out, limit);
  std::string got;
  for (size_t i = 0; i < n; ++i) {
    const std::string& uri = s.destinations[static_cast<size_t>(out[i])].uri;
    got += (i != 0 ? " " : "") + uri.substr(uri.rfind(':') + 1);
  }
  return got;
}

TEST(UseDefault, ModparamReachesTheSnapshotAndTheDefaultIsLeftOutOfThePool) {
  const auto s = with_default(default_lab(0, 0, 0, 0));
  ASSERT_EQ(s->sets.size(), 1u);
  EXPECT_EQ(s->sets[0].count, 4u);
  EXPECT_EQ(s->sets[0].pool, 3u);
  EXPECT_EQ(s->sets[0].pool_usable, 3u);
  // The Maglev table holds the pool only.
  for (uint16_t local : s->sets[0].maglev) {
    ASSERT_LT(local, 3u);
  }
  // A set of one has no default (Kamailio: nr != 1).
  const auto one = with_default({{"sip:127.0.0.1:7001"}});
  EXPECT_EQ(one->sets[0].pool, 1u);
  auto st = std::make_unique<dp::DispatchState>();
  EXPECT_EQ(pick(*one, 4, "", *st), "sip:127.0.0.1:7001");
  // Without the modparam the pool is the set.
  EXPECT_EQ(snapshot(default_lab(0, 0, 0, 0))->sets[0].pool, 4u);
}

// Kamailio 5.6.3 measured: ds_select_dst("1", "0") for Call-IDs cid-0..cid-11, $du and
// $xavp(_dsdst_[0..4]=>uri). The hash is taken modulo 3 (nr - 1) and probes modulo 3.
TEST(UseDefault, ModparamThroughTheScript) {
  const std::string head =
      "listen=udp:10.0.0.2:5060\nloadmodule \"sl.so\"\nloadmodule \"dispatcher.so\"\n";
  const std::string list = "1 sip:10.0.0.11\n1 sip:10.0.0.12\n1 sip:10.0.0.13\n";
  std::string error;
  for (const char* v : {"0", "1", "2"}) {
    auto t = test::make_snapshot(head + "modparam(\"dispatcher\", \"use_default\", " + v +
                                     ")\nrequest_route { ds_select_dst(1, 0); }\n",
                                 list, "10.0.0.2", {}, {}, error);
    ASSERT_NE(t, nullptr) << v << ": " << error;
    const bool on = std::string(v) != "0";
    EXPECT_EQ(t->snap.dispatcher.use_default, on) << v;
    EXPECT_EQ(t->snap.sets[0].pool, on ? 2u : 3u) << v;
  }
}

TEST(UseDefault, KamailioModeHashMatchesKamailio) {
  struct Lab {
    uint32_t f[4];
    std::vector<std::string> lists;  // per Call-ID
  };
  const std::string a = "7001 7002 7003 7004";
  const std::string b = "7002 7003 7001 7004";
  const std::string c = "7003 7001 7002 7004";
  const std::string b2 = "7003 7001 7004";  // 7002 inactive
  const std::string a2 = "7001 7003 7004";
  const Lab labs[] = {
      {{0, 0, 0, 0}, {b, c, c, a, a, b, b, c, b, a, b, c}},
      {{0, 1, 0, 0}, {b2, b2, b2, a2, a2, b2, b2, b2, b2, a2, b2, b2}},
      // The default inactive: still appended last (Kamailio does not look at its flags).
      {{0, 1, 0, 1}, {b2, b2, b2, a2, a2, b2, b2, b2, b2, a2, b2, b2}},
      // Only the default usable: it alone.
      {{1, 1, 1, 0}, std::vector<std::string>(12, "7004")},
      // Nothing usable: no selection.
      {{1, 1, 1, 1}, std::vector<std::string>(12, "")},
  };
  for (const Lab& lab : labs) {
    const auto s = with_default(default_lab(lab.f[0], lab.f[1], lab.f[2], lab.f[3]),
                                DsHashMode::kKamailio);
    auto st = std::make_unique<dp::DispatchState>();
    for (size_t i = 0; i < lab.lists.size(); ++i) {
      const std::string cid = "cid-" + std::to_string(i);
      EXPECT_EQ(port_list(*s, 0, 64, *st, options(cid)), lab.lists[i])
          << cid << " flags " << lab.f[0] << lab.f[1] << lab.f[2] << lab.f[3];
    }
  }
  // The limit counts the default (ds_select_dst("1", "0", "2")): cid-10 -> "7002 7003".
  const auto s = with_default(default_lab(0, 0, 0, 0), DsHashMode::kKamailio);
  auto st = std::make_unique<dp::DispatchState>();
  EXPECT_EQ(port_list(*s, 0, 2, *st, options("cid-10")), "7002 7003");
  const auto two_down = with_default(default_lab(1, 1, 0, 0), DsHashMode::kKamailio);
  EXPECT_EQ(port_list(*two_down, 0, 2, *st, options("cid-0")), "7003 7004");
}

// Kamailio 5.6.3 measured: round robin (4), serial (8) and weights (9) with use_default.
TEST(UseDefault, KamailioRoundRobinSerialAndWeightsMatchKamailio) {
  {
    const auto s = with_default(default_lab(0, 0, 0, 0), DsHashMode::kKamailio);
    auto st = std::make_unique<dp::DispatchState>();
    const char* want[] = {"7001 7002 7003 7004", "7002 7003 7001 7004", "7003 7001 7002 7004",
                          "7001 7002 7003 7004", "7002 7003 7001 7004"};
    for (int i = 0; i < 5; ++i) {
      EXPECT_EQ(port_list(*s, 4, 64, *st, options("rr-" + std::to_string(i))), want[i]) << i;
    }
    EXPECT_EQ(port_list(*s, 8, 64, *st, options("ser-0")), "7001 7002 7003 7004");
    // Weights 50 30 10 10: the default's 10 slots go to slot 3 % 3 = 7001 (Kamailio: 60/30/10).
    std::map<std::string, int> h;
    for (int i = 0; i < 100; ++i) {
      const std::string l = port_list(*s, 9, 1, *st, options("w-" + std::to_string(i)));
      ++h[l];
    }
    EXPECT_EQ(h, (std::map<std::string, int>{{"7001", 60}, {"7002", 30}, {"7003", 10}}));
  }
  {
    const auto s = with_default(default_lab(0, 1, 0, 0), DsHashMode::kKamailio);
    auto st = std::make_unique<dp::DispatchState>();
    const char* want[] = {"7001 7003 7004", "7003 7001 7004", "7001 7003 7004", "7003 7001 7004"};
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(port_list(*s, 4, 64, *st, options("rr-" + std::to_string(i))), want[i]) << i;
    }
  }
}

// Every algorithm family, both modes: the default is never chosen while another entry is
// usable, is chosen when none is, comes last in the failover list, and nothing is chosen when
// the default is down too.
TEST(UseDefault, DefaultOnlyWhenNothingElseIsUsableEveryAlgorithm) {
  const uint32_t algs[] = {0, 1, 2, 3, 4, 5, 6, 8, 9, 11, 13, 14, 15};
  for (DsHashMode mode : {DsHashMode::kMaglev, DsHashMode::kKamailio}) {
    // Six entries, the default weighing and ranking most, so nothing would favour it but a bug.
    std::vector<Dest> d = {{uri_of(0), 0, 5, "weight=1;rweight=1"},
                           {uri_of(1), 0, 5, "weight=1;rweight=1"},
                           {uri_of(2), 0, 5, "weight=1;rweight=1"},
                           {uri_of(3), 0, 5, "weight=1;rweight=1"},
                           {uri_of(4), 0, 5, "weight=1;rweight=1"},
                           {uri_of(5), 0, 5, "weight=90;rweight=90"}};
    // Equal priorities: index order is the reverse of the list, so uri_of(0) is the default.
    const std::string def = uri_of(0);
    for (int down = 0; down <= 5; ++down) {
      std::vector<Dest> dd = d;
      for (int k = 1; k <= down; ++k) {
        dd[static_cast<size_t>(k)].flags = cfg::kDsInactive;  // pool entries go down one by one
      }
      const auto s = with_default(dd, mode);
      ASSERT_EQ(s->destinations.back().uri, def);
      for (uint32_t alg : algs) {
        auto st = std::make_unique<dp::DispatchState>();
        for (int i = 0; i < 200; ++i) {
          int32_t out[16];
          const Scanned r = request("INVITE", i);
          const size_t n = dp::select_candidates(*s, 0, alg, r.msg.data(), r.v, *st, out, 16);
          const std::string msg = "mode " + std::to_string(static_cast<int>(mode)) + " alg " +
                                  std::to_string(alg) + " down " + std::to_string(down);
          ASSERT_GE(n, 1u) << msg;
          const std::string first = s->destinations[static_cast<size_t>(out[0])].uri;
          if (down < 5) {
            ASSERT_NE(first, def) << msg;
            ASSERT_EQ(n, static_cast<size_t>(5 - down + 1)) << msg;  // the usable pool + default
            ASSERT_EQ(s->destinations[static_cast<size_t>(out[n - 1])].uri, def) << msg;
          } else {
            ASSERT_EQ(first, def) << msg;
            ASSERT_EQ(n, 1u) << msg;
          }
        }
      }
    }
    // Everything down: nothing, the default included.
    std::vector<Dest> all = d;
    for (Dest& x : all) {
      x.flags = cfg::kDsInactive;
    }
    const auto none = with_default(all, mode);
    for (uint32_t alg : algs) {
      auto st = std::make_unique<dp::DispatchState>();
      EXPECT_EQ(dp::select_destination(*none, 0, alg, request("INVITE", 1).msg.data(),
                                       request("INVITE", 1).v, *st), -1) << alg;
    }
  }
}

TEST(UseDefault, MaglevSpreadsOverThePoolAndMovesOnlyTheDownEntrysKeys) {
  const auto s = with_default(plain(5));  // default: uri_of(0), the last index
  const std::string def = s->destinations.back().uri;
  const std::vector<std::string> before = assign(*s, 20000);
  const auto h = histogram(before);
  EXPECT_EQ(h.count(def), 0u);
  ASSERT_EQ(h.size(), 4u);
  for (const auto& [uri, n] : h) {
    EXPECT_NEAR(n, 5000, 500) << uri;
  }
  // One pool entry down: only its keys move, to the other pool entries, never to the default.
  std::vector<Dest> d = plain(5);
  d[4].flags = cfg::kDsInactive;  // index 0
  const auto s2 = with_default(d);
  const std::string gone = s->destinations[0].uri;
  const std::vector<std::string> after = assign(*s2, 20000);
  for (size_t i = 0; i < after.size(); ++i) {
    ASSERT_NE(after[i], def);
    if (before[i] != gone) {
      ASSERT_EQ(after[i], before[i]) << i;
    }
  }
}

TEST(UseDefault, ExactWeightsLeaveTheDefaultOut) {
  // Weights 1 2 1 and a default weighing 100: the default gets nothing while others are up.
  std::vector<Dest> d = {{uri_of(0), 0, 0, "weight=100;rweight=100"},
                         {uri_of(1), 0, 0, "weight=1;rweight=1"},
                         {uri_of(2), 0, 0, "weight=2;rweight=2"},
                         {uri_of(3), 0, 0, "weight=1;rweight=1"}};
  const auto s = with_default(d);
  for (uint32_t alg : {9u, 11u, 15u}) {
    const auto h = histogram(picks(*s, alg, 40000));
    EXPECT_EQ(h.count(uri_of(0)), 0u) << alg;
    EXPECT_NEAR(h.at(uri_of(2)), 20000, 200) << alg;
    EXPECT_NEAR(h.at(uri_of(1)), 10000, 200) << alg;
    EXPECT_NEAR(h.at(uri_of(3)), 10000, 200) << alg;
  }
}

// ---- select_candidates() with a limit of 1: algorithms 4 and 0 take functions of their own
// (round_robin_one, call_id_one in dispatch.cpp) ----

// A request of transaction (call, cseq, branch) with a Call-ID of any length.
Scanned transaction(std::string_view method, std::string_view call_id, int cseq,
                    std::string_view branch) {
  const std::string m(method);
  return scanned(m + " sip:bob@b.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.10:5060;branch=" +
                 std::string(branch) +
                 "\r\nFrom: <sip:a@a.example.com>;tag=1\r\nTo: <sip:bob@b.example.com>\r\n"
                 "Call-ID: " + std::string(call_id) + "\r\nCSeq: " + std::to_string(cseq) + " " +
                 m + "\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n");
}

// The single choice of select_candidates() (what ds_select_dst without a failover list reads)
// is select_destination()'s, request for request, and leaves the same cursors, affinity table
// and hit count: random traffic of every method over sets with inactive entries, with and
// without use_default, the clock moving past the affinity TTL now and then.
TEST(SingleChoice, FastPathsChooseAsTheGeneralSelection) {
  std::mt19937_64 rng(4242);
  for (const bool use_default : {false, true}) {
    for (const uint32_t down_mask : {0u, 0x5u, 0x1eu, 0x3fu}) {
      std::string list;
      for (int i = 0; i < 6; ++i) {
        list += "1 " + uri_of(i) + ((down_mask >> i) & 1 ? " 1" : " 0") + " 0\n";
      }
      std::vector<cfg::DsDestination> parsed;
      cfg::Diagnostics diags;
      ASSERT_TRUE(cfg::parse_dispatcher_list(list, "t.list", parsed, diags));
      dp::DsConfig conf;
      conf.use_default = use_default;
      const auto s = ctl::dispatcher_snapshot(parsed, conf);
      auto fast = std::make_unique<dp::DispatchState>();
      auto general = std::make_unique<dp::DispatchState>();
      for (dp::DispatchState* st : {fast.get(), general.get()}) {
        st->tsc_hz = 1000000000;
        st->fake_tsc = 13ull << 40;
      }
      const char* const methods[] = {"INVITE", "INVITE", "CANCEL", "ACK", "BYE", "OPTIONS"};
      for (int i = 0; i < 4000; ++i) {
        const uint32_t alg = rng() % 3 == 0 ? 0u : 4u;
        const int call = static_cast<int>(rng() % 40);
        const int cseq = 1 + static_cast<int>(rng() % 2);
        const Scanned r = transaction(methods[rng() % std::size(methods)],
                                      "c" + std::to_string(call) + "@h", cseq,
                                      "z9hG4bK-" + std::to_string(call * 7 + cseq));
        int32_t out[4] = {-7, -7, -7, -7};
        const size_t n = dp::select_candidates(*s, 0, alg, r.msg.data(), r.v, *fast, out, 1);
        const int want = dp::select_destination(*s, 0, alg, r.msg.data(), r.v, *general);
        ASSERT_EQ(n, want >= 0 ? 1u : 0u) << i;
        ASSERT_EQ(n == 1 ? out[0] : -1, want) << i;
        EXPECT_EQ(out[1], -7);  // one entry written at most
        if (rng() % 500 == 0) {
          for (dp::DispatchState* st : {fast.get(), general.get()}) {
            st->fake_tsc += dp::kDsAffinityTtlSeconds * st->tsc_hz / 2;
          }
        }
      }
      EXPECT_EQ(fast->rr[0], general->rr[0]);
      EXPECT_EQ(fast->affinity_hits, general->affinity_hits);
      EXPECT_EQ(std::memcmp(fast->affinity, general->affinity, sizeof fast->affinity), 0);
      if (down_mask != 0x3fu) {
        EXPECT_GT(fast->affinity_hits, 100u) << use_default << " " << down_mask;
      }
    }
  }
}

// The affinity key tells transactions apart by each of its parts: a CANCEL differing from its
// INVITE in the branch, the CSeq number or one byte of the Call-ID (at any position, Call-IDs
// of 1 to 80 bytes: every path of the key's CRC) finds no entry; the same transaction does.
TEST(Affinity, EveryPartOfTheTransactionCounts) {
  const auto s = snapshot(plain(3));
  auto st = std::make_unique<dp::DispatchState>();
  st->tsc_hz = 1000000000;
  st->fake_tsc = 17ull << 40;
  auto sel = [&](const Scanned& r) {
    return dp::select_destination(*s, 0, 4, r.msg.data(), r.v, *st);
  };
  auto follows = [&](const Scanned& r) {
    const uint64_t before = st->affinity_hits;
    sel(r);
    return st->affinity_hits != before;
  };
  for (size_t len = 1; len <= 80; ++len) {
    std::string cid;
    for (size_t i = 0; i < len; ++i) {
      cid += static_cast<char>('a' + (len * 7 + i * 13) % 26);
    }
    const std::string branch = "z9hG4bK-" + std::to_string(len);
    sel(transaction("INVITE", cid, 5, branch));
    EXPECT_TRUE(follows(transaction("CANCEL", cid, 5, branch))) << len;
    EXPECT_TRUE(follows(transaction("ACK", cid, 5, branch))) << len;
    EXPECT_FALSE(follows(transaction("CANCEL", cid, 6, branch))) << len;
    EXPECT_FALSE(follows(transaction("CANCEL", cid, 5, branch + "x"))) << len;
    EXPECT_FALSE(follows(transaction("CANCEL", cid + "x", 5, branch))) << len;
    for (size_t i = 0; i < len; ++i) {
      std::string other = cid;
      other[i] = other[i] == 'z' ? 'y' : static_cast<char>(other[i] + 1);
      EXPECT_FALSE(follows(transaction("CANCEL", other, 5, branch))) << len << " at " << i;
    }
  }
}


}  // namespace
TEST(DestinationAttributes, SocketIsOneOfOurListenersAndPingFromIsKept) {
  const std::string head =
      "listen=udp:10.0.0.2:5060\nlisten=udp:10.0.0.2:5070\nloadmodule \"sl.so\"\n"
      "loadmodule \"dispatcher.so\"\nrequest_route { ds_select_dst(1, 4); forward(); }\n";
  std::string error;
  auto s = test::make_snapshot(head,
                               "1 sip:10.0.0.11 0 0 socket=udp:10.0.0.2:5070;ping_from=sip:p@x\n"
                               "1 sip:10.0.0.12\n",
                               "10.0.0.2", {}, {}, error);
  ASSERT_NE(s, nullptr) << error;
  ASSERT_EQ(s->snap.listeners.size(), 2u);
  const dp::Destination* with = nullptr;
  const dp::Destination* without = nullptr;
  for (const dp::Destination& d : s->snap.destinations) {
    (d.uri == "sip:10.0.0.11" ? with : without) = &d;
  }
  ASSERT_NE(with, nullptr);
  ASSERT_NE(without, nullptr);
  ASSERT_GE(with->socket, 0);
  EXPECT_EQ(ntohs(s->snap.listeners[static_cast<size_t>(with->socket)].port_be), 5070);
  EXPECT_EQ(with->ping_from, "sip:p@x");
  EXPECT_EQ(without->socket, -1);
  EXPECT_EQ(test::make_snapshot(head, "1 sip:10.0.0.11 0 0 socket=udp:10.0.0.9:5060\n",
                                "10.0.0.2", {}, {}, error),
            nullptr);
  EXPECT_NE(error.find("is not one of the script's udp listen sockets"), std::string::npos)
      << error;
}

TEST(DestinationAttributes, DefaultSocketAttrsNoneAndATrailingSemicolon) {
  // ds_default_socket: the socket of destinations without socket=; ds_attrs_none: none=yes for
  // a destination without attributes; a trailing ';' is dropped, as Kamailio's ds_set_attrs.
  const std::string head =
      "listen=udp:10.0.0.2:5060\nlisten=udp:10.0.0.2:5070\nloadmodule \"sl.so\"\n"
      "loadmodule \"dispatcher.so\"\n";
  const std::string body = "request_route { ds_select_dst(1, 4); forward(); }\n";
  const std::string list =
      "1 sip:10.0.0.11 0 0 socket=udp:10.0.0.2:5060;duid=x;\n1 sip:10.0.0.12\n";
  std::string error;
  auto s = test::make_snapshot(
      head + "modparam(\"dispatcher\", \"ds_default_socket\", \"udp:10.0.0.2:5070\")\n"
             "modparam(\"dispatcher\", \"ds_attrs_none\", 1)\n" + body,
      list, "10.0.0.2", {}, {}, error);
  ASSERT_NE(s, nullptr) << error;
  const auto find = [&](const char* uri) -> const dp::Destination& {
    for (const dp::Destination& d : s->snap.destinations) {
      if (d.uri == uri) {
        return d;
      }
    }
    ADD_FAILURE() << uri;
    return s->snap.destinations.front();
  };
  const dp::Destination& own = find("sip:10.0.0.11");
  const dp::Destination& def = find("sip:10.0.0.12");
  ASSERT_GE(own.socket, 0);
  ASSERT_GE(def.socket, 0);
  EXPECT_EQ(ntohs(s->snap.listeners[static_cast<size_t>(own.socket)].port_be), 5060);
  EXPECT_EQ(ntohs(s->snap.listeners[static_cast<size_t>(def.socket)].port_be), 5070);
  EXPECT_EQ(own.attrs, "socket=udp:10.0.0.2:5060;duid=x");
  EXPECT_EQ(def.attrs, "none=yes");
  auto plain = test::make_snapshot(head + body, list, "10.0.0.2", {}, {}, error);
  ASSERT_NE(plain, nullptr) << error;
  for (const dp::Destination& d : plain->snap.destinations) {
    EXPECT_EQ(d.attrs, d.uri == "sip:10.0.0.12" ? "" : "socket=udp:10.0.0.2:5060;duid=x");
    EXPECT_EQ(d.socket, d.uri == "sip:10.0.0.12" ? -1 : 0);
  }
  EXPECT_EQ(test::make_snapshot(
                head + "modparam(\"dispatcher\", \"ds_default_socket\", \"udp:10.0.0.3:5060\")\n" +
                    body,
                list, "10.0.0.2", {}, {}, error),
            nullptr);
  EXPECT_NE(error.find("ds_default_socket udp:10.0.0.3:5060 is not one of the script's udp "
                       "listen sockets"),
            std::string::npos)
      << error;
}

TEST(Snapshot, ServerLineFollowsServerHeaderAndSignature) {
  const std::string head = "listen=udp:10.0.0.2:5060\nloadmodule \"sl.so\"\n";
  const std::string body = "request_route { sl_send_reply(200, \"ok\"); }\n";
  std::string error;
  auto d = test::make_snapshot(head + body, "", "10.0.0.2", {}, {}, error);
  ASSERT_NE(d, nullptr) << error;
  EXPECT_TRUE(d->snap.server_default);
  auto h = test::make_snapshot(head + "server_header=\"Server: edge-lb 1\"\n" + body, "",
                               "10.0.0.2", {}, {}, error);
  ASSERT_NE(h, nullptr) << error;
  EXPECT_FALSE(h->snap.server_default);
  EXPECT_EQ(h->snap.server_line, "Server: edge-lb 1\r\n");
  auto n = test::make_snapshot(head + "server_header=\"Server: x\"\nserver_signature=no\n" + body,
                               "", "10.0.0.2", {}, {}, error);
  ASSERT_NE(n, nullptr) << error;
  EXPECT_FALSE(n->snap.server_default);
  EXPECT_EQ(n->snap.server_line, "");
}

TEST(DestinationAttributes, DispatcherXavpModesReachTheSnapshot) {
  const std::string head = "listen=udp:10.0.0.2:5060\nloadmodule \"dispatcher.so\"\n";
  const std::string body = "request_route { ds_select_dst(1, 4); forward(); }\n";
  std::string error;
  auto d = test::make_snapshot(head + body, "1 sip:10.0.0.11\n", "10.0.0.2", {}, {}, error);
  ASSERT_NE(d, nullptr) << error;
  EXPECT_TRUE(d->snap.dispatcher.xavp_dst_attrs);
  EXPECT_TRUE(d->snap.dispatcher.xavp_ctx_cnt);
  auto s = test::make_snapshot(head +
                                   "modparam(\"dispatcher\", \"force_dst\", 0)\n"
                                   "modparam(\"dispatcher\", \"xavp_dst_mode\", 3)\n"
                                   "modparam(\"dispatcher\", \"xavp_ctx_mode\", 1)\n" +
                                   body,
                               "1 sip:10.0.0.11\n", "10.0.0.2", {}, {}, error);
  ASSERT_NE(s, nullptr) << error;
  EXPECT_FALSE(s->snap.dispatcher.xavp_dst_attrs);
  EXPECT_FALSE(s->snap.dispatcher.xavp_ctx_cnt);
}

}  // namespace viaduct

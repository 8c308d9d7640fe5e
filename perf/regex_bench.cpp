// SPDX-License-Identifier: Apache-2.0
// perf/regex_bench.cpp: Google Benchmark micro-benchmarks of the script's regexes (cfg/regex):
// one Hyperscan scan of a User-Agent against 50 typical scanner patterns (one database), against
// 1 pattern and 6 literals (the literal matcher, and the same sets on Hyperscan), and textops
// search() on the 900-byte INVITE; next to glibc regexec() doing the same
// work the way Kamailio does (one regexec per `=~`), for scale. Reports ns per scan; never
// asserts timings.
#include <benchmark/benchmark.h>
#include <regex.h>

#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cfg/regex.hpp"
#include "perf/messages.hpp"

namespace {

using namespace viaduct::cfg;

// User-Agent patterns of the kind anti-scanner scripts test ($ua =~ "..."), literals and regexes.
const std::vector<std::string_view> kScannerPatterns = {
    "friendly-scanner", "sipvicious", "sipcli", "VaxSIPUserAgent", "VaxIPUserAgent",
    "sip-scan", "sipsak", "SIVuS", "sundayddr", "iWar",
    "smap", "siparmyknife", "SIPScan", "sippscan", "pplsip",
    "Ozeki", "friendly-request", "fake", "SipCLI/", "eyeBeam release 3006o",
    "^Asterisk PBX 1\\.[0-4]", "^sipsak [0-9]+", "scanner", "sip ?vicious", "^$",
    "PortSIP VoIP SDK 1[0-5]", "^Cisco-SIPGateway/IOS-1[0-2]", "Zoiper rv2\\.[0-9]",
    "^X-Lite release 1[0-9]{3}", "^Gulp", "^SJphone/1\\.[0-5]", "masscan", "nmap",
    "sipptest", "^UsaAirport", "(^|[^a-z])python-requests", "^curl/", "^Wget/",
    "^Go-http-client", "polycom.*tester", "^MizuPhone", "^Grandstream GXP1[0-3][0-9]{2} 1\\.0",
    "^Yealink SIP-T[0-9]{2}P 9\\.", "snom3[0-9]{2}/[0-7]\\.", "^SIPp", "test-agent",
    "^User-Agent", "pbxscan", "sipdump", "voipbuster",
};

constexpr std::string_view kUaClean = "Linphone/5.2.0 (belle-sip/5.2.0) Android/13";
constexpr std::string_view kUaScanner = "friendly-scanner";

struct Fixture {
  RegexSet set;
  RegexScratchPool pool;
};

Fixture build(std::span<const std::string_view> patterns, RegexFlags flags) {
  std::vector<RegexError> errors;
  auto set = RegexSet::compile(patterns, flags, errors);
  if (!set) {
    std::fprintf(stderr, "compile failed: %u %s\n", errors[0].pattern,
                 errors[0].message.c_str());
    std::abort();
  }
  const RegexSet* sets[] = {&*set};
  std::string err;
  auto pool = RegexScratchPool::create(sets, 1, err);
  if (!pool) {
    std::abort();
  }
  return {std::move(*set), std::move(*pool)};
}

void scan(benchmark::State& state, const Fixture& f, std::string_view subject,
          bool hyperscan = false) {
  RegexMatches m;
  for (auto _ : state) {
    const bool ok = hyperscan ? f.set.scan_hyperscan(subject, f.pool.get(0), m)
                              : f.set.scan(subject, f.pool.get(0), m);
    benchmark::DoNotOptimize(ok);
    benchmark::DoNotOptimize(m);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * subject.size()));
}

const Fixture& ua50() {
  static const Fixture f = build(kScannerPatterns, kRegexCfgMatch);
  return f;
}
const Fixture& ua1() {
  static const std::string_view one[] = {"friendly-scanner"};
  static const Fixture f = build(one, kRegexCfgMatch);
  return f;
}
// The front-end script's set (perf/vm_bench.cpp): six literals, which the literal matcher
// (cfg/regex_literal.hpp) runs; the _Hyperscan cases run the same set's Hyperscan database.
const Fixture& ua6() {
  static const std::string_view six[] = {
      "friendly-scanner|sipvicious|sipcli|sip-scan|iWar|VaxSIPUserAgent"};
  static const Fixture f = build(six, kRegexCfgMatch);
  return f;
}
const Fixture& search1() {
  static const std::string_view one[] = {"^User-Agent: .*scanner"};
  static const Fixture f = build(one, kRegexTextops);
  return f;
}

void BM_Ua50PatternsClean(benchmark::State& state) { scan(state, ua50(), kUaClean); }
void BM_Ua50PatternsScanner(benchmark::State& state) { scan(state, ua50(), kUaScanner); }
void BM_Ua1PatternClean(benchmark::State& state) { scan(state, ua1(), kUaClean); }
void BM_Ua1PatternScanner(benchmark::State& state) { scan(state, ua1(), kUaScanner); }
void BM_Ua1PatternClean_Hyperscan(benchmark::State& state) {
  scan(state, ua1(), kUaClean, true);
}
// kUaClean holds "sip" (belle-sip): a candidate the literal matcher must confirm.
void BM_Ua6LiteralsClean(benchmark::State& state) { scan(state, ua6(), kUaClean); }
void BM_Ua6LiteralsClean_Hyperscan(benchmark::State& state) {
  scan(state, ua6(), kUaClean, true);
}
void BM_Ua6LiteralsScanner(benchmark::State& state) { scan(state, ua6(), kUaScanner); }
void BM_Ua6LiteralsScanner_Hyperscan(benchmark::State& state) {
  scan(state, ua6(), kUaScanner, true);
}
void BM_SearchInvite900(benchmark::State& state) {
  scan(state, search1(), viaduct::perf::kInvite);
}

// For scale: what Kamailio does, one regexec() per `=~` (REG_EXTENDED|REG_NOSUB|REG_ICASE).
struct Posix {
  std::vector<regex_t> res;
  explicit Posix(std::span<const std::string_view> patterns, int cflags) {
    for (std::string_view p : patterns) {
      regex_t re;
      if (regcomp(&re, std::string(p).c_str(), cflags) != 0) {
        std::abort();
      }
      res.push_back(re);
    }
  }
};

void regexec_all(benchmark::State& state, const Posix& p, const std::string& subject) {
  for (auto _ : state) {
    int matched = 0;
    for (const regex_t& re : p.res) {
      matched += regexec(&re, subject.c_str(), 0, nullptr, 0) == 0;
    }
    benchmark::DoNotOptimize(matched);
  }
}

const int kCfgFlags = REG_EXTENDED | REG_NOSUB | REG_ICASE;

void BM_Regexec50Clean(benchmark::State& state) {
  static const Posix p(kScannerPatterns, kCfgFlags);
  regexec_all(state, p, std::string(kUaClean));
}
void BM_Regexec1Clean(benchmark::State& state) {
  static const std::string_view one[] = {"friendly-scanner"};
  static const Posix p(one, kCfgFlags);
  regexec_all(state, p, std::string(kUaClean));
}
void BM_RegexecSearchInvite900(benchmark::State& state) {
  static const std::string_view one[] = {"^User-Agent: .*scanner"};
  static const Posix p(one, REG_EXTENDED | REG_ICASE | REG_NEWLINE);
  regexec_all(state, p, viaduct::perf::kInvite);
}

}  // namespace

BENCHMARK(BM_Ua50PatternsClean);
BENCHMARK(BM_Ua50PatternsScanner);
BENCHMARK(BM_Ua1PatternClean);
BENCHMARK(BM_Ua1PatternScanner);
BENCHMARK(BM_Ua1PatternClean_Hyperscan);
BENCHMARK(BM_Ua6LiteralsClean);
BENCHMARK(BM_Ua6LiteralsClean_Hyperscan);
BENCHMARK(BM_Ua6LiteralsScanner);
BENCHMARK(BM_Ua6LiteralsScanner_Hyperscan);
BENCHMARK(BM_SearchInvite900);
BENCHMARK(BM_Regexec50Clean);
BENCHMARK(BM_Regexec1Clean);
BENCHMARK(BM_RegexecSearchInvite900);
BENCHMARK_MAIN();

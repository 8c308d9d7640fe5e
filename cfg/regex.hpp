// SPDX-License-Identifier: Apache-2.0
// cfg/regex.hpp: the routing script's regular expressions (`=~`, `!~`, textops search()) on
// Hyperscan.
//
// Kamailio compiles these with POSIX regcomp() (extended syntax) and matches them with regexec():
// unanchored search, yes or no. viaduct gathers, at compile time, every constant pattern applied
// to the same operand (all `$ua =~ "..."` of the script; all search("...") on the message) into
// one RegexSet: one Hyperscan block-mode database, one pattern id per pattern (its index in the
// set). At run time a worker scans the operand once and gets the set of patterns that matched
// (RegexMatches); the interpreter caches that per message, so N regexes on one operand cost one
// scan.
//
// Dialect: whether a pattern is valid is glibc's regcomp() answer, with Kamailio's flags (same
// errors as Kamailio). Each valid pattern is then translated to Hyperscan's PCRE-like syntax so
// that it matches exactly the subjects regexec() matches (cfg/regex.cpp lists the rewrites;
// tests/cfg/regex_test.cpp checks tables and a random corpus against regexec()). glibc quirks
// are kept: with REG_ICASE an escaped lower-case letter (`\d`, `\n`) matches nothing, as in
// Kamailio. Constructs Hyperscan cannot run are compile-time errors naming the pattern, never a
// silent difference:
// - back-references (\1..\9), GNU word-start/end anchors \< \>;
// - an anchor inside the pattern after or before something it must match (`a\n^b`, `x$y`);
// - multi-character collating elements and equivalence classes ([[.ch.]], [[=ab=]]).
// A pattern that can never match (`\B\b`) compiles and never matches. As regexec() reads its
// subject as a C string, a scan stops at the first NUL byte of the operand.
//
// Threads: compile(), RegexScratchPool::create() on the control thread (they allocate and may
// be slow: Hyperscan compiles in milliseconds). scan() on a worker, per packet: no allocation,
// no lock, no exception, no log.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

// Hyperscan's opaque types (hs/hs_common.h), declared here so that this header does not pull
// Hyperscan's headers into every user.
struct hs_database;
struct hs_scratch;

namespace viaduct::cfg {

class LiteralSet;  // cfg/regex_literal.hpp
// LiteralSet::match, callable here where LiteralSet is incomplete (RegexSet::scan, inline: the
// literal path is one call from the interpreter).
inline constexpr size_t kRegexLiteralMaxText = 256;  // LiteralSet::kMaxText
struct RegexMatches;
void literal_match(const LiteralSet& set, std::string_view subject, RegexMatches& out) noexcept;

// regcomp() flags that change what matches (REG_EXTENDED is implied: Kamailio always sets it;
// REG_NOSUB changes nothing for a yes/no match).
enum RegexFlags : uint8_t {
  kRegexNone = 0,
  kRegexIcase = 1,    // REG_ICASE: case-insensitive (ASCII letters, as glibc in the C locale)
  kRegexNewline = 2,  // REG_NEWLINE: `.` and `[^...]` do not match '\n'; `^`/`$` match at line
                      //   starts/ends. Without it `.` matches '\n' and `^`/`$` only at the ends.
};
inline constexpr RegexFlags operator|(RegexFlags a, RegexFlags b) {
  return static_cast<RegexFlags>(static_cast<uint8_t>(a) | static_cast<uint8_t>(b));
}

// Kamailio 5.6's flags, per construct:
// - `=~` / `!~` in the script (core, constant right operand):
//   REG_EXTENDED | REG_NOSUB | REG_ICASE.
inline constexpr RegexFlags kRegexCfgMatch = kRegexIcase;
// - textops search(re), search_body(re) and the other textops regex parameters:
//   REG_EXTENDED | REG_ICASE | REG_NEWLINE (fixup_regexp_*).
inline constexpr RegexFlags kRegexTextops = kRegexIcase | kRegexNewline;

// Most patterns one set holds: the size of RegexMatches. The compiler reports an error when a
// script applies more constant regexes than this to one operand.
inline constexpr uint32_t kRegexMaxPatterns = 256;

// Which patterns of a set matched one subject: a fixed bitset (bit i = pattern i). Trivially
// copyable, 32 bytes, no allocation; the VM keeps one per cached operand.
struct RegexMatches {
  std::array<uint64_t, kRegexMaxPatterns / 64> words{};

  void clear() noexcept { words = {}; }
  void set(uint32_t id) noexcept { words[id >> 6] |= uint64_t{1} << (id & 63); }
  bool test(uint32_t id) const noexcept { return (words[id >> 6] >> (id & 63)) & 1; }
  bool any() const noexcept {
    uint64_t acc = 0;
    for (uint64_t w : words) {
      acc |= w;
    }
    return acc != 0;
  }
};

// One pattern of a set, as the script's string literal reads after the lexer's escapes
// (`"10\.0"` in the script is the pattern `10\.0`).
struct RegexSpec {
  std::string_view pattern;
  RegexFlags flags = kRegexCfgMatch;
};

// A pattern that cannot be compiled. `pattern` is its index in the list given to compile(), or
// kRegexNoPattern when Hyperscan failed on the set as a whole (e.g. resource limits).
inline constexpr uint32_t kRegexNoPattern = UINT32_MAX;
struct RegexError {
  uint32_t pattern = kRegexNoPattern;
  std::string message;  // lower case, no location: "back-references (\1) are not supported"
};

// Bounds on a pattern handed to glibc's regcomp() (regcomp_limits).
inline constexpr size_t kMaxRegexNesting = 100;  // parentheses inside each other
inline constexpr uint64_t kMaxRegexSize = 2000;   // atoms, with repetitions expanded
inline constexpr uint64_t kMaxRegexRepeat = 255;  // an interval's counts (POSIX RE_DUP_MAX)

// Whether glibc's regcomp() can take `pattern` (POSIX extended) without running out of stack,
// memory or time, judged from its text: regcomp() recurses once per level of parentheses; it
// copies an atom once per count of an interval and once for '+' (a{255}{255}{255} is 16 million
// copies, gigabytes; ((a+)+)+... doubles at each level); the epsilon closures it computes grow
// with the square of the atoms ((((()+)+)+...) of 4,103 atoms took it 1.6 s, of 2,047 atoms
// 0.4 s). Empty when the pattern is within kMaxRegexNesting, kMaxRegexSize and kMaxRegexRepeat
// (glibc allows counts up to 32767, which also make Hyperscan's compile take seconds), else why
// not (lower case, for a diagnostic). With `allow_backrefs` false a back-reference (\1..\9) is
// refused too: regexec() can take exponential time on them. Every caller of regcomp() on a
// script's pattern asks it first.
// `cost`, when given, receives what the pattern weighs (when it is within the limits).
struct RegexCost {
  uint64_t atoms = 0;     // with repetitions expanded (at most kMaxRegexSize)
  uint64_t repeated = 0;  // of those, the copies that intervals and '+' make
};
std::string regcomp_limits(std::string_view pattern, bool allow_backrefs,
                           RegexCost* cost = nullptr);

// The copies repetitions make, summed over all the regexes of a script: Hyperscan's compile
// time grows with them (200 patterns of [ab]{255}: over 20 s), so the compiler bounds the sum.
inline constexpr uint64_t kMaxRegexRepeatedTotal = 5000;

// Translates one POSIX extended pattern with `flags` to Hyperscan's dialect. On success fills
// `hs_pattern` (what hs_compile reads) and `hs_flags` (HS_FLAG_* bits, HS_FLAG_SINGLEMATCH and
// HS_FLAG_ALLOWEMPTY included) and returns true; otherwise fills `error` and returns false.
// Exposed for tests and tools; compile() calls it.
bool regex_translate(std::string_view posix, RegexFlags flags, std::string& hs_pattern,
                     unsigned& hs_flags, std::string& error);

// An immutable compiled set of patterns. Owns its hs_database (RAII). Movable, not copyable.
// A set of 0 patterns is valid: it has no database, and scan() matches nothing.
class RegexSet {
 public:
  RegexSet() = default;

  // Control thread. Compiles `specs` into one database (pattern i gets id i). Returns the set,
  // or nullopt after appending to `errors` one entry per pattern that fails (every failing
  // pattern is reported, not only the first). More than kRegexMaxPatterns specs is an error
  // with pattern = kRegexNoPattern.
  static std::optional<RegexSet> compile(std::span<const RegexSpec> specs,
                                         std::vector<RegexError>& errors);
  // The same, every pattern with the same flags.
  static std::optional<RegexSet> compile(std::span<const std::string_view> patterns,
                                         RegexFlags flags, std::vector<RegexError>& errors);

  size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  // The database, for RegexScratchPool (null when empty()).
  const hs_database* database() const noexcept { return db_.get(); }
  // Bytes the compiled database takes (0 when empty()), for reports.
  size_t database_bytes() const noexcept;

  // Worker, per packet. Scans `subject` (up to its first NUL byte, if any) once and sets in
  // `out` the bit of every pattern that matches it (regexec() == 0); clears `out` first. `scratch` is the calling worker's scratch
  // from a RegexScratchPool built for this set (RegexScratchPool::get(worker_id)). Returns false,
  // with `out` cleared, when Hyperscan fails (a scratch not sized for this database, or used by
  // two threads at once): the caller counts a run-time error. An empty set returns true with
  // nothing matched and does not touch `scratch`.
  bool scan(std::string_view subject, hs_scratch* scratch, RegexMatches& out) const noexcept {
    if (lit_ != nullptr && !subject.empty() && subject.size() <= kRegexLiteralMaxText) {
      literal_match(*lit_, subject, out);
      return true;
    }
    return scan_hyperscan(subject, scratch, out);
  }
  // What scan() answers for the empty subject, when compile() could compute it (an absent header
  // is matched as ""): the interpreter's shortcut. Null when not known.
  const RegexMatches* empty_matches() const noexcept { return has_empty_ ? &empty_ : nullptr; }
  // True when scan() answers subjects of up to LiteralSet::kMaxText bytes with the literal fast
  // path (every pattern a plain alternation of literals: cfg/regex_literal.hpp) instead of
  // Hyperscan.
  bool literal() const noexcept { return lit_ != nullptr; }
  // Hyperscan alone, for tests and benchmarks that compare the two paths.
  bool scan_hyperscan(std::string_view subject, hs_scratch* scratch,
                      RegexMatches& out) const noexcept;

 private:
  struct DbDeleter {
    void operator()(hs_database* db) const noexcept;
  };
  std::unique_ptr<hs_database, DbDeleter> db_;
  size_t size_ = 0;
  // REG_NEWLINE patterns that match at the empty end of any subject ending in '\n' (where
  // glibc's `^` matches and Hyperscan's does not); scan() adds them for such subjects.
  RegexMatches eol_;
  bool has_eol_ = false;
  // What the empty subject matches (computed by compile(); scan() then needs no Hyperscan call
  // for it).
  RegexMatches empty_;
  bool has_empty_ = false;
  // The literal fast path, when every pattern allows it (shared: RegexSet stays movable with
  // an incomplete LiteralSet here).
  std::shared_ptr<const LiteralSet> lit_;
};

// Hyperscan scratch space, one per worker, sized for every database of one snapshot. Hyperscan
// needs a scratch per concurrent scanner; allocating it is the control thread's job, before the
// snapshot that uses it is published. A snapshot owns its pool next to its RegexSets.
//
// This is the one thing a worker writes through the (otherwise immutable) snapshot: worker w
// uses only get(w), so no two threads ever share a scratch.
class RegexScratchPool {
 public:
  RegexScratchPool() = default;

  // Control thread. Allocates `workers` scratches, each big enough for every non-empty set in
  // `sets` (null entries and empty sets are skipped). With no database at all the pool holds
  // `workers` null scratches, which scan() on empty sets accepts. Returns nullopt with a message
  // in `error` when Hyperscan fails (out of memory).
  static std::optional<RegexScratchPool> create(std::span<const RegexSet* const> sets,
                                                unsigned workers, std::string& error);

  // Worker `worker` (0-based, < workers()), per packet.
  hs_scratch* get(unsigned worker) const noexcept { return scratch_[worker].get(); }
  unsigned workers() const noexcept { return static_cast<unsigned>(scratch_.size()); }

 private:
  struct ScratchDeleter {
    void operator()(hs_scratch* s) const noexcept;
  };
  std::vector<std::unique_ptr<hs_scratch, ScratchDeleter>> scratch_;
};

}  // namespace viaduct::cfg

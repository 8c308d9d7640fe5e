// SPDX-License-Identifier: Apache-2.0
// cfg/regex.cpp: POSIX extended regular expressions (Kamailio's regcomp dialect) on Hyperscan.
//
// compile() first hands each pattern to glibc's regcomp() with Kamailio's flags: whether a
// pattern is valid at all is glibc's answer (so a script Kamailio refuses is refused here, with
// glibc's message), and the translator below only ever sees patterns glibc accepted. It then
// rewrites each pattern into Hyperscan's PCRE dialect where the two read the same text
// differently:
// - bracket expressions: `\` is an ordinary character inside [...] in POSIX (`[\.]` is a
//   backslash or a dot); `]` first is literal; [:class:], [=c=], [.c.] items; with REG_NEWLINE
//   a non-matching list never matches '\n';
// - escapes outside brackets: glibc knows \w \W \s \S \b \B \< \> \` \' and \1..\9; any other
//   `\c` is the character c itself (`\d` is a 'd', `\n` an 'n'), where PCRE gives them meanings,
//   except that with REG_ICASE an escaped lower-case letter matches nothing at all (glibc folds
//   the subject, not the escaped byte; Kamailio 5.6 behaves so: `$ua =~ "\d"` is never true);
// - `$` without REG_NEWLINE is only the end of the subject (PCRE's `$` also matches before a
//   final newline): \z;
// - a quantifier on a quantifier (`a*?`, `a+*`) repeats the quantified atom in POSIX, where
//   PCRE reads a lazy or possessive modifier: the atom is wrapped in (?:...);
// - a quantifier with nothing to repeat that glibc accepts is a literal;
// - `{` that does not open a valid interval is a literal; `{,n}` is `{0,n}`.
// Flags: REG_ICASE -> HS_FLAG_CASELESS; REG_NEWLINE -> HS_FLAG_MULTILINE, else HS_FLAG_DOTALL.
// Every pattern gets HS_FLAG_SINGLEMATCH (yes/no is all `=~` needs) and HS_FLAG_ALLOWEMPTY
// (regexec() matches `a*` or "" against any subject).
// What a rewrite cannot say is settled at compile time: a pattern Hyperscan proves can never
// match stays out of the database; with REG_NEWLINE, glibc's `^` also matches at the end of a
// subject ending in '\n' (PCRE's does not), so glibc is asked once per pattern whether it
// matches there, and scan() adds those patterns for such subjects (search("^$") on a SIP
// message, which ends in CRLF CRLF, is true in Kamailio).
#include "cfg/regex.hpp"

#include "cfg/regex_literal.hpp"

#include <hs/hs.h>
#include <regex.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace viaduct::cfg {

namespace {

// Appends byte c so that Hyperscan reads it as that literal byte, outside or inside a bracket.
void emit_literal(std::string& out, unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_') {
    out.push_back(static_cast<char>(c));
    return;
  }
  char buf[8];
  std::snprintf(buf, sizeof buf, "\\x%02x", c);
  out += buf;
}

bool is_posix_class(std::string_view name) {
  static constexpr std::string_view kClasses[] = {"alpha", "upper", "lower", "digit",
                                                  "xdigit", "space", "print", "punct",
                                                  "graph", "cntrl", "blank", "alnum"};
  for (std::string_view c : kClasses) {
    if (name == c) {
      return true;
    }
  }
  return false;
}

class Translator {
 public:
  Translator(std::string_view in, RegexFlags flags)
      : in_(in), newline_(flags & kRegexNewline), icase_(flags & kRegexIcase) {}

  bool run(std::string& out, std::string& error) {
    out_.clear();
    while (pos_ < in_.size()) {
      if (!step()) {
        error = std::move(error_);
        return false;
      }
    }
    out = std::move(out_);
    return true;
  }

 private:
  static constexpr size_t kNoAtom = std::string::npos;

  bool fail(std::string msg) {
    error_ = std::move(msg);
    return false;
  }

  // Marks that an atom starts at the current end of the output.
  void begin_atom() {
    atom_ = out_.size();
    after_quant_ = false;
  }

  bool step() {
    const unsigned char c = static_cast<unsigned char>(in_[pos_]);
    switch (c) {
      case '(':
        ++pos_;
        groups_.push_back(out_.size());
        out_ += "(?:";
        atom_ = kNoAtom;
        after_quant_ = false;
        return true;
      case ')':
        ++pos_;
        if (groups_.empty()) {  // glibc's ERE: an unmatched ')' is ordinary
          begin_atom();
          emit_literal(out_, c);
          return true;
        }
        out_ += ')';
        atom_ = groups_.back();
        groups_.pop_back();
        after_quant_ = false;
        return true;
      case '|':
        ++pos_;
        out_ += '|';
        atom_ = kNoAtom;
        after_quant_ = false;
        return true;
      case '^':
        ++pos_;
        out_ += '^';
        atom_ = kNoAtom;
        after_quant_ = false;
        return true;
      case '$':
        ++pos_;
        out_ += newline_ ? "$" : "\\z";
        atom_ = kNoAtom;
        after_quant_ = false;
        return true;
      case '.':
        ++pos_;
        begin_atom();
        out_ += '.';
        return true;
      case '*':
      case '+':
      case '?':
        ++pos_;
        return quantifier(std::string(1, static_cast<char>(c)));
      case '{': {
        std::string q;
        size_t next = 0;
        if (parse_interval(pos_, q, next)) {
          pos_ = next;
          return quantifier(q);
        }
        ++pos_;
        begin_atom();
        emit_literal(out_, c);
        return true;
      }
      case '[':
        return bracket();
      case '\\':
        return escape();
      default:
        ++pos_;
        begin_atom();
        emit_literal(out_, c);
        return true;
    }
  }

  // `{m}`, `{m,}`, `{m,n}`, `{,n}` at in_[at]; fills the PCRE form.
  bool parse_interval(size_t at, std::string& q, size_t& next) const {
    size_t i = at + 1;
    auto number = [&](std::string& digits) {
      while (i < in_.size() && in_[i] >= '0' && in_[i] <= '9') {
        digits.push_back(in_[i++]);
      }
    };
    std::string lo;
    std::string hi;
    number(lo);
    bool comma = false;
    if (i < in_.size() && in_[i] == ',') {
      comma = true;
      ++i;
      number(hi);
    }
    if (i >= in_.size() || in_[i] != '}' || (lo.empty() && !comma) || (lo.empty() && hi.empty())) {
      return false;
    }
    q = "{" + (lo.empty() ? std::string("0") : lo) + (comma ? "," + hi : std::string()) + "}";
    next = i + 1;
    return true;
  }

  bool quantifier(const std::string& q) {
    if (atom_ == kNoAtom) {  // nothing to repeat and glibc took it: a literal
      begin_atom();
      for (char ch : q) {
        emit_literal(out_, static_cast<unsigned char>(ch));
      }
      return true;
    }
    if (after_quant_) {  // POSIX: (atom q1) q2; PCRE would read a lazy/possessive modifier
      out_.insert(atom_, "(?:");
      out_ += ')';
    }
    out_ += q;
    after_quant_ = true;
    return true;
  }

  bool escape() {
    if (pos_ + 1 >= in_.size()) {
      return fail("trailing backslash");
    }
    const unsigned char e = static_cast<unsigned char>(in_[pos_ + 1]);
    pos_ += 2;
    switch (e) {
      case 'w':
        begin_atom();
        out_ += "[[:alnum:]_]";
        return true;
      case 'W':  // matches '\n' even with REG_NEWLINE (glibc builds it as a class, not a list)
        begin_atom();
        out_ += "[^[:alnum:]_]";
        return true;
      case 's':
        begin_atom();
        out_ += "[[:space:]]";
        return true;
      case 'S':
        begin_atom();
        out_ += "[^[:space:]]";
        return true;
      case 'b':
      case 'B':
        out_ += '\\';
        out_ += static_cast<char>(e);
        atom_ = kNoAtom;
        after_quant_ = false;
        return true;
      case '`':
        out_ += "\\A";
        atom_ = kNoAtom;
        after_quant_ = false;
        return true;
      case '\'':
        out_ += "\\z";
        atom_ = kNoAtom;
        after_quant_ = false;
        return true;
      case '<':
      case '>':
        return fail(std::string("word-boundary anchor \\") + static_cast<char>(e) +
                    " is not supported (use \\b)");
      default:
        if (e >= '1' && e <= '9') {
          return fail(std::string("back-references (\\") + static_cast<char>(e) +
                      ") are not supported");
        }
        begin_atom();
        if (icase_ && e >= 'a' && e <= 'z') {
          // glibc with REG_ICASE compares the subject folded to upper case with the escaped
          // byte as written: `\d` matches nothing at all (`\D` matches 'd' and 'D'). Kamailio
          // runs on that, so a script's "\d+" never matches there; nor here.
          out_ += kNever;
          return true;
        }
        emit_literal(out_, e);
        return true;
    }
  }

  // One bracket item's single byte: an ordinary byte, [.c.] or [=c=]. Returns -1 (and sets the
  // error) for what Hyperscan cannot express.
  int bracket_byte(size_t& i) {
    if (in_[i] == '[' && i + 1 < in_.size() && (in_[i + 1] == '.' || in_[i + 1] == '=')) {
      const char kind = in_[i + 1];
      const size_t close = in_.find(std::string{kind, ']'}, i + 2);
      if (close == std::string_view::npos) {
        fail("unterminated [. or [= in a bracket expression");
        return -1;
      }
      const std::string_view name = in_.substr(i + 2, close - (i + 2));
      if (name.size() != 1) {
        fail("multi-character collating elements and equivalence classes are not supported");
        return -1;
      }
      i = close + 2;
      return static_cast<unsigned char>(name[0]);
    }
    return static_cast<unsigned char>(in_[i++]);
  }

  bool bracket() {
    size_t i = pos_ + 1;
    bool negate = false;
    if (i < in_.size() && in_[i] == '^') {
      negate = true;
      ++i;
    }
    std::string items;
    bool first = true;
    while (true) {
      if (i >= in_.size()) {
        return fail("unterminated bracket expression");
      }
      const char ch = in_[i];
      if (ch == ']' && !first) {
        ++i;
        break;
      }
      first = false;
      if (ch == '[' && i + 1 < in_.size() && in_[i + 1] == ':') {
        const size_t close = in_.find(":]", i + 2);
        if (close == std::string_view::npos) {
          return fail("unterminated [: in a bracket expression");
        }
        const std::string_view name = in_.substr(i + 2, close - (i + 2));
        if (!is_posix_class(name)) {
          return fail("unknown character class [:" + std::string(name) + ":]");
        }
        items += "[:";
        items += name;
        items += ":]";
        i = close + 2;
        continue;
      }
      const int lo = bracket_byte(i);
      if (lo < 0) {
        return false;
      }
      // A range: `-` not last (before `]`).
      if (i + 1 < in_.size() && in_[i] == '-' && in_[i + 1] != ']') {
        ++i;
        const int hi = bracket_byte(i);
        if (hi < 0) {
          return false;
        }
        if (hi < lo) {  // glibc rejects it; kept for safety
          return fail("invalid range end");
        }
        emit_literal(items, static_cast<unsigned char>(lo));
        items += '-';
        emit_literal(items, static_cast<unsigned char>(hi));
        continue;
      }
      emit_literal(items, static_cast<unsigned char>(lo));
    }
    pos_ = i;
    begin_atom();
    out_ += '[';
    if (negate) {
      out_ += '^';
      if (newline_) {  // REG_NEWLINE: a non-matching list does not match a newline
        out_ += "\\n";
      }
    }
    out_ += items;
    out_ += ']';
    return true;
  }

  // An atom no byte matches (Hyperscan has no empty class; it accepts this one in a larger
  // pattern and says "can never match" when that is all there is).
  static constexpr const char* kNever = "[^\\x00-\\xff]";

  std::string_view in_;
  bool newline_;
  bool icase_;
  size_t pos_ = 0;
  std::string out_;
  std::string error_;
  size_t atom_ = kNoAtom;       // where the last repeatable atom starts in out_
  bool after_quant_ = false;    // the last thing emitted was a quantifier
  std::vector<size_t> groups_;  // out_ offsets of the open groups
};

// Hyperscan's message for a pattern it refuses, in the project's style, with the anchors one
// said in POSIX terms.
std::string hyperscan_message(const std::string& msg) {
  if (msg.starts_with("Embedded start anchors") || msg.starts_with("Embedded end anchors")) {
    return "an anchor (^, $) inside the pattern, after or before something it must match, is "
           "not supported";
  }
  std::string m = msg;  // "Pattern too large." -> "pattern too large"
  if (!m.empty() && m.back() == '.') {
    m.pop_back();
  }
  if (!m.empty() && m[0] >= 'A' && m[0] <= 'Z') {
    m[0] = static_cast<char>(m[0] - 'A' + 'a');
  }
  return "not supported by the regex engine: " + m;
}

// glibc's opinion of the pattern, with Kamailio's flags. Empty when valid.
std::string posix_check(const std::string& pattern, RegexFlags flags) {
  if (std::string why = regcomp_limits(pattern, true); !why.empty()) {
    return "invalid regular expression: " + why;
  }
  int cflags = REG_EXTENDED | REG_NOSUB;
  if (flags & kRegexIcase) {
    cflags |= REG_ICASE;
  }
  if (flags & kRegexNewline) {
    cflags |= REG_NEWLINE;
  }
  regex_t re;
  const int rc = regcomp(&re, pattern.c_str(), cflags);
  if (rc == 0) {
    regfree(&re);
    return {};
  }
  char buf[256];
  regerror(rc, &re, buf, sizeof buf);
  std::string msg = buf;
  for (char& ch : msg) {  // "Invalid preceding regular expression" -> lower case
    if (ch >= 'A' && ch <= 'Z') {
      ch = static_cast<char>(ch - 'A' + 'a');
    }
  }
  return "invalid regular expression: " + msg;
}

// With REG_NEWLINE, `^` also matches at the very end of a subject that ends with '\n' (an empty
// last line); Hyperscan, like PCRE, does not. Whether a pattern matches at that position depends
// only on the position's context (after a newline, at the end), so glibc answers it once here:
// does the pattern match the empty end of "\n"? The scan then sets the pattern's bit for every
// subject that ends with '\n'.
bool posix_matches_after_final_newline(const std::string& pattern, RegexFlags flags) {
  int cflags = REG_EXTENDED | REG_NEWLINE;
  if (flags & kRegexIcase) {
    cflags |= REG_ICASE;
  }
  regex_t re;
  if (regcomp(&re, pattern.c_str(), cflags) != 0) {
    return false;
  }
  regmatch_t m[1];
  m[0].rm_so = 1;  // REG_STARTEND: search [1, 1) of "\n", with the '\n' before it as context
  m[0].rm_eo = 1;
  const bool match = regexec(&re, "\n", 1, m, REG_STARTEND) == 0;
  regfree(&re);
  return match;
}

int on_match(unsigned int id, unsigned long long /*from*/, unsigned long long /*to*/,
             unsigned int /*flags*/, void* ctx) {
  static_cast<RegexMatches*>(ctx)->set(id);
  return 0;
}

}  // namespace

std::string regcomp_limits(std::string_view p, bool allow_backrefs, RegexCost* cost) {
  // Per level of parentheses: the size of the alternatives closed so far, of the current one,
  // and of its last atom (what a repetition copies). Sizes saturate just past the limit.
  struct Level {
    uint64_t done = 0;
    uint64_t seq = 0;
    uint64_t last = 0;
  };
  std::vector<Level> levels(1);
  uint64_t repeated = 0;
  const auto cap = [](uint64_t v) { return v > kMaxRegexSize ? kMaxRegexSize + 1 : v; };
  const auto atom = [&](uint64_t n) {
    levels.back().seq = cap(levels.back().seq + n);
    levels.back().last = n;
  };
  const auto repeat = [&](uint64_t copies) {  // copies <= 2^20: no overflow
    Level& l = levels.back();
    const uint64_t grown = cap(l.last * copies);
    repeated = cap(repeated + grown - std::min(grown, l.last));
    l.seq = cap(l.seq - l.last + grown);
    l.last = grown;
  };
  const auto digits = [&p](size_t& j, uint64_t& v) {
    const size_t start = j;
    for (; j < p.size() && p[j] >= '0' && p[j] <= '9'; ++j) {
      v = std::min<uint64_t>(v * 10 + static_cast<uint64_t>(p[j] - '0'), uint64_t{1} << 20);
    }
    return j != start;
  };
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      if (!allow_backrefs && p[i + 1] >= '1' && p[i + 1] <= '9') {
        return "back-references (\\" + std::string(1, p[i + 1]) +
               ") are not supported (matching them can take exponential time)";
      }
      ++i;
      atom(1);
    } else if (c == '[') {  // to the closing ']': a ']' first is literal, [:x:] [=x=] [.x.]
      size_t j = i + 1;
      j += j < p.size() && p[j] == '^' ? 1 : 0;
      j += j < p.size() && p[j] == ']' ? 1 : 0;
      while (j < p.size() && p[j] != ']') {
        if (p[j] == '[' && j + 1 < p.size() && (p[j + 1] == ':' || p[j + 1] == '=' ||
                                                p[j + 1] == '.')) {
          const size_t end = p.find(std::string{p[j + 1], ']'}, j + 2);
          j = end == std::string_view::npos ? p.size() : end + 2;
        } else {
          ++j;
        }
      }
      i = j;
      atom(1);
    } else if (c == '(') {
      if (levels.size() > kMaxRegexNesting) {
        return "parentheses nested too deeply (the limit is " +
               std::to_string(kMaxRegexNesting) + " levels)";
      }
      levels.emplace_back();
    } else if (c == ')' && levels.size() > 1) {
      const Level l = levels.back();
      levels.pop_back();
      atom(cap(l.done + l.seq + 1));
    } else if (c == '|') {
      Level& l = levels.back();
      l.done = cap(l.done + l.seq);
      l.seq = 0;
      l.last = 0;
    } else if (c == '+') {
      repeat(2);
    } else if (c == '*' || c == '?') {
      // no copy
    } else if (c == '{') {  // {m} {m,} {m,n} {,n}; anything else is a literal '{'
      size_t j = i + 1;
      uint64_t m = 0;
      uint64_t n = 0;
      const bool has_m = digits(j, m);
      const bool comma = j < p.size() && p[j] == ',';
      j += comma ? 1 : 0;
      const bool has_n = comma && digits(j, n);
      if (j < p.size() && p[j] == '}' && (has_m || has_n)) {
        if (m > kMaxRegexRepeat || n > kMaxRegexRepeat) {
          return "repetition count above " + std::to_string(kMaxRegexRepeat) +
                 " (POSIX's RE_DUP_MAX) in '" + std::string(p.substr(i, j + 1 - i)) + "'";
        }
        repeat(std::max<uint64_t>(!comma ? m : has_n ? n : m + 1, 1));
        i = j;
      } else {
        atom(1);
      }
    } else {
      atom(1);
    }
    if (levels.back().done + levels.back().seq > kMaxRegexSize) {
      return "too large once its repetitions are expanded (the limit is " +
             std::to_string(kMaxRegexSize) + " atoms)";
    }
  }
  if (cost != nullptr) {
    cost->atoms = 0;
    for (const Level& l : levels) {
      cost->atoms = cap(cost->atoms + l.done + l.seq);
    }
    cost->repeated = repeated;
  }
  return {};
}

bool regex_translate(std::string_view posix, RegexFlags flags, std::string& hs_pattern,
                     unsigned& hs_flags, std::string& error) {
  // regcomp() reads a C string: a NUL ends the pattern.
  const size_t nul = posix.find('\0');
  if (nul != std::string_view::npos) {
    posix = posix.substr(0, nul);
  }
  if (std::string msg = posix_check(std::string(posix), flags); !msg.empty()) {
    error = std::move(msg);
    return false;
  }
  Translator t(posix, flags);
  if (!t.run(hs_pattern, error)) {
    return false;
  }
  hs_flags = HS_FLAG_SINGLEMATCH | HS_FLAG_ALLOWEMPTY;
  if (flags & kRegexIcase) {
    hs_flags |= HS_FLAG_CASELESS;
  }
  hs_flags |= (flags & kRegexNewline) ? HS_FLAG_MULTILINE : HS_FLAG_DOTALL;
  return true;
}

void RegexSet::DbDeleter::operator()(hs_database* db) const noexcept { hs_free_database(db); }

void RegexScratchPool::ScratchDeleter::operator()(hs_scratch* s) const noexcept {
  hs_free_scratch(s);
}

std::optional<RegexSet> RegexSet::compile(std::span<const std::string_view> patterns,
                                          RegexFlags flags, std::vector<RegexError>& errors) {
  std::vector<RegexSpec> specs;
  specs.reserve(patterns.size());
  for (std::string_view p : patterns) {
    specs.push_back({p, flags});
  }
  return compile(specs, errors);
}

std::optional<RegexSet> RegexSet::compile(std::span<const RegexSpec> specs,
                                          std::vector<RegexError>& errors) {
  if (specs.size() > kRegexMaxPatterns) {
    errors.push_back({kRegexNoPattern, "more than " + std::to_string(kRegexMaxPatterns) +
                                           " regular expressions on one operand"});
    return std::nullopt;
  }
  RegexSet set;
  set.size_ = specs.size();
  if (specs.empty()) {
    return set;
  }
  // The patterns that go into the database (a pattern that can never match stays out: its bit
  // is never set).
  std::vector<std::string> exprs;
  std::vector<unsigned> flags;
  std::vector<unsigned> ids;
  bool failed = false;
  for (size_t i = 0; i < specs.size(); ++i) {
    std::string error;
    std::string expr;
    unsigned hs_flags = 0;
    if (!regex_translate(specs[i].pattern, specs[i].flags, expr, hs_flags, error)) {
      errors.push_back({static_cast<uint32_t>(i), std::move(error)});
      failed = true;
      continue;
    }
    // Hyperscan's own parse of the translation, pattern by pattern, so that every failing
    // pattern is reported (hs_compile_multi stops at the first).
    hs_expr_info_t* info = nullptr;
    hs_compile_error_t* cerr = nullptr;
    if (hs_expression_info(expr.c_str(), hs_flags, &info, &cerr) != HS_SUCCESS) {
      const std::string msg = cerr ? cerr->message : "unknown error";
      hs_free_compile_error(cerr);
      if (msg.starts_with("Pattern can never match")) {
        continue;  // e.g. `\B\b`, `x$y`: regexec() never matches it either
      }
      errors.push_back({static_cast<uint32_t>(i), hyperscan_message(msg)});
      failed = true;
      continue;
    }
    std::free(info);
    if (specs[i].flags & kRegexNewline) {
      const std::string posix(specs[i].pattern.substr(0, specs[i].pattern.find('\0')));
      if (posix_matches_after_final_newline(posix, specs[i].flags)) {
        set.eol_.set(static_cast<uint32_t>(i));
        set.has_eol_ = true;
      }
    }
    exprs.push_back(std::move(expr));
    flags.push_back(hs_flags);
    ids.push_back(static_cast<unsigned>(i));
  }
  if (failed) {
    return std::nullopt;
  }
  if (exprs.empty()) {
    return set;
  }
  std::vector<const char*> cexprs(exprs.size());
  for (size_t i = 0; i < exprs.size(); ++i) {
    cexprs[i] = exprs[i].c_str();
  }
  hs_database_t* db = nullptr;
  hs_compile_error_t* cerr = nullptr;
  if (hs_compile_multi(cexprs.data(), flags.data(), ids.data(),
                       static_cast<unsigned>(exprs.size()), HS_MODE_BLOCK, nullptr, &db,
                       &cerr) != HS_SUCCESS) {
    const uint32_t which = (cerr && cerr->expression >= 0)
                               ? ids[static_cast<size_t>(cerr->expression)]
                               : kRegexNoPattern;
    errors.push_back({which, hyperscan_message(cerr ? cerr->message : "unknown error")});
    hs_free_compile_error(cerr);
    return std::nullopt;
  }
  set.db_.reset(db);
  // The answer for the empty subject (an absent header: $ua =~ "..." on a message without
  // User-Agent), computed once here so that scan() answers it without calling Hyperscan.
  hs_scratch_t* scratch = nullptr;
  if (hs_alloc_scratch(db, &scratch) == HS_SUCCESS &&
      hs_scan(db, "", 0, 0, scratch, on_match, &set.empty_) == HS_SUCCESS) {
    set.has_empty_ = true;
  } else {
    set.empty_.clear();
  }
  hs_free_scratch(scratch);
  // The literal fast path (REG_NEWLINE's end-of-subject rule concerns anchors, which no literal
  // pattern holds; a pattern Hyperscan proved can never match is not a literal one either).
  if (!set.has_eol_ && exprs.size() == specs.size()) {
    if (std::optional<LiteralSet> lit = LiteralSet::build(specs)) {
      set.lit_ = std::make_shared<const LiteralSet>(*lit);
    }
  }
  return set;
}

size_t RegexSet::database_bytes() const noexcept {
  size_t n = 0;
  if (db_ && hs_database_size(db_.get(), &n) == HS_SUCCESS) {
    return n;
  }
  return 0;
}

bool RegexSet::scan_hyperscan(std::string_view subject, hs_scratch* scratch,
                              RegexMatches& out) const noexcept {
  out.clear();
  if (!db_) {  // no pattern, or none that can match
    return true;
  }
  // regexec() reads a C string: what follows a NUL byte (a binary body part) is not searched.
  // (An empty view may hold a null pointer, which memchr must not get.)
  if (const void* nul = subject.empty() ? nullptr
                                        : std::memchr(subject.data(), '\0', subject.size());
      nul != nullptr) {
    subject = subject.substr(0, static_cast<size_t>(static_cast<const char*>(nul) -
                                                    subject.data()));
  }
  if (subject.empty() && has_empty_) {
    out = empty_;
    return true;
  }
  // hs_scan wants a valid pointer even for 0 bytes.
  const char* data = subject.empty() ? "" : subject.data();
  const hs_error_t rc = hs_scan(db_.get(), data, static_cast<unsigned>(subject.size()), 0,
                                scratch, on_match, &out);
  if (rc != HS_SUCCESS) {
    out.clear();
    return false;
  }
  if (has_eol_ && !subject.empty() && subject.back() == '\n') {
    for (size_t w = 0; w < out.words.size(); ++w) {
      out.words[w] |= eol_.words[w];
    }
  }
  return true;
}

std::optional<RegexScratchPool> RegexScratchPool::create(std::span<const RegexSet* const> sets,
                                                         unsigned workers, std::string& error) {
  RegexScratchPool pool;
  hs_scratch_t* proto = nullptr;
  for (const RegexSet* s : sets) {
    if (s == nullptr || s->database() == nullptr) {
      continue;
    }
    // Grows `proto` (allocates it the first time) to fit this database too.
    if (hs_alloc_scratch(s->database(), &proto) != HS_SUCCESS) {
      hs_free_scratch(proto);
      error = "hyperscan: cannot allocate scratch space";
      return std::nullopt;
    }
  }
  pool.scratch_.reserve(workers);
  for (unsigned w = 0; w < workers; ++w) {
    hs_scratch_t* clone = nullptr;
    if (proto != nullptr && hs_clone_scratch(proto, &clone) != HS_SUCCESS) {
      hs_free_scratch(proto);
      error = "hyperscan: cannot clone scratch space";
      return std::nullopt;
    }
    pool.scratch_.emplace_back(clone);
  }
  hs_free_scratch(proto);
  return pool;
}

}  // namespace viaduct::cfg

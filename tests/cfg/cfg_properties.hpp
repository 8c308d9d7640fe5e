// SPDX-License-Identifier: Apache-2.0
// tests/cfg/cfg_properties.hpp: what every input to the configuration front end must satisfy,
// shared by the libFuzzer target (cfg_fuzz.cpp) and its seed corpus replay (cfg_fuzz_test.cpp).
// An input's first byte picks what the rest is (kind_of): a routing script (preprocessed,
// parsed and compiled as `viaduct -c` does, and parsed alone as --syntax-only does), a
// dispatcher.list or a settings TOML. Properties: no exception escapes; the result is a success
// or carries at least one error; every diagnostic names a file of the input and a line:col inside
// it (or line 0, a message about the whole file), as cfg/diagnostic.hpp promises; a compiled
// program can be disassembled and explained. check_input() returns what was broken, "" when
// nothing was.
//
// Includes: include_file / import_file read files. They stay live only in a script with no '/',
// no '\' and no "subst" (so the path is a plain name: no directory, nothing a #!subst rule could
// rewrite), run with the current directory set to a scratch directory that holds the few files
// of kScratchFiles; in any other script they are renamed (include_filX) and are then just words.
// Either way nothing outside the scratch directory is read.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "cfg/compile.hpp"
#include "cfg/diagnostic.hpp"
#include "cfg/disasm.hpp"
#include "cfg/dslist.hpp"
#include "cfg/parser.hpp"
#include "cfg/settings.hpp"

namespace viaduct::cfg::fuzz {

// Inputs larger than this (selector byte excluded) are skipped: the work per input stays bounded.
inline constexpr size_t kMaxInput = 64 * 1024;

enum class Kind : uint8_t { kScript, kDsList, kSettings };

// The selector byte: 's' / 'd' / 't' in the seed corpus (readable), any byte maps to a kind.
inline Kind kind_of(uint8_t selector) {
  switch (selector) {
    case 's':
      return Kind::kScript;
    case 'd':
      return Kind::kDsList;
    case 't':
      return Kind::kSettings;
    default:
      return static_cast<Kind>(selector % 3);
  }
}

// The files a live include can reach (names without a directory; cfg.dict lists them).
inline const std::vector<std::pair<std::string, std::string>> kScratchFiles = {
    {"inc.cfg", "#!trydef INC_DEPTH 1\nroute[INC] {\n  xlog(\"L_INFO\", \"inc\\n\");\n}\n"},
    {"defs.cfg", "#!define DEFS_HOST \"10.0.0.9\"\n#!define DEFS_SET 2\n"},
    {"bad.cfg", "route[BAD] {\n  if ( {\n    $var(x) = ;\n}\n\"unterminated\n"},
    {"cycle.cfg", "include_file \"cycle.cfg\"\n"},
    {"ifdef.cfg", "#!ifdef VIADUCT\n#!else\n#!else\n"},
    {"nested.cfg", "import_file \"inc.cfg\"\nimport_file \"nested.cfg\"\n"},
};

// A scratch directory with kScratchFiles, made on first use and removed at exit.
class Scratch {
 public:
  static const Scratch& get() {
    static const Scratch s;
    return s;
  }
  const std::string& dir() const { return dir_; }
  ~Scratch() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

 private:
  Scratch() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "viaduct-cfgfuzz-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      std::abort();
    }
    dir_ = tmpl;
    for (const auto& [name, text] : kScratchFiles) {
      std::ofstream(dir_ + "/" + name, std::ios::binary) << text;
    }
  }
  std::string dir_;
};

// Sets the current directory for the lifetime of the object (live includes resolve against it);
// "" leaves it alone.
class InDirectory {
 public:
  explicit InDirectory(const std::string& dir) {
    if (dir.empty()) {
      ec_ = std::make_error_code(std::errc::operation_canceled);
      return;
    }
    old_ = std::filesystem::current_path(ec_);
    if (!ec_) {
      std::filesystem::current_path(dir, ec_);
    }
  }
  ~InDirectory() {
    if (!ec_) {
      std::error_code ec;
      std::filesystem::current_path(old_, ec);
    }
  }
  // False when a directory was asked for and could not be entered.
  bool ok(const std::string& dir) const { return dir.empty() || !ec_; }
  InDirectory(const InDirectory&) = delete;
  InDirectory& operator=(const InDirectory&) = delete;

 private:
  std::filesystem::path old_;
  std::error_code ec_;
};

// True when `script` may keep its includes (see the comment at the top); otherwise renames them
// in place and returns false.
inline bool confine_includes(std::string& script) {
  const bool plain = script.find_first_of("/\\") == std::string::npos &&
                     script.find("subst") == std::string::npos;
  bool any = false;
  for (std::string_view kw : {"include_file", "import_file"}) {
    for (size_t at = script.find(kw); at != std::string::npos; at = script.find(kw, at + 1)) {
      any = true;
      if (!plain) {
        script[at + kw.size() - 1] = 'X';
      }
    }
  }
  return any && plain;
}

// The 1-based lengths of the lines of `text` (what a line:col may point into).
inline std::vector<size_t> line_lengths(std::string_view text) {
  std::vector<size_t> lens;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == '\n') {
      lens.push_back(i - start);
      start = i + 1;
    }
  }
  return lens;
}

// The diagnostic properties: `files` maps each file name the input may have diagnostics about
// to its text. "" when they hold, else what broke.
inline std::string check_diagnostics(const Diagnostics& diags, bool ok,
                                     const std::map<std::string, std::string_view>& files) {
  if (!ok && !has_errors(diags)) {
    return "failed without an error diagnostic";
  }
  if (ok && has_errors(diags)) {
    return "succeeded with an error diagnostic: " + diags.front().str();
  }
  std::map<std::string, std::vector<size_t>> lines;  // line_lengths() of each file, once
  for (const Diagnostic& d : diags) {
    if (d.message.empty()) {
      return "diagnostic without a message: " + d.str();
    }
    const auto f = files.find(d.file);
    if (f == files.end()) {
      return "diagnostic about a file that is not the input's: " + d.str();
    }
    if (d.line == 0) {
      continue;  // about the whole file
    }
    auto [l, fresh] = lines.try_emplace(d.file);
    if (fresh) {
      l->second = line_lengths(f->second);
    }
    const std::vector<size_t>& lens = l->second;
    if (d.col < 1 || d.line > lens.size() || d.col > lens[d.line - 1] + 1) {
      return "diagnostic outside its file (" + std::to_string(lens.size()) + " lines): " + d.str();
    }
  }
  return "";
}

inline std::string check_script(std::string text) {
  const Scratch& scratch = Scratch::get();
  const std::string name = scratch.dir() + "/fuzz.cfg";
  const bool live = confine_includes(text);
  std::map<std::string, std::string_view> files{{name, text}};
  for (const auto& [file, contents] : kScratchFiles) {
    if (live) {
      files.emplace(file, contents);
      files.emplace(scratch.dir() + "/" + file, contents);
    }
  }
  const std::string cwd = live ? scratch.dir() : std::string();
  const InDirectory cd(cwd);
  if (!cd.ok(cwd)) {
    return "cannot enter the scratch directory " + scratch.dir();
  }

  // --syntax-only: preprocessor and parser; the tree dumps.
  Script script;
  Diagnostics parse_diags;
  const bool parsed = parse_string(text, name, {}, script, parse_diags);
  std::string broken = check_diagnostics(parse_diags, parsed, files);
  if (!broken.empty()) {
    return "parse_string: " + broken;
  }
  if (dump(script).empty() && !script.routes.empty()) {
    return "empty dump of a script with routes";
  }

  // -c: everything, then the program as text.
  Program prog;
  Diagnostics diags;
  const bool compiled = compile_string(text, name, scratch.dir(), {}, prog, diags);
  broken = check_diagnostics(diags, compiled, files);
  if (!broken.empty()) {
    return "compile_string: " + broken;
  }
  if (compiled && (disassemble(prog).empty() || explain(prog).empty())) {
    return "empty disassembly of a compiled program";
  }
  return "";
}

inline std::string check_dslist(const std::string& text) {
  const std::string name = "dispatcher.list";
  std::vector<DsDestination> out;
  Diagnostics diags;
  const bool ok = parse_dispatcher_list(text, name, out, diags);
  return check_diagnostics(diags, ok, {{name, text}});
}

inline std::string check_settings(const std::string& text) {
  const std::string name = "settings.toml";
  Settings out;
  Diagnostics diags;
  const bool ok = parse_settings(text, name, out, diags);
  return check_diagnostics(diags, ok, {{name, text}});
}

// Runs one input (selector byte, then the text) through its front end and checks the properties.
inline std::string check_input(const uint8_t* data, size_t size) {
  if (size == 0 || size - 1 > kMaxInput) {
    return "";
  }
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (kind_of(data[0])) {
      case Kind::kScript:
        return check_script(text);
      case Kind::kDsList:
        return check_dslist(text);
      case Kind::kSettings:
        return check_settings(text);
    }
  } catch (const std::exception& e) {
    return std::string("exception escaped: ") + e.what();
  } catch (...) {
    return "exception escaped (not a std::exception)";
  }
  return "";
}

}  // namespace viaduct::cfg::fuzz

// SPDX-License-Identifier: Apache-2.0
// tests/cfg/cfg_fuzz.cpp: libFuzzer target for the configuration front end (clang,
// -Dfuzz=true): the first byte of an input picks a routing script (preprocessor, parser,
// compiler, disassembler), a dispatcher.list or a settings TOML; cfg_properties.hpp says what
// each must satisfy. A broken property aborts, as a crash or a sanitizer report does. Seed
// corpus: tests/cfg/fuzz_corpus/ (cfg_fuzz_test replays it in every build); dictionary:
// tests/cfg/cfg.dict.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tests/cfg/cfg_properties.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string broken = viaduct::cfg::fuzz::check_input(data, size);
  if (!broken.empty()) {
    std::fprintf(stderr, "cfg_fuzz: property broken: %s\n", broken.c_str());
    std::abort();
  }
  return 0;
}

// SPDX-License-Identifier: Apache-2.0
// tests/control/rpc_fuzz.cpp: libFuzzer target for the management API's JSON-RPC layer (clang,
// -Dfuzz=true): each input is one request text, a single request or a batch, as it comes from
// the HTTP body or the unix datagram, through RpcHandler::handle() against a fresh fake daemon
// (rpc_properties.hpp: the daemon and the properties). A broken property aborts, as a crash,
// an uncaught exception or a sanitizer report does. Seed corpus: tests/control/rpc_corpus/
// (replayed by rpc_test's RpcFuzzCorpus in every build); dictionary: tests/control/rpc.dict.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tests/control/rpc_properties.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string fault =
      viaduct::test::check_rpc(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!fault.empty()) {
    std::fprintf(stderr, "rpc_fuzz: property broken: %s\n", fault.c_str());
    std::abort();
  }
  return 0;
}

// SPDX-License-Identifier: Apache-2.0
// cfg/dspvar.hpp: modparam("dispatcher", "hash_pvar", ...), the key of algorithm 7.
//
// Kamailio prints the format with its pseudo-variable engine (pv_printf). viaduct has no PV
// engine on the fast path, so it accepts the subset of pseudo-variables that can be read
// straight from the scanned message; anything else is rejected when the script is checked.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace viaduct::cfg {

// One piece of the format: literal text, or a pseudo-variable read from the request.
struct DsPvPart {
  enum class Kind : uint8_t {
    kText,     // `text`
    kCallId,   // $ci
    kFromUri,  // $fu
    kFromUser, // $fU
    kFromHost, // $fd
    kFromTag,  // $ft
    kToUri,    // $tu
    kToUser,   // $tU
    kToHost,   // $td
    kToTag,    // $tt
    kRUri,     // $ru
    kRUser,    // $rU
    kRHost,    // $rd
    kMethod,   // $rm
    kCSeq,     // $cs
    kHeader,   // $hdr(Name): `text` is the header name
  };
  Kind kind = Kind::kText;
  std::string text;
};

// The pseudo-variables accepted, for error messages.
inline constexpr std::string_view kDsPvSupported =
    "$ci $fu $fU $fd $ft $tu $tU $td $tt $ru $rU $rd $rm $cs $hdr(name)";

// Parses a hash_pvar format such as "$fU@$ci". False with `why` (and `err_off`, the offset in
// `fmt` of the offending pseudo-variable) when it holds a pseudo-variable outside the subset,
// a transformation, or nothing to hash. Control thread / compiler only.
bool parse_ds_hash_pvar(std::string_view fmt, std::vector<DsPvPart>& out, std::string& why,
                        size_t& err_off);

}  // namespace viaduct::cfg

// SPDX-License-Identifier: Apache-2.0
#include "dataplane/vm.hpp"

#include <cstring>

#include "dataplane/counters.hpp"

namespace viaduct::dp {
namespace {

bool iequal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') {
      x = static_cast<char>(x - 'A' + 'a');
    }
    if (y >= 'A' && y <= 'Z') {
      y = static_cast<char>(y - 'A' + 'a');
    }
    if (x != y) {
      return false;
    }
  }
  return true;
}

int32_t max_forwards(const sip::SipView& v, uint32_t insert_value, uint32_t max_limit,
                     VmResult& out) noexcept {
  // maxfwd module: absent -> insert the given value (capped at max_limit); 0 -> -1 (the
  // script answers 483); otherwise decrement, capped at max_limit.
  if (!v.has_max_forwards) {
    out.maxfwd = VmResult::MaxFwd::kInsert;
    out.maxfwd_value = insert_value > max_limit ? max_limit : insert_value;
    return 2;
  }
  if (v.max_forwards == 0) {
    return -1;
  }
  // The decremented value never exceeds max_limit (Kamailio: val > limit -> limit + 1, then -1).
  const uint32_t next = v.max_forwards - 1;
  out.maxfwd = VmResult::MaxFwd::kDecrement;
  out.maxfwd_value = next > max_limit ? max_limit : next;
  return 1;
}

}  // namespace

bool uri_is_myself(const Snapshot& snap, const char* msg, sip::Span uri_span) noexcept {
  sip::Uri uri;
  if (!sip::parse_uri(msg, uri_span, uri)) {
    return false;
  }
  const std::string_view host = uri.host.in(msg);
  const std::string_view scheme = uri.scheme.in(msg);
  uint16_t port = uri.port_num;
  if (port == 0) {
    port = iequal(scheme, "sips") ? 5061 : 5060;
  }
  for (const MyselfEntry& m : snap.myself) {
    if ((m.port == 0 || m.port == port) && iequal(m.host, host)) {
      return true;
    }
  }
  return false;
}

void vm_run(const Snapshot& snap, const char* msg, const sip::SipView& v, DispatchState& ds,
            WorkerCounters& counters, VmResult& out) noexcept {
  (void)counters;
  const cfg::Program& prog = *snap.program;
  const cfg::Insn* code = prog.code.data();
  const uint32_t n = static_cast<uint32_t>(prog.code.size());
  if (prog.routes.empty() || n == 0) {
    return;
  }
  uint32_t stack[cfg::kMaxRouteDepth];
  uint32_t depth = 0;
  uint32_t pc = prog.routes[0].entry;
  int32_t rc = 1;
  for (uint32_t steps = 0; steps < kVmStepBudget; ++steps) {
    if (pc >= n) {
      out.error = true;
      return;
    }
    const cfg::Insn& in = code[pc];
    ++pc;
    switch (in.op) {
      case cfg::Op::kNop:
        break;
      case cfg::Op::kJump:
        pc = in.a;
        break;
      case cfg::Op::kJumpIfFalse:
        if (rc <= 0) {
          pc = in.a;
        }
        break;
      case cfg::Op::kJumpIfTrue:
        if (rc > 0) {
          pc = in.a;
        }
        break;
      case cfg::Op::kNot:
        rc = rc > 0 ? -1 : 1;
        break;
      case cfg::Op::kSetRc:
        rc = static_cast<int32_t>(in.a);
        break;
      case cfg::Op::kCallRoute:
        if (depth >= cfg::kMaxRouteDepth || in.a >= prog.routes.size()) {
          out.error = true;
          return;
        }
        stack[depth++] = pc;
        pc = prog.routes[in.a].entry;
        break;
      case cfg::Op::kReturn:
        rc = static_cast<int32_t>(in.a);
        if (depth == 0 || rc == 0) {
          return;  // return in the main route, or return(0): the script ends
        }
        pc = stack[--depth];
        break;
      case cfg::Op::kExit:
        return;
      case cfg::Op::kDrop:
        out.dropped = true;
        return;
      case cfg::Op::kUriIsMyself:
        rc = (v.is_request && uri_is_myself(snap, msg, v.ruri)) ? 1 : -1;
        break;
      case cfg::Op::kIsMethod:
        if (in.b != 0) {
          const uint32_t idx = in.b - 1u;
          rc = (idx < prog.strings.size() && v.method_name.in(msg) == prog.strings[idx]) ? 1
                                                                                         : -1;
        } else {
          rc = ((in.a >> static_cast<uint32_t>(v.method)) & 1u) != 0 &&
                       v.method != sip::Method::kOther
                   ? 1
                   : -1;
        }
        break;
      case cfg::Op::kSlSendReply:
        if (out.action != VmResult::Action::kNone || v.method == sip::Method::kAck) {
          rc = -1;  // sl does not answer an ACK; one send per run
          break;
        }
        out.action = VmResult::Action::kReply;
        out.reply_code = static_cast<uint16_t>(in.a);
        out.reply_reason = prog.strings[in.b];
        rc = 1;
        break;
      case cfg::Op::kMfProcessMaxfwd:
        rc = max_forwards(v, in.a, snap.maxfwd_limit, out);
        break;
      case cfg::Op::kDsSelectDst: {
        rc = -1;
        for (uint32_t s = 0; s < snap.sets.size(); ++s) {
          if (snap.sets[s].id == static_cast<int>(in.a)) {
            const int d = select_destination(snap, s, in.b, msg, v, ds);
            if (d >= 0) {
              out.du = d;
              counters.selected[snap.destinations[static_cast<size_t>(d)].id % kMaxDestinations]
                  .add();
              rc = 1;
            }
            break;
          }
        }
        break;
      }
      case cfg::Op::kForward:
        if (out.action != VmResult::Action::kNone) {
          rc = -1;
          break;
        }
        out.action = VmResult::Action::kForward;
        rc = 1;
        break;
    }
    if (rc == 0) {
      return;  // a function returning 0 ends the script (Kamailio)
    }
  }
  out.error = true;  // step budget exhausted: a loop the compiler could not bound
}

}  // namespace viaduct::dp
